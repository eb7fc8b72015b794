"""fakalab: chaos."""
