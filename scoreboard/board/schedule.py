"""When a board's season ends: its ``reset`` (5-field cron) in its ``timezone``.

Cron is read here as cron's own manual reads it (no scheduler library in between):

- Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 (or ``jan``-``dec``),
  day of week 0-7 (0 and 7 are Sunday, or ``sun``-``sat``); each a ``*``, a number, a
  range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``, or a comma-separated list of those.
- Day of month and day of week: when both are restricted (neither starts with ``*``), a
  day matching either fires (``0 12 1 * 1`` is noon on the 1st and on every Monday).
- A wall time that happens twice (the hour the clocks go back) fires on its first
  occurrence only; a wall time the clocks skip (the hour they go forward) fires at the
  same offset past the jump (02:30 becomes 03:30).

Every search is bounded: the next instant is looked for day by day over at most
``HORIZON_DAYS`` (two leap cycles, so a 29 February is always found), a few
microseconds a day. A schedule must fire within ``MAX_GAP_DAYS`` of when it is set
(``check_fires_soon``); one that fires less often than that is refused.

The next instant of a season is the first one after the season started, worked out
once per schedule, zone and season start (``season_end`` is memoised) and never once
per request or per check; one that was missed while no process ran is due at once,
and a late reset starts the next season then (no empty seasons in between).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from .definitions import Board

HORIZON_DAYS = 8 * 366  # a 29 February comes at least once in any eight years
MAX_GAP_DAYS = 366      # a schedule must fire within this many days of being set
_DST_REACH = 3          # hours: a skipped wall time moves by at most this much

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _number(text: str, lo: int, names: tuple[str, ...]) -> int:
    low = text.lower()
    if low in names:
        return lo + names.index(low)
    if not text.isdigit() or len(text) > 2:
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _field(text: str, lo: int, hi: int, names: tuple[str, ...] = ()) -> frozenset[int]:
    """The values one cron field allows."""
    values: set[int] = set()
    for token in text.split(","):
        span, _, step_text = token.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or len(step_text) > 2 or int(step_text) == 0:
                raise ValueError(f"bad step in {token!r}")
            step = int(step_text)
        if span == "*":
            first, last = lo, hi
        else:
            a, dash, b = span.partition("-")
            first = _number(a, lo, names)
            last = _number(b, lo, names) if dash else (hi if step_text else first)
        if not lo <= first <= last <= hi:
            raise ValueError(f"{token!r} is out of range {lo}-{hi}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    day_restricted: bool
    weekday_restricted: bool

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return by_day or by_weekday
        return by_day and by_weekday


def trigger(reset: str, timezone: str = "UTC") -> Cron:
    """The schedule of a cron expression, read the way cron reads it. ValueError if bad
    (an unknown zone too)."""
    fields = reset.split()
    if len(fields) != 5:
        raise ValueError("a 5-field cron expression: minute hour day month weekday")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"no time zone {timezone!r}") from None
    minute, hour, day, month, weekday = fields
    weekdays = _field(weekday, 0, 7, _DAYS)
    return Cron(minutes=tuple(sorted(_field(minute, 0, 59))),
                hours=tuple(sorted(_field(hour, 0, 23))),
                days=_field(day, 1, 31), months=_field(month, 1, 12, _MONTHS),
                weekdays=frozenset(d % 7 for d in weekdays),
                day_restricted=not day.startswith("*"),
                weekday_restricted=not weekday.startswith("*"))


def _first_on(cron: Cron, day: date, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The day's first instant strictly after ``after``. A skipped wall time lands past
    the jump, so a later wall time can be an earlier instant: the times within reach of
    the first one found are compared too."""
    best: datetime | None = None
    best_hour = 0
    for hour in cron.hours:
        if best is not None and hour > best_hour + _DST_REACH:
            break
        for minute in cron.minutes:
            # fold=0: a repeated wall time's first occurrence; a skipped one after the jump
            instant = datetime(day.year, day.month, day.day, hour, minute,
                               tzinfo=zone).astimezone(UTC)
            if instant > after and (best is None or instant < best):
                if best is None:
                    best_hour = hour
                best = instant
    return best


def next_after(reset: str, timezone: str, after: datetime) -> datetime:
    """The first instant of the schedule strictly after ``after``, in the board's zone.
    ValueError when it has none within HORIZON_DAYS (it never fires, e.g. 30 February)."""
    cron = trigger(reset, timezone)
    zone = ZoneInfo(timezone)
    after = after.astimezone(UTC)
    day = after.astimezone(zone).date()
    for _ in range(HORIZON_DAYS):
        if cron.fires_on(day):
            fire = _first_on(cron, day, zone, after)
            if fire is not None:
                return fire.astimezone(zone)
        day += timedelta(days=1)
    raise ValueError("the schedule has no next instant")


def check_fires_soon(reset: str, timezone: str, now: datetime) -> None:
    """ValueError unless the schedule fires within MAX_GAP_DAYS of ``now``."""
    try:
        fire = next_after(reset, timezone, now)
    except ValueError:
        fire = None
    if fire is None or fire - now > timedelta(days=MAX_GAP_DAYS):
        raise ValueError(f"the schedule must fire within the next {MAX_GAP_DAYS} days "
                         f"in {timezone}")


@lru_cache(maxsize=4096)
def season_end(reset: str, timezone: str, started_ms: int) -> datetime | None:
    """The first instant of the schedule after a season that started at ``started_ms``
    (None: it never fires again). Memoised: worked out once per schedule, zone and
    season, however many reads and checks ask."""
    try:
        return next_after(reset, timezone, datetime.fromtimestamp(started_ms / 1000, tz=UTC))
    except ValueError:
        return None


def next_reset(board: Board, now: datetime) -> datetime | None:
    """When the board's current season ends: the first instant after it started, or
    ``now`` if that instant has passed (it is due); None without a schedule."""
    if not board.reset:
        return None
    fire = season_end(board.reset, board.timezone, board.season_started_at)
    if fire is None:
        return None
    return max(fire, now.astimezone(fire.tzinfo))


def is_due(reset: str | None, timezone: str, started: datetime, now: datetime) -> bool:
    """Has an instant of the schedule come since the season started?"""
    if not reset:
        return False
    fire = season_end(reset, timezone, int(started.timestamp() * 1000))
    return fire is not None and fire <= now
