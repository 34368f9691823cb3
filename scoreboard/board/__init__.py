"""The board reads: ranges and neighbourhoods (one Lua read each), the cached
top 10 (Redis key and in-process memo), and Worker 2 that refreshes it."""
