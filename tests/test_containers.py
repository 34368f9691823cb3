"""No Docker engine runs here: check that the container files say what the service reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scoreboard.cli import SERVE_ENV

ROOT = Path(__file__).resolve().parent.parent


def known_variables() -> set[str]:
    return set(re.findall(r"^\s+([A-Z_]+)", SERVE_ENV, re.M)) | {"JWT_ISSUER", "JWT_AUDIENCE"}


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
    assert "SCOREBOARD_SQL_DIR" in text  # migrations ship outside the package


def test_help_lists_every_setting_the_config_reads() -> None:
    source = (ROOT / "scoreboard" / "config.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z_]+)"', source)) - {"INFO", "DEBUG", "WARNING", "ERROR"}
    read |= set(re.findall(r'env\.get\("([A-Z_]+)"', source))
    assert read <= known_variables(), read - known_variables()
