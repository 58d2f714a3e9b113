"""Service tests: use cases run against the in-memory fake repository."""
