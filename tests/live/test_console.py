"""The admin console in real Chromium: sign in, boards, players, flags, keys, the audit
log, each through the admin API, under the page's Content-Security-Policy."""

from __future__ import annotations

import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.store import keys
from tests.live.conftest import CHROMIUM
from tests.support import bearer, call, post_score

expect = pytest.importorskip("playwright.async_api").expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Chromium is not installed (scripts/test installs it with apt)"),
]
ACTIONS = {"kill": Action("kill", 50, 10**6)}
SHOTS = os.environ.get("SCOREBOARD_CONSOLE_SHOTS")  # a folder: screenshots go there


async def open_console(browser: Any, client: Any, token: str | None = None,
                       width: int = 1200) -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: d.accept())  # the confirmations
    await page.goto(str(client.make_url("/admin")))
    if token is not None:
        await page.locator("#token").fill(token)
        await page.locator("#signin-form button[type=submit]").click()
    return page, violations


async def test_sign_in(browser: Any, make_client: Any, make_player: Any,
                       admin_token: str) -> None:
    client = await make_client(actions=ACTIONS)
    _, player = await make_player()
    page, violations = await open_console(browser, client, player)
    await expect(page.locator("#signin-error")).to_contain_text("not an admin's")
    assert await page.locator("#nav").is_hidden()
    await page.locator("#token").fill(admin_token)
    await page.locator("#signin-form button[type=submit]").click()
    await expect(page.locator("#nav")).to_be_visible()
    await expect(page.locator("#n-flags")).to_have_text("0")
    # the token stays in the tab, never in the URL
    assert admin_token not in page.url
    assert await page.evaluate("sessionStorage.getItem('scoreboard-admin-token')") == admin_token
    assert violations == []


