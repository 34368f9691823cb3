"""Persistence: the SQL, Worker 1 (stream to PostgreSQL), migrations, the pool, reseed."""
