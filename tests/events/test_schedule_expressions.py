"""EventBridge schedule expressions: which ones EventBridge accepts, and when they run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion.rules.schedule_expressions import Cron, Rate, ScheduleError, parse_schedule

# Saturday 7 March 2026, 10:07:30 UTC
NOW = datetime(2026, 3, 7, 10, 7, 30, tzinfo=UTC)


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(30 days)", timedelta(days=30)),
    ],
)
def test_rate_expressions_run_every_period_from_the_start(expression, period):
    schedule = parse_schedule(expression)
    assert schedule == Rate(period)
    assert schedule.first(NOW) == NOW + period


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",  # singular exactly when the value is 1
        "rate(5 minute)",
        "rate(1 hours)",
        "rate(5 hour)",
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(2 weeks)",
        "rate(5)",
        "rate(5 MINUTES)",
        "rate 5 minutes",
        "cron(0 10 * * *)",  # five fields
        "cron(0 10 * * ? * *)",  # seven fields
        "cron(7 20 * * 1-7 *)",  # day-of-month and day-of-week both given
        "cron(0 0 ? * ? *)",  # both ?
        "cron(*/60 * * * ? *)",  # increment beyond the field
        "cron(60 0 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 * 13 ? *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 * * ? 1969)",
        "cron(0 0 * * ? 2200)",
        "cron(0 0 ? * 3#1,6#3 *)",  # '#' allows a single expression
        "cron(0 0 ? * 2#6 *)",
        "cron(0 0 1,L * ? *)",  # L and W stand alone
        "cron(0 0 L-31 * ? *)",
        "cron(0 0 32W * ? *)",
        "cron(0 0 * FOO ? *)",
        "cron(0/5, 9-18, ?, *, MON-FRI, *)",
        "cron()",
        "at(2026-01-01T00:00:00)",
        "",
    ],
)
def test_expressions_eventbridge_refuses(expression):
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 10 * * ? *)", _at(2026, 3, 8, 10, 0)),  # 10:00 every day
        ("cron(15 12 * * ? *)", _at(2026, 3, 7, 12, 15)),
        ("cron(0 18 ? * MON-FRI *)", _at(2026, 3, 9, 18, 0)),  # the 7th is a Saturday
        ("cron(0 8 1 * ? *)", _at(2026, 4, 1, 8, 0)),  # 08:00 on the 1st
        ("cron(0/15 * * * ? *)", _at(2026, 3, 7, 10, 15)),
        ("cron(5/15 * * * ? *)", _at(2026, 3, 7, 10, 20)),
        ("cron(0/10 * ? * MON-FRI *)", _at(2026, 3, 9, 0, 0)),
        ("cron(0/5 8-17 ? * MON-FRI *)", _at(2026, 3, 9, 8, 0)),
        ("cron(0 9 ? * 2#1 *)", _at(2026, 4, 6, 9, 0)),  # first Monday of the month
        ("cron(0 0 L * ? *)", _at(2026, 3, 31, 0, 0)),  # last day of the month
        ("cron(0 0 L-2 * ? *)", _at(2026, 3, 29, 0, 0)),
        ("cron(0 0 LW 5 ? *)", _at(2026, 5, 29, 0, 0)),  # last weekday: the 31st is a Sunday
        ("cron(0 0 15W * ? *)", _at(2026, 3, 16, 0, 0)),  # the 15th is a Sunday
        ("cron(0 0 ? * 6L *)", _at(2026, 3, 27, 0, 0)),  # last Friday
        ("cron(0 0 ? * L *)", _at(2026, 3, 14, 0, 0)),  # last day of the week: Saturday
        ("cron(0 12 ? * sat *)", _at(2026, 3, 7, 12, 0)),
        ("cron(0 0 1 jan,jul ? *)", _at(2026, 7, 1, 0, 0)),
        ("cron(0 23-1 ? * SAT *)", _at(2026, 3, 7, 23, 0)),  # a range may wrap
        ("cron(0 0 ? * FRI-MON *)", _at(2026, 3, 8, 0, 0)),
        ("cron(30 9 29 2 ? *)", _at(2028, 2, 29, 9, 30)),  # the next leap day
        ("cron(0 0 1 1 ? 2030-2032)", _at(2030, 1, 1, 0, 0)),
    ],
)
def test_cron_next_run(expression, expected):
    assert parse_schedule(expression).first(NOW) == expected


def test_cron_nearest_weekday_stays_in_the_month():
    # 1 Aug 2026 is a Saturday: 1W is Monday the 3rd, not Friday 31 July
    cron = parse_schedule("cron(0 0 1W * ? *)")
    assert cron.first(_at(2026, 7, 15)) == _at(2026, 8, 3)
    # 31 May 2026 is a Sunday: 31W is Friday the 29th
    assert parse_schedule("cron(0 0 31W * ? *)").first(_at(2026, 5, 1)) == _at(2026, 5, 29)


def test_cron_runs_strictly_after_and_never_after_its_last_year():
    cron = parse_schedule("cron(0 10 * * ? 2026)")
    assert isinstance(cron, Cron)
    assert cron.next_after(_at(2026, 3, 7, 10, 0)) == _at(2026, 3, 8, 10, 0)
    assert cron.next_after(_at(2026, 12, 31, 10, 0)) is None
    assert parse_schedule("cron(0 0 30 2 ? *)").first(NOW) is None  # no 30 February


def test_missed_runs_are_not_replayed():
    """After downtime a rule runs once, then keeps to its schedule."""
    rate = parse_schedule("rate(5 minutes)")
    due = _at(2026, 3, 7, 10, 0)
    assert rate.after(due, due) == _at(2026, 3, 7, 10, 5)
    assert rate.after(due, _at(2026, 3, 7, 11, 2)) == _at(2026, 3, 7, 11, 5)  # grid kept
    cron = parse_schedule("cron(0 * * * ? *)")
    assert cron.after(due, _at(2026, 3, 7, 15, 30)) == _at(2026, 3, 7, 16, 0)
