"""Typed application state: every web.AppKey the app uses."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from .auth import SessionChecker, TokenVerifier
from .autopipe import AutoPipeline
from .cachejob import CacheRefresher
from .config import Config
from .hub import Hub
from .leaderboard import Reader, Top10Memo
from .metrics import LagCollector
from .persist import Persister
from .scores import ScoreService

CONFIG = web.AppKey("config", Config)
VERIFIER = web.AppKey("verifier", TokenVerifier)
REDIS = web.AppKey("redis", Redis)  # retries transient errors; for reads and jobs
REDIS_ONCE = web.AppKey("redis_once", Redis)  # no retries; runs the score scripts
AUTOPIPE = web.AppKey("autopipe", AutoPipeline)  # the hot path's script runner, when usable
SESSIONS = web.AppKey("sessions", SessionChecker)
PG = web.AppKey("pg", asyncpg.Pool)
SCORES = web.AppKey("scores", ScoreService)
READER = web.AppKey("reader", Reader)
TOP10_MEMO = web.AppKey("top10_memo", Top10Memo)
HUB = web.AppKey("hub", Hub)
REFRESHER = web.AppKey("refresher", CacheRefresher)
PERSISTER = web.AppKey("persister", Persister)
LAG = web.AppKey("lag", LagCollector)
