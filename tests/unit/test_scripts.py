"""The Lua boundary: every script names its KEYS and ARGV on its first lines, and
the Python call spec names them the same, in the same order."""

from __future__ import annotations

import re

import pytest

from scoreboard.store import scripts

SCRIPTS = sorted(p.stem for p in scripts.LUA_DIR.glob("*.lua") if p.stem != "common")


def header(name: str, which: str) -> tuple[list[str], ...]:
    """The names a script's header gives: its fixed head, the per-board group, and (a
    script taking several updates) the per-update group."""
    text = (scripts.LUA_DIR / f"{name}.lua").read_text()
    match = re.search(rf"^-- {which}: (.*)$", text, re.M)
    assert match, f"{name}.lua has no '-- {which}:' line"
    head, _, group = match.group(1).partition("; per board: ")
    head, _, update = head.partition("; per update: ")

    def names(part: str) -> list[str]:
        return [n.strip() for n in part.split(",")] if part else []

    return names(head), names(group), names(update)


def per_board_names(name: str) -> tuple[list[str], ...]:
    """The names a script's per_board(...) call reads the groups by (per_update(...):
    the update's groups, then the boards')."""
    text = (scripts.LUA_DIR / f"{name}.lua").read_text()
    match = re.search(r"^local (?:boards|updates) = per_(?:board|update)\((.*)\)$", text, re.M)
    if not match:
        return [], [], [], []
    lists = [[n.strip().strip("'") for n in part.split(",") if n.strip()]
             for part in re.findall(r"\{([^}]*)\}", match.group(1))]
    if len(lists) == 2:  # per_board: keys, args
        return lists[0], lists[1], [], []
    # per_update: update keys, board keys, update args, board args
    return lists[1], lists[3], lists[0], lists[2]


def bound_names(name: str, table: str) -> list[str]:
    """The locals a script binds to KEYS[i] / ARGV[i], by position."""
    text = (scripts.LUA_DIR / f"{name}.lua").read_text()
    bound: dict[int, str] = {}
    for line in re.findall(rf"^local (.*) = (.*{table}\[\d+\].*)$", text, re.M):
        names = [n.strip() for n in line[0].split(",")]
        values = [v.strip() for v in line[1].split(", ")]
        for local, value in zip(names, values, strict=True):
            index = re.search(rf"{table}\[(\d+)\]", value)
            assert index, f"{name}.lua binds {local} to {value}"
            bound[int(index.group(1))] = local
    return [bound[i] for i in sorted(bound)]


def test_every_script_has_a_spec() -> None:
    assert set(SCRIPTS) == set(scripts.SPECS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_headers_match_the_python_spec(name: str) -> None:
    keys, args, *group = scripts.SPECS[name]

    def fields(i: int) -> list[str]:
        return list(group[i]._fields) if len(group) > i else []

    board_keys, board_args, update_keys, update_args = fields(0), fields(1), fields(2), fields(3)
    assert header(name, "KEYS") == (list(keys._fields), board_keys, update_keys)
    assert header(name, "ARGV") == (list(args._fields), board_args, update_args)
    assert per_board_names(name) == (board_keys, board_args, update_keys, update_args)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_binds_each_name_once_in_order(name: str) -> None:
    keys, args, *_ = scripts.SPECS[name]
    assert bound_names(name, "KEYS") == ["k_" + k for k in keys._fields]
    assert bound_names(name, "ARGV") == list(args._fields)
    body = (scripts.LUA_DIR / f"{name}.lua").read_text()
    # past the binding lines, a script speaks of its names, never of positions
    rest = "\n".join(line for line in body.splitlines() if not line.startswith("local "))
    assert not re.search(r"(KEYS|ARGV)\[", rest), name


def test_parse_score_reply_normalises_bytes_and_text() -> None:
    raw = [b"OK", 1700000000000, 2, 10, b"25", -1, 3, 7, b"4", 4, 2, 1, 0]
    assert scripts.parse_score_reply(raw) == scripts.parse_score_reply(
        ["OK", "1700000000000", "2", "10", "25", "-1", "3", "7", "4", "4", "2", "1", "0"])
    reply = scripts.parse_score_reply(raw)
    assert reply.now == 1700000000000
    assert reply.boards == (scripts.BoardResult(10, 25, None, 3, 7),
                            scripts.BoardResult(4, 4, 2, 1, 0))
    assert scripts.parse_score_reply([b"RATE_LIMITED", 1500]).wait_ms == 1500
    assert not scripts.parse_score_reply([b"FORBIDDEN"]).applied
