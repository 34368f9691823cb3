"""The embedded default: real Redis and PostgreSQL in the data folder, kept between runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "JWT_SECRET", "JWT_PUBLIC_KEY")}
    env["SCOREBOARD_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "scoreboard", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)
def test_embedded_servers_keep_data_between_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = cli(data, "users", "create", "--username", "emb", "--email", "emb@x.io")
    assert made.returncode == 0, made.stderr
    user = json.loads(made.stdout)
    secret = (data / "jwt_secret").read_text()
    assert len(secret) >= 32

    # a second run starts the servers again and finds the player in both stores
    token = cli(data, "token", user["id"])
    assert token.returncode == 0, token.stderr
    assert (data / "jwt_secret").read_text() == secret  # the dev secret is kept
    reseed = cli(data, "reseed")
    assert reseed.returncode == 0, reseed.stderr
    again = cli(data, "users", "create", "--username", "emb", "--email", "other@x.io")
    assert again.returncode == 2 and "taken" in again.stderr
    assert (data / "redis" / "appendonly.aof").exists()

    # Redis itself kept the profile: start the embedded Redis alone and look
    from redis import Redis

    from scoreboard.cli import embedded
    from scoreboard.store import keys

    server = embedded.EmbeddedRedis(data / "redis")
    server.start()
    try:
        assert server.started  # nothing else was running it
        with Redis(unix_socket_path=str(server.socket_path)) as r:
            profile = json.loads(r.hget(keys.PROFILES, user["id"]))
            assert profile["username"] == "emb"
    finally:
        server.stop()
