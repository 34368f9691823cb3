"""Configuration: every bad value stops the start with one line naming the variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scoreboard.settings import ConfigError, from_env

GOOD_SECRET = "s" * 32


def test_defaults() -> None:
    cfg = from_env({})
    assert cfg.persist_mode == "batch"
    assert cfg.cache_ttl_s == 30
    assert cfg.actions["level_complete"].max_increment == 1000
    assert cfg.actions["level_complete"].rate_per_minute == 30
    assert cfg.redis_url is None and cfg.database_url is None


def test_sentinel_settings() -> None:
    cfg = from_env({"REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380",
                    "REDIS_SENTINEL_MASTER": "scoreboard"})
    assert cfg.redis_sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    # with Sentinel, an update waits for the replicas connected to the master; nothing
    # is demanded beyond them (a lone master after a failover keeps writing)
    assert cfg.follow_replicas and cfg.wait_replicas == 0
    assert not from_env({}).follow_replicas and from_env({}).wait_replicas == 0
    zero = from_env({"REDIS_SENTINELS": "h:1", "REDIS_SENTINEL_MASTER": "m",
                     "REDIS_WAIT_REPLICAS": "0"})
    assert (zero.follow_replicas, zero.wait_replicas) == (False, 0)
    demand = from_env({"REDIS_SENTINELS": "h:1", "REDIS_SENTINEL_MASTER": "m",
                       "REDIS_WAIT_REPLICAS": "2"})
    assert (demand.follow_replicas, demand.wait_replicas) == (False, 2)
    follow = from_env({"REDIS_WAIT_REPLICAS": "Connected"})
    assert (follow.follow_replicas, follow.wait_replicas) == (True, 0)
    for bad in ("-1", "17", "some", "1.5"):
        with pytest.raises(ConfigError, match="REDIS_WAIT_REPLICAS"):
            from_env({"REDIS_WAIT_REPLICAS": bad})
    with pytest.raises(ConfigError, match="REDIS_WAIT_REPLICAS"):
        from_env({"REDIS_URL": "redis://h:1", "REDIS_CLUSTER": "1",
                  "REDIS_WAIT_REPLICAS": "connected"})


def test_fractional_intervals() -> None:
    cfg = from_env({"PERSIST_INTERVAL_S": "0.5", "CACHE_REFRESH_INTERVAL_S": "0.25"})
    assert cfg.persist_interval_s == 0.5
    assert cfg.cache_refresh_interval_s == 0.25


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PERSIST_MODE": "sometimes"}, "PERSIST_MODE"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"JWT_PUBLIC_KEY": "not a pem"}, "JWT_PUBLIC_KEY"),
        ({"PERSIST_INTERVAL_S": "soon"}, "PERSIST_INTERVAL_S"),
        ({"PERSIST_INTERVAL_S": "nan"}, "PERSIST_INTERVAL_S"),
        ({"CACHE_REFRESH_INTERVAL_S": "-1"}, "CACHE_REFRESH_INTERVAL_S"),
        ({"CACHE_TTL_S": "0"}, "CACHE_TTL_S"),
        ({"WS_COALESCE_MS": "1.5"}, "WS_COALESCE_MS"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"ACTIONS_FILE": "/nonexistent/actions.json"}, "ACTIONS_FILE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"JWT_TTL_S": "100000000000"}, "JWT_TTL_S"),
        ({"REDIS_SENTINELS": "h1:26379,h2"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "h1:99999"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "h1:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "h1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_CLUSTER": "1"},
         "REDIS_CLUSTER"),
        ({"REDIS_WAIT_REPLICAS": "1", "REDIS_CLUSTER": "1"}, "REDIS_WAIT_REPLICAS"),
        ({"REDIS_WAIT_REPLICAS": "-1"}, "REDIS_WAIT_REPLICAS"),
        ({"PERSIST_RETENTION_S": "soon"}, "PERSIST_RETENTION_S"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_env(env)
    message = str(info.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_actions_file_json_and_toml(tmp_path: Path) -> None:
    j = tmp_path / "a.json"
    j.write_text(json.dumps({"boss": {"max_increment": 5, "rate_per_minute": 2}}))
    assert from_env({"ACTIONS_FILE": str(j)}).actions["boss"].max_increment == 5
    t = tmp_path / "a.toml"
    t.write_text("[boss]\nmax_increment = 7\nrate_per_minute = 3\n")
    assert from_env({"ACTIONS_FILE": str(t)}).actions["boss"].rate_per_minute == 3


@pytest.mark.parametrize(
    "content",
    [
        "{}",
        "[1]",
        '{"x": {"max_increment": 0, "rate_per_minute": 1}}',
        '{"x": {"max_increment": 1.5, "rate_per_minute": 1}}',
        '{"x": {"max_increment": true, "rate_per_minute": 1}}',
        '{"x": {"max_increment": 1}}',
        '{"x": {"max_increment": 1, "rate_per_minute": 1, "extra": 2}}',
        "not json",
    ],
)
def test_bad_actions_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=r"^ACTIONS_FILE: "):
        from_env({"ACTIONS_FILE": str(path)})


def test_cli_prints_one_line_and_exits_nonzero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scoreboard", "serve"],
        env={"PATH": "/usr/bin:/bin", "PERSIST_MODE": "bogus",
             "SCOREBOARD_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == ["scoreboard: error: PERSIST_MODE: expected one of batch, direct, got 'bogus'"]
    assert "Traceback" not in proc.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scoreboard", "migrate"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
             "REDIS_URL": "redis://127.0.0.1:1/0", "JWT_SECRET": GOOD_SECRET,
             "SCOREBOARD_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoreboard: error: DATABASE_URL:")
