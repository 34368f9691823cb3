"""The command line: serve, migrate, users create, token, reseed, replay, keys,
boards create|list|reset|delete.

Every command reads the same configuration; URLs left unset get the embedded
servers in ``SCOREBOARD_DATA_DIR`` (shared with a running ``serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import orjson

from .. import operators
from .. import settings as config_mod
from ..obs import logs
from . import embedded


class CliError(Exception):
    """One line for the user, then a non-zero exit."""


def _parser() -> argparse.ArgumentParser:
    env_help = config_mod.help_text()
    p = argparse.ArgumentParser(prog="scoreboard", description="Live leaderboard service.",
                                epilog=env_help, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP/WebSocket service", epilog=env_help,
                       formatter_class=argparse.RawTextHelpFormatter)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    s.add_argument("--demo", action="store_true", help="simulated players that keep scoring")
    sub.add_parser("migrate", help="apply missing schema migrations")
    u = sub.add_parser("users", help="manage players")
    usub = u.add_subparsers(dest="users_command", required=True)
    c = usub.add_parser("create", help="create a player; prints it as JSON")
    c.add_argument("--username", required=True)
    c.add_argument("--email", required=True)
    c.add_argument("--avatar-url")
    t = sub.add_parser("token", help="print a JWT for a player")
    t.add_argument("user_id")
    t.add_argument("--ttl", help=f"lifetime in seconds, {config_mod.MIN_TOKEN_TTL_S}-"
                   f"{config_mod.MAX_TOKEN_TTL_S} (JWT_TTL_S)")
    t.add_argument("--admin", action="store_true", help="add role: admin")
    sub.add_parser("reseed", help="rebuild Redis (scores, tie order, profiles) from PostgreSQL")
    sub.add_parser("replay", help="write the events still in the stream to PostgreSQL again "
                   "(only what it lacks is inserted): repairs a promoted standby")
    b = sub.add_parser("boards", help="manage boards")
    bsub = b.add_subparsers(dest="boards_command", required=True)
    bc = bsub.add_parser("create", help="create a board; prints it as JSON")
    bc.add_argument("id")
    bc.add_argument("--title", required=True)
    bc.add_argument("--actions", required=True, help="comma-separated action types")
    bc.add_argument("--order", choices=("asc", "desc"), default="desc")
    bc.add_argument("--operator", choices=operators.NAMES, default="incr")
    bc.add_argument("--reset", default=None, help="5-field cron expression")
    bc.add_argument("--timezone", default="UTC", help="IANA time zone of --reset")
    bc.add_argument("--authoritative", action="store_true",
                    help="take scores from server keys only")
    bc.add_argument("--starts-at", default=None,
                    help="a tournament's window opens (ISO 8601 with an offset)")
    bc.add_argument("--ends-at", default=None,
                    help="a tournament's window closes (ISO 8601 with an offset)")
    bc.add_argument("--join-required", action="store_true",
                    help="only players who joined are fed")
    bc.add_argument("--max-size", type=int, default=None, help="most players in a season")
    bc.add_argument("--max-attempts", type=int, default=None,
                    help="submissions that count per player and season")
    bc.add_argument("--league", default=None,
                    help='tiers and buckets as JSON, e.g. {"tiers": ["bronze", "silver"], '
                         '"bucket_size": 30, "promote": 5, "relegate": 5}')
    bsub.add_parser("list", help="one line per live board, its id first")
    bd = bsub.add_parser("delete", help="retire a board (its history stays)")
    bd.add_argument("id")
    br = bsub.add_parser("reset", help="end a board's season now; prints the board")
    br.add_argument("id")
    k = sub.add_parser("keys", help="manage server keys (game servers' credentials)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key; prints it as JSON, then the secret "
                         "alone on the last line (shown this once)")
    kc.add_argument("name")
    kc.add_argument("--actions", default=None,
                    help="comma-separated action types it may write (default: every one)")
    ksub.add_parser("list", help="one line per key, its id first (never a secret)")
    kr = ksub.add_parser("revoke", help="revoke a key; prints it as JSON")
    kr.add_argument("id")
    return p


@contextlib.contextmanager
def resolved(config: config_mod.Config) -> Iterator[config_mod.Config]:
    """The configuration with embedded servers for unset URLs and a dev secret if needed."""
    want_redis = config.redis_url is None and not config.redis_sentinels
    want_pg = config.database_url is None
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
    from ..persist.migrations import migrate

    conn = await _pg(cfg)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def _with_clients(cfg: config_mod.Config, fn: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    from ..app import redis_clients
    from ..persist.pool import create_pool

    await _migrate(cfg)
    pool = await create_pool(cfg.database_url or "", max_size=2)
    clients = redis_clients(cfg)
    try:
        return await fn(pool, clients.redis)
    finally:
        await clients.aclose()
        await pool.close()


def cmd_migrate(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    applied = _run(lambda: _migrate(cfg))
    print(orjson.dumps({"applied": applied}).decode())
    return 0


def cmd_users_create(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from marshmallow import ValidationError

    from .. import errors
    from ..api import requests
    from ..players import users

    try:
        data = requests.schema(requests.CreateUserSchema).load(
            {"username": args.username, "email": args.email, "avatar_url": args.avatar_url})
    except ValidationError as exc:
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
    from .. import errors
    from ..auth import tokens
    from ..players import users

    try:
        user_id = users.parse_user_id(args.user_id)
    except errors.ValidationFailed:
        raise CliError(f"USER_ID: not a UUID: {args.user_id!r}") from None
    ttl = None
    if args.ttl is not None:
        try:
            ttl = config_mod.integer(config_mod.MIN_TOKEN_TTL_S,
                                     config_mod.MAX_TOKEN_TTL_S)(args.ttl)
        except ValueError as exc:
            raise CliError(f"--ttl: {exc}") from None

    async def exists() -> bool:
        conn = await _pg(cfg)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM users WHERE id = $1", user_id))
        finally:
            await conn.close()

    if not _run(exists):
        raise CliError(f"USER_ID: no such user: {user_id}")
    try:
        print(tokens.mint(cfg, user_id, ttl_s=ttl, admin=args.admin))
    except errors.Forbidden as exc:
        raise CliError(exc.message) from None
    return 0


def cmd_reseed(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from ..board.reseed import reseed
    from ..trust.admin import sync

    async def go(pool: Any, redis: Any) -> dict[str, int]:
        return {**await reseed(pool, redis), "server_keys": await sync(pool, redis)}

    counts = _run(lambda: _with_clients(cfg, go))
    print(orjson.dumps(counts).decode())
    return 0


def cmd_replay(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from ..persist.worker import Persister
    from ..store.keys import EVENTS

    async def replay(pool: Any, redis: Any) -> dict[str, int]:
        worker = Persister(redis, pool, batch_size=cfg.persist_batch_size,
                           replicas=cfg.wait_replicas)
        return {"missing": await worker.replay(), "in_stream": await redis.xlen(EVENTS)}

    print(orjson.dumps(_run(lambda: _with_clients(cfg, replay))).decode())
    return 0


CLI_ACTOR = "00000000-0000-0000-0000-000000000000"  # admin_audit's actor for the command line


def _admin_run(cfg: config_mod.Config, go: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """An admin command's work; the API's refusal becomes one line."""
    from .. import errors

    try:
        return _run(lambda: _with_clients(cfg, go))
    except errors.ApiError as exc:
        raise CliError(exc.message if not exc.fields else f"{exc.message}: {exc.fields}") from None


def _shown(text: str) -> str:
    """Text for a terminal line: control characters (a title stored before they were
    refused) are written as escapes, never sent raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _json_arg(flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CliError(f"{flag} must be JSON") from None


def cmd_boards(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from marshmallow import ValidationError

    from ..api import requests
    from ..board.admin import BoardAdmin
    from ..board.registry import Boards
    from ..board.seasons import Seasons

    data: dict[str, Any] = {}
    if args.boards_command == "create":
        try:
            data = requests.schema(requests.BoardSchema).load({
                "id": args.id, "title": args.title, "order": args.order,
                "operator": args.operator, "actions": [a for a in args.actions.split(",") if a],
                "reset": args.reset, "timezone": args.timezone,
                "authoritative": args.authoritative, "starts_at": args.starts_at,
                "ends_at": args.ends_at, "join_required": args.join_required,
                "max_size": args.max_size, "max_attempts": args.max_attempts,
                "league": _json_arg("--league", args.league)})
        except ValidationError as exc:
            raise CliError(f"invalid board: {exc.messages}") from None

    async def go(pool: Any, redis: Any) -> Any:
        boards = Boards(redis, pool)
        await boards.ensure()
        await boards.load()
        admin = BoardAdmin(pool, redis, boards, cfg.actions, boards_max=cfg.boards_max)
        if args.boards_command == "create":
            return [await admin.create(CLI_ACTOR, data)]
        if args.boards_command == "delete":
            return [await admin.retire(CLI_ACTOR, args.id)]
        if args.boards_command == "reset":
            seasons = Seasons(pool, redis, boards, batch=cfg.persist_mode == "batch")
            return [await seasons.reset(args.id, actor_id=CLI_ACTOR)]
        return boards.live()

    result = _admin_run(cfg, go)
    if args.boards_command == "list":
        for board in result:
            actions = ",".join(board.public(cfg.actions)["actions"])
            print(f"{board.id}\t{board.order}\t{board.operator}\tseason {board.season}"
                  f"\t{actions}\t{_shown(board.title)}")
    else:
        print(orjson.dumps(result[0].public(cfg.actions)).decode())
    return 0


def cmd_keys(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from marshmallow import ValidationError

    from ..api import requests
    from ..trust.admin import KeyAdmin

    data: dict[str, Any] = {}
    if args.keys_command == "create":
        actions = None if args.actions is None else [a for a in args.actions.split(",") if a]
        try:
            data = requests.schema(requests.ServerKeySchema).load(
                {"name": args.name, "actions": actions})
        except ValidationError as exc:
            raise CliError(f"invalid key: {exc.messages}") from None

    async def go(pool: Any, redis: Any) -> Any:
        admin = KeyAdmin(pool, redis, cfg.actions)
        if args.keys_command == "create":
            return await admin.create(CLI_ACTOR, data["name"], data["actions"])
        if args.keys_command == "revoke":
            return await admin.revoke(CLI_ACTOR, args.id)
        return await admin.list()

    result = _admin_run(cfg, go)
    if args.keys_command == "list":
        for key in result:
            scope = ",".join(key["actions"]) if key["actions"] is not None else "*"
            state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "live"
            print(f"{key['id']}\t{state}\t{scope}\tlast used {key['last_used_at'] or '-'}"
                  f"\t{_shown(key['name'])}")
    elif args.keys_command == "create":
        secret = result.pop("key")
        print(orjson.dumps(result).decode())
        print(secret)
    else:
        print(orjson.dumps(result).decode())
    return 0


def cmd_serve(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from .server import run_server, run_workers

    applied = _run(lambda: _migrate(cfg))
    if applied:
        print(f"migrations applied: {', '.join(applied)}", file=sys.stderr)
    if args.workers > 1:
        return run_workers(cfg, host=args.host, port=args.port, workers=args.workers)
    return run_server(cfg, host=args.host, port=args.port, demo=args.demo)


COMMANDS: dict[str, Callable[[config_mod.Config, argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "users": cmd_users_create,
    "token": cmd_token,
    "reseed": cmd_reseed,
    "replay": cmd_replay,
    "boards": cmd_boards,
    "keys": cmd_keys,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_mod.from_env()
        logs.setup(config.log_level)
        with resolved(config) as cfg:
            return COMMANDS[args.command](cfg, args)
    except (config_mod.ConfigError, CliError) as exc:
        print(f"scoreboard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

