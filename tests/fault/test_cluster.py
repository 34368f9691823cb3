"""Several hosts, once: ``python -m bench.cluster --runs 1`` (bench/cluster.py) builds
three app hosts behind HAProxy, a Redis master + replica + three Sentinels and a
PostgreSQL primary + streaming standby, each host a network namespace, and runs its
three scenarios (an app host killed, an app host cut off from the data and healed, a
data host and an app host lost together), each under the chaos load and checked by
the chaos checker. Needs root and network namespaces; skipped, saying so, where
they are unavailable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["app host killed", "app host cut off", "data host and app host lost"]

pytestmark = pytest.mark.timeout(900)


def test_hosts_lost_and_cut_off_lose_and_double_nothing() -> None:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("the multi-host scenarios need root and iproute2's ip netns")
    proc = subprocess.run([sys.executable, "-m", "bench.cluster", "--runs", "1",
                           "--players", "8"], cwd=ROOT, capture_output=True, text=True,
                          timeout=840, check=False)
    if proc.returncode == 2:  # bench.cluster's "cannot run here", with the reason
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [row["scenario"] for row in rows] == SCENARIOS
    for row in rows:
        assert row["problems"] == [], row
        assert row["acknowledged"] >= 600, row  # the load ran before and after the fault
        assert row["in PostgreSQL"] == row["in Redis"] == row["event rows"], row
        assert row["acknowledged"] <= row["in PostgreSQL"] \
            <= row["acknowledged"] + row["unanswered"], row
