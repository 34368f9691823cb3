"""The package's tree shows its flows: imports run one way, down the layers in
docs/design.md, and no module imports itself back through another."""

from __future__ import annotations

import ast
from pathlib import Path

import scoreboard

ROOT = Path(scoreboard.__file__).parent

# Lower layers never import higher ones; every module takes its room's layer.
LAYERS: dict[str, int] = {
    "scoreboard": 0, "scoreboard.errors": 0, "scoreboard.clock": 0, "scoreboard.headers": 0,
    "scoreboard.actions": 0, "scoreboard.locks": 0, "scoreboard.operators": 0,
    "scoreboard.tasks": 0,
    "scoreboard.settings": 1, "scoreboard.obs": 1, "scoreboard.store": 1,
    "scoreboard.auth": 2, "scoreboard.players": 2,
    "scoreboard.persist": 3, "scoreboard.board": 3, "scoreboard.trust": 3,
    "scoreboard.scoring": 4, "scoreboard.live": 4, "scoreboard.flags": 4,
    "scoreboard.appkeys": 5,
    "scoreboard.api": 6,
    "scoreboard.app": 7,
    "scoreboard.cli": 8,
    "scoreboard.__main__": 9, "scoreboard.testing": 9,
}


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The scoreboard modules ``name`` imports (at any depth of its code)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def layer_of(name: str) -> int:
    while name not in LAYERS:
        name = name.rsplit(".", 1)[0]
    return LAYERS[name]


def room_of(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2])


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def test_imports_run_down_the_layers() -> None:
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if room_of(name) != room_of(target) and layer_of(target) >= layer_of(name):
                wrong.append(f"{name} (layer {layer_of(name)}) imports {target} "
                             f"(layer {layer_of(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node):], node]))
        if node in done:
            return
        for nxt in edges[node]:
            visit(nxt, [*path, node])
        done.add(node)

    for node in edges:
        visit(node, [])


def test_every_package_says_its_job() -> None:
    for init in ROOT.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT.parent)} has no docstring"


def test_the_layer_table_knows_every_room() -> None:
    rooms = {room_of(name) for name in modules()}
    assert rooms <= set(LAYERS), rooms - set(LAYERS)
    # rooms only: no module sits at another layer than its room's (no exceptions)
    assert all(room_of(name) == name for name in LAYERS), [
        name for name in LAYERS if room_of(name) != name]


def test_the_checker_sees_a_wrong_import() -> None:
    """The relative-import resolution finds a real upward edge, so the checks above
    are not vacuous."""
    edges = graph()
    assert "scoreboard.api.requests" in edges["scoreboard.cli.main"]  # a lazy import, found
    assert "scoreboard.persist.sql" in edges["scoreboard.scoring.direct"]
    assert layer_of("scoreboard.scoring.direct") > layer_of("scoreboard.persist.sql")
