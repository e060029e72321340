"""AWS's server-side input validation (required, length, range, enum, pattern).

Messages copy AWS's (Coral's) wording, e.g.::

    2 validation errors detected: Value null at 'keyId' failed to satisfy constraint:
    Member must not be null; Value at 'plaintext' failed to satisfy constraint: Member
    must have length greater than or equal to 1

Each operation's input shape is compiled once into closures that only visit members
that carry a constraint, so validating a small request costs a few microseconds.
Model patterns are Java regexes; they are translated to Python `re` (``\\p{L}``,
``\\p{Print}``, ``\\x{..}``, surrogate pairs...) and a pattern that still cannot be
compiled is skipped rather than enforced wrongly.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from botocore.model import OperationModel, Shape

from bastion.errors import ValidationError

__all__ = ["compile_java_pattern", "validate_input"]

# check(value, path, errors): appends AWS-style messages for `value` found at `path`.
Check = Callable[[Any, str, list[str]], None]


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise ValidationError listing every constraint `params` break, AWS-style."""
    check = _CHECKS.get(operation)
    if check is None:
        check = _CHECKS[operation] = _compile(operation)
    if check is _no_check:
        return
    errors: list[str] = []
    check(params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: {'; '.join(errors)}")


_CHECKS: dict[OperationModel, Check] = {}


def _no_check(value: Any, path: str, errors: list[str]) -> None:
    return None


def _compile(operation: OperationModel) -> Check:
    shape = operation.input_shape
    if shape is None:
        return _no_check
    return _Compiler().check(shape, False) or _no_check


# --------------------------------------------------------------------------- messages


def lower_camel(name: str) -> str:
    """AWS names members in messages with the first letter lower-cased ('keyId')."""
    return name[:1].lower() + name[1:]


def _render(value: Any, shape: Shape | None, sensitive: bool = False) -> str:
    """Java's toString of a value, as AWS echoes it, with sensitive parts masked."""
    if shape is not None and shape.metadata.get("sensitive"):
        sensitive = True
    if value is None:
        return "null"
    if isinstance(value, dict):
        if shape is not None and shape.type_name == "structure":
            members = shape.members
            parts = (
                f"{lower_camel(k)}={_render(v, members.get(k), sensitive)}"
                for k, v in value.items()
            )
        else:
            value_shape = shape.value if shape is not None and shape.type_name == "map" else None
            parts = (f"{k}={_render(v, value_shape, sensitive)}" for k, v in value.items())
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None
        return "[" + ", ".join(_render(v, member, sensitive) for v in value) + "]"
    if sensitive:
        return "***"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, bytes | bytearray | memoryview):
        size = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"
    if isinstance(value, datetime):
        return value.strftime("%a %b %d %H:%M:%S UTC %Y")
    return str(value)


def _failure(value: Any, shape: Shape, sensitive: bool, path: str, constraint: str) -> str:
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    return f"Value '{_render(value, shape)}' at '{path}' failed to satisfy constraint: {constraint}"


def _null(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def _bound(number: Any) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


# --------------------------------------------------------------------------- compiler


_NUMBER_TYPES = frozenset({"integer", "long", "short", "byte", "float", "double"})
_SIZED_TYPES = frozenset({"string", "blob", "list", "map"})
_ACCEPTED: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "blob": frozenset({bytes, bytearray, memoryview}),
    "list": frozenset({list}),
    "map": frozenset({dict}),
} | dict.fromkeys(_NUMBER_TYPES, frozenset({int, float}))  # bool is excluded on purpose


