"""/metrics moves when the matching events happen."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from scoreboard import appkeys
from tests.support import post_score


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    out = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: dict[Any, float], name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_events(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    before = await scrape(client)
    await post_score(client, token, 5)
    await post_score(client, token, 5000, status=422)
    await post_score(client, token, 5, key="k")
    await post_score(client, token, 5, key="k")  # a replay
    ws = await client.ws_connect(f"/ws/leaderboard?token={token}")
    await ws.receive(timeout=5)
    mid = await scrape(client)
    upd = "scoreboard_score_updates_total"
    for outcome, n in (("accepted", 2), ("cap", 1), ("replay", 1)):
        assert value(mid, upd, action="level_complete", outcome=outcome) - value(
            before, upd, action="level_complete", outcome=outcome) == n
    route = dict(method="POST", route="/api/v1/scores/update", status="200")
    assert value(mid, "scoreboard_http_requests_total", **route) - value(
        before, "scoreboard_http_requests_total", **route) == 3
    assert value(mid, "scoreboard_ws_clients") >= 1
    assert value(mid, "scoreboard_persist_events_waiting") == 2
    assert value(mid, "scoreboard_persist_oldest_age_seconds") >= 0

    await client.app[appkeys.PERSISTER].flush()
    assert await client.app[appkeys.REFRESHER].run()
    await ws.close()
    after = await scrape(client)
    assert value(after, "scoreboard_persist_events_waiting") == 0
    assert value(after, "scoreboard_events_persisted_total") - value(
        mid, "scoreboard_events_persisted_total") == 2
    assert value(after, "scoreboard_cache_refreshes_total") - value(
        mid, "scoreboard_cache_refreshes_total") == 1
