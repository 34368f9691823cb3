"""Live push: Pub/Sub events in, one listener per process, the hub fanning the
top 10 out to its WebSockets."""
