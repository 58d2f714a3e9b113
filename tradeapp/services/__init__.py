"""Use cases: each takes plain data, talks to ports, returns domain objects."""
