"""The command line against real servers: users create + token give a working token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from scoreboard import appkeys
from scoreboard.settings import Config
from tests.support import SECRET, pg_totals, post_score, redis_totals


def run_cli(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": config.redis_url or "",
           "DATABASE_URL": config.database_url or "", "JWT_SECRET": SECRET,
           "SCOREBOARD_DATA_DIR": str(config.data_dir)}
    return subprocess.run([sys.executable, "-m", "scoreboard", *args], env=env,
                          capture_output=True, text=True, timeout=60)


async def test_users_create_and_token_work_with_the_api(client: Any, config: Config) -> None:
    made = run_cli(config, "users", "create", "--username", "cli_user", "--email", "c@x.io",
                   "--avatar-url", "https://cdn.example.com/a.png")
    assert made.returncode == 0, made.stderr
    user = json.loads(made.stdout)
    assert user["username"] == "cli_user" and user["avatar_url"].endswith("a.png")

    tok = run_cli(config, "token", user["id"])
    assert tok.returncode == 0, tok.stderr
    token = tok.stdout.strip()
    body = await post_score(client, token, 42)
    assert body["data"]["user_id"] == user["id"]
    assert body["data"]["new_score"] == 42


async def test_cli_refusals_are_one_line(client: Any, config: Config) -> None:
    dup = run_cli(config, "users", "create", "--username", "dupe", "--email", "d@x.io")
    assert dup.returncode == 0
    again = run_cli(config, "users", "create", "--username", "dupe", "--email", "e@x.io")
    assert again.returncode == 2
    assert again.stderr.strip() == "scoreboard: error: That username is taken"
    missing = run_cli(config, "token", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 2 and "no such user" in missing.stderr
    bad = run_cli(config, "users", "create", "--username", "x", "--email", "nope")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    user = json.loads(dup.stdout)
    for ttl in ("0", "-5", "59", "100000000000000000"):
        refused = run_cli(config, "token", user["id"], "--ttl", ttl)
        assert refused.returncode == 2, (ttl, refused.stdout)
        assert refused.stderr.startswith("scoreboard: error: --ttl:"), (ttl, refused.stderr)
        assert refused.stdout == ""


def test_every_command_has_help() -> None:
    for args in (["--help"], ["serve", "--help"], ["migrate", "--help"],
                 ["users", "create", "--help"], ["token", "--help"], ["reseed", "--help"],
                 ["replay", "--help"],
                 ["boards", "create", "--help"], ["boards", "reset", "--help"],
                 ["keys", "create", "--help"], ["keys", "revoke", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "scoreboard", *args],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0 and "usage: scoreboard" in proc.stdout
    serve = subprocess.run([sys.executable, "-m", "scoreboard", "serve", "--help"],
                           capture_output=True, text=True, timeout=30).stdout
    for var in ("REDIS_URL", "DATABASE_URL", "JWT_SECRET", "PERSIST_MODE", "WS_COALESCE_MS"):
        assert var in serve


async def test_boards_create_list_reset_delete(client: Any, config: Config) -> None:
    made = run_cli(config, "boards", "create", "weekly", "--title", "Weekly kills",
                   "--actions", "level_complete", "--reset", "0 0 * * 1",
                   "--timezone", "Europe/Berlin")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["reset"] == "0 0 * * 1"
    listed = run_cli(config, "boards", "list")
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["global", "weekly"]
    bad = run_cli(config, "boards", "create", "daily", "--title", "D", "--actions",
                  "level_complete", "--reset", "0 0 * *")
    assert bad.returncode != 0 and "reset" in bad.stderr and "Traceback" not in bad.stderr
    ended = run_cli(config, "boards", "reset", "weekly")
    assert ended.returncode == 0, ended.stderr
    assert json.loads(ended.stdout)["season"] == 2
    board = await (await client.get("/api/v1/boards/weekly/seasons")).json()
    assert [s["season"] for s in board["data"]["seasons"]] == [2, 1]  # newest first
    refused = run_cli(config, "boards", "reset", "global")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    gone = run_cli(config, "boards", "delete", "weekly")
    assert gone.returncode == 0, gone.stderr
    assert run_cli(config, "boards", "reset", "weekly").returncode != 0


async def test_boards_create_competitions(client: Any, config: Config) -> None:
    cup = run_cli(config, "boards", "create", "cup", "--title", "Cup", "--actions",
                  "level_complete", "--starts-at", "2030-01-01T00:00:00+00:00", "--ends-at",
                  "2030-01-02T00:00:00+01:00", "--join-required", "--max-size", "64",
                  "--max-attempts", "3")
    assert cup.returncode == 0, cup.stderr
    made = json.loads(cup.stdout)
    assert (made["starts_at"], made["ends_at"], made["join_required"], made["max_size"],
            made["max_attempts"]) == ("2030-01-01T00:00:00+00:00", "2030-01-01T23:00:00+00:00",
                                      True, 64, 3)
    detail = await (await client.get("/api/v1/boards/cup")).json()
    assert detail["data"]["status"] == "upcoming"
    league = '{"tiers": ["bronze", "silver", "gold"], "bucket_size": 30, "promote": 5, ' \
             '"relegate": 5}'
    ladder = run_cli(config, "boards", "create", "ladder", "--title", "Ladder", "--actions",
                     "level_complete", "--reset", "0 0 * * 1", "--league", league)
    assert ladder.returncode == 0, ladder.stderr
    assert json.loads(ladder.stdout)["league"] == json.loads(league)
    for bad, named in ((["--league", "{nope"], "--league"),
                       (["--league", league], "league"),  # no --reset
                       (["--starts-at", "2030-01-02T00:00:00Z", "--ends-at",
                         "2030-01-01T00:00:00Z"], "ends_at")):
        refused = run_cli(config, "boards", "create", "bad", "--title", "Bad", "--actions",
                          "level_complete", *bad)
        assert refused.returncode != 0 and named in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    listed = run_cli(config, "boards", "list")
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["cup", "global",
                                                                           "ladder"]


async def test_replay_writes_back_what_postgresql_lacks(client: Any, config: Config,
                                                      make_player: Any, pool: Any,
                                                      redis: Any) -> None:
    """`scoreboard replay` on a database that lost persisted events (as a promoted
    standby does): only the missing ones are inserted, and totals come back."""
    players = [await make_player() for _ in range(3)]
    for _, token in players:
        for value in (5, 7):
            await post_score(client, token, value)
    assert await client.app[appkeys.PERSISTER].flush() == 6
    expected = await pg_totals(pool)
    # the last event of each player never reached this server
    await pool.execute("""
        WITH gone AS (DELETE FROM score_events WHERE score_increment = 7 RETURNING user_id)
        UPDATE scores SET total_score = total_score - 7 FROM gone
        WHERE scores.user_id = gone.user_id""")
    assert await pg_totals(pool) != expected
    done = run_cli(config, "replay")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"missing": 3, "in_stream": 6}
    assert await pg_totals(pool) == expected == await redis_totals(redis)
    again = run_cli(config, "replay")  # idempotent: nothing twice
    assert json.loads(again.stdout)["missing"] == 0
    assert await pg_totals(pool) == expected


async def test_keys_create_list_revoke(client: Any, config: Config, make_player: Any) -> None:
    """A key made on the command line writes through a running service; listing shows no
    secret; revoking it is obeyed by that service at once."""
    made = run_cli(config, "keys", "create", "match-eu", "--actions", "level_complete")
    assert made.returncode == 0, made.stderr
    *head, secret = made.stdout.strip().splitlines()
    key = json.loads(head[0])
    assert secret.startswith("sbk_") and secret not in head[0]
    assert key["name"] == "match-eu" and key["actions"] == ["level_complete"]
    uid, _ = await make_player()
    body = {"user_id": uid, "action_type": "level_complete", "score_increment": 7}
    headers = {"Authorization": f"Bearer {secret}"}
    resp = await client.post("/api/v1/scores/update", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    listed = run_cli(config, "keys", "list")
    assert listed.returncode == 0 and secret.split("_", 2)[2] not in listed.stdout
    line = next(x for x in listed.stdout.splitlines() if x.startswith(key["id"]))
    assert "\tlive\t" in line and line.endswith("match-eu")
    bad = run_cli(config, "keys", "create", "x", "--actions", "nope")
    assert bad.returncode == 2 and "actions" in bad.stderr and "Traceback" not in bad.stderr
    gone = run_cli(config, "keys", "revoke", key["id"])
    assert gone.returncode == 0 and json.loads(gone.stdout)["revoked_at"]
    resp = await client.post("/api/v1/scores/update", json=body, headers=headers)
    assert resp.status == 401
    assert run_cli(config, "keys", "revoke", "not-a-key").returncode == 2