async def test_boards_players_flags_keys_and_the_audit_log(
        browser: Any, make_client: Any, make_player: Any, admin_token: str, redis: Redis,
        pool: asyncpg.Pool) -> None:
    client = await make_client(actions=ACTIONS, ws_coalesce_ms=50)
    ace, ace_token = await make_player("ace_console")
    await post_score(client, ace_token, 30, "kill")
    page, violations = await open_console(browser, client, admin_token)
    await expect(page.locator("#nav")).to_be_visible()

    # a board: a validation error shown by its field, then created
    await page.locator("#nav button[data-tab=boards]").click()
    form = page.locator("#board-form")
    await form.locator("input[name=id]").fill("weekly")
    await form.locator("input[name=title]").fill("Weekly kills")
    await form.locator("input[name=actions]").fill("kill")
    await form.locator("input[name=reset]").fill("every monday")
    await form.locator("button[type=submit]").click()
    await expect(form.locator('.error[data-for="reset"]')).to_contain_text("cron")
    await form.locator("input[name=reset]").fill("")
    await form.locator("button[type=submit]").click()
    row = page.locator('#board-rows tr[data-board="weekly"]')
    await expect(row).to_contain_text("Weekly kills")
    await post_score(client, ace_token, 20, "kill")  # feeds weekly too

    # reset it (confirmed), then read the archived season's standings
    await row.locator("button", has_text="Reset").click()
    await expect(page.locator("#notice")).to_contain_text("season 2 started")
    await page.locator('#board-rows tr[data-board="weekly"] button',
                       has_text="Seasons").click()
    await page.locator("#season-list button", has_text="Season 1").click()
    await expect(page.locator("#standing-rows tr")).to_have_count(1)
    await expect(page.locator("#standing-rows")).to_contain_text("ace_console")
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / "console-desktop.png"), full_page=True,
                              animations="disabled")

    # a player found by prefix and banned: they leave the live page
    _, viewer = await make_player("viewer_console")
    live = await browser.new_page()
    await live.goto(str(client.make_url("/")) + f"#token={viewer}")
    await expect(live.locator("#rows tr")).to_have_count(1)
    await client.server.app[appkeys.PERSISTER].flush()  # the events shown are PostgreSQL's
    await page.locator("#nav button[data-tab=players]").click()
    await page.locator("#player-q").fill("ACE_C")
    await page.locator("#player-search button").click()
    await page.locator(f'#player-list li[data-user="{ace}"] button').click()
    await expect(page.locator("#player-scores")).to_contain_text("Global: 50 (rank 1)")
    await expect(page.locator("#player-events tr")).to_have_count(2)
    await page.locator("#player-ban").click()
    await expect(page.locator("#notice")).to_contain_text("ace_console banned")
    await expect(live.locator("#rows tr")).to_have_count(0)

    # a flag, rendered with its evidence, dismissed
    bot, _ = await make_player("bot_console")
    rng = random.Random(4)
    at = int(time.time() * 1000) - 600_000
    for _ in range(30):  # at the cap, at human intervals
        at += int(rng.lognormvariate(9, 0.8))
        await redis.xadd(keys.EVENTS, {"u": bot, "a": "kill", "i": "50", "s": "1",
                                       "t": str(at), "b": "global/1/incr/desc"})
    await client.server.app[appkeys.DETECTOR].run_pass()
    await page.locator("#nav button[data-tab=flags]").click()
    card = page.locator("#flag-list li").first
    await expect(card).to_contain_text("bot_console")
    await expect(card).to_contain_text("at_cap on global")
    await expect(card.locator(".evidence")).to_contain_text("share at cap")
    await card.locator("button", has_text="Dismiss").click()
    await expect(page.locator("#flags-empty")).to_be_visible()
    assert await pool.fetchval("SELECT status FROM flags") == "dismissed"

    # a server key: made (its secret shown once), then revoked
    await page.locator("#nav button[data-tab=keys]").click()
    await page.locator("#key-form input[name=name]").fill("match-eu")
    await page.locator("#key-form button[type=submit]").click()
    await expect(page.locator("#new-key-value")).to_contain_text("sbk_")
    secret = await page.locator("#new-key-value").inner_text()
    resp = await client.post("/api/v1/scores/update", headers=bearer(secret), json={
        "action_type": "kill", "score_increment": 5, "user_id": bot})
    assert resp.status == 200
    await page.locator("#key-rows tr", has_text="match-eu").locator("button").click()
    await expect(page.locator("#key-rows tr", has_text="match-eu")).to_contain_text("revoked")
    resp = await client.post("/api/v1/scores/update", headers=bearer(secret), json={
        "action_type": "kill", "score_increment": 5, "user_id": bot})
    assert resp.status == 401

    # the audit log shows each of these, newest first
    await page.locator("#nav button[data-tab=audit]").click()
    actions = page.locator("#audit-rows tr td:nth-child(3)")
    await expect(actions.first).to_have_text("revoke_key")
    shown = await actions.all_inner_texts()
    for action in ("create_board", "reset_board", "ban", "flag_dismissed", "create_key",
                   "revoke_key"):
        assert action in shown, (action, shown)
    assert violations == []


async def test_user_strings_render_as_text(browser: Any, make_client: Any,
                                           admin_token: str, pool: asyncpg.Pool,
                                           redis: Redis) -> None:
    """A username stored before names were checked, and a board title: markup shows as
    text and runs nothing."""
    client = await make_client(actions=ACTIONS)
    hostile = "<script>window.__pwned=1</script>"
    uid = uuid.uuid4()
    await pool.execute("INSERT INTO users (id, username, email) VALUES ($1, $2, $3)",
                       uid, hostile, "x@example.com")
    await call(client, "POST", "/api/v1/admin/boards", 201, headers=bearer(admin_token),
               json={"id": "odd", "title": "<img src=x onerror=window.__pwned=2>",
                     "actions": ["kill"]})
    page, violations = await open_console(browser, client, admin_token, width=390)
    await expect(page.locator("#nav")).to_be_visible()
    await page.locator("#nav button[data-tab=players]").click()
    await page.locator("#player-q").fill("<scr")
    await page.locator("#player-search button").click()
    await expect(page.locator("#player-list li").first).to_contain_text(hostile)
    assert await page.locator("#player-list script").count() == 0
    await page.locator("#nav button[data-tab=boards]").click()
    await expect(page.locator('#board-rows tr[data-board="odd"]')).to_contain_text(
        "<img src=x onerror=window.__pwned=2>")
    assert await page.locator("#board-rows img").count() == 0
    assert await page.evaluate("window.__pwned === undefined")
    if SHOTS:
        await page.locator("#nav button[data-tab=overview]").click()
        await page.screenshot(path=str(Path(SHOTS) / "console-phone.png"), full_page=True,
                              animations="disabled")
    assert violations == []
