"""The action catalogue: each action_type has a maximum increment, a rate per player and
a smallest value (``min_value``, default 1)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_ACTION_NAME = 64


class ActionError(Exception):
    pass


@dataclass(frozen=True)
class Action:
    name: str
    max_increment: int
    rate_per_minute: int
    min_value: int = 1


_DEFAULTS: dict[str, dict[str, int]] = {
    "level_complete": {"max_increment": 1000, "rate_per_minute": 30},
    "achievement": {"max_increment": 500, "rate_per_minute": 10},
    "daily_bonus": {"max_increment": 100, "rate_per_minute": 1},
    "kill": {"max_increment": 50, "rate_per_minute": 120},
    # a lap time, in ms: from 20 s (no lap is faster) to an hour
    "lap": {"max_increment": 3_600_000, "rate_per_minute": 30, "min_value": 20_000},
}


def default_actions() -> dict[str, Action]:
    return _parse(_DEFAULTS)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ActionError(f"{where} must be a positive integer")
    return value


_REQUIRED = {"max_increment", "rate_per_minute"}


def _parse(raw: Any) -> dict[str, Action]:
    if not isinstance(raw, dict) or not raw:
        raise ActionError("expected a non-empty object of actions")
    out: dict[str, Action] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not name or len(name) > MAX_ACTION_NAME:
            raise ActionError(f"action name {name!r} must be 1-{MAX_ACTION_NAME} characters")
        if (not isinstance(spec, dict) or not _REQUIRED <= set(spec)
                or not set(spec) <= _REQUIRED | {"min_value"}):
            raise ActionError(f"{name}: expected max_increment and rate_per_minute, "
                              "and optionally min_value")
        action = Action(
            name=name,
            max_increment=_positive_int(spec["max_increment"], f"{name}.max_increment"),
            rate_per_minute=_positive_int(spec["rate_per_minute"], f"{name}.rate_per_minute"),
            min_value=_positive_int(spec.get("min_value", 1), f"{name}.min_value"),
        )
        if action.min_value > action.max_increment:
            raise ActionError(f"{name}.min_value must be at most max_increment")
        out[name] = action
    return out


def load_actions(path: Path) -> dict[str, Action]:
    """Read a catalogue from JSON, or TOML when the file name ends in .toml."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ActionError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ActionError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                          f"{exc}") from None
    return _parse(raw)
