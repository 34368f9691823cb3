"""Settings: each declared once, on its Config field, with its variable, parser,
default, bounds and help. ``from_env``, ``scoreboard serve --help`` and the
README's table (checked by a test) are all built from these declarations.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .actions import Action, ActionError, default_actions, load_actions

PERSIST_MODES = ("batch", "direct")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MIN_SECRET_BYTES = 32
MIN_TOKEN_TTL_S = 60
# The longest session accepted: a token living longer could not be logged out for good
# (its revocation is kept until it expires).
MAX_TOKEN_TTL_S = 366 * 24 * 3600


class ConfigError(Exception):
    """A bad configuration value; the message is one line naming the variable."""


@dataclass(frozen=True)
class Setting:
    var: str  # the environment variable
    parse: Callable[[str], Any]  # raw text -> value; ValueError with the reason
    help: str
    shown_default: str  # the default as the help and the README show it


def setting(var: str, parse: Callable[[str], Any], default: Any, help: str, *,
            shown: str | None = None, factory: Callable[[], Any] | None = None) -> Any:
    """A Config field read from ``var``."""
    meta = {"setting": Setting(var, parse, help, shown if shown is not None else str(default))}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _cores() -> int:
    """The cores this process may run on (all of the machine's where that is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# parsers ------------------------------------------------------------------------
def _at_least(convert: Callable[[str], Any], minimum: float, expected: str,
              maximum: float = float("inf")) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(f"expected {expected}, got {raw!r}") from None
        if not value >= minimum or value == float("inf"):  # NaN fails the comparison
            raise ValueError(f"must be at least {minimum}, got {raw!r}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum}, got {raw!r}")
        return value

    return parse


def number(minimum: float) -> Callable[[str], float]:
    return _at_least(float, minimum, "a number of seconds")


def ratio(minimum: float, maximum: float) -> Callable[[str], float]:
    return _at_least(float, minimum, "a number", maximum)


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    return _at_least(int, minimum, "an integer",
                     float("inf") if maximum is None else maximum)


def url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.startswith(tuple(s + "://" for s in schemes)):
            raise ValueError(f"expected a URL starting with {' or '.join(schemes)}://")
        return raw

    return parse


def choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw
        if value not in options:
            if upper:
                listed = ", ".join(options[:-1]) + " or " + options[-1]
                raise ValueError(f"expected {listed}, got {value!r}")
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def flag(raw: str) -> bool:
    value = raw.lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"expected 0 or 1, got {value!r}")
    return value in ("1", "true", "yes")


def text(raw: str) -> str:
    return raw


FOLLOW_REPLICAS = "connected"


def replicas(raw: str) -> int | str:
    """``connected`` (wait for the replicas the master has), or a count to demand."""
    if raw.strip().lower() == FOLLOW_REPLICAS:
        return FOLLOW_REPLICAS
    try:
        return integer(0, 16)(raw)
    except ValueError:
        raise ValueError(f"expected {FOLLOW_REPLICAS} or an integer 0-16, got {raw!r}") from None


def secret(raw: str) -> str:
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes")
    return raw


def public_key(raw: str) -> str:
    if "-----BEGIN PUBLIC KEY-----" not in raw:
        raise ValueError("expected a PEM public key (-----BEGIN PUBLIC KEY-----)")
    return raw


