"""Public disclosure, no credential."""
