"""Rotation schedules: `AutomaticallyAfterDays`, `rate(...)`, `cron(...)` and `Duration`.

All times are UTC, as on AWS. `rate()` windows start at midnight. A rotation is due at
the start of its window; `Duration` is how long the window stays open (validated, and
shown back; Bastion rotates at the window's start).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bastion.errors import ClientError

_RATE = re.compile(r"^rate\((\d+) (hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_DURATION = re.compile(r"^(\d+)h$")
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}


def _invalid(message: str) -> ClientError:
    return ClientError(message, code="InvalidParameterException")


def _midnight(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _field(text: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(part)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: Mapping[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    return int(text)


class Cron:
    """AWS's six-field cron: minutes hours day-of-month month day-of-week year."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError("six fields")
        minute, hour, dom, month, dow, year = fields
        if dom != "?" and dow != "?":
            raise ValueError("one of day-of-month and day-of-week must be ?")
        self.minutes = _field(minute, 0, 59)
        self.hours = _field(hour, 0, 23)
        self.dom = None if dom == "?" else _field(dom, 1, 31)
        self.months = _field(month, 1, 12, _MONTHS)
        self.dow = None if dow == "?" else _field(dow, 1, 7, _DAYS)
        self.years = None if year in ("*", "?") else _field(year, 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        if self.dom is not None and day.day not in self.dom:
            return False
        return not (self.dow is not None and (day.isoweekday() % 7) + 1 not in self.dow)

    def next_after(self, when: datetime) -> datetime | None:
        start = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = _midnight(start)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = day.replace(hour=hour, minute=minute)
                        if moment >= start:
                            return moment
            day += timedelta(days=1)
        return None


def validate_rules(rules: Mapping[str, Any]) -> None:
    days = rules.get("AutomaticallyAfterDays")
    expression = rules.get("ScheduleExpression")
    duration = rules.get("Duration")
    if days is not None and expression is not None:
        raise _invalid(
            "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules."
        )
    if days is None and expression is None:
        raise _invalid("You must specify AutomaticallyAfterDays or ScheduleExpression.")
    if days is not None and not 1 <= days <= 1000:
        raise _invalid("The AutomaticallyAfterDays must be between 1 and 1000.")
    window_hours = 24
    if expression is not None:
        rate = _RATE.match(expression)
        cron = _CRON.match(expression)
        if rate:
            count, unit = int(rate.group(1)), rate.group(2)
            if unit.startswith("hour"):
                if count < 4:
                    raise _invalid("The schedule expression rate must be at least 4 hours.")
                window_hours = count
            elif not 1 <= count <= 1000:
                raise _invalid("The rate expression days must be between 1 and 1000.")
        elif cron:
            try:
                Cron(cron.group(1))
            except ValueError:
                raise _invalid(f"The schedule expression {expression} is not valid.") from None
        else:
            raise _invalid(f"The schedule expression {expression} is not valid.")
    if duration is not None:
        match = _DURATION.match(duration)
        if not match or not 1 <= int(match.group(1)) <= 24:
            raise _invalid("The Duration must be between 1h and 24h.")
        if int(match.group(1)) > window_hours:
            raise _invalid("The rotation window overlaps with the next one; shorten the Duration.")


def next_rotation(rules: Mapping[str, Any], last: datetime) -> datetime | None:
    """When the next rotation window opens, after a rotation (or the setup) at `last`."""
    days = rules.get("AutomaticallyAfterDays")
    if days is not None:
        return _midnight(last) + timedelta(days=days)
    expression = rules.get("ScheduleExpression") or ""
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if unit.startswith("day"):
            return _midnight(last) + timedelta(days=count)
        step = timedelta(hours=count)
        moment = _midnight(last)
        while moment <= last:
            moment += step
        return moment
    cron = _CRON.match(expression)
    if cron:
        return Cron(cron.group(1)).next_after(last)
    return None
