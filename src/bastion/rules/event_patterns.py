"""EventBridge event patterns: validation and matching. Pure: no I/O, no clock.

A pattern is a JSON object mirroring the event's structure. Every leaf is an array of
matchers; a field matches when its value (or, for an array value, any element) matches
any matcher of the array, and an event matches when every field of the pattern does.
Matchers, as EventBridge defines them:

- a literal string, number (compared numerically), boolean or null: exact match;
- ``{"prefix": "s"}``, ``{"suffix": "s"}`` (each also with ``{"equals-ignore-case": "s"}``);
- ``{"equals-ignore-case": "s"}``; ``{"wildcard": "a*b"}`` (``\\*`` is a literal star);
- ``{"anything-but": v | [v, ...] | {"prefix"|"suffix"|"wildcard"|"equals-ignore-case": ..}}``;
- ``{"numeric": [">", 0, "<=", 5]}``; ``{"exists": true|false}``; ``{"cidr": "10.0.0.0/8"}``;
- ``"$or": [pattern, ...]`` beside other fields at any level.

`parse_pattern` raises `PatternError` with EventBridge's reasons; `matches` assumes a
validated pattern.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

_NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
_MISSING = object()
MAX_PATTERN_LENGTH = 4096


class PatternError(ValueError):
    """The pattern is not valid; the message is EventBridge's reason."""


def parse_pattern(text: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse and validate a pattern (a JSON text or an already parsed object)."""
    if isinstance(text, str):
        if len(text) > MAX_PATTERN_LENGTH:
            raise PatternError("Event pattern is too long.")
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise PatternError(f"Filter is not valid JSON: {exc}") from None
    else:
        pattern = dict(text)
    if not isinstance(pattern, dict):
        raise PatternError("Filter is not an object")
    _check_object(pattern, "")
    return pattern


def _check_object(pattern: Mapping[str, Any], where: str) -> None:
    if not pattern:
        raise PatternError(f"Empty objects are not allowed{_at(where)}")
    for key, value in pattern.items():
        path = f"{where}.{key}" if where else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError("Value of $or must be an array of at least 2 objects")
            for branch in value:
                if not isinstance(branch, dict):
                    raise PatternError("Value of $or must be an array of objects")
                _check_object(branch, where)
        elif isinstance(value, dict):
            _check_object(value, path)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"Empty arrays are not allowed{_at(path)}")
            for matcher in value:
                _check_matcher(matcher, path)
        else:
            raise PatternError(f'"{key}" must be an object or an array')


def _at(path: str) -> str:
    return f" at {path}" if path else ""


def _check_matcher(matcher: Any, path: str) -> None:
    if matcher is None or isinstance(matcher, (str, bool, int, float)):
        return
    if isinstance(matcher, list):
        raise PatternError(f"Match value must be String, number, true, false, or null{_at(path)}")
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise PatternError(f"Only one key allowed in match expression{_at(path)}")
    ((kind, arg),) = matcher.items()
    if kind in ("prefix", "suffix"):
        if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"}:
            arg = arg["equals-ignore-case"]
        if not isinstance(arg, str):
            raise PatternError(f"{kind} match pattern must be a string{_at(path)}")
    elif kind == "equals-ignore-case":
        if not isinstance(arg, str):
            raise PatternError(f"equals-ignore-case match pattern must be a string{_at(path)}")
    elif kind == "wildcard":
        _check_wildcard(arg, path)
    elif kind == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"exists match pattern must be either true or false.{_at(path)}")
    elif kind == "numeric":
        _numeric_ranges(arg, path)
    elif kind == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except (ValueError, TypeError):
            raise PatternError(f"Nonstandard IP address: {arg}") from None
    elif kind == "anything-but":
        if isinstance(arg, list):
            if not arg or not all(isinstance(v, (str, int, float)) for v in arg):
                raise PatternError(
                    f"Inside anything but list, start|null|boolean is not supported.{_at(path)}"
                )
        elif isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in (
                "prefix",
                "suffix",
                "wildcard",
                "equals-ignore-case",
            ):
                raise PatternError(
                    "Value of anything-but must be an array or single string/number value."
                )
            inner_kind, inner = next(iter(arg.items()))
            if inner_kind == "wildcard":
                for w in inner if isinstance(inner, list) else [inner]:
                    _check_wildcard(w, path)
            elif isinstance(inner, list):
                if not inner or not all(isinstance(v, str) for v in inner):
                    raise PatternError(f"{inner_kind} match pattern must be a string{_at(path)}")
            elif not isinstance(inner, str):
                raise PatternError(f"{inner_kind} match pattern must be a string{_at(path)}")
        elif not isinstance(arg, (str, int, float)) or isinstance(arg, bool):
            raise PatternError(
                "Value of anything-but must be an array or single string/number value."
            )
    else:
        raise PatternError(f"Unrecognized match type {kind}")


def _check_wildcard(arg: Any, path: str) -> None:
    if not isinstance(arg, str):
        raise PatternError(f"wildcard match pattern must be a string{_at(path)}")
    if "**" in arg:
        raise PatternError("Consecutive wildcard characters at pos " + str(arg.index("**") + 1))


def _numeric_ranges(arg: Any, path: str) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or not arg or len(arg) % 2 or len(arg) > 4:
        raise PatternError(f"Value of numeric must be an array.{_at(path)}")
    out = []
    for op, value in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise PatternError(f"Unrecognized numeric range operator: {op}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PatternError(f"Value of {op} must be numeric{_at(path)}")
        out.append((op, float(value)))
    if len(out) == 2:
        lower = {"<": False, "<=": False, "=": True, ">": True, ">=": True}
        if not lower[out[0][0]] or lower[out[1][0]] or out[0][0] == "=":
            raise PatternError("Bad numeric range operator")
        if out[0][1] >= out[1][1]:
            raise PatternError("Bottom must be less than top")
    return out


# ---------------------------------------------------------------------------- matching


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when `event` (a parsed JSON object) matches the validated `pattern`."""
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match_object(branch, value) for branch in sub):
                return False
            continue
        field = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(sub, dict):
            if isinstance(field, list):
                if not any(isinstance(v, Mapping) and _match_object(sub, v) for v in field):
                    return False
            elif not isinstance(field, Mapping) or not _match_object(sub, field):
                return False
        elif not _match_leaf(sub, field):
            return False
    return True