class _Constraints:
    """One shape's own constraints (length or range, enum, pattern), tested together."""

    __slots__ = ("accepted", "allowed", "high", "low", "match", "sized", "texts")

    def __init__(self, shape: Shape) -> None:
        meta = shape.metadata
        kind = shape.type_name
        self.accepted = _ACCEPTED.get(kind, frozenset())
        self.sized = kind in _SIZED_TYPES
        low, high = meta.get("min"), meta.get("max")
        if kind not in _SIZED_TYPES and kind not in _NUMBER_TYPES:
            low = high = None
        if self.sized and low is not None and low <= 0:
            low = None
        word = "length" if self.sized else "value"
        self.low = -math.inf if low is None else low
        self.high = math.inf if high is None else high
        texts: dict[str, str] = {}
        if low is not None:
            texts["low"] = f"Member must have {word} greater than or equal to {_bound(low)}"
        if high is not None:
            texts["high"] = f"Member must have {word} less than or equal to {_bound(high)}"
        self.allowed: frozenset[str] | None = None
        self.match: Callable[[str], Any] | None = None
        if kind == "string":
            enum = meta.get("enum")
            if enum:
                self.allowed = frozenset(enum)
                texts["enum"] = f"Member must satisfy enum value set: [{', '.join(enum)}]"
            pattern = meta.get("pattern")
            compiled = compile_java_pattern(pattern) if pattern is not None else None
            if compiled is not None:
                self.match = compiled.fullmatch  # Java's String.matches: the whole value
                texts["pattern"] = f"Member must satisfy regular expression pattern: {pattern}"
        self.texts = texts

    def __bool__(self) -> bool:
        return bool(self.texts)

    def ok(self, value: Any) -> bool:
        """True when `value` passes, or is of a type these constraints don't judge."""
        if type(value) not in self.accepted:
            return True
        size = len(value) if self.sized else value
        return (
            self.low <= size <= self.high
            and (self.allowed is None or value in self.allowed)
            and (self.match is None or self.match(value) is not None)
        )

    def failures(self, value: Any) -> list[str]:
        """The texts of every failed constraint, in AWS's order."""
        size = len(value) if self.sized else value
        texts = self.texts
        failed = []
        if size < self.low:
            failed.append(texts["low"])
        if size > self.high:
            failed.append(texts["high"])
        if self.allowed is not None and value not in self.allowed:
            failed.append(texts["enum"])
        if self.match is not None and self.match(value) is None:
            failed.append(texts["pattern"])
        return failed


