"""behavior."""
