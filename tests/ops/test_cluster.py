"""REDIS_CLUSTER=1: the same code on a 3-node Redis Cluster (keys one script touches
share the {lb} hash tag)."""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import RedisCluster

from scoreboard import appkeys
from scoreboard.auth.tokens import mint
from scoreboard.players import users
from scoreboard.testing.servers import redis_binary, wait_until
from tests.support import eventually, post_score

CLI = str(Path(redis_binary()).with_name("redis-cli"))  # beside the server it belongs to


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("cluster")
    ports = cluster_ports(3)
    procs = []
    try:
        for port in ports:
            node = root / str(port)
            node.mkdir()
            procs.append(subprocess.Popen(
                [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--cluster-enabled", "yes", "--cluster-config-file", str(node / "nodes.conf"),
                 "--dir", str(node)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            wait_until(lambda p=port: _ping(p), what=f"cluster node {port}")
        subprocess.run([CLI, "--cluster", "create",
                        *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(lambda: all(_cluster_ok(p) for p in ports), what="cluster state ok")
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is valid and free too."""
    found: list[int] = []
    for port in range(21000 + random.randrange(0, 20000), 65535 - 10000):
        if len(found) == n:
            break
        if _free(port) and _free(port + 10000):
            found.append(port)
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ping(port: int) -> bool:
    out = subprocess.run([CLI, "-p", str(port), "ping"], capture_output=True, text=True)
    return out.stdout.strip() == "PONG"


def _cluster_ok(port: int) -> bool:
    out = subprocess.run([CLI, "-p", str(port), "cluster", "info"],
                         capture_output=True, text=True)
    return "cluster_state:ok" in out.stdout


async def test_update_read_push_persist_on_a_cluster(make_client: Any, pool: Any,
                                                     cluster_url: str, tmp_path: Path) -> None:
    client = await make_client(redis_url=cluster_url, redis_cluster=True)
    redis = RedisCluster.from_url(cluster_url)
    try:
        config = client.app[appkeys.CONFIG]
        made = [await users.create(pool, redis, f"cl{i}", f"cl{i}@x.io", None) for i in range(3)]
        tokens = [mint(config, u["id"]) for u in made]
        ws = await client.ws_connect(f"/ws/leaderboard?token={tokens[0]}")
        await ws.receive(timeout=5)
        for i, token in enumerate(tokens):
            body = await post_score(client, token, 10 * (i + 1))
            assert body["data"]["current_rank"] == 1
        await post_score(client, tokens[0], 5, key="again")
        assert (await post_score(client, tokens[0], 5, key="again"))["data"]["new_score"] == 15

        async def pushed() -> Any:
            msg = await ws.receive(timeout=5)
            board = msg.json()["data"]["leaderboard"]
            return board if board and board[0]["score"] == 30 else None

        board = await eventually(pushed, what="a push from the cluster")
        assert [e["user_id"] for e in board] == [made[2]["id"], made[1]["id"], made[0]["id"]]
        top = await (await client.get("/api/v1/leaderboard/top10")).json()
        assert [e["score"] for e in top["data"]["leaderboard"]] == [30, 20, 15]
        assert await client.app[appkeys.PERSISTER].flush() == 4
        assert await pool.fetchval("SELECT sum(total_score) FROM scores") == 65
        assert await client.app[appkeys.PERSISTER].lag() == (0, 0.0)
        await ws.close()
    finally:
        await redis.aclose()


async def test_one_update_feeds_several_boards_on_a_cluster(
        make_client: Any, pool: Any, cluster_url: str) -> None:
    """Every board's keys share {lb}: one script on one node feeds them all, persisted."""
    client = await make_client(redis_url=cluster_url, redis_cluster=True)
    redis = RedisCluster.from_url(cluster_url)
    try:
        config = client.app[appkeys.CONFIG]
        admin = await users.create(pool, redis, "cladmin", "cladmin@x.io", None)
        admin_token = mint(config, admin["id"], admin=True)
        for board, operator in (("kills", "incr"), ("best", "best")):
            resp = await client.post("/api/v1/admin/boards", json={
                "id": board, "title": board, "actions": ["kill"], "operator": operator},
                headers={"Authorization": f"Bearer {admin_token}"})
            assert resp.status == 201, await resp.text()
        player = await users.create(pool, redis, "clp", "clp@x.io", None)
        token = mint(config, player["id"])
        for value in (20, 10):
            data = (await post_score(client, token, value, "kill"))["data"]
        assert data["new_score"] == 30
        assert {b: v["score"] for b, v in data["boards"].items()} == {
            "global": 30, "kills": 30, "best": 20}
        await client.app[appkeys.PERSISTER].flush()
        rows = await pool.fetch("SELECT board_id, score FROM board_scores ORDER BY board_id")
        assert [(r["board_id"], r["score"]) for r in rows] == [("best", 20), ("kills", 30)]
    finally:
        await redis.aclose()
