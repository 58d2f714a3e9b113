"""Unit tests: the pure domain, no I/O."""
