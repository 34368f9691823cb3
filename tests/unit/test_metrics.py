"""The request tally (requests and score update outcomes): counted in plain Python,
handed to prometheus-client in bulk, and exposed exactly as if every request had been
observed one by one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from scoreboard.obs.metrics import LATENCY_BUCKETS, RequestTally

# on a bucket's bound, between bounds, past the last one (+Inf), and zero
SECONDS = [0.0, 0.001, 0.0011, 0.003, 0.05, 0.2, 1.0, 2.5, 2.6, 30.0, 0.004, 0.0009]


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram, Counter]:
    return (Counter("t_requests_total", "r", ["method", "route", "status"], registry=registry),
            Histogram("t_seconds", "l", ["method", "route"], buckets=LATENCY_BUCKETS,
                      registry=registry),
            Counter("t_updates_total", "u", ["action", "outcome"], registry=registry))


def _exposition(registry: CollectorRegistry) -> list[str]:
    return sorted(line for line in generate_latest(registry).decode().splitlines()
                  if not line.startswith("#") and "_created" not in line)


def test_a_flush_exposes_what_observing_one_by_one_does() -> None:
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    counter, histogram, updates = _metrics(direct)
    requests, latency, tallied_updates = _metrics(tallied)
    tally = RequestTally(requests, latency, LATENCY_BUCKETS, tallied_updates)
    for i, seconds in enumerate(SECONDS):
        method, route, status = ("GET", "/a", 200) if i % 3 else ("POST", "/b/{id}", 503)
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)
        tally.observe(method, route, status, seconds)
        outcome = ("tap", "accepted") if i % 4 else ("kill", "rate_limited")
        updates.labels(*outcome).inc()
        tally.count_update(*outcome)
    assert _exposition(tallied) != _exposition(direct)  # nothing handed over yet
    tally.flush()
    assert _exposition(tallied) == _exposition(direct)
    tally.flush()  # a second flush adds nothing
    assert _exposition(tallied) == _exposition(direct)
    tally.observe("GET", "/a", 200, 0.002)
    histogram.labels("GET", "/a").observe(0.002)
    counter.labels("GET", "/a", "200").inc()
    tally.count_update("tap", "replay")
    updates.labels("tap", "replay").inc()
    tally.flush()  # and a later one adds only what came since
    assert _exposition(tallied) == _exposition(direct)
