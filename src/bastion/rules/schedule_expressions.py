"""EventBridge schedule expressions (scheduled rules): `rate(...)` and `cron(...)`. Pure.

- `rate(value unit)`: a positive whole number and `minute|minutes|hour|hours|day|days`,
  singular exactly when the value is 1. A rate rule first runs one period after it is
  created (or enabled), then every period.
- `cron(minutes hours day-of-month month day-of-week year)`, always UTC, one-minute
  precision. Wildcards: `,` `-` `*` `/` everywhere; `?` in day-of-month or day-of-week,
  and exactly one of the two must be `?`; `L` (last day of the month, `L-n` n days
  before it, or the last day of the week), `W` (`nW`: the weekday nearest day n, within
  the month; `LW`: the last weekday) in day-of-month; `nL` (the last weekday n of the
  month) and `n#k` (its k-th occurrence) in day-of-week. Days of the week are 1-7 or
  SUN-SAT, months 1-12 or JAN-DEC, years 1970-2199. A range may wrap (`FRI-MON`).

`parse_schedule` raises `ScheduleError` for anything EventBridge refuses; the provider
answers it as "Parameter ScheduleExpression is not valid.".
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) +([a-z]+)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MAX_RATE = 2**31 - 1
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
LAST_YEAR = 2199


class ScheduleError(ValueError):
    """The expression is not a schedule EventBridge accepts."""


@dataclass(frozen=True, slots=True)
class _Field:
    low: int
    high: int
    max_step: int
    names: Mapping[str, int] | None = None


_MINUTE = _Field(0, 59, 59)
_HOUR = _Field(0, 23, 23)
_DOM = _Field(1, 31, 31)
_MONTH = _Field(1, 12, 12, _MONTHS)
_DOW = _Field(1, 7, 7, _WEEKDAYS)
_YEAR = _Field(1970, LAST_YEAR, LAST_YEAR - 1970)


def _number(text: str, field: _Field) -> int:
    upper = text.upper()
    if field.names and upper in field.names:
        return field.names[upper]
    if not text.isdigit():
        raise ScheduleError(text)
    value = int(text)
    if not field.low <= value <= field.high:
        raise ScheduleError(text)
    return value


def _values(text: str, field: _Field) -> frozenset[int]:
    """A list of values, ranges (wrapping allowed) and increments."""
    out: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not 1 <= int(step_text) <= field.max_step:
                raise ScheduleError(part)
            step = int(step_text)
        if base == "*":
            start, end = field.low, field.high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, field), _number(last, field)
        else:
            start = _number(base, field)
            end = field.high if slash else start
        if start <= end:
            span = list(range(start, end + 1))
        else:
            span = list(range(start, field.high + 1)) + list(range(field.low, end + 1))
        out.update(span[::step])
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Rate:
    """`rate(N unit)`: every `period`, counted from when the rule starts."""

    period: timedelta

    def first(self, start: datetime) -> datetime | None:
        return _shift(start, self.period)

    def after(self, due: datetime, now: datetime) -> datetime | None:
        """The next run after the one due at `due` ran at `now`: missed runs are skipped."""
        behind = max(0, (now - due) // self.period)
        return _shift(due, self.period * (behind + 1))


def _shift(when: datetime, delta: timedelta) -> datetime | None:
    try:
        return when + delta
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class Cron:
    """A six-field EventBridge cron expression, evaluated in UTC."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: str | None  # the field text, or None for `?`
    day_of_week: str | None

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = text.split()
        if len(fields) != 6:
            raise ScheduleError("a cron expression has six fields")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError("exactly one of day-of-month and day-of-week must be ?")
        cron = cls(
            minutes=_values(minute, _MINUTE),
            hours=_values(hour, _HOUR),
            months=_values(month, _MONTH),
            years=_values(year, _YEAR),
            day_of_month=None if dom == "?" else dom.upper(),
            day_of_week=None if dow == "?" else dow.upper(),
        )
        cron._day_matches(date(2026, 1, 1))  # validates the day fields
        return cron

    def first(self, start: datetime) -> datetime | None:
        return self.next_after(start)

    def after(self, due: datetime, now: datetime) -> datetime | None:
        return self.next_after(max(due, now))

    def next_after(self, when: datetime) -> datetime | None:
        """The first matching minute strictly after `when` (None: never again)."""
        start = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                later = [y for y in self.years if y > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if day.month not in self.months:
                day = _next_month(day)
                continue
            if self._day_matches(day):
                earliest = (start.hour, start.minute) if day == start.date() else (0, 0)
                moment = self._time_on(day, earliest)
                if moment is not None:
                    return moment
            day += timedelta(days=1)
        return None

    def _time_on(self, day: date, earliest: tuple[int, int]) -> datetime | None:
        for hour in sorted(self.hours):
            if hour < earliest[0]:
                continue
            for minute in sorted(self.minutes):
                if (hour, minute) >= earliest:
                    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        return None

    def _day_matches(self, day: date) -> bool:
        if self.day_of_month is not None:
            return _dom_matches(self.day_of_month, day)
        assert self.day_of_week is not None
        return _dow_matches(self.day_of_week, day)


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _aws_weekday(day: date) -> int:
    """1 = Sunday ... 7 = Saturday."""
    return day.isoweekday() % 7 + 1


def _dom_matches(text: str, day: date) -> bool:
    last = _last_day(day)
    if text == "L":
        return day.day == last
    if text.startswith("L-"):
        offset = text[2:]
        if not offset.isdigit() or not 1 <= int(offset) <= 30:
            raise ScheduleError(text)
        return day.day == last - int(offset)
    if text == "LW":
        target = last
        while date(day.year, day.month, target).isoweekday() > 5:
            target -= 1
        return day.day == target
    if text.endswith("W"):
        target = _number(text[:-1], _DOM)
        return target <= last and day.day == _nearest_weekday(day, target, last)
    return day.day in _values(text, _DOM)


def _nearest_weekday(day: date, target: int, last: int) -> int:
    """The weekday nearest day `target` of `day`'s month, without leaving the month."""
    weekday = date(day.year, day.month, target).isoweekday()
    if weekday == 6:  # Saturday: Friday, or Monday when the 1st
        return target + 2 if target == 1 else target - 1
    if weekday == 7:  # Sunday: Monday, or Friday when the last day
        return target - 2 if target == last else target + 1
    return target


def _dow_matches(text: str, day: date) -> bool:
    weekday = _aws_weekday(day)
    if text == "L":
        return weekday == 7
    if "#" in text:
        name, _, nth = text.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(text)
        return weekday == _number(name, _DOW) and (day.day - 1) // 7 + 1 == int(nth)
    if text.endswith("L"):
        wanted = _number(text[:-1], _DOW)
        return weekday == wanted and day.day + 7 > _last_day(day)
    return weekday in _values(text, _DOW)


Schedule = Rate | Cron


def parse_schedule(expression: str) -> Schedule:
    """A `rate(...)` or `cron(...)` expression; ScheduleError when EventBridge refuses it."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        singular = unit.removesuffix("s")
        if singular not in _UNITS or not 1 <= value <= _MAX_RATE:
            raise ScheduleError(expression)
        if (value == 1) != (unit == singular):
            raise ScheduleError("the unit is singular exactly when the value is 1")
        try:
            return Rate(_UNITS[singular] * value)
        except OverflowError:
            raise ScheduleError(expression) from None
    cron = _CRON.match(expression)
    if cron:
        return Cron.parse(cron.group(1))
    raise ScheduleError(expression)
