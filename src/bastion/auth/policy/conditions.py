"""The ``Condition`` element: every operator family, ``...IfExists``, ``Null`` and set operators.

Semantics follow "IAM JSON policy elements: Condition operators" and "Creating a condition
with multiple context keys or values":

* operators in a block, and keys under an operator, are ANDed; the values listed for one
  key are ORed, and for a negated operator (``StringNotEquals``...) NORed: the condition
  is true when the request value matches none of them;
* a key missing from the request makes a condition false, a negated one true; with
  ``...IfExists`` a missing key makes it true; ``Null`` tests presence itself;
* ``ForAllValues:`` is true when every request value matches (and when the key is missing
  or empty: the documented gotcha), ``ForAnyValue:`` when at least one does (false when
  missing or empty);
* strings compare case-sensitively except the ``IgnoreCase`` forms; ``StringLike`` has
  ``*`` and ``?`` wildcards; ARN operators match each of the six colon-separated segments
  separately; dates accept W3C ISO 8601 forms and epoch seconds; ``IpAddress`` takes IPv4
  and IPv6 CIDRs (a bare address is /32 or /128); ``BinaryEquals`` compares base64 bytes.

Policy values are parsed and compiled once, when the policy is written, so evaluation only
converts the request's value. Variables are allowed in the string, ARN and Bool operators.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import operator as op
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bastion.auth.policy.variables import (
    MULTI_VALUED,
    Template,
    chunks_regex,
    context_string,
    has_variables,
    parse_template,
    render_chunks,
    render_plain,
    required_keys,
    static_chunks,
    wildcard_regex,
)

MISSING: Any = object()

ALL_VALUES = 1
ANY_VALUE = 2

Matcher = Callable[[Any, Mapping[str, Any]], bool]


class ConditionSyntaxError(ValueError):
    """A Condition block that AWS would refuse; the message is AWS's."""


SYNTAX = "Syntax errors in policy."
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

# base operator (lower-case) -> (family, comparison, negated)
OPERATORS: dict[str, tuple[str, str, bool]] = {
    "stringequals": ("string", "eq", False),
    "stringnotequals": ("string", "eq", True),
    "stringequalsignorecase": ("string", "ieq", False),
    "stringnotequalsignorecase": ("string", "ieq", True),
    "stringlike": ("string", "like", False),
    "stringnotlike": ("string", "like", True),
    "numericequals": ("numeric", "eq", False),
    "numericnotequals": ("numeric", "eq", True),
    "numericlessthan": ("numeric", "lt", False),
    "numericlessthanequals": ("numeric", "le", False),
    "numericgreaterthan": ("numeric", "gt", False),
    "numericgreaterthanequals": ("numeric", "ge", False),
    "dateequals": ("date", "eq", False),
    "datenotequals": ("date", "eq", True),
    "datelessthan": ("date", "lt", False),
    "datelessthanequals": ("date", "le", False),
    "dategreaterthan": ("date", "gt", False),
    "dategreaterthanequals": ("date", "ge", False),
    "bool": ("bool", "eq", False),
    "binaryequals": ("binary", "eq", False),
    "ipaddress": ("ip", "in", False),
    "notipaddress": ("ip", "in", True),
    "arnequals": ("arn", "like", False),
    "arnlike": ("arn", "like", False),
    "arnnotequals": ("arn", "like", True),
    "arnnotlike": ("arn", "like", True),
    "null": ("null", "null", False),
}

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": op.eq,
    "lt": op.lt,
    "le": op.le,
    "gt": op.gt,
    "ge": op.ge,
}

_VARIABLE_FAMILIES = frozenset({"string", "arn", "bool"})


