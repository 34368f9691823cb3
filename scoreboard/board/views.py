"""Each live board's readers: its ``Reader`` and its cached top 10, built on first use
and rebuilt when the board's definition changes (a new season, a new order)."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .definitions import GLOBAL, Board
from .reader import Reader
from .top10 import RichTop10, Top10Cache, Top10Memo


@dataclass(frozen=True, slots=True)
class View:
    board: Board
    reader: Reader  # what the top 10 cache and the pushes read (the seed's shape for global)
    top10: Top10Cache
    rich: Reader  # a board route's reads: each entry with its metadata
    rich_top10: RichTop10 | None = None  # `global`'s board route's top 10

    def ranking(self, board_route: bool) -> Reader:
        return self.rich if board_route else self.reader


class Views:
    """Every board's, `global` included (its keys and its cache are the seed's)."""

    def __init__(self, redis: RedisClient, pipe: AutoPipeline | None, *, ttl_s: int,
                 memo_age_s: float) -> None:
        self.redis = redis
        self.pipe = pipe
        self.ttl_s = ttl_s
        self.memo_age_s = memo_age_s
        self._views: dict[str, View] = {}

    def of(self, board: Board) -> View:
        view = self._views.get(board.id)
        if view is not None and view.board is board:
            return view
        if view is not None and (view.board.season, view.board.order) == (board.season,
                                                                          board.order):
            # the same season (a reload's copy, or a title or schedule change): the
            # readers still hold; keep this copy, so the next call finds it by identity
            view = self._views[board.id] = View(board, view.reader, view.top10, view.rich,
                                                view.rich_top10)
            return view
        # `global`'s cache and pushes keep the seed's entries; every other board's carry
        # metadata, as its reads do
        seed = board.id == GLOBAL
        reader = Reader(self.redis, self.pipe, board, metadata=not seed)
        rich = Reader(self.redis, self.pipe, board) if seed else reader
        top10 = Top10Cache(self.redis, reader, Top10Memo(self.memo_age_s), self.ttl_s)
        rich_top10 = RichTop10(rich, self.ttl_s, self.memo_age_s) if seed else None
        view = self._views[board.id] = View(board, reader, top10, rich, rich_top10)
        return view
