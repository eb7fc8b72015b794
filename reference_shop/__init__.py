"""fakalab: reference_shop."""