class Condition:
    """One (operator, key, values) triple, compiled."""

    __slots__ = (
        "if_exists",
        "key",
        "match",
        "negated",
        "null",
        "operator",
        "qualifier",
        "variables",
    )

    def __init__(
        self,
        operator: str,
        key: str,
        *,
        qualifier: int,
        if_exists: bool,
        negated: bool,
        match: Matcher | None,
        null: frozenset[bool] | None = None,
        variables: frozenset[str] = frozenset(),
    ) -> None:
        self.operator = operator
        self.key = key
        self.qualifier = qualifier
        self.if_exists = if_exists
        self.negated = negated
        self.match = match
        self.null = null
        self.variables = variables  # keys of variables without default: see variables.py

    def __repr__(self) -> str:
        return f"Condition({self.operator!r}, {self.key!r})"

    def test(self, context: Mapping[str, Any]) -> bool:
        """Whether the condition holds for a request context with lower-cased keys."""
        value = context.get(self.key, MISSING)
        absent = value is MISSING or value is None
        if self.null is not None:
            return absent in self.null
        if not absent:
            if isinstance(value, MULTI_VALUED):
                values = tuple(value)
                if not values:
                    absent = True
            elif self.qualifier and value == "":
                absent = True  # "resolve to an empty data set (for example, an empty string)"
            else:
                values = (value,)
        if absent:
            if self.qualifier == ALL_VALUES:
                return True
            if self.if_exists:
                return True
            if self.qualifier == ANY_VALUE:
                return False
            return self.negated
        match = self.match
        assert match is not None
        negated = self.negated
        if self.qualifier == ALL_VALUES:
            return all(match(v, context) != negated for v in values)
        if self.qualifier == ANY_VALUE:
            return any(match(v, context) != negated for v in values)
        if negated:
            return not any(match(v, context) for v in values)
        return any(match(v, context) for v in values)


def compile_block(block: Any, *, variables: bool) -> tuple[Condition, ...]:
    """Compile a statement's ``Condition`` object; raises ConditionSyntaxError."""
    if not isinstance(block, dict):
        raise ConditionSyntaxError(SYNTAX)
    out: list[Condition] = []
    for operator_name, keys in block.items():
        qualifier, base, if_exists = _split_operator(operator_name)
        family, comparison, negated = OPERATORS[base]
        if not isinstance(keys, dict):
            raise ConditionSyntaxError(SYNTAX)
        for key, raw in keys.items():
            if not isinstance(key, str) or ":" not in key or key.startswith(":"):
                raise ConditionSyntaxError(VENDOR)
            values = _policy_values(raw)
            allow_vars = variables and family in _VARIABLE_FAMILIES
            if family == "null":
                out.append(
                    Condition(
                        operator_name,
                        key.lower(),
                        qualifier=qualifier,
                        if_exists=False,
                        negated=False,
                        match=None,
                        null=_null_values(values),
                    )
                )
                continue
            match = _MATCHER_BUILDERS[family](comparison, values, allow_vars)
            needed: frozenset[str] = frozenset()
            if allow_vars:
                for value in values:
                    needed |= required_keys(parse_template(value))
            out.append(
                Condition(
                    operator_name,
                    key.lower(),
                    qualifier=qualifier,
                    if_exists=if_exists,
                    negated=negated,
                    match=match,
                    variables=needed,
                )
            )
    return tuple(out)


def _split_operator(name: Any) -> tuple[int, str, bool]:
    if not isinstance(name, str):
        raise ConditionSyntaxError(SYNTAX)
    lowered = name.lower()
    qualifier = 0
    if lowered.startswith("forallvalues:"):
        qualifier, lowered = ALL_VALUES, lowered[len("forallvalues:") :]
    elif lowered.startswith("foranyvalue:"):
        qualifier, lowered = ANY_VALUE, lowered[len("foranyvalue:") :]
    if_exists = False
    if lowered not in OPERATORS and lowered.endswith("ifexists"):
        lowered, if_exists = lowered[: -len("ifexists")], True
        if lowered == "null":
            raise ConditionSyntaxError(SYNTAX)  # "any condition operator ... except Null"
    if lowered not in OPERATORS or (qualifier and lowered == "null"):
        raise ConditionSyntaxError(SYNTAX)
    return qualifier, lowered, if_exists


def _policy_values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float):
            out.append(_number_text(item))
        else:
            raise ConditionSyntaxError(SYNTAX)
    return out


def _number_text(n: float) -> str:
    if isinstance(n, float) and n.is_integer():
        return str(int(n)) if abs(n) < 1e16 else repr(n)
    return str(n)


def _null_values(values: list[str]) -> frozenset[bool]:
    out = set()
    for v in values:
        low = v.lower()
        if low not in ("true", "false"):
            raise ConditionSyntaxError(SYNTAX)
        out.add(low == "true")
    return frozenset(out)


# -- string ---------------------------------------------------------------------------


def _split_templates(values: list[str], allow_vars: bool) -> tuple[list[str], list[Template]]:
    """Separate values that need the request (variables) from those that don't."""
    static: list[str] = []
    dynamic: list[Template] = []
    for v in values:
        template = parse_template(v, enabled=allow_vars)
        if has_variables(template):
            assert template is not None
            dynamic.append(template)
        elif template is not None:
            static.append(render_plain(template, {}))
        else:
            static.append(v)
    return static, dynamic


