"""Shared per-request evaluation: detector registry, per-value prefilter masks.

Every detector-backed statement (SqliMatch, XssMatch, Bastion's managed detectors) names a
detector from `DETECTORS`. Each detector has a bit; `value_mask(v)` answers, once per
distinct value (memoised across requests), which detectors *could* fire on `v`: the bit is
clear only when the value fails a necessary condition of that detector (the very early-exit
check the detector itself starts with, so a clear bit never hides a detection). A field's
values are extracted and transformed once per request (see `statements.Slot`), their masks
OR-ed into a field mask, and each (field, transformations, detector) outcome is computed
once and read by every rule that asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from . import detectors
from .sqli import _PREFILTER as _SQLI_PREFILTER
from .sqli import is_sqli
from .xss import _PREFILTER as _XSS_PREFILTER
from .xss import is_xss


def _sqli_low(v: str) -> bool:
    return is_sqli(v, False)


def _sqli_high(v: str) -> bool:
    return is_sqli(v, True)


def _b(fn: Callable[[str], object]) -> Callable[[str], bool]:
    def run(v: str) -> bool:
        return bool(fn(v))

    run.__name__ = getattr(fn, "__name__", "detector")
    return run


# name -> predicate(value) -> bool
DETECTORS: dict[str, Callable[[str], bool]] = {
    "sqli": _sqli_low,
    "sqli_high": _sqli_high,
    "xss": is_xss,
    "cmdi": _b(detectors.detect_cmdi),
    "traversal": _b(detectors.detect_traversal),
    "lfi": _b(detectors.detect_lfi),
    "rfi": _b(detectors.detect_rfi),
    "ssrf": _b(detectors.detect_ssrf),
    "metadata_ssrf": _b(detectors.detect_metadata_ssrf),
    "log4j": _b(detectors.detect_log4j),
    "xxe": _b(detectors.detect_xxe),
    "nosql": _b(detectors.detect_nosql),
    "ssti": _b(detectors.detect_ssti),
    "java_deser": _b(detectors.detect_java_deser),
    "php": _b(detectors.detect_php),
    "shellshock": _b(detectors.detect_shellshock),
}
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(DETECTORS)}
ALL_BITS = (1 << len(DETECTORS)) - 1

_CMD_PREFILTER = detectors._CMD_PREFILTER
_SSTI_PREFILTER = re.compile("|".join(re.escape(t) for t in detectors.SSTI_OPENERS))
_S = BIT


@lru_cache(maxsize=65536)
def value_mask(v: str) -> int:
    """Bits of the detectors that may fire on `v` (a superset; see the module docstring)."""
    n = len(v)
    if n < 2:
        return 0
    m = 0
    # Cheap character tests first: most benign values are letters, digits and a few marks.
    low = v.lower()
    if _SQLI_PREFILTER.search(low):
        m |= _S["sqli"] | _S["sqli_high"]
    # (is_sqli also reads the pieces of a long value split at '&' / newlines; a piece is a
    # substring cut at a non-word character, so it passes the prefilter only if the whole
    # value does.)
    if n >= 4 and _XSS_PREFILTER.search(v):
        m |= _S["xss"]
    if _CMD_PREFILTER.search(v):
        m |= _S["cmdi"]
    slash = "/" in v or "\\" in v
    if slash or ".." in v or "%2e" in low:
        m |= _S["traversal"]
    if slash:
        m |= _S["lfi"]
    if ":" in v:
        m |= _S["rfi"] | _S["ssrf"] | _S["metadata_ssrf"]
    else:
        if "\\\\" in v:
            m |= _S["rfi"]  # UNC paths
        if "169.254" in low or "metadata" in low or "a9fe" in low:
            m |= _S["metadata_ssrf"]
    if "${" in v:
        m |= _S["log4j"]
    if "<!" in v or "xi:" in low:
        m |= _S["xxe"]
    if (
        "$" in v
        or "return" in v
        or "this." in v
        or "db." in v
        or "||" in v
        or "while" in v
        or "sleep" in v
    ):
        m |= _S["nosql"]
    if _SSTI_PREFILTER.search(v):
        m |= _S["ssti"]
    m |= _S["java_deser"]  # a single regex: the detector is its own prefilter
    if (
        "(" in v
        or "$_" in v
        or "<?" in v
        or "php" in low
        or "O:" in v
        or "allow_url" in v
        or "auto_prepend" in v
    ):
        m |= _S["php"]
    if "(" in v and "{" in v:
        m |= _S["shellshock"]
    return m


def clear_caches() -> None:
    value_mask.cache_clear()
