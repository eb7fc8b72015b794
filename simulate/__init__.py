"""fakalab: simulate."""