class _Compiler:
    """Builds one check per (shape, sensitivity); None means "nothing to check"."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, bool], Check | None] = {}

    def check(self, shape: Shape, sensitive: bool) -> Check | None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        kind = shape.type_name
        if kind == "structure":
            if shape.metadata.get("document"):
                return None
            return self._structure(shape, sensitive)
        constraints = _Constraints(shape)
        if kind == "list":
            return self._list(shape, sensitive, constraints)
        if kind == "map":
            return self._map(shape, sensitive, constraints)
        if not constraints:
            return None
        return _scalar_check(shape, sensitive, constraints)

    def _structure(self, shape: Shape, sensitive: bool) -> Check | None:
        key = (shape.name, sensitive)
        if key in self._memo:
            return self._memo[key]
        # A recursive reference sees a trampoline until the real check exists.
        box: list[Check] = []
        self._memo[key] = lambda v, p, e: box[0](v, p, e)
        required = set(shape.required_members)
        members: list[tuple[str, str, bool, Check | None]] = []
        for name, member in shape.members.items():
            check = self.check(member, sensitive)
            if check is not None or name in required:
                members.append((name, lower_camel(name), name in required, check))
        if not members:
            self._memo[key] = None
            return None
        member_table = tuple(members)

        def check_structure(value: Any, path: str, errors: list[str]) -> None:
            if type(value) is not dict:
                return
            prefix = path + "." if path else ""
            get = value.get
            for name, camel, is_required, check in member_table:
                item = get(name)
                if item is None:
                    if is_required:
                        errors.append(_null(prefix + camel))
                elif check is not None:
                    check(item, prefix + camel, errors)

        box.append(check_structure)
        self._memo[key] = check_structure
        return check_structure

    def _list(self, shape: Shape, sensitive: bool, constraints: _Constraints) -> Check | None:
        element = self.check(shape.member, sensitive)
        own = _scalar_check(shape, sensitive, constraints) if constraints else None
        if own is None and element is None:
            return _null_elements

        def check_list(value: Any, path: str, errors: list[str]) -> None:
            if type(value) is not list:
                return
            if own is not None:
                own(value, path, errors)
            for index, item in enumerate(value, 1):
                if item is None:
                    errors.append(_null(f"{path}.{index}.member"))
                elif element is not None:
                    element(item, f"{path}.{index}.member", errors)

        return check_list

    def _map(self, shape: Shape, sensitive: bool, constraints: _Constraints) -> Check | None:
        own = _scalar_check(shape, sensitive, constraints) if constraints else None
        key_rules = _Constraints(shape.key)
        value_shape = shape.value
        value_sensitive = sensitive or bool(value_shape.metadata.get("sensitive"))
        nested = value_shape.type_name in ("structure", "list", "map")
        value_check = self.check(value_shape, sensitive) if nested else None
        value_rules = None if nested else _Constraints(value_shape) or None
        if own is None and not key_rules and value_check is None and value_rules is None:
            return None

        def check_map(value: Any, path: str, errors: list[str]) -> None:
            if type(value) is not dict:
                return
            if own is not None:
                own(value, path, errors)
            for key, item in value.items():
                if key_rules and not key_rules.ok(key):
                    failed = key_rules.failures(key)
                    if failed:
                        text = f"Map keys must satisfy constraint: [{', '.join(failed)}]"
                        errors.append(_failure(value, shape, sensitive, path, text))
                if item is None:
                    continue
                if value_rules is not None and not value_rules.ok(item):
                    failed = value_rules.failures(item)
                    if failed:
                        text = f"Map value must satisfy constraint: [{', '.join(failed)}]"
                        errors.append(_failure(value, shape, value_sensitive, path, text))
                elif value_check is not None:
                    value_check(item, f"{path}.{key}", errors)

        return check_map


def _null_elements(value: Any, path: str, errors: list[str]) -> None:
    """Lists of unconstrained members still reject null elements, as AWS does."""
    if type(value) is list and None in value:
        for index, item in enumerate(value, 1):
            if item is None:
                errors.append(_null(f"{path}.{index}.member"))


def _scalar_check(shape: Shape, sensitive: bool, constraints: _Constraints) -> Check:
    accepted = constraints.accepted
    low, high, allowed, match = (
        constraints.low,
        constraints.high,
        constraints.allowed,
        constraints.match,
    )
    sized = constraints.sized

    def check_scalar(value: Any, path: str, errors: list[str]) -> None:
        if type(value) not in accepted:
            return  # the parser owns type errors; a wrong type here is not ours to judge
        size = len(value) if sized else value
        if (
            low <= size <= high
            and (allowed is None or value in allowed)
            and (match is None or match(value) is not None)
        ):
            return
        for text in constraints.failures(value):
            errors.append(_failure(value, shape, sensitive, path, text))

    return check_scalar


# --------------------------------------------------------------------------- Java regex


_Ranges = tuple[tuple[int, int], ...]

_WHITESPACE: _Ranges = (
    (0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
# Java's POSIX classes are ASCII-only (without UNICODE_CHARACTER_CLASS).
_POSIX: dict[str, _Ranges] = {
    "Lower": ((0x61, 0x7A),),
    "Upper": ((0x41, 0x5A),),
    "ASCII": ((0x00, 0x7F),),
    "Alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "Digit": ((0x30, 0x39),),
    "Alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "Punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "Graph": ((0x21, 0x7E),),
    "Print": ((0x20, 0x7E),),
    "Blank": ((0x09, 0x09), (0x20, 0x20)),
    "Cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "XDigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
    "Space": ((0x09, 0x0D), (0x20, 0x20)),
    "all": ((0x00, 0x10FFFF),),
    "IsWhitespace": _WHITESPACE,
    "IsWhite_Space": _WHITESPACE,
}
_CATEGORY_ALIASES = {
    "IsAlphabetic": ("L", "Nl"),
    "IsLetter": ("L",),
    "IsDigit": ("Nd",),
    "IsUppercase": ("Lu",),
    "IsLowercase": ("Ll",),
    "IsPunctuation": ("P",),
    "IsControl": ("Cc",),
    "LC": ("Lu", "Ll", "Lt"),
    "L&": ("Lu", "Ll", "Lt"),
}
# Unicode general categories Java accepts in \p{..}: majors and their subcategories.
_GENERAL = frozenset(
    "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po "  # noqa: SIM905
    "S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn".split()
)
_HORIZONTAL_SPACE: _Ranges = (
    (0x09, 0x09), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200A), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
_CLASS_ESCAPES = frozenset("wdsWDSpPh")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z]+)\)")


@cache
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per Unicode general category (one scan, done once if needed)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    start, current = 0, category("\x00")
    for code in range(1, sys.maxunicode + 2):
        cat = category(chr(code)) if code <= sys.maxunicode else ""
        if cat != current:
            ranges.setdefault(current, []).append((start, code - 1))
            start, current = code, cat
    return ranges


@cache
def _property_ranges(name: str) -> _Ranges | None:
    """The sorted code point ranges of Java's \\p{name}, or None when unknown."""
    if name in _POSIX:
        return _POSIX[name]
    for prefix in ("Is", "general_category=", "gc="):
        if name.startswith(prefix) and name[len(prefix) :] in _GENERAL:
            name = name[len(prefix) :]
            break
    categories = _CATEGORY_ALIASES.get(name) or ((name,) if name in _GENERAL else None)
    if categories is None:
        return None
    table = _category_ranges()
    spans = sorted(
        span
        for cat, cat_spans in table.items()
        if any(cat.startswith(wanted) for wanted in categories)
        for span in cat_spans
    )
    return tuple(spans)


