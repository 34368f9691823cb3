"""The request path of a score update: the action catalogue, the checks, and the
Lua call (batch mode) or the PostgreSQL commit between two Lua calls (direct mode)."""
