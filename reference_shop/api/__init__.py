"""HTTP routes of the reference shop."""