def _complement(spans: _Ranges) -> _Ranges:
    out, next_code = [], 0
    for low, high in spans:
        if low > next_code:
            out.append((next_code, low - 1))
        next_code = max(next_code, high + 1)
    if next_code <= sys.maxunicode:
        out.append((next_code, sys.maxunicode))
    return tuple(out)


def _escape_code(code: int) -> str:
    return f"\\U{code:08x}"


def _class_body(spans: _Ranges) -> str:
    return "".join(
        _escape_code(low) if low == high else f"{_escape_code(low)}-{_escape_code(high)}"
        for low, high in spans
    )


def _translate(pattern: str) -> str | None:
    """Rewrite a Java regex as a Python one, or None when it uses what `re` lacks."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    prev_set = False  # inside a class: the previous item was a set (\w, \p{..}...)
    depth = 0  # open groups, to close the scoped groups that mid-pattern flags become
    closers: list[int] = []
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                return None
            esc = pattern[i + 1]
            if esc in "pP":
                if i + 2 < n and pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    if end < 0:
                        return None
                    name, i = pattern[i + 3 : end], end + 1
                else:
                    name, i = pattern[i + 2 : i + 3], i + 3
                spans = _property_ranges(name)
                if spans is None:
                    return None
                body = _class_body(_complement(spans) if esc == "P" else spans)
                out.append(body if in_class else f"[{body}]")
                prev_set = in_class
                continue
            if esc == "x" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                if end < 0:
                    return None
                try:
                    out.append(_escape_code(int(pattern[i + 3 : end], 16)))
                except ValueError:
                    return None
                i, prev_set = end + 1, False
                continue
            if esc == "u" and _HEX4.fullmatch(pattern, i + 2, i + 6):
                code = int(pattern[i + 2 : i + 6], 16)
                if (
                    0xD800 <= code <= 0xDBFF
                    and pattern.startswith("\\u", i + 6)
                    and _HEX4.fullmatch(pattern, i + 8, i + 12)
                ):
                    low = int(pattern[i + 8 : i + 12], 16)
                    if 0xDC00 <= low <= 0xDFFF:  # a surrogate pair is one code point
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        out.append(_escape_code(code))
                        i, prev_set = i + 12, False
                        continue
                out.append(_escape_code(code))
                i, prev_set = i + 6, False
                continue
            if esc == "Q":
                end = pattern.find("\\E", i + 2)
                out.append(re.escape(pattern[i + 2 : n if end < 0 else end]))
                i, prev_set = (n if end < 0 else end + 2), False
                continue
            if esc == "z":
                out.append("\\Z")
            elif esc == "Z" and not in_class:
                out.append("(?=\\n?\\Z)")
            elif esc == "h":
                body = _class_body(_HORIZONTAL_SPACE)
                out.append(body if in_class else f"[{body}]")
            else:
                out.append(pattern[i : i + 2])
            prev_set = in_class and esc in _CLASS_ESCAPES
            i += 2
            continue
        if in_class:
            if char == "[" or pattern.startswith("&&", i):
                return None  # Java's class union / intersection
            if char == "]":
                in_class = False
            elif char == "-" and (
                prev_set
                or (pattern.startswith("\\", i + 1) and pattern[i + 2 : i + 3] in _CLASS_ESCAPES)
            ):
                char = "\\-"  # Java reads '-' beside a set as a literal; Python errors
            elif char in "|&~":
                char = "\\" + char  # literal in Java; Python warns about '||' set operators
            out.append(char)
            prev_set = False
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append("[")
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            prev_set = False
            continue
        if char == "(":
            flags = _INLINE_FLAGS.match(pattern, i)
            if flags is not None and out:
                # Java applies a mid-pattern (?i) to the rest of the enclosing group;
                # Python only allows that at the start, so scope it explicitly.
                if set(flags.group(1)) - set("imsx"):
                    return None
                out.append(f"(?{flags.group(1)}:")
                closers.append(depth)
                i = flags.end()
                continue
            depth += 1
        elif char == ")":
            while closers and closers[-1] == depth:
                out.append(")")
                closers.pop()
            depth -= 1
        out.append(char)
        i += 1
    out.extend(")" * len(closers))
    return "".join(out)


@cache
def compile_java_pattern(pattern: str) -> re.Pattern[str] | None:
    """A Python regex with the meaning of the model's Java `pattern`, or None if unsure.

    Use `.fullmatch`: AWS tests the whole value (Java's String.matches). ``\\w``, ``\\d``
    and ``\\s`` are ASCII-only, as in Java.
    """
    translated = _translate(pattern)
    if translated is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a FutureWarning means Python reads it differently
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning, OverflowError):
            return None