def _match_leaf(matchers: Sequence[Any], field: Any) -> bool:
    present = field is not _MISSING and not isinstance(field, Mapping)
    values = field if isinstance(field, list) else [field]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if matcher["exists"] == (present and not (isinstance(field, list) and not field)):
                return True
            continue
        if not present:
            continue
        if any(_match_value(matcher, v) for v in values):
            return True
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if _is_number(matcher):
            return _is_number(value) and float(value) == float(matcher)
        if matcher is None or isinstance(matcher, bool):
            return value is matcher
        return isinstance(value, str) and value == matcher
    ((kind, arg),) = matcher.items()
    if kind == "prefix":
        return _affix(arg, value, str.startswith)
    if kind == "suffix":
        return _affix(arg, value, str.endswith)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == arg.casefold()
    if kind == "wildcard":
        return isinstance(value, str) and _wildcard(arg).fullmatch(value) is not None
    if kind == "numeric":
        if not _is_number(value):
            return False
        return all(_compare(float(value), op, bound) for op, bound in _numeric_ranges(arg, ""))
    if kind == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except (ValueError, TypeError):
            return False
    if kind == "anything-but":
        return _anything_but(arg, value)
    return False


def _affix(arg: Any, value: Any, test: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(arg, dict):
        return bool(test(value.casefold(), arg["equals-ignore-case"].casefold()))
    return bool(test(value, arg))


def _anything_but(arg: Any, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(arg, dict):
        kind, inner = next(iter(arg.items()))
        if not isinstance(value, str):
            return False
        options = inner if isinstance(inner, list) else [inner]
        for option in options:
            if kind == "prefix" and value.startswith(option):
                return False
            if kind == "suffix" and value.endswith(option):
                return False
            if kind == "wildcard" and _wildcard(option).fullmatch(value):
                return False
            if kind == "equals-ignore-case" and value.casefold() == option.casefold():
                return False
        return True
    options = arg if isinstance(arg, list) else [arg]
    return not any(_match_value(option, value) for option in options)


def _compare(value: float, op: str, bound: float) -> bool:
    if op == "<":
        return value < bound
    if op == "<=":
        return value <= bound
    if op == "=":
        return value == bound
    if op == ">":
        return value > bound
    return value >= bound


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)
