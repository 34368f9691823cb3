"""The live page in real Chromium: rows change without a reload; bad tokens are explained."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.live.conftest import CHROMIUM
from tests.support import post_score

expect = pytest.importorskip("playwright.async_api").expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Chromium is not installed (scripts/test installs it with apt)"),
]


async def test_page_updates_live(browser: Any, make_client: Any, make_player: Any) -> None:
    client = await make_client(ws_coalesce_ms=50)
    players = [await make_player(n, avatar_url=f"/static/avatars/{n[0]}.svg")
               for n in ("ace", "blaze", "comet")]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 100 * (3 - i))  # ace, blaze, comet
    page = await browser.new_page(viewport={"width": 390, "height": 700})  # phone width
    violations: list[str] = []  # the page runs under its Content-Security-Policy
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    await page.goto(str(client.make_url("/")) + f"#token={players[0][1]}")
    # waits that poll from Playwright's own world: the page's CSP forbids eval
    await expect(page.locator("#rows tr")).to_have_count(3)
    names = await page.locator("#rows td.player .name").all_inner_texts()
    assert names == ["ace", "blaze", "comet"]
    assert await page.locator("#status").inner_text() == "Live"
    await page.evaluate("window.__sameDocument = true")

    await post_score(client, players[2][1], 500)  # comet jumps to first
    await expect(page.locator("#rows tr td.player .name").first).to_have_text("comet")
    assert await page.evaluate("window.__sameDocument === true")  # no reload happened
    first = page.locator("#rows tr").first
    assert await first.locator("td.score").inner_text() == "600"
    assert "▲2" in await first.locator("td.rank").inner_text()
    assert await page.locator("#board caption").count() == 1
    shot = os.environ.get("SCOREBOARD_SCREENSHOT")
    if shot:
        await page.screenshot(path=shot, full_page=True, animations="disabled")
    assert violations == []


async def test_page_explains_a_bad_or_missing_token(browser: Any, make_client: Any) -> None:
    client = await make_client()
    page = await browser.new_page()
    await page.goto(str(client.make_url("/")) + "#token=not-a-token")
    await page.wait_for_selector("#help:not([hidden])")
    assert "refused" in await page.locator("#help-reason").inner_text()
    assert "scoreboard token" in await page.locator("#help").inner_text()
    await page.goto(str(client.make_url("/")))
    await page.reload()
    await page.wait_for_selector("#help:not([hidden])")
    assert await page.locator("#help-reason").inner_text() == "No token was given."


async def test_board_picker(browser: Any, make_client: Any, make_player: Any) -> None:
    from scoreboard.actions import Action
    from tests.support import bearer

    client = await make_client(ws_coalesce_ms=50, actions={
        "kill": Action("kill", 50, 10**6), "lap": Action("lap", 10**5, 10**6)})
    _, admin = await make_player(admin=True)
    resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "laps", "title": "Lap times", "actions": ["lap"], "order": "asc",
        "operator": "best"})
    assert resp.status == 201
    ace, blaze = [await make_player(n) for n in ("ace", "blaze")]
    for (_, token), lap in ((ace, 900), (blaze, 700)):
        resp = await client.post("/api/v1/boards/laps/scores", headers=bearer(token),
                                 json={"action_type": "lap", "score_increment": lap})
        assert resp.status == 200
    await post_score(client, ace[1], 40, "kill")  # global: ace only
    page = await browser.new_page()
    await page.goto(str(client.make_url("/")) + f"#board=laps&token={ace[1]}")
    await expect(page.locator("#picker")).to_have_value("laps")
    await expect(page.locator("#rows tr")).to_have_count(2)
    # lowest lap first
    assert await page.locator("#rows td.player .name").all_inner_texts() == ["blaze", "ace"]
    assert await page.locator("#rows td.score").all_inner_texts() == ["700", "900"]
    await page.locator("#picker").select_option("global")
    await expect(page.locator("#rows tr")).to_have_count(1)
    assert await page.locator("#rows td.score").all_inner_texts() == ["40"]
    assert "board=global" in page.url
    # a push on laps reaches the laps page only
    await page.locator("#picker").select_option("laps")
    await expect(page.locator("#rows tr")).to_have_count(2)
    resp = await client.post("/api/v1/boards/laps/scores", headers=bearer(ace[1]),
                             json={"action_type": "lap", "score_increment": 600})
    assert resp.status == 200
    await expect(page.locator("#rows td.player .name").first).to_have_text("ace")


async def test_season_and_countdown(browser: Any, make_client: Any, make_player: Any) -> None:
    from scoreboard.actions import Action
    from tests.support import bearer

    client = await make_client(ws_coalesce_ms=50, actions={"kill": Action("kill", 50, 10**6)})
    _, admin = await make_player(admin=True)
    resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "daily", "title": "Daily", "actions": ["kill"], "reset": "0 0 * * *"})
    assert resp.status == 201
    _, token = await make_player("ace")
    await post_score(client, token, 12, "kill")
    page = await browser.new_page()
    await page.goto(str(client.make_url("/")) + f"#board=daily&token={token}")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await expect(page.locator("#season")).to_contain_text("Season 1 · resets in ")
    resp = await client.post("/api/v1/admin/boards/daily/reset", headers=bearer(admin))
    assert resp.status == 200
    await expect(page.locator("#season")).to_contain_text("Season 2 · resets in ")
    await expect(page.locator("#empty")).to_be_visible()
    await page.close()


async def test_tournament_status_and_time_left(browser: Any, make_client: Any,
                                               make_player: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from scoreboard.actions import Action
    from tests.support import bearer

    client = await make_client(ws_coalesce_ms=50, actions={"kill": Action("kill", 50, 10**6)})
    _, admin = await make_player(admin=True)
    now = datetime.now(UTC)
    for board, opens, closes in (("cup", now - timedelta(minutes=1), now + timedelta(hours=2)),
                                 ("later", now + timedelta(hours=3), now + timedelta(hours=5))):
        resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
            "id": board, "title": board, "actions": ["kill"], "starts_at": opens.isoformat(),
            "ends_at": closes.isoformat()})
        assert resp.status == 201
    _, token = await make_player("ace")
    await post_score(client, token, 12, "kill")
    page = await browser.new_page()
    await page.goto(str(client.make_url("/")) + f"#board=cup&token={token}")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await expect(page.locator("#season")).to_contain_text("Tournament · open · ends in 1 h 5")
    assert await page.locator("#season").get_attribute("data-status") == "open"
    await page.locator("#picker").select_option("later")
    await expect(page.locator("#season")).to_contain_text("Tournament · opens in 2 h 5")
    await expect(page.locator("#empty")).to_be_visible()  # not fed before it opens
    await page.close()


async def test_league_bucket_with_its_zones(browser: Any, make_client: Any,
                                            make_player: Any) -> None:
    from scoreboard.actions import Action
    from tests.support import bearer

    client = await make_client(ws_coalesce_ms=50, actions={"kill": Action("kill", 100, 10**6)})
    _, admin = await make_player(admin=True)
    resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "ladder", "title": "Ladder", "actions": ["kill"], "reset": "0 0 * * 1",
        "league": {"tiers": ["bronze", "silver"], "bucket_size": 4, "promote": 1,
                   "relegate": 1}})
    assert resp.status == 201
    players = [await make_player(n) for n in ("ace", "blaze", "comet", "dash", "echo")]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 50 - 10 * i, "kill")  # ace..dash: bucket 1
    page = await browser.new_page(viewport={"width": 390, "height": 900})
    await page.goto(str(client.make_url("/")) + f"#board=ladder&token={players[1][1]}")
    await expect(page.locator("#bucket-rows tr")).to_have_count(4)
    await expect(page.locator("#league-note")).to_contain_text("Tier bronze · bucket 1")
    names = await page.locator("#bucket-rows td.player .name").all_inner_texts()
    assert names == ["ace", "blaze", "comet", "dash"]
    rows = page.locator("#bucket-rows tr")
    assert await rows.nth(0).get_attribute("class") == "promote"
    assert await rows.nth(3).get_attribute("class") == "relegate"
    assert "me" in (await rows.nth(1).get_attribute("class") or "")  # the viewer
    await post_score(client, players[3][1], 90, "kill")  # dash to first: pushed
    await expect(page.locator("#bucket-rows td.player .name").first).to_have_text("dash")
    await expect(page.locator("#bucket-rows tr").nth(3)).to_have_class("relegate")
    assert await page.locator("#bucket-rows td.player .name").nth(3).inner_text() == "comet"
    # the other bucket's player sees theirs, not this one
    other = await browser.new_page()
    await other.goto(str(client.make_url("/")) + f"#board=ladder&token={players[4][1]}")
    await expect(other.locator("#league-note")).to_contain_text("bucket 2")
    await expect(other.locator("#bucket-rows tr")).to_have_count(1)
    if os.environ.get("SCOREBOARD_SCREENSHOT_LEAGUE"):
        await page.screenshot(path=os.environ["SCOREBOARD_SCREENSHOT_LEAGUE"], full_page=True,
                              animations="disabled")
    await page.close()
    await other.close()
