"""The installed package carries everything it reads at run time: the migrations
(the top-level sql/ folder), the Lua scripts and the page."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_migrations_and_scripts(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(ROOT), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("scoreboard-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in (ROOT / "sql").glob("*.sql"):
        assert f"scoreboard/sql/{sql.name}" in names
    for lua in (ROOT / "scoreboard" / "store" / "lua").glob("*.lua"):
        assert f"scoreboard/store/lua/{lua.name}" in names
    assert "scoreboard/static/index.html" in names
    # the test and benchmark harness stays in the source tree (docs/design.md)
    assert not [n for n in names if n.startswith("scoreboard/testing/")]

    # installed from the wheel alone, away from the source tree, it finds its migrations
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    probe = ("import json, scoreboard.persist.migrations as m, scoreboard.store.scripts as s;"
             "print(json.dumps([str(m.sql_dir()), [n for _, n, _ in m.migrations()],"
             " len(s.lua_source('update'))]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True, text=True,
                         capture_output=True, timeout=60, env={"PYTHONPATH": str(site)}).stdout
    where, applied, lua_len = json.loads(out)
    assert where.startswith(str(site))
    assert applied == sorted(p.name for p in (ROOT / "sql").glob("*.sql"))
    assert lua_len > 0
