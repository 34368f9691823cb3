"""Real Redis and PostgreSQL servers started on loopback, for the tests and the
benchmarks (never used by the service itself)."""
