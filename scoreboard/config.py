"""Configuration: one frozen dataclass built from the environment and checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .actions import Action, ActionError, default_actions, load_actions

PERSIST_MODES = ("batch", "direct")
MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A bad configuration value; the message is one line naming the variable."""


@dataclass(frozen=True)
class Config:
    redis_url: str | None = None
    database_url: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_ttl_s: int = 24 * 3600
    persist_mode: str = "batch"
    persist_interval_s: float = 1.0
    persist_batch_size: int = 5000
    persist_claim_idle_ms: int = 30_000
    cache_refresh_interval_s: float = 5.0
    cache_ttl_s: int = 30
    actions: Mapping[str, Action] = field(default_factory=default_actions)
    ws_allowed_origins: tuple[str, ...] = ()
    ws_coalesce_ms: int = 100
    ws_max_per_user: int = 5
    ws_heartbeat_s: float = 20.0
    ws_send_buffer_kb: int = 256
    data_dir: Path = Path(".scoreboard")
    redis_cluster: bool = False
    request_timeout_s: float = 2.0
    log_level: str = "INFO"

    def with_urls(self, redis_url: str, database_url: str) -> Config:
        return replace(self, redis_url=redis_url, database_url=database_url)

    def with_secret(self, secret: str) -> Config:
        return replace(self, jwt_secret=secret)


def mask_url(url: str | None) -> str | None:
    """Hide the password in a DSN for logs: ``redis://u:secret@h`` -> ``redis://u:***@h``."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not value >= minimum or value != value or value == float("inf"):
        raise ConfigError(f"{name}: must be at least {minimum}, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {raw!r}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name) or None
    if raw is not None and not raw.startswith(tuple(s + "://" for s in schemes)):
        raise ConfigError(f"{name}: expected a URL starting with {' or '.join(schemes)}://")
    return raw


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Build and check the configuration; raise ConfigError with one clear line."""
    env = os.environ if env is None else env
    secret = env.get("JWT_SECRET") or None
    public_key = env.get("JWT_PUBLIC_KEY") or None
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"JWT_SECRET: must be at least {MIN_SECRET_BYTES} bytes")
    if public_key is not None and "-----BEGIN PUBLIC KEY-----" not in public_key:
        raise ConfigError("JWT_PUBLIC_KEY: expected a PEM public key (-----BEGIN PUBLIC KEY-----)")
    mode = env.get("PERSIST_MODE", "batch") or "batch"
    if mode not in PERSIST_MODES:
        raise ConfigError(f"PERSIST_MODE: expected one of {', '.join(PERSIST_MODES)}, got {mode!r}")
    actions_file = env.get("ACTIONS_FILE") or None
    try:
        actions = load_actions(Path(actions_file)) if actions_file else default_actions()
    except ActionError as exc:
        raise ConfigError(f"ACTIONS_FILE: {exc}") from None
    origins = tuple(o.strip() for o in env.get("WS_ALLOWED_ORIGINS", "").split(",") if o.strip())
    level = (env.get("LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    cluster = (env.get("REDIS_CLUSTER") or "0").lower()
    if cluster not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"REDIS_CLUSTER: expected 0 or 1, got {cluster!r}")
    return Config(
        redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
        database_url=_url(env, "DATABASE_URL", ("postgresql", "postgres")),
        jwt_secret=secret,
        jwt_public_key=public_key,
        jwt_issuer=env.get("JWT_ISSUER") or None,
        jwt_audience=env.get("JWT_AUDIENCE") or None,
        jwt_ttl_s=_int(env, "JWT_TTL_S", 24 * 3600, minimum=60),
        persist_mode=mode,
        persist_interval_s=_float(env, "PERSIST_INTERVAL_S", 1.0, minimum=0.05),
        persist_batch_size=_int(env, "PERSIST_BATCH_SIZE", 5000, minimum=1),
        persist_claim_idle_ms=_int(env, "PERSIST_CLAIM_IDLE_MS", 30_000, minimum=100),
        cache_refresh_interval_s=_float(env, "CACHE_REFRESH_INTERVAL_S", 5.0, minimum=0.05),
        cache_ttl_s=_int(env, "CACHE_TTL_S", 30, minimum=1),
        actions=actions,
        ws_allowed_origins=origins,
        ws_coalesce_ms=_int(env, "WS_COALESCE_MS", 100, minimum=0),
        ws_max_per_user=_int(env, "WS_MAX_PER_USER", 5, minimum=1),
        ws_send_buffer_kb=_int(env, "WS_SEND_BUFFER_KB", 256, minimum=16),
        data_dir=Path(env.get("SCOREBOARD_DATA_DIR") or ".scoreboard"),
        redis_cluster=cluster in ("1", "true", "yes"),
        request_timeout_s=_float(env, "REQUEST_TIMEOUT_S", 2.0, minimum=0.1),
        log_level=level,
    )