def origins(raw: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def host_ports(raw: str) -> tuple[tuple[str, int], ...]:
    out = []
    for part in (p.strip() for p in raw.split(",")):
        host, sep, port = part.rpartition(":")
        if not part:
            continue
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port,host:port,..., got {part!r}")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("expected at least one host:port")
    return tuple(out)


def actions_file(raw: str) -> Mapping[str, Action]:
    try:
        return load_actions(Path(raw))
    except ActionError as exc:
        raise ValueError(str(exc)) from None


# the settings -------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    redis_url: str | None = setting(
        "REDIS_URL", url("redis", "rediss", "unix"), None,
        "redis://, rediss:// or unix:// URL (unset: an embedded Redis in the data dir)",
        shown="embedded")
    database_url: str | None = setting(
        "DATABASE_URL", url("postgresql", "postgres"), None,
        "postgresql:// URL (unset: an embedded PostgreSQL in the data dir)", shown="embedded")
    jwt_secret: str | None = setting(
        "JWT_SECRET", secret, None, "HS256 secret, at least 32 bytes",
        shown="generated dev secret in the data dir")
    jwt_public_key: str | None = setting(
        "JWT_PUBLIC_KEY", public_key, None,
        "PEM public key: accept RS256/ES256 tokens minted elsewhere", shown="unset")
    jwt_issuer: str | None = setting("JWT_ISSUER", text, None, "checked when set",
                                     shown="unset")
    jwt_audience: str | None = setting("JWT_AUDIENCE", text, None, "checked when set",
                                       shown="unset")
    jwt_ttl_s: int = setting("JWT_TTL_S", integer(MIN_TOKEN_TTL_S, MAX_TOKEN_TTL_S), 24 * 3600,
                             "lifetime of tokens this service mints")
    persist_mode: str = setting(
        "PERSIST_MODE", choice(PERSIST_MODES), "batch",
        'batch ("more availability") or direct ("more consistency")')
    persist_interval_s: float = setting("PERSIST_INTERVAL_S", number(0.05), 1.0,
                                        "Worker 1 interval (fractions allowed)")
    persist_batch_size: int = setting("PERSIST_BATCH_SIZE", integer(1), 5000,
                                      "events per PostgreSQL transaction")
    persist_retention_s: int = setting(
        "PERSIST_RETENTION_S", integer(0), 600,
        "persisted events stay in the stream this long, to repair a promoted PostgreSQL "
        "standby by replaying them")
    persist_claim_idle_ms: int = setting(
        "PERSIST_CLAIM_IDLE_MS", integer(100), 30_000,
        "pending events idle this long are taken over from a dead process")
    cache_refresh_interval_s: float = setting("CACHE_REFRESH_INTERVAL_S", number(0.05), 5.0,
                                              "Worker 2 interval")
    cache_ttl_s: int = setting("CACHE_TTL_S", integer(1), 30, "TTL of leaderboard:top10")
    actions: Mapping[str, Action] = setting(
        "ACTIONS_FILE", actions_file, None,
        "action catalogue (JSON, or TOML if the name ends in .toml)", shown="built-in",
        factory=default_actions)
    ws_allowed_origins: tuple[str, ...] = setting(
        "WS_ALLOWED_ORIGINS", origins, (), "comma-separated origins allowed on /ws/leaderboard",
        shown="any")
    ws_coalesce_ms: int = setting("WS_COALESCE_MS", integer(0), 100,
                                  "at most one push per window")
    ws_max_per_user: int = setting("WS_MAX_PER_USER", integer(1), 5, "live sockets per player")
    ws_heartbeat_s: float = setting("WS_HEARTBEAT_S", number(0.1), 20.0,
                                    "WebSocket ping interval; a silent client is dropped")
    ws_send_buffer_kb: int = setting(
        "WS_SEND_BUFFER_KB", integer(16), 256,
        "unsent bytes after which a client that stopped reading is dropped")
    ws_send_threads: int = setting(
        "WS_SEND_THREADS", integer(0, 64), None,
        "threads besides the event loop's that write a broadcast to its sockets",
        shown="cores - 1, at most 7", factory=lambda: min(_cores(), 8) - 1)
    data_dir: Path = setting("SCOREBOARD_DATA_DIR", Path, Path(".scoreboard"),
                             "embedded servers' data and the dev secret",
                             shown="./.scoreboard")
    redis_cluster: bool = setting("REDIS_CLUSTER", flag, False,
                                  "1: REDIS_URL is a Redis Cluster", shown="0")
    redis_sentinels: tuple[tuple[str, int], ...] = setting(
        "REDIS_SENTINELS", host_ports, (),
        "host:port,host:port,...: find the Redis master through these Sentinels "
        "(REDIS_URL is then not used)", shown="unset")
    redis_sentinel_master: str | None = setting(
        "REDIS_SENTINEL_MASTER", text, None, "the master's name the Sentinels monitor",
        shown="unset")
    redis_password: str | None = setting(
        "REDIS_PASSWORD", text, None,
        "password of the Redis servers (with Sentinel, or a REDIS_URL without one)",
        shown="unset")
    redis_wait_replicas: int | str | None = setting(
        "REDIS_WAIT_REPLICAS", replicas, None,
        "connected: an update is answered 200 once every replica connected to the master "
        "has it (none connected: at once); N: only once N replicas have it, else 503",
        shown="connected with REDIS_SENTINELS, else 0")
    boards_max: int = setting("BOARDS_MAX", integer(1, 100_000), 1000,
                              "live boards at most, `global` included")
    detect_interval_s: float = setting(
        "DETECT_INTERVAL_S", number(0.0), 1.0,
        "how often each process runs the anomaly detectors over new events; 0: off")
    flag_webhook_url: str | None = setting(
        "FLAG_WEBHOOK_URL", url("http", "https"), None,
        "each new flag is POSTed here as JSON (retried with backoff; never blocks)",
        shown="unset")
    flag_cadence_min: int = setting(
        "FLAG_CADENCE_MIN", integer(3, 10_000), 20,
        "cadence: intervals of one player and action seen before they are judged")
    flag_cadence_cv: float = setting(
        "FLAG_CADENCE_CV", ratio(0.0, 10.0), 0.1,
        "cadence: flag when the intervals' coefficient of variation is below this")
    flag_at_cap_min: int = setting(
        "FLAG_AT_CAP_MIN", integer(3, 10_000), 20,
        "at_cap: submissions of one player and action seen before they are judged")
    flag_at_cap_share: float = setting(
        "FLAG_AT_CAP_SHARE", ratio(0.0, 1.0), 0.8,
        "at_cap: flag when this share of recent submissions is the action's maximum")
    flag_rate_window_s: float = setting(
        "FLAG_RATE_WINDOW_S", number(1.0), 1800.0,
        "rate: a player's gain on an incr board is counted over about this window")
    flag_rate_z: float = setting(
        "FLAG_RATE_Z", ratio(1.0, 1000.0), 8.0,
        "rate: flag at this robust z-score of the gain (median and MAD of the board's "
        "active players)")
    flag_rate_min_players: int = setting(
        "FLAG_RATE_MIN_PLAYERS", integer(3, 100_000), 30,
        "rate: active players a board needs before it is judged")
    flag_jump_factor: float = setting(
        "FLAG_JUMP_FACTOR", ratio(1.01, 1e6), 3.0,
        "jump: flag a best/latest score this many times beyond both the player's own best "
        "and the board's top (on asc boards: that many times below)")
    flag_jump_min: int = setting(
        "FLAG_JUMP_MIN", integer(1, 100_000), 20,
        "jump: submissions a board's season needs before a score is judged against its top")
    request_timeout_s: float = setting(
        "REQUEST_TIMEOUT_S", number(0.1), 2.0,
        "Redis command timeout (a request fails with 503 after it)")
    pg_pool_size: int = setting("PG_POOL_SIZE", integer(1), 10,
                                "PostgreSQL connections per process")
    http_max_connections: int = setting(
        "HTTP_MAX_CONNECTIONS", integer(1), 10_000,
        "connections per process; the oldest one that sent nothing is closed first, else "
        "the new one gets 503")
    http_read_timeout_s: float = setting(
        "HTTP_READ_TIMEOUT_S", number(0.1), 10.0,
        "time for a new connection's request head, and for a request body")
    http_keepalive_s: float = setting("HTTP_KEEPALIVE_S", number(0.1), 15.0,
                                      "an idle keep-alive connection is closed after this")
    shutdown_timeout_s: float = setting(
        "SHUTDOWN_TIMEOUT_S", number(0.0), 10.0,
        "on SIGTERM, how long in-flight requests get to finish")
    log_level: str = setting(
        "LOG_LEVEL", choice(LOG_LEVELS, upper=True), "INFO",
        "JSON log lines on stderr: DEBUG, INFO, WARNING or ERROR; an access line for every "
        "request at DEBUG, at INFO only for a 5xx or a request slower than 1 s")

    @property
    def wait_replicas(self) -> int:
        """Replicas an update must reach before it is acknowledged, demanded whatever
        the master has connected (0 when following the connected ones)."""
        return self.redis_wait_replicas if isinstance(self.redis_wait_replicas, int) else 0

    @property
    def follow_replicas(self) -> bool:
        """Each update waits for the replicas connected to the master at the time."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas == FOLLOW_REPLICAS
        return bool(self.redis_sentinels)

    def with_urls(self, redis_url: str, database_url: str) -> Config:
        return replace(self, redis_url=redis_url, database_url=database_url)

    def with_secret(self, secret: str) -> Config:
        return replace(self, jwt_secret=secret)


def declared() -> list[tuple[Field[Any], Setting]]:
    """Every setting, in declaration order, with its Config field."""
    return [(f, f.metadata["setting"]) for f in fields(Config)]


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Build and check the configuration; raise ConfigError with one clear line."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f, s in declared():
        raw = env.get(s.var)
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = s.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{s.var}: {exc}") from None
    config = Config(**values)
    _check(config)
    return config


def _check(config: Config) -> None:
    """Settings that are only wrong together."""
    if config.redis_sentinels and not config.redis_sentinel_master:
        raise ConfigError("REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS")
    if config.redis_sentinel_master and not config.redis_sentinels:
        raise ConfigError("REDIS_SENTINELS: required with REDIS_SENTINEL_MASTER")
    if config.redis_sentinels and config.redis_cluster:
        raise ConfigError("REDIS_CLUSTER: cannot be used with REDIS_SENTINELS")
    replicated = config.wait_replicas or config.follow_replicas
    if replicated and config.redis_cluster:
        raise ConfigError("REDIS_WAIT_REPLICAS: not supported with REDIS_CLUSTER")
    if (replicated and not config.redis_sentinels
            and (config.redis_url or "").startswith("rediss://")):
        raise ConfigError("REDIS_WAIT_REPLICAS: not supported with rediss:// (TLS)")


def help_text() -> str:
    """The environment section of ``scoreboard serve --help``."""
    width = max(len(s.var) for _, s in declared()) + 2
    lines = ["environment (all optional):"]
    for _, s in declared():
        lines.append(f"  {s.var:<{width}} {s.help} ({s.shown_default})")
    return "\n".join(lines) + "\n"


def describe_redis(config: Config) -> str | None:
    """Where the service finds Redis, for logs (no password)."""
    if config.redis_sentinels:
        hosts = ",".join(f"{h}:{p}" for h, p in config.redis_sentinels)
        return f"master {config.redis_sentinel_master!r} via sentinels {hosts}"
    return mask_url(config.redis_url)


_SECRET_PARAMS = re.compile(r"([?&](?:password|sslpassword|pass)=)[^&#]*", re.IGNORECASE)


def mask_url(raw: str | None) -> str | None:
    """Hide the passwords in a DSN for logs: ``redis://u:secret@h`` -> ``redis://u:***@h``,
    ``postgresql://u@h/db?password=secret`` -> ``...?password=***``."""
    if not raw:
        return raw
    masked = _SECRET_PARAMS.sub(r"\1***", raw)
    if "@" not in masked or "://" not in masked:
        return masked
    scheme, rest = masked.split("://", 1)
    head, query_sep, query = rest.partition("?")
    if "@" not in head:
        return masked
    creds, host = head.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}{query_sep}{query}"
