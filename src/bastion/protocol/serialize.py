"""Server-side response serialization for AWS's json, rest-json and query protocols.

Everything is driven by botocore's models, so what we write is exactly what botocore's
client parsers read. Serializers are compiled once per output shape into closures over
precomputed member tables (one dict lookup per member present in the result), because a
small response must cost a few microseconds: the control plane targets thousands of
requests per second on one core. XML is built with string joins, never ElementTree.

Results are plain mappings keyed by the model's member names. Keys the shape does not
declare and `None` values are dropped, so a provider may return a richer internal record.
Timestamps may be `datetime` (naive means UTC), `date`, epoch seconds (int/float) or ISO
strings; they are written at millisecond precision. Blobs may be bytes or str (UTF-8).

Error rules (see `serialize_error`):
- code: a raised *shape name* is mapped to the model's wire code (iam's
  `NoSuchEntityException` is sent as `NoSuchEntity`). For query services, json-style
  codes the model does not define are renamed as AWS's query services spell them:
  `ValidationException` -> `ValidationError`, `AccessDeniedException` -> `AccessDenied`
  (403), `UnknownOperationException` -> `InvalidAction`.
- status: a status passed explicitly to the error's constructor wins; then the model's
  `httpStatusCode` for that error shape; then, for a modeled code raised through a class
  whose status is the generic ServiceError/ClientError default, 400 (500 for server
  faults: the model's `fault`/`senderFault: false`, or "Internal" in the shape name,
  since json models such as kms omit statuses); otherwise the error class's status.
- fault (query `<Type>`): explicit `sender_fault` wins, then the model's `senderFault`,
  then `status < 500`.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any

import orjson
from botocore.model import OperationModel, ServiceModel, Shape

from bastion.errors import ClientError, ServiceError
from bastion.protocol.http import HttpResponse
from bastion.protocol.models import protocol_of

__all__ = ["serialize_error", "serialize_response"]

REQUEST_ID_HEADER = "x-amzn-RequestId"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"

_Conv = Callable[[Any], Any]
_OpSerializer = Callable[[Mapping[str, Any] | None, str], HttpResponse]

# --------------------------------------------------------------------------- scalars

_EPOCH = datetime(1970, 1, 1)  # naive UTC
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _utc_naive(value: Any) -> datetime:
    """Any accepted timestamp value as a naive UTC datetime (the slow, general path)."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            return value
        return value.replace(tzinfo=None) - offset
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _EPOCH + timedelta(seconds=value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _utc_naive(datetime.fromisoformat(value))
    raise TypeError(f"not a timestamp: {value!r}")


def _ts_epoch(value: Any) -> int | float:
    """Epoch seconds: an int when whole, else a float truncated to milliseconds."""
    cls = value.__class__
    if cls is int or cls is float:
        return value
    if cls is not datetime:
        value = _utc_naive(value)
    tz = value.tzinfo
    if tz is None or (tz is not UTC and value.utcoffset() is None):
        seconds = (value.replace(tzinfo=None) - _EPOCH).total_seconds()
    else:
        seconds = value.timestamp()  # C fast path; honours any UTC offset
    micro = value.microsecond
    if micro == 0:
        return int(seconds)
    return math.floor(seconds) + (micro // 1000) / 1000


def _ts_iso(value: Any) -> str:
    """ISO 8601 in UTC with milliseconds: 2026-11-28T17:00:00.000Z."""
    if value.__class__ is not datetime:
        value = _utc_naive(value)
    elif value.tzinfo is not None and value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset:
            value = value - offset  # wall-clock fields now read as UTC
    # %-formatting measured faster than isoformat()/strftime/f-strings here.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )


def _ts_rfc822(value: Any) -> str:
    """RFC 7231 IMF-fixdate, the default for timestamps in HTTP headers."""
    dt = _utc_naive(value)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (  # noqa: UP031
        _DAYS[dt.weekday()],
        dt.day,
        _MONTHS[dt.month - 1],
        dt.year,
        dt.hour,
        dt.minute,
        dt.second,
    )


def _ts_epoch_text(value: Any) -> str:
    return str(_ts_epoch(value))


_TS_JSON: dict[str, _Conv] = {
    "unixTimestamp": _ts_epoch,
    "iso8601": _ts_iso,
    "rfc822": _ts_rfc822,
}
_TS_TEXT: dict[str, _Conv] = {
    "unixTimestamp": _ts_epoch_text,
    "iso8601": _ts_iso,
    "rfc822": _ts_rfc822,
}


def _b64(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _json_float(value: Any) -> Any:
    """orjson writes NaN/Infinity as null; the AWS protocols spell them as strings."""
    if value.__class__ is float and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _text_float(value: Any) -> str:
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _text_int(value: Any) -> str:
    return str(int(value))


def _text_bool(value: Any) -> str:
    return "true" if value else "false"


def _as_str(value: Any) -> str:
    if value.__class__ is str:
        return value
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


# XML 1.0 cannot carry most C0 controls, lone surrogates or U+FFFE/U+FFFF even as
# character references, so those become U+FFFD; CR/LF/TAB are kept via references so
# XML end-of-line normalization does not alter them.
_XML_ESCAPES: dict[str, str] = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_XML_ESCAPES.update({"\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"})
_XML_SPECIAL = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')


def _xml_sub(match: re.Match[str]) -> str:
    return _XML_ESCAPES.get(match.group(), "\ufffd")


def _xml_text(value: Any) -> str:
    """Escape a string for XML text or a double-quoted attribute."""
    if value.__class__ is not str:
        value = _as_str(value)
    if _XML_SPECIAL.search(value) is None:
        return value
    return _XML_SPECIAL.sub(_xml_sub, value)


def _header_text(value: Any) -> str:
    """A header value; CR/LF are replaced so a value can never split the header block."""
    value = _as_str(value)
    if "\r" in value or "\n" in value:
        value = value.replace("\r", " ").replace("\n", " ")
    return value


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        # orjson rejects lone surrogates; the stdlib escapes them as \\udXXX.
        return json.dumps(obj, separators=(",", ":")).encode()


def _shape_key(shape: Shape) -> tuple[str, str]:
    """Memo key: member-level traits (timestampFormat, flattened...) change the encoding."""
    return shape.name, repr(sorted(shape.serialization.items()))


class _Memo:
    """Per-service memo of compiled converters, safe for recursive shapes (wafv2)."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], Any] = {}
        self._pending: dict[tuple[str, str], list[Any]] = {}

    def get(self, shape: Shape, build: Callable[[Shape], Any], *, arity: int = 1) -> Any:
        key = _shape_key(shape)
        try:
            return self._done[key]
        except KeyError:
            pass
        cell = self._pending.get(key)
        if cell is not None:  # recursion: forward to the converter once it exists
            if arity == 1:
                return lambda value: cell[0](value)
            return lambda value, out: cell[0](value, out)
        cell = self._pending[key] = [None]
        try:
            fn = build(shape)
        finally:
            del self._pending[key]
        cell[0] = fn
        self._done[key] = fn
        return fn


# ----------------------------------------------------------------------------- JSON


class _JsonBuilder:
    """Compiles shapes into value converters producing orjson-ready objects.

    A converter of `None` means identity (strings, numbers, booleans, documents), which
    lets structures skip a call for most members.
    """

    def __init__(self, default_ts: str = "unixTimestamp") -> None:
        self._default_ts = default_ts
        self._memo = _Memo()

    def conv(self, shape: Shape) -> _Conv | None:
        kind = shape.type_name
        if kind in ("structure", "list", "map"):
            if shape.metadata.get("document"):
                return None
            return self._memo.get(shape, self._build)
        if kind == "timestamp":
            return _TS_JSON[shape.serialization.get("timestampFormat", self._default_ts)]
        if kind == "blob":
            return _b64
        if kind in ("float", "double"):
            return _json_float
        return None

    def _build(self, shape: Shape) -> _Conv:
        kind = shape.type_name
        if kind == "structure":
            return _json_struct(self.table(shape.members))
        if kind == "list":
            return _json_list(self.conv(shape.member))
        return _json_map(self.conv(shape.value))

    def table(self, members: Mapping[str, Shape]) -> dict[str, tuple[str, _Conv | None]]:
        return {
            name: (member.serialization.get("name", name), self.conv(member))
            for name, member in members.items()
        }


def _json_struct(table: dict[str, tuple[str, _Conv | None]]) -> _Conv:
    get = table.get

    def conv(value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            entry = get(key)
            if entry is None:
                continue
            wire, sub = entry
            out[wire] = item if sub is None else sub(item)
        return out

    return conv


def _json_list(sub: _Conv | None) -> _Conv:
    if sub is None:

        def conv_plain(value: Any) -> Any:
            return value if value.__class__ is list else list(value)

        return conv_plain

    def conv(value: Any) -> list[Any]:
        return [None if item is None else sub(item) for item in value]

    return conv


def _json_map(sub: _Conv | None) -> _Conv:
    if sub is None:

        def conv_plain(value: Any) -> Any:
            return value if value.__class__ is dict else dict(value)

        return conv_plain

    def conv(value: Mapping[str, Any]) -> dict[str, Any]:
        return {k: None if v is None else sub(v) for k, v in value.items()}

    return conv


def _json_content_type(service: ServiceModel) -> str:
    return "application/x-amz-json-" + service.metadata.get("jsonVersion", "1.0")


def _build_json(operation: OperationModel, builder: _JsonBuilder) -> _OpSerializer:
    content_type = _json_content_type(operation.service_model)
    shape = operation.output_shape
    conv = builder.conv(shape) if shape is not None else None

    def serialize(result: Mapping[str, Any] | None, request_id: str) -> HttpResponse:
        body = b"{}" if conv is None or not result else _dumps(conv(result))
        return HttpResponse(
            200, [("Content-Type", content_type), (REQUEST_ID_HEADER, request_id)], body
        )

    return serialize


# ------------------------------------------------------------------------ rest-json


def _header_conv(shape: Shape) -> _Conv:
    """How a member located in a header is written (botocore's RestJSONParser reads it)."""
    kind = shape.type_name
    if kind == "timestamp":
        return _TS_TEXT[shape.serialization.get("timestampFormat", "rfc822")]
    if kind == "boolean":
        return _text_bool
    if kind in ("integer", "long", "short", "byte"):
        return _text_int
    if kind in ("float", "double"):
        return _text_float
    if kind == "blob":
        return _b64
    if kind == "list":
        item = _header_conv(shape.member)
        return lambda value: ",".join(item(v) for v in value)
    if shape.serialization.get("jsonvalue"):
        return lambda value: _b64(orjson.dumps(value))
    return _header_text


def _build_rest_json(operation: OperationModel, builder: _JsonBuilder) -> _OpSerializer:
    shape = operation.output_shape
    default_status = int(operation.http.get("responseCode", 200))
    base_headers = [("Content-Type", "application/json")]
    if shape is None:

        def serialize_empty(result: Mapping[str, Any] | None, request_id: str) -> HttpResponse:
            body = b"" if default_status == 204 else b"{}"
            return HttpResponse(
                default_status, [*base_headers, (REQUEST_ID_HEADER, request_id)], body
            )

        return serialize_empty

    members = shape.members
    payload_name = shape.serialization.get("payload")
    header_members: dict[str, tuple[str, _Conv]] = {}
    prefix_members: dict[str, str] = {}
    status_member: str | None = None
    body_members: dict[str, Shape] = {}
    for name, member in members.items():
        location = member.serialization.get("location")
        if location == "header":
            header_members[name] = (member.serialization.get("name", name), _header_conv(member))
        elif location == "headers":
            prefix_members[name] = member.serialization.get("name", "")
        elif location == "statusCode":
            status_member = name
        elif location is None and name != payload_name:
            body_members[name] = member

    payload_kind: str | None = None
    payload_conv: _Conv | None = None
    if payload_name is not None:
        payload_shape = members[payload_name]
        payload_kind = payload_shape.type_name
        payload_conv = builder.conv(payload_shape)
        if payload_kind == "blob":
            base_headers = [("Content-Type", "application/octet-stream")]
        elif payload_kind == "string":
            base_headers = [("Content-Type", "text/plain")]
    body_conv = _json_struct(builder.table(body_members))
    has_extras = bool(header_members or prefix_members or status_member)
    content_type_modeled = any(h.lower() == "content-type" for h, _ in header_members.values())

    def serialize(result: Mapping[str, Any] | None, request_id: str) -> HttpResponse:
        result = result or {}
        status = default_status
        headers = [*base_headers, (REQUEST_ID_HEADER, request_id)]
        if has_extras:
            for name, value in result.items():
                if value is None:
                    continue
                if name in header_members:
                    header, conv = header_members[name]
                    headers.append((header, conv(value)))
                elif name in prefix_members:
                    prefix = prefix_members[name]
                    headers.extend((prefix + k, _header_text(v)) for k, v in value.items())
                elif name == status_member:
                    status = int(value)
        if payload_kind is not None:
            value = result.get(payload_name)  # type: ignore[arg-type]
            if value is None:
                body = b""
            elif payload_kind in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else bytes(value)
            else:
                body = _dumps(value if payload_conv is None else payload_conv(value))
        else:
            body = _dumps(body_conv(result))
        if status == 204 or status == 304:
            body = b""
        if content_type_modeled and any(h[0].lower() == "content-type" for h in headers[2:]):
            headers = headers[1:]  # a modeled Content-Type header replaces ours
        return HttpResponse(status, headers, body)

    return serialize


# ---------------------------------------------------------------------------- query

# An XML member entry: (kind, open tag, close tag, fn)
#   kind 0: fn(value) -> escaped text, written as open + text + close
#   kind 1: fn(value, out) appends the element's children between open and close
#   kind 2: fn(value, out) writes whole repeated elements itself (flattened)
_XmlEntry = tuple[int, str, str, Callable[..., Any]]


class _XmlBuilder:
    """Compiles shapes into writers that append XML fragments to a list of str."""

    def __init__(self) -> None:
        self._memo = _Memo()

    def entry(self, shape: Shape, element: str) -> _XmlEntry:
        """How to write `shape` as element(s) named `element`."""
        kind = shape.type_name
        flattened = shape.serialization.get("flattened")
        if kind == "list" and flattened:
            return 2, "", "", _xml_list(self.entry(shape.member, element))
        if kind == "map" and flattened:
            return 2, "", "", self._map(shape, element)
        if kind in ("structure", "list", "map"):
            content = self._memo.get(shape, self._build, arity=2)
            return 1, f"<{element}>", f"</{element}>", content
        return 0, f"<{element}>", f"</{element}>", self._text(shape)

    @staticmethod
    def _text(shape: Shape) -> _Conv:
        kind = shape.type_name
        if kind == "timestamp":
            return _TS_TEXT[shape.serialization.get("timestampFormat", "iso8601")]
        if kind == "boolean":
            return _text_bool
        if kind in ("integer", "long", "short", "byte"):
            return _text_int
        if kind in ("float", "double"):
            return _text_float
        if kind == "blob":
            return _b64
        return _xml_text

    def _build(self, shape: Shape) -> Callable[[Any, list[str]], None]:
        kind = shape.type_name
        if kind == "structure":
            return _xml_struct(self.struct_table(shape))
        if kind == "list":
            member = shape.member
            return _xml_list(self.entry(member, member.serialization.get("name", "member")))
        return self._map(shape, "entry")

    def _map(self, shape: Shape, pair_element: str) -> Callable[[Any, list[str]], None]:
        key, value = shape.key, shape.value
        return _xml_map(
            self.entry(key, key.serialization.get("name", "key")),
            self.entry(value, value.serialization.get("name", "value")),
            pair_element,
        )

    def struct_table(self, shape: Shape) -> dict[str, _XmlEntry]:
        table = {}
        for name, member in shape.members.items():
            element = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                # botocore names repeated flattened items by the list member's name
                element = member.member.serialization.get("name", element)
            table[name] = self.entry(member, element)
        return table


def _xml_write(entry: _XmlEntry, value: Any, out: list[str]) -> None:
    kind, open_, close, fn = entry
    if kind == 0:
        out.append(open_ + fn(value) + close)
    elif kind == 1:
        out.append(open_)
        fn(value, out)
        out.append(close)
    else:
        fn(value, out)


def _xml_struct(table: dict[str, _XmlEntry]) -> Callable[[Any, list[str]], None]:
    get = table.get

    def write(value: Mapping[str, Any], out: list[str]) -> None:
        for key, item in value.items():
            if item is None:
                continue
            entry = get(key)
            if entry is None:
                continue
            kind, open_, close, fn = entry
            if kind == 0:
                out.append(open_ + fn(item) + close)
            elif kind == 1:
                out.append(open_)
                fn(item, out)
                out.append(close)
            else:
                fn(item, out)

    return write


def _xml_list(entry: _XmlEntry) -> Callable[[Any, list[str]], None]:
    """Each item as its own element (`member`, or the flattened name)."""
    kind, open_, close, fn = entry
    if kind == 0:

        def write_scalars(value: Any, out: list[str]) -> None:
            out.extend(open_ + fn(item) + close for item in value if item is not None)

        return write_scalars

    def write(value: Any, out: list[str]) -> None:
        for item in value:
            if item is not None:
                _xml_write(entry, item, out)

    return write


def _xml_map(
    key_entry: _XmlEntry, value_entry: _XmlEntry, pair_element: str
) -> Callable[[Any, list[str]], None]:
    """Pairs as `<entry><key>..</key><value>..</value></entry>` (flattened: own name)."""
    _, key_open, key_close, key_fn = key_entry
    open_, close = f"<{pair_element}>{key_open}", f"</{pair_element}>"

    def write(value: Mapping[str, Any], out: list[str]) -> None:
        for k, v in value.items():
            if v is None:
                continue
            out.append(open_ + key_fn(k) + key_close)
            _xml_write(value_entry, v, out)
            out.append(close)

    return write


def _build_query(operation: OperationModel, builder: _XmlBuilder) -> _OpSerializer:
    service = operation.service_model
    namespace = _xml_text(service.metadata.get("xmlNamespace", ""))
    op = operation.name
    head = f'<{op}Response xmlns="{namespace}">'
    tail = f"<ResponseMetadata><RequestId>{{}}</RequestId></ResponseMetadata></{op}Response>"
    shape = operation.output_shape
    write: Callable[[Any, list[str]], None] | None = None
    result_open = result_close = ""
    if shape is not None:
        write = _xml_struct(builder.struct_table(shape))
        wrapper = shape.serialization.get("resultWrapper")
        if wrapper:
            result_open, result_close = f"<{wrapper}>", f"</{wrapper}>"

    def serialize(result: Mapping[str, Any] | None, request_id: str) -> HttpResponse:
        out = [head, result_open]
        if write is not None and result:
            write(result, out)
        out.append(result_close)
        out.append(tail.format(_xml_text(request_id)))
        return HttpResponse(
            200,
            [("Content-Type", "text/xml"), (REQUEST_ID_HEADER, request_id)],
            "".join(out).encode(),
        )

    return serialize


# ------------------------------------------------------------------------ dispatch

_OP_CACHE: dict[OperationModel, _OpSerializer] = {}
_COMPILE_LOCK = threading.RLock()
_JSON_BUILDERS: dict[ServiceModel, _JsonBuilder] = {}
_XML_BUILDERS: dict[ServiceModel, _XmlBuilder] = {}


def _compile(operation: OperationModel) -> _OpSerializer:
    service = operation.service_model
    protocol = protocol_of(service)
    if protocol in ("json", "rest-json"):
        builder = _JSON_BUILDERS.get(service)
        if builder is None:
            builder = _JSON_BUILDERS[service] = _JsonBuilder()
        if protocol == "json":
            return _build_json(operation, builder)
        return _build_rest_json(operation, builder)
    if protocol == "query":
        xml_builder = _XML_BUILDERS.get(service)
        if xml_builder is None:
            xml_builder = _XML_BUILDERS[service] = _XmlBuilder()
        return _build_query(operation, xml_builder)
    raise ValueError(f"protocol {protocol!r} of {service.service_name} is not served")


def serialize_response(
    operation: OperationModel, result: Mapping[str, Any] | None, request_id: str
) -> HttpResponse:
    """Render a provider's result for `operation` in its service's wire protocol.

    The serializer is compiled on first use and cached per OperationModel object (the
    models from `load_service_model` live for the process, so this is bounded).
    """
    fn = _OP_CACHE.get(operation)
    if fn is None:
        with _COMPILE_LOCK:  # builders memoize recursive shapes; one compiler at a time
            fn = _OP_CACHE.get(operation)
            if fn is None:
                fn = _OP_CACHE[operation] = _compile(operation)
    return fn(result, request_id)


# --------------------------------------------------------------------------- errors

# (shape name, wire code, httpStatusCode or None, senderFault or None)
_ErrorInfo = tuple[str, str, int | None, bool | None]

# json-style codes as AWS's query services spell them, with their default status.
_QUERY_CODES: dict[str, tuple[str, int | None]] = {
    "ValidationException": ("ValidationError", None),
    "AccessDeniedException": ("AccessDenied", 403),
    "UnknownOperationException": ("InvalidAction", None),
}

_ERROR_TABLES: dict[ServiceModel, dict[str, _ErrorInfo]] = {}


@cache
def _generic_status(cls: type[ServiceError]) -> bool:
    """True when `cls` inherits its status from ServiceError/ClientError unchanged."""
    for klass in cls.__mro__:
        if "status" in vars(klass):
            return klass is ServiceError or klass is ClientError
    return True


def _error_table(service: ServiceModel) -> dict[str, _ErrorInfo]:
    """Shape name and wire code -> error info, for every error shape of the service."""
    table = _ERROR_TABLES.get(service)
    if table is not None:
        return table
    table = {}
    by_wire: dict[str, _ErrorInfo] = {}
    for shape in service.error_shapes:
        meta = shape.metadata.get("error") or {}
        status = meta.get("httpStatusCode")
        fault = meta.get("senderFault")
        if shape.metadata.get("fault"):
            fault = False
        info = (
            shape.name,
            meta.get("code") or shape.name,
            int(status) if status is not None else None,
            fault,
        )
        table[shape.name] = info
        by_wire.setdefault(info[1], info)
    for wire, info in by_wire.items():
        table.setdefault(wire, info)
    _ERROR_TABLES[service] = table
    return table


def resolve_error(service: ServiceModel, error: ServiceError) -> tuple[str, int, bool]:
    """The wire code, HTTP status and sender fault of `error` for `service`.

    Also what the audit log records as `errorCode`, so CloudTrail and the client agree.
    """
    protocol = protocol_of(service)
    info = _error_table(service).get(error.code)
    explicit = vars(error)
    status: int | None = explicit.get("status")
    sender: bool | None = explicit.get("sender_fault")
    shape_name = code = error.code
    if info is not None:
        shape_name, code = info[0], info[1]
        if sender is None:
            sender = info[3]
        if status is None:
            status = info[2]
        if status is None and _generic_status(type(error)):
            # Most json models omit httpStatusCode: their modeled errors are 400s, except
            # server faults, which the models mark only by name (KMSInternalException).
            server = sender is False or "Internal" in shape_name
            status = 500 if server else 400
    elif protocol == "query" and code in _QUERY_CODES:
        code, query_status = _QUERY_CODES[code]
        if status is None:
            status = query_status
    if status is None:
        status = error.status
    if sender is None:
        sender = status < 500
    return code, status, sender


def serialize_error(
    service: ServiceModel,
    error: ServiceError,
    request_id: str,
    operation: OperationModel | None = None,
) -> HttpResponse:
    """Render `error` as `service`'s protocol answers errors (rules in the module doc).

    `operation` is optional (routing errors have none); codes are resolved against the
    whole service's error shapes, which are a superset of any operation's.
    """
    del operation  # error shapes are unique per service; kept for call-site symmetry
    protocol = protocol_of(service)
    code, status, sender = resolve_error(service, error)
    info = _error_table(service).get(error.code)
    shape_name = info[0] if info is not None else error.code
    message = error.message or ""

    if protocol == "query":
        namespace = _xml_text(service.metadata.get("xmlNamespace", ""))
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error>'
            f"<Type>{'Sender' if sender else 'Receiver'}</Type>"
            f"<Code>{_xml_text(code)}</Code><Message>{_xml_text(message)}</Message>"
            f"</Error><RequestId>{_xml_text(request_id)}</RequestId></ErrorResponse>"
        )
        return HttpResponse(
            status,
            [("Content-Type", "text/xml"), (REQUEST_ID_HEADER, request_id)],
            body.encode(),
        )

    if protocol == "json":
        content_type = _json_content_type(service)
    elif protocol == "rest-json":
        content_type = "application/json"
    else:
        raise ValueError(f"protocol {protocol!r} of {service.service_name} is not served")
    headers = [
        ("Content-Type", content_type),
        (REQUEST_ID_HEADER, request_id),
        (ERROR_TYPE_HEADER, _header_text(code)),
    ]
    type_name = code
    if protocol == "json" and "awsQueryCompatible" in service.metadata:
        # Former query services: __type is the shape name, the query code rides along.
        type_name = shape_name
        fault = "Sender" if sender else "Receiver"
        headers[2] = (ERROR_TYPE_HEADER, _header_text(shape_name))
        headers.append(("x-amzn-query-error", _header_text(f"{code};{fault}")))
    body_bytes = _dumps({"__type": type_name, "message": message})
    return HttpResponse(status, headers, body_bytes)
