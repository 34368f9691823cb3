"""When a season ends (DESIGN "Seasons"): cron read as cron reads it, in the board's
time zone with its daylight-saving rules; "now" is always given, never waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoreboard.board.definitions import Board
from scoreboard.board.schedule import check_fires_soon, is_due, next_after, next_reset, trigger


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekdays_are_read_as_cron_reads_them() -> None:
    # APScheduler 3 alone would read 1 as Tuesday and 0 as Monday
    assert next_after("0 0 * * 1", "UTC", at(2026, 6, 3)).strftime("%A") == "Monday"
    assert next_after("0 0 * * 0", "UTC", at(2026, 6, 3)).strftime("%A") == "Sunday"
    assert next_after("0 0 * * 7", "UTC", at(2026, 6, 3)).strftime("%A") == "Sunday"
    days = {next_after("0 12 * * 1-5", "UTC", at(2026, 6, 1) + timedelta(days=d)).strftime("%a")
            for d in range(14)}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert next_after("0 0 * * sat", "UTC", at(2026, 6, 3)).strftime("%A") == "Saturday"


def test_monday_midnight_in_berlin_across_the_spring_change() -> None:
    # clocks go forward on Sunday 2026-03-29; the Monday after is at +02:00
    before = next_after("0 0 * * 1", "Europe/Berlin", at(2026, 3, 17, 12))
    assert before.isoformat() == "2026-03-23T00:00:00+01:00"
    # asked on the Tuesday before the change (APScheduler alone skips to April 6)
    across = next_after("0 0 * * 1", "Europe/Berlin", at(2026, 3, 24, 12))
    assert across.isoformat() == "2026-03-30T00:00:00+02:00"
    assert across.astimezone(UTC) == at(2026, 3, 29, 22)


def test_monday_midnight_in_berlin_across_the_autumn_change() -> None:
    # clocks go back on Sunday 2026-10-25; the Monday after is at +01:00 again
    fire = next_after("0 0 * * 1", "Europe/Berlin", at(2026, 10, 20, 12))
    assert fire.isoformat() == "2026-10-26T00:00:00+01:00"
    assert fire.astimezone(UTC) == at(2026, 10, 25, 23)


def test_a_repeated_wall_time_ends_a_season_once() -> None:
    first = next_after("30 2 * * *", "Europe/Berlin", at(2026, 10, 24, 12))
    assert first.astimezone(UTC) == at(2026, 10, 25, 0, 30)  # 02:30 summer time
    then = next_after("30 2 * * *", "Europe/Berlin", first)
    assert then.astimezone(UTC) == at(2026, 10, 26, 1, 30)  # not 02:30 again an hour later


def test_a_skipped_wall_time_comes_after_the_jump() -> None:
    fire = next_after("30 2 * * *", "Europe/Berlin", at(2026, 3, 28, 12))
    assert fire.isoformat() == "2026-03-29T03:30:00+02:00"


def test_missed_instants_make_one_reset_due() -> None:
    started = at(2026, 1, 1)
    now = at(2026, 1, 10, 12)  # nine midnights passed while nothing ran
    assert is_due("0 0 * * *", "UTC", started, now)
    # the late reset starts the next season now: the next instant is tomorrow's
    assert not is_due("0 0 * * *", "UTC", now, now + timedelta(hours=11))
    assert is_due("0 0 * * *", "UTC", now, now + timedelta(hours=12))
    assert not is_due(None, "UTC", started, now)


def test_next_reset_of_a_board() -> None:
    started = int(at(2026, 3, 24, 12).timestamp() * 1000)
    board = Board("weekly", "Weekly", reset="0 0 * * 1", timezone="Europe/Berlin",
                  season_started_at=started)
    assert next_reset(board, at(2026, 3, 25)) == at(2026, 3, 29, 22)
    overdue = at(2026, 4, 2)
    assert next_reset(board, overdue) == overdue  # due now
    assert next_reset(Board("x", "X"), overdue) is None


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "0 0 * * 8", "0 0 32 * *", "a b c d e"])
def test_bad_expressions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        trigger(bad, "UTC")


def test_either_day_fires_when_both_days_are_restricted() -> None:
    # cron's manual: day of month 1 or any Monday, at noon
    fires, moment = [], at(2026, 6, 1)  # a Monday, the 1st
    for _ in range(6):
        moment = next_after("0 12 1 * 1", "UTC", moment)
        fires.append(moment.strftime("%a %d"))
    assert fires == ["Mon 01", "Mon 08", "Mon 15", "Mon 22", "Mon 29", "Wed 01"]
    # a field starting with a star is not restricted: both must match, as in cron (with
    # */2 the odd days that are Mondays)
    assert next_after("0 0 * * 1", "UTC", at(2026, 6, 2)).strftime("%a %d") == "Mon 08"
    assert next_after("0 0 */2 * 1", "UTC", at(2026, 6, 2)).strftime("%a %d") == "Mon 15"
    assert next_after("0 0 1 * *", "UTC", at(2026, 6, 2)).strftime("%a %d") == "Wed 01"


def test_sparse_schedules_are_found_without_walking_far() -> None:
    # 29 February or any Thursday in February; 1 January; 1 June
    assert next_after("0 0 29 2 4", "UTC", at(2026, 12, 7)) == at(2027, 2, 4)
    assert next_after("0 0 1 1 *", "UTC", at(2026, 12, 7)) == at(2027, 1, 1)
    assert next_after("30 6 1 6 *", "UTC", at(2026, 12, 7)) == at(2027, 6, 1, 6, 30)
    assert next_after("0 0 29 2 *", "UTC", at(2028, 3, 1)) == at(2032, 2, 29)
    with pytest.raises(ValueError):
        next_after("0 0 31 2 *", "UTC", at(2026, 12, 7))  # never


def test_a_schedule_must_fire_within_366_days() -> None:
    check_fires_soon("0 0 * * *", "UTC", at(2026, 12, 7))
    check_fires_soon("0 0 29 2 *", "UTC", at(2027, 3, 1))  # 2028-02-29: 365 days on
    for never_soon in ("0 0 29 2 *", "0 0 31 2 *", "0 0 30 2 *"):
        with pytest.raises(ValueError, match="366 days"):
            check_fires_soon(never_soon, "UTC", at(2026, 12, 7))


@pytest.mark.parametrize("expr", ["*/15 * * * *", "0 9-17/2 * * mon-fri", "0 0 1,15 jan,jul *",
                                  "5 4 * * sun", "0 0 1/10 * *", "0 22 * * 1-5"])
def test_cron_syntax_accepted(expr: str) -> None:
    trigger(expr, "UTC")


@pytest.mark.parametrize("bad", ["*/0 * * * *", "0 0 5-1 * *", "0 0 * 13 *", "0 0 L * *",
                                 "0 0 * * mon-xyz", "0 24 * * *", "0 0 * * *", "1,,2 * * * *"])
def test_more_bad_expressions_are_refused(bad: str) -> None:
    if bad == "0 0 * * *":
        trigger(bad, "UTC")  # the control: a good one
        with pytest.raises(ValueError):
            trigger(bad, "Mars/Olympus")
        return
    with pytest.raises(ValueError):
        trigger(bad, "UTC")
