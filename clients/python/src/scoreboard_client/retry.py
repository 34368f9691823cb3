"""When to try a request again, and how long to wait first.

An update is retried only with the same ``Idempotency-Key``, so a retry after the
service applied it but the answer was lost counts it once. Timeouts, connection
errors and 503 are retried with exponential backoff and full jitter (a wait drawn
from 0 to ``min(cap, base * 2**try)``: many clients that failed together do not
come back together); 429 waits what ``Retry-After`` says. ``tries`` bounds both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RETRY_STATUSES = frozenset((503,))


@dataclass(frozen=True, slots=True)
class Retry:
    tries: int = 5  # attempts in all, the first included
    base_s: float = 0.1
    cap_s: float = 5.0
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited for

    def backoff(self, attempt: int) -> float:
        """The wait before try ``attempt + 1`` (``attempt`` from 1)."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))

    def after(self, retry_after: float | None, attempt: int) -> float | None:
        """The wait a 429 asks for, or None when it is too long to wait."""
        wait = retry_after if retry_after is not None else self.backoff(attempt)
        return wait if wait <= self.max_retry_after_s else None


NO_RETRY = Retry(tries=1)


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
