"""The command line: serve, migrate, users create, token, reseed.

Every command reads the same configuration; URLs left unset get the embedded
servers in ``SCOREBOARD_DATA_DIR`` (shared with a running ``serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import orjson

from . import config as config_mod
from . import embedded, logs

SERVE_ENV = """environment (all optional):
  REDIS_URL                  redis://host:port/db (unset: embedded Redis in the data dir)
  DATABASE_URL               postgresql://user:pass@host/db (unset: embedded PostgreSQL)
  JWT_SECRET                 HS256 secret, at least 32 bytes (unset: a generated dev secret)
  JWT_PUBLIC_KEY             PEM public key for RS256/ES256 tokens issued elsewhere
  JWT_ISSUER, JWT_AUDIENCE   checked when set
  JWT_TTL_S                  lifetime of tokens this service mints (86400)
  PERSIST_MODE               batch (default, "more availability") or direct ("more consistency")
  PERSIST_INTERVAL_S         Worker 1 interval, fractions allowed (1.0)
  PERSIST_BATCH_SIZE         events per PostgreSQL transaction (5000)
  PERSIST_CLAIM_IDLE_MS      pending events idle this long are taken from a dead process (30000)
  CACHE_REFRESH_INTERVAL_S   Worker 2 interval (5.0)
  CACHE_TTL_S                TTL of leaderboard:top10 (30)
  ACTIONS_FILE               action catalogue, JSON or TOML
  WS_ALLOWED_ORIGINS         comma-separated origins allowed on /ws/leaderboard
  WS_COALESCE_MS             at most one push per this many ms (100)
  WS_MAX_PER_USER            live sockets per player (5)
  WS_SEND_BUFFER_KB          unsent bytes after which a client that stopped reading is dropped (256)
  SCOREBOARD_DATA_DIR        embedded servers' data and the dev secret (./.scoreboard)
  REDIS_CLUSTER              1 to use a Redis Cluster at REDIS_URL
  REQUEST_TIMEOUT_S          Redis command timeout (2.0)
  LOG_LEVEL                  DEBUG, INFO, WARNING or ERROR (INFO)
"""


class CliError(Exception):
    """One line for the user, then a non-zero exit."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scoreboard", description="Live leaderboard service.",
                                epilog=SERVE_ENV, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP/WebSocket service", epilog=SERVE_ENV,
                       formatter_class=argparse.RawTextHelpFormatter)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    s.add_argument("--demo", action="store_true", help="simulated players that keep scoring")
    s.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply missing schema migrations")
    u = sub.add_parser("users", help="manage players")
    usub = u.add_subparsers(dest="users_command", required=True)
    c = usub.add_parser("create", help="create a player; prints it as JSON")
    c.add_argument("--username", required=True)
    c.add_argument("--email", required=True)
    c.add_argument("--avatar-url")
    t = sub.add_parser("token", help="print a JWT for a player")
    t.add_argument("user_id")
    t.add_argument("--ttl", type=int, help="lifetime in seconds (JWT_TTL_S)")
    t.add_argument("--admin", action="store_true", help="add role: admin")
    sub.add_parser("reseed", help="rebuild Redis (scores, tie order, profiles) from PostgreSQL")
    return p


@contextlib.contextmanager
def resolved(config: config_mod.Config) -> Iterator[config_mod.Config]:
    """The configuration with embedded servers for unset URLs and a dev secret if needed."""
    want_redis, want_pg = config.redis_url is None, config.database_url is None
    try:
        with embedded.servers(config.data_dir, redis=want_redis, postgres=want_pg) as (r, p):
            cfg = config.with_urls(config.redis_url or r or "", config.database_url or p or "")
            if not cfg.jwt_secret and not cfg.jwt_public_key:
                cfg = cfg.with_secret(embedded.dev_secret(cfg.data_dir))
            yield cfg
    except (embedded.EmbeddedError, subprocess.CalledProcessError, OSError) as exc:
        raise CliError(f"embedded servers: {exc}") from None


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CliError(f"DATABASE_URL: cannot use PostgreSQL: {exc}") from None


async def _pg(cfg: config_mod.Config) -> asyncpg.Connection:
    try:
        return await asyncio.wait_for(asyncpg.connect(cfg.database_url), 10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise CliError(f"DATABASE_URL: cannot connect: {exc}") from None


async def _migrate(cfg: config_mod.Config) -> list[str]:
    from .pg import migrate

    conn = await _pg(cfg)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def _with_clients(cfg: config_mod.Config, fn: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    from . import store
    from .pg import create_pool

    await _migrate(cfg)
    pool = await create_pool(cfg.database_url or "", max_size=2)
    redis = store.connect(cfg.redis_url or "", cluster=cfg.redis_cluster,
                          timeout=cfg.request_timeout_s, retries=3)
    try:
        return await fn(pool, redis)
    finally:
        await redis.aclose()
        await pool.close()


def cmd_migrate(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    applied = _run(lambda: _migrate(cfg))
    print(orjson.dumps({"applied": applied}).decode())
    return 0


def cmd_users_create(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from . import errors, schemas, users

    try:
        data = schemas.schema(schemas.CreateUserSchema).load(
            {"username": args.username, "email": args.email, "avatar_url": args.avatar_url})
    except schemas.ValidationError as exc:
        raise CliError(f"invalid user: {exc.messages}") from None

    async def go(pool: Any, redis: Any) -> Any:
        return await users.create(pool, redis, data["username"], data["email"],
                                  data["avatar_url"])

    try:
        user = _run(lambda: _with_clients(cfg, go))
    except errors.Conflict as exc:
        raise CliError(exc.message) from None
    print(orjson.dumps(user).decode())
    return 0


def cmd_token(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from . import auth, errors, users

    try:
        user_id = users.parse_user_id(args.user_id)
    except errors.ValidationFailed:
        raise CliError(f"USER_ID: not a UUID: {args.user_id!r}") from None

    async def exists() -> bool:
        conn = await _pg(cfg)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM users WHERE id = $1", user_id))
        finally:
            await conn.close()

    if not _run(exists):
        raise CliError(f"USER_ID: no such user: {user_id}")
    try:
        print(auth.mint(cfg, user_id, ttl_s=args.ttl, admin=args.admin))
    except errors.Forbidden as exc:
        raise CliError(exc.message) from None
    return 0


def cmd_reseed(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from .reseed import reseed

    counts = _run(lambda: _with_clients(cfg, reseed))
    print(orjson.dumps(counts).decode())
    return 0


def cmd_serve(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from .server import run_server, run_workers

    if not args.worker_child:
        applied = _run(lambda: _migrate(cfg))
        if applied:
            print(f"migrations applied: {', '.join(applied)}", file=sys.stderr)
    if args.workers > 1 and not args.worker_child:
        return run_workers(cfg, args)
    return run_server(cfg, host=args.host, port=args.port, reuse_port=args.worker_child,
                      demo=args.demo)


COMMANDS: dict[str, Callable[[config_mod.Config, argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "users": cmd_users_create,
    "token": cmd_token,
    "reseed": cmd_reseed,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_mod.from_env()
        logs.setup(config.log_level)
        with resolved(config) as cfg:
            if args.command == "serve" and args.workers > 1:
                os.environ.update({"REDIS_URL": cfg.redis_url or "",
                                   "DATABASE_URL": cfg.database_url or ""})
                if cfg.jwt_secret:
                    os.environ["JWT_SECRET"] = cfg.jwt_secret
            return COMMANDS[args.command](cfg, args)
    except (config_mod.ConfigError, CliError) as exc:
        print(f"scoreboard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

