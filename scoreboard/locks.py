"""PostgreSQL advisory locks that modules of different rooms take together.

A board's season lock (per transaction): direct-mode commits hold it shared for the
boards they feed, the end of a season holds it alone, so a season ends between
commits, never under one.

The boards' lock (per transaction): board creates and changes that count boards
against the limits take it, so two of them can't both take the last place.
"""

from __future__ import annotations

SEASON_LOCK_CLASS = 7301
LOCK_SEASONS_SHARED = (f"SELECT pg_advisory_xact_lock_shared({SEASON_LOCK_CLASS}, hashtext(b))"
                       " FROM unnest($1::text[]) AS b ORDER BY b")
LOCK_SEASON = f"SELECT pg_advisory_xact_lock({SEASON_LOCK_CLASS}, hashtext($1))"

BOARDS_LOCK_CLASS = 7302
LOCK_BOARDS = f"SELECT pg_advisory_xact_lock({BOARDS_LOCK_CLASS}, 0)"
