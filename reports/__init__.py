"""fakalab: reports."""
