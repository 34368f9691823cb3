"""The limits every score update obeys, whatever the persistence mode."""

from __future__ import annotations

from .. import errors

IDEMPOTENCY_TTL_S = 24 * 3600
MAX_IDEMPOTENCY_KEY = 128
RATE_PERIOD_MS = 60_000  # an action's rate_per_minute is counted over this window
CLAIM_TTL_S = 300  # direct mode: how long a key stays "in progress" if its process dies


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise errors.ValidationFailed(
            fields={"Idempotency-Key": [f"Must be 1-{MAX_IDEMPOTENCY_KEY} printable characters."]}
        )
    return key
