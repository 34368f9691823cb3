"""One settings table: from_env, ``serve --help`` and the README's table all come
from the declarations on Config, and agree with each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import MISSING
from pathlib import Path

import pytest

from scoreboard.settings import Config, declared, from_env, help_text, mask_url

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    table = text[text.index("| variable | default | meaning |"):].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        var, default, meaning = (c.strip() for c in line.strip("|").split("|"))
        rows[var.strip("`")] = (default.strip("`"), meaning)
    return rows


def test_readme_table_is_the_settings_table() -> None:
    rows = readme_rows()
    assert list(rows) == [s.var for _, s in declared()]
    for _, s in declared():
        assert rows[s.var] == (s.shown_default, s.help), s.var


def test_serve_help_lists_every_setting() -> None:
    out = subprocess.run([sys.executable, "-m", "scoreboard", "serve", "--help"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for _, s in declared():
        assert re.search(rf"^  {s.var}\s+{re.escape(s.help)}", out, re.M), s.var
    assert help_text() in out


def test_every_variable_reaches_its_field() -> None:
    """A value set through each variable lands on that setting's field."""
    for f, s in declared():
        if f.default is MISSING or f.default is None or isinstance(f.default, bool | Path):
            continue
        if not isinstance(f.default, int | float):
            continue
        value = f.default * 2
        try:
            s.parse(str(value))
        except ValueError:  # past its bounds (a share at most 1): half of it
            value = f.default / 2 if isinstance(f.default, float) else f.default // 2
        assert getattr(from_env({s.var: str(value)}), f.name) == value, s.var


def test_shown_defaults_are_the_real_defaults() -> None:
    defaults = Config()
    for f, s in declared():
        value = getattr(defaults, f.name)
        if f.default is MISSING:  # computed where the service starts
            continue
        if isinstance(value, bool):
            assert s.shown_default == str(int(value))
        elif isinstance(value, int | float | str) and not isinstance(value, Path):
            assert s.shown_default == str(value), s.var


def test_send_threads_default_to_the_cores_but_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, threads in ((1, 0), (2, 1), (4, 3), (8, 7), (64, 7)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert Config().ws_send_threads == threads


@pytest.mark.parametrize("raw,shown", [
    ("postgresql://u@h/db?password=S3CRET", "postgresql://u@h/db?password=***"),
    ("redis://h:6379/0?password=S3CRET&db=1", "redis://h:6379/0?password=***&db=1"),
    ("postgresql://u:S3CRET@h1:5432,h2:5432/db?sslpassword=S3CRET&target_session_attrs=any",
     "postgresql://u:***@h1:5432,h2:5432/db?sslpassword=***&target_session_attrs=any"),
    ("redis://:S3CRET@h:6379/0", "redis://:***@h:6379/0"),
    ("unix:///run/redis.sock?db=0&Password=S3CRET", "unix:///run/redis.sock?db=0&Password=***"),
    ("redis://h:6379/0", "redis://h:6379/0"),
])
def test_passwords_never_reach_a_log_line(raw: str, shown: str) -> None:
    assert mask_url(raw) == shown and "S3CRET" not in (mask_url(raw) or "")
