"""opto."""
