"""Who is calling: JWT verification and minting (tokens), live sessions (sessions)."""
