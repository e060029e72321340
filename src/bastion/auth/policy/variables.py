"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``.

AWS ("IAM policy elements: Variables and tags") substitutes a variable with the value of
the request-context key of the same name (key names are case-insensitive), supports a
default value written ``${key, 'default'}``, and offers ``${*}``, ``${?}`` and ``${$}``
for the literal characters. Variables only exist in version ``2012-10-17`` policies: in
older ones the text stays literal. A variable that resolves to nothing "causes the entire
statement to be invalid", which the engine implements by raising `UnresolvedVariable`
while it evaluates a statement.

Templates are compiled once per policy; a template is rendered per request either to a
plain string (equality operators) or to a regular expression in which text from the
policy keeps its wildcards and substituted values never do (a tag value of ``*`` must not
turn into "match everything").
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_KEY_WITH_DEFAULT = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?$")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}

MULTI_VALUED = (list, tuple, set, frozenset)


class UnresolvedVariable(Exception):
    """A policy variable has no value in the request context and no default."""


@dataclass(frozen=True, slots=True)
class Var:
    """``${key}`` or ``${key, 'default'}``; ``key`` is lower-cased (keys ignore case)."""

    key: str
    default: str | None


# A template part: ("w", text) is policy text whose * and ? are wildcards, ("l", text) is
# literal text (from ${*}, ${?}, ${$}), and a Var is substituted from the request.
Part = tuple[str, str] | Var
Template = tuple[Part, ...]


def parse_template(text: str, *, enabled: bool = True) -> Template | None:
    """Split ``text`` into parts; None when it holds no variable (the common, fast case)."""
    if not enabled or "${" not in text:
        return None
    parts: list[Part] = []
    pos = 0
    for match in _VARIABLE.finditer(text):
        inner = match.group(1)
        special = _SPECIAL.get(inner.strip())
        key = _KEY_WITH_DEFAULT.match(inner)
        if special is None and key is None:
            continue  # not variable syntax: AWS leaves such text as it is
        if match.start() > pos:
            parts.append(("w", text[pos : match.start()]))
        if special is not None:
            parts.append(("l", special))
        else:
            assert key is not None
            parts.append(Var(key.group(1).lower(), key.group(2)))
        pos = match.end()
    if not parts:
        return None
    if pos < len(text):
        parts.append(("w", text[pos:]))
    return tuple(parts)


def has_variables(template: Template | None) -> bool:
    """Whether rendering needs the request (``${*}`` alone renders the same every time)."""
    return template is not None and any(isinstance(p, Var) for p in template)


def required_keys(template: Template | None) -> frozenset[str]:
    """Context keys the template cannot do without (variables that have no default)."""
    if template is None:
        return frozenset()
    return frozenset(p.key for p in template if isinstance(p, Var) and p.default is None)


def context_string(value: Any) -> str:
    """AWS's string form of a request-context value (booleans are ``true``/``false``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def resolve(var: Var, context: Mapping[str, Any]) -> str:
    """The value substituted for ``var``; raises UnresolvedVariable when there is none."""
    value = context.get(var.key)
    if isinstance(value, MULTI_VALUED):
        items = list(value)
        value = items[0] if len(items) == 1 else None
    if value is None:
        if var.default is None:
            raise UnresolvedVariable(var.key)
        return var.default
    return context_string(value)


def render_plain(template: Template, context: Mapping[str, Any]) -> str:
    """The template as a plain string, for the equality operators."""
    out = []
    for part in template:
        out.append(resolve(part, context) if isinstance(part, Var) else part[1])
    return "".join(out)


def render_chunks(template: Template, context: Mapping[str, Any]) -> tuple[tuple[bool, str], ...]:
    """(wildcards_active, text) chunks, for building a wildcard pattern."""
    out = []
    for part in template:
        if isinstance(part, Var):
            out.append((False, resolve(part, context)))
        else:
            out.append((part[0] == "w", part[1]))
    return tuple(out)


def wildcard_regex(chunks: tuple[tuple[bool, str], ...], *, arn: bool) -> str:
    """Regex source (for ``fullmatch``) of a pattern whose active ``*`` and ``?`` are wildcards.

    With ``arn=True`` the first five colons split the value into ARN segments and a
    wildcard in one of those segments never matches a colon ("a wildcard can't span
    segments"); the sixth segment, the resource part, is matched as a whole.

    The text between two stars has a fixed length, so matching each such piece at its
    leftmost place and never reconsidering is exact (the next star absorbs any gap). The
    regex says so with atomic groups, ``(?>.*?piece)``: matching costs O(len(value) x
    len(pattern)) whatever the pattern, where a plain ``.*a.*a.*a.*b`` would backtrack
    exponentially on a hostile request value.
    """
    groups: list[list[str]] = [[]]  # regex pieces between stars
    stars: list[str] = []  # the character class of each star
    colons = 0
    for active, text in chunks:
        for ch in text:
            inside = arn and colons < 5
            if active and ch == "*":
                if groups[-1]:
                    groups.append([])
                    stars.append("[^:]" if inside else ".")
                elif stars:
                    continue  # "**" is one star
                else:
                    groups.append([])
                    stars.append("[^:]" if inside else ".")
            elif active and ch == "?":
                groups[-1].append("[^:]" if inside else ".")
            else:
                if ch == ":":
                    colons += 1
                groups[-1].append(re.escape(ch))
    out = ["".join(groups[0])]
    last = len(stars)
    for index, star in enumerate(stars, start=1):
        piece = "".join(groups[index])
        if index == last:
            out.append(f"{star}*{piece}")  # anchored at the end by fullmatch
        else:
            out.append(f"(?>{star}*?{piece})")
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def compile_regex(source: str) -> re.Pattern[str]:
    """Compile (and remember) a `wildcard_regex` pattern; DOTALL: values may hold newlines."""
    return re.compile(source, re.DOTALL)


@functools.lru_cache(maxsize=8192)
def chunks_regex(chunks: tuple[tuple[bool, str], ...], arn: bool) -> re.Pattern[str]:
    """The compiled pattern for rendered chunks: a rendered template usually repeats."""
    return compile_regex(wildcard_regex(chunks, arn=arn))


def static_chunks(text: str, template: Template | None) -> tuple[tuple[bool, str], ...]:
    """Chunks for a value whose template needs no request (only ${*}-style specials)."""
    if template is None:
        return ((True, text),)
    return render_chunks(template, {})