def _like_sources(values: list[str], allow_vars: bool, arn: bool) -> tuple[str, list[Template]]:
    sources = []
    dynamic: list[Template] = []
    for v in values:
        template = parse_template(v, enabled=allow_vars)
        if has_variables(template):
            assert template is not None
            dynamic.append(template)
        else:
            sources.append(wildcard_regex(static_chunks(v, template), arn=arn))
    return "|".join(f"(?:{s})" for s in sources), dynamic


def _build_string(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
    if comparison == "like":
        return _build_like(values, allow_vars, arn=False)
    fold = comparison == "ieq"
    static, dynamic = _split_templates(values, allow_vars)
    static_set = frozenset(s.lower() for s in static) if fold else frozenset(static)

    def match(value: Any, context: Mapping[str, Any]) -> bool:
        text = context_string(value)
        if fold:
            text = text.lower()
        if text in static_set:
            return True
        for template in dynamic:
            rendered = render_plain(template, context)
            if (rendered.lower() if fold else rendered) == text:
                return True
        return False

    return match


def _build_like(values: list[str], allow_vars: bool, *, arn: bool) -> Matcher:
    source, dynamic = _like_sources(values, allow_vars, arn)
    static = re.compile(source, re.DOTALL) if source else None

    def match(value: Any, context: Mapping[str, Any]) -> bool:
        text = context_string(value)
        if static is not None and static.fullmatch(text):
            return True
        for template in dynamic:
            if chunks_regex(render_chunks(template, context), arn).fullmatch(text):
                return True
        return False

    return match


def _build_arn(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
    return _build_like(values, allow_vars, arn=True)


# -- numeric and date -----------------------------------------------------------------

_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")


def parse_number(value: Any) -> float | None:
    """A request or policy value as a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


@functools.lru_cache(maxsize=4096)
def _parse_date_text(text: str) -> float | None:
    text = text.strip()
    if _EPOCH.match(text):
        return float(text)
    candidate = text
    if re.fullmatch(r"\d{4}", candidate):
        candidate += "-01-01"
    elif re.fullmatch(r"\d{4}-\d{2}", candidate):
        candidate += "-01"
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_date(value: Any) -> float | None:
    """A date as epoch seconds: datetime, epoch number, or W3C ISO 8601 text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _parse_date_text(value)
    return None


def _build_ordered(parse: Callable[[Any], float | None]) -> Callable[..., Matcher]:
    def build(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
        compare = _COMPARE[comparison]
        parsed = []
        for v in values:
            number = parse(v)
            if number is None:
                raise ConditionSyntaxError(SYNTAX)
            parsed.append(number)
        limits = tuple(parsed)

        def match(value: Any, context: Mapping[str, Any]) -> bool:
            number = parse(value)
            if number is None:
                return False
            return any(compare(number, limit) for limit in limits)

        return match

    return build


# -- bool, binary, ip -----------------------------------------------------------------


def _build_bool(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
    static, dynamic = _split_templates(values, allow_vars)
    expected = frozenset(v.lower() for v in static)

    def match(value: Any, context: Mapping[str, Any]) -> bool:
        text = context_string(value).lower()
        if text in expected:
            return True
        return any(render_plain(t, context).lower() == text for t in dynamic)

    return match


def _build_binary(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
    expected = set()
    for v in values:
        try:
            expected.add(base64.b64decode(v, validate=True))
        except (binascii.Error, ValueError):
            raise ConditionSyntaxError(SYNTAX) from None
    wanted = frozenset(expected)

    def match(value: Any, context: Mapping[str, Any]) -> bool:
        if isinstance(value, bytes | bytearray):
            data = bytes(value)
        else:
            try:
                data = base64.b64decode(context_string(value), validate=True)
            except (binascii.Error, ValueError):
                return False
        return data in wanted

    return match


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def _parse_ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _build_ip(comparison: str, values: list[str], allow_vars: bool) -> Matcher:
    networks: list[IPNetwork] = []
    for v in values:
        try:
            networks.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ConditionSyntaxError(SYNTAX) from None
    nets = tuple(networks)

    def match(value: Any, context: Mapping[str, Any]) -> bool:
        address = _parse_ip(context_string(value))
        if address is None:
            return False
        return any(address.version == n.version and address in n for n in nets)

    return match


_MATCHER_BUILDERS: dict[str, Callable[[str, list[str], bool], Matcher]] = {
    "string": _build_string,
    "arn": _build_arn,
    "numeric": _build_ordered(parse_number),
    "date": _build_ordered(parse_date),
    "bool": _build_bool,
    "binary": _build_binary,
    "ip": _build_ip,
}
