"""fakalab: scenarios."""
