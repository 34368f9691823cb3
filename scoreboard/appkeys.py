"""Typed application state: every web.AppKey the app uses."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from .auth.sessions import SessionChecker
from .auth.tokens import TokenVerifier
from .board.admin import BoardAdmin
from .board.contests import Contests
from .board.history import History
from .board.refresher import CacheRefresher
from .board.registry import Boards
from .board.seasons import Seasons
from .board.views import Views
from .flags.detector import Detector
from .flags.review import Review
from .flags.webhook import Webhook
from .live.hub import Hub
from .obs.metrics import LagCollector
from .persist.pool import ServerWatch
from .persist.worker import Persister
from .players.moderation import Moderation
from .scoring.service import ScoreService
from .settings import Config
from .store.autopipe import AutoPipeline
from .store.client import RedisClient, Sentinels
from .store.replicas import ReplicaWatch
from .trust.admin import KeyAdmin
from .trust.keys import KeyRing

CONFIG = web.AppKey("config", Config)
VERIFIER = web.AppKey("verifier", TokenVerifier)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")  # retries transient errors: reads, jobs
REDIS_ONCE: web.AppKey[RedisClient] = web.AppKey("redis_once")  # no retries: score scripts
AUTOPIPE = web.AppKey("autopipe", AutoPipeline)  # the hot path's script runner, when usable
SENTINELS = web.AppKey("sentinels", Sentinels)  # set when Redis is found through Sentinel
REPLICAS = web.AppKey("replicas", ReplicaWatch)  # set with REDIS_WAIT_REPLICAS=connected
SESSIONS = web.AppKey("sessions", SessionChecker)
PG = web.AppKey("pg", asyncpg.Pool)
PG_WATCH = web.AppKey("pg_watch", ServerWatch)  # which server the pool reaches (not in tests)
SCORES = web.AppKey("scores", ScoreService)
HUB = web.AppKey("hub", Hub)
REFRESHER = web.AppKey("refresher", CacheRefresher)
PERSISTER = web.AppKey("persister", Persister)
MODERATION = web.AppKey("moderation", Moderation)
LAG = web.AppKey("lag", LagCollector)
BOARDS = web.AppKey("boards", Boards)  # the live board definitions
VIEWS = web.AppKey("views", Views)  # each board's reader and cached top 10
BOARD_ADMIN = web.AppKey("board_admin", BoardAdmin)
CONTESTS = web.AppKey("contests", Contests)  # joining tournaments, league buckets
HISTORY = web.AppKey("history", History)  # past seasons (Redis until archived, then PG)
SEASONS = web.AppKey("seasons", Seasons)  # ends seasons on schedule and archives them
KEYRING = web.AppKey("keyring", KeyRing)  # every server key's grant, polled from Redis
KEY_ADMIN = web.AppKey("key_admin", KeyAdmin)
DETECTOR = web.AppKey("detector", Detector)  # the anomaly detectors' passes
REVIEW = web.AppKey("review", Review)  # the flags' review queue
WEBHOOK = web.AppKey("webhook", Webhook)  # set with FLAG_WEBHOOK_URL
