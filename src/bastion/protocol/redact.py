"""Model-driven redaction for audit records, as CloudTrail writes requestParameters.

Members whose shape is `sensitive` in the botocore model are replaced by CloudTrail's
marker; blobs (plaintexts, ciphertexts, key material) are left out entirely; member
names become lowerCamelCase like CloudTrail's.
"""

from __future__ import annotations

import base64
import functools
from datetime import datetime
from typing import Any

from botocore.model import Shape

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
_OMIT = object()


def camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


def redact(shape: Shape | None, value: Any) -> Any:
    """A JSON-ready copy of `value` (shaped by `shape`) with secrets hidden."""
    if shape is None or value is None:
        return None
    result = _redact(shape, value)
    return None if result is _OMIT else result


@functools.cache
def _kind(shape: Shape) -> tuple[str, bool]:
    """The shape's type and whether it is sensitive (per shape object, models live on)."""
    sensitive = bool(
        shape.serialization.get("sensitive") or getattr(shape, "metadata", {}).get("sensitive")
    )
    return shape.type_name, sensitive


@functools.cache
def _members(shape: Shape) -> dict[str, tuple[str, Shape]]:
    """A structure's members: name -> (CloudTrail's lowerCamelCase name, shape)."""
    return {name: (camel(name), member) for name, member in shape.members.items()}


def _redact(shape: Shape, value: Any) -> Any:
    kind, sensitive = _kind(shape)
    if sensitive:
        return HIDDEN
    if kind == "structure":
        if not isinstance(value, dict):
            return _OMIT
        members = _members(shape)
        out: dict[str, Any] = {}
        for name, item in value.items():
            spec = members.get(name)
            if spec is None or item is None:
                continue
            redacted = _redact(spec[1], item)
            if redacted is not _OMIT:
                out[spec[0]] = redacted
        return out
    if kind == "list":
        if not isinstance(value, list | tuple):
            return _OMIT
        items = [_redact(shape.member, v) for v in value]
        return [i for i in items if i is not _OMIT]
    if kind == "map":
        if not isinstance(value, dict):
            return _OMIT
        out = {}
        for k, v in value.items():
            item = _redact(shape.value, v)
            if item is not _OMIT:
                out[str(k)] = item
        return out
    if kind == "blob":
        return _OMIT
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
