"""No Docker engine runs here: check that the container files say what the service reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scoreboard.settings import declared

ROOT = Path(__file__).resolve().parents[2]


def known_variables() -> set[str]:
    return {s.var for _, s in declared()}


def test_compose_parses_and_names_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"scoreboard", "redis", "postgres"}
    env = services["scoreboard"]["environment"]
    assert set(env) <= known_variables(), set(env) - known_variables()
    assert {"REDIS_URL", "DATABASE_URL", "JWT_SECRET"} <= set(env)
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert "postgres:5432" in env["DATABASE_URL"]
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--appendfsync everysec" in redis_cmd
    assert any("pg-data" in v for v in services["postgres"]["volumes"])


def test_dockerfile_is_multistage_nonroot_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "SCOREBOARD_SQL_DIR" not in text  # the migrations ship inside the package
