"""The TypeScript client (clients/typescript) against a real running service: its
node:test suites run here with the service, players, keys and proxies this harness
starts; and its committed types must be what the service's OpenAPI document
generates."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scoreboard_client import AsyncClient

from scoreboard.actions import default_actions
from scoreboard.settings import Config
from tests.clients.conftest import Proxy, address, replaced, service
from tests.support import serve, wait_ready

ROOT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
NODE = shutil.which("node")
BUILT = (ROOT / "dist" / "test" / "client.test.js").exists()

pytestmark = pytest.mark.skipif(
    NODE is None or not BUILT,
    reason="Node.js or the built client is missing (scripts/test installs Node from apt and "
           "runs npm ci and the build)")


async def node_test(name: str, env: dict[str, str], *, stdin: bool = False
                    ) -> asyncio.subprocess.Process:
    """A node:test file, run as a script (its own stdin and stdout: the watch test talks
    with this harness on them), reporting in TAP."""
    assert NODE is not None
    return await asyncio.create_subprocess_exec(
        NODE, "--test-reporter=tap", str(ROOT / "dist" / "test" / name),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.PIPE if stdin else None)


async def test_the_typescript_suite(base: str, admin_token: str, make_player: Any) -> None:
    player_id, player = await make_player("tsace")
    other_id, _ = await make_player("tsother")
    cutter_id, cutter = await make_player("tscut")
    _, slow = await make_player("tsslow")
    async with AsyncClient(base, admin_token) as admin:
        key = (await admin.create_key("ts-suite"))["key"]
    cut = Proxy(address(base))
    await cut.start()
    cut.cut_next_answer()  # the suite's one update through it loses its first answer
    try:
        proc = await node_test("client.test.js", {
            "SB_URL": base, "SB_ADMIN": admin_token, "SB_PLAYER": player,
            "SB_PLAYER_ID": player_id, "SB_OTHER_ID": other_id, "SB_KEY": key,
            "SB_CUT_URL": cut.url, "SB_CUTTER": cutter, "SB_CUTTER_ID": cutter_id,
            "SB_SLOW": slow})
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await cut.close()
    assert proc.returncode == 0, out.decode()
    assert cut.cuts == 1
    assert b"# fail 0" in out and b"# pass 4" in out, out.decode()


async def test_watch_across_a_restart(config: Config, tmp_path: Path, make_player: Any,
                                      pool: Any) -> None:
    players = [await make_player(f"tw{i}") for i in range(3)]
    with service(config, tmp_path / "a") as (proc_a, base_a):
        await wait_ready(base_a)
        proxy = Proxy(address(base_a))
        await proxy.start()
        try:
            node = await node_test("watch.test.js", {"SB_URL": proxy.url,
                                                     "SB_PLAYER": players[0][1]}, stdin=True)
            assert node.stdout is not None and node.stdin is not None
            output = b""
            while b"WATCHING" not in output:  # its first snapshot arrived
                output += await asyncio.wait_for(node.stdout.readline(), 60)
            async with AsyncClient(base_a, players[1][1]) as p1:
                await p1.update("kill", 10)
            async with replaced(proc_a, proxy, config, tmp_path / "b") as base_b:
                async with AsyncClient(base_b, players[2][1]) as p2:
                    await p2.update("kill", 30)
                    truth = {e["user_id"]: e["score"]
                             for e in (await p2.leaderboard())["leaderboard"]}
                assert truth == {players[1][0]: 10, players[2][0]: 30}
                node.stdin.write(json.dumps(truth).encode() + b"\n")
                await node.stdin.drain()
                rest, _ = await asyncio.wait_for(node.communicate(), 60)
        finally:
            await proxy.close()
    assert node.returncode == 0, (output + rest).decode()
    assert b"# pass 1" in rest, rest.decode()


async def test_the_committed_types_are_what_the_document_generates(
        config: Config, tmp_path: Path, pool: Any, redis: Any) -> None:
    """src/schema.ts against openapi-typescript's output for the running service's
    document (the default catalogue: the action names are in it)."""
    actions = tmp_path / "default-actions.json"
    actions.write_text(json.dumps({
        name: {"max_increment": a.max_increment, "rate_per_minute": a.rate_per_minute,
               "min_value": a.min_value} for name, a in default_actions().items()}))
    generated = tmp_path / "schema.d.ts"
    with serve(config, tmp_path, ACTIONS_FILE=str(actions)) as (_, base):
        await wait_ready(base)
        made = await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / "node_modules" / ".bin" / "openapi-typescript"),
             f"{base}/api/v1/openapi.json", "--default-non-nullable", "false",
             "-o", str(generated)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    committed = (ROOT / "src" / "schema.ts").read_text()
    assert generated.read_text() == committed, (
        "clients/typescript/src/schema.ts is stale: run `npm run types` in "
        "clients/typescript against a service with the default catalogue")
