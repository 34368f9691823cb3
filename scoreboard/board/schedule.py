"""When a board's season ends: its ``reset`` (5-field cron) in its ``timezone``.

APScheduler 3's ``CronTrigger`` computes the instants, with the zone's daylight-saving
rules. Two things are ours:

- Weekday numbers. APScheduler 3 reads a numeric weekday as 0 = Monday (its own
  convention, kept in 3.x for compatibility); cron reads 0 (and 7) as Sunday. The
  weekday field is translated to day names first, so ``0 0 * * 1`` is Monday.
- A wall time that happens twice (the hour the clocks go back) ends a season on its
  first occurrence only; a wall time the clocks skip (the hour they go forward) ends
  it at the same offset past the jump (02:30 becomes 03:30), as APScheduler computes.

The next instant of a season is the first one after the season started; one that was
missed while no process ran is due at once, and a late reset starts the next season
then (no empty seasons in between).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

    from .definitions import Board

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # cron numbering, 7 = Sunday
_NUMERIC = re.compile(r"^(?:(\*)|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _weekdays(field: str) -> str:
    """A cron weekday field in APScheduler's terms: numbers become day names."""
    names: list[str] = []
    for token in field.split(","):
        m = _NUMERIC.match(token)
        if m is None:  # names (mon-fri) mean the same to both
            names.append(token)
            continue
        star, first, last, step = m.groups()
        if star and not step:
            return "*"
        lo, hi = (0, 6) if star else (int(first), int(last if last is not None else first))
        if last is None and step and not star:
            hi = 6
        if not 0 <= lo <= hi <= 7:
            raise ValueError(f"weekday {token!r} out of range 0-7")
        names += [DAYS[d] for d in range(lo, hi + 1, int(step or 1))]
    return ",".join(dict.fromkeys(names))


def trigger(reset: str, timezone: str) -> CronTrigger:
    """The trigger of a cron expression read the way cron reads it. ValueError if bad."""
    from apscheduler.triggers.cron import CronTrigger

    fields = reset.split()
    if len(fields) != 5:
        raise ValueError("a 5-field cron expression: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_weekdays(weekday), timezone=ZoneInfo(timezone))


def _repeated(instant: datetime, zone: ZoneInfo) -> bool:
    """True for the second occurrence of a wall time (the hour the clocks go back)."""
    wall = instant.astimezone(zone).replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return first != instant.astimezone(UTC)


def _first_from(trig: CronTrigger, zone: ZoneInfo, moment: datetime) -> datetime | None:
    """The trigger's first instant at or after ``moment``.

    APScheduler 3.11 can miss an instant when the search starts on the other side of a
    daylight-saving change (``0 0 * * mon`` in Berlin, asked on the Tuesday before the
    clocks go forward, answers the Monday after next). Asking again from each local
    midnight up to its answer, where the offset is that day's, finds the one it missed.
    """
    fire: datetime | None = trig.get_next_fire_time(None, moment)
    if fire is None:
        return None
    day = moment.astimezone(zone).date() + timedelta(days=1)
    while day <= fire.astimezone(zone).date():
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        found: datetime | None = trig.get_next_fire_time(None, midnight)
        if found is not None and moment <= found < fire:
            return found
        day += timedelta(days=1)
    return fire


def next_after(reset: str, timezone: str, after: datetime) -> datetime:
    """The first instant of the schedule strictly after ``after``, in the board's zone."""
    trig = trigger(reset, timezone)
    zone = ZoneInfo(timezone)
    moment = after + timedelta(microseconds=1)
    for _ in range(4):  # a repeated wall time is skipped; it cannot repeat more than once
        fire = _first_from(trig, zone, moment)
        if fire is None:  # a schedule that never fires again (e.g. 30 February)
            raise ValueError("the schedule has no next instant")
        if not _repeated(fire, zone):
            return fire.astimezone(UTC).astimezone(zone)  # a skipped wall time: after the jump
        # past the repeated hour: APScheduler would answer the same wall time again
        moment = fire + timedelta(hours=1)
    raise ValueError("the schedule has no next instant")


def next_reset(board: Board, now: datetime) -> datetime | None:
    """When the board's current season ends: the first instant after it started, or
    ``now`` if that instant has passed (it is due); None without a schedule."""
    if not board.reset:
        return None
    started = datetime.fromtimestamp(board.season_started_at / 1000, tz=UTC)
    try:
        fire = next_after(board.reset, board.timezone, started)
    except ValueError:
        return None
    return max(fire, now.astimezone(fire.tzinfo))


def is_due(reset: str | None, timezone: str, started: datetime, now: datetime) -> bool:
    """Has an instant of the schedule come since the season started?"""
    if not reset:
        return False
    try:
        return next_after(reset, timezone, started) <= now
    except ValueError:
        return False
