"""Server-side request parsing: wire request -> the params dict boto3 was given.

Driven only by botocore's models. For speed, each operation is compiled once into a
tree of small closures (one per shape), so a request costs the decoding of its body plus
a dict lookup and a function call per member; botocore's own machinery never runs per
request.

Protocols: ``json`` (awsJson 1.0/1.1), ``rest-json`` and ``query``. Errors:

- json / rest-json: an undecodable body or a value of the wrong type raises
  `SerializationError` (AWS's ``SerializationException``).
- query: a bad number, boolean, timestamp or base64 value raises `ValidationError`.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from botocore.model import OperationModel, Shape

from bastion.errors import NotImplementedOperationError, SerializationError, ValidationError
from bastion.protocol.http import HttpRequest
from bastion.protocol.models import protocol_of

__all__ = ["parse_request", "parse_timestamp", "uri_params"]

Decoder = Callable[[Any], Any]
_RequestParser = Callable[[HttpRequest, Mapping[str, str] | None], dict[str, Any]]

_INT_TYPES = frozenset({"integer", "long", "short", "byte"})
_FLOAT_TYPES = frozenset({"float", "double"})
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_EPOCH_RE = re.compile(r"-?\d+(?:\.\d+)?")


def parse_request(
    operation: OperationModel,
    request: HttpRequest,
    path_params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Decode `request` into the input params of `operation`, keyed by member name.

    `path_params` (rest-json only) maps the requestUri labels (``DetectorId``; greedy
    labels with or without the ``+``) to raw, still percent-encoded path segments. When
    omitted, they are taken by matching the operation's requestUri against the path.
    """
    parser = _PARSERS.get(operation)
    if parser is None:
        parser = _PARSERS[operation] = _compile(operation)
    return parser(request, path_params)


_PARSERS: dict[OperationModel, _RequestParser] = {}


def _compile(operation: OperationModel) -> _RequestParser:
    protocol = protocol_of(operation.service_model)
    if protocol == "json":
        return _compile_json(operation)
    if protocol == "rest-json":
        return _compile_rest_json(operation)
    if protocol == "query":
        return _compile_query(operation)
    raise NotImplementedOperationError(f"The {protocol} protocol is not supported.")


# --------------------------------------------------------------------------- timestamps


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from epoch seconds, ISO-8601 or RFC-822 (HTTP date) text.

    All three are accepted whatever the model's timestampFormat says: clients disagree,
    and the forms cannot be confused. Raises ValueError when none fits.
    """
    text = text.strip()
    if _EPOCH_RE.fullmatch(text):
        return _from_epoch(float(text))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not a timestamp: {text!r}") from exc
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp out of range: {seconds!r}") from exc


# --------------------------------------------------------------------------- JSON values


def _token(value: Any) -> str:
    """Jackson's name for the JSON token `value` came from, as Coral's messages use."""
    if value is True:
        return "VALUE_TRUE"
    if value is False:
        return "VALUE_FALSE"
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "NUMBER_VALUE"


def _mismatch(value: Any, expected: str) -> SerializationError:
    if isinstance(value, dict):
        return SerializationError("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected.")
    return SerializationError(f"{_token(value)} can not be converted to {expected}")


def _j_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _mismatch(value, "a String")


def _j_boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise _mismatch(value, "a Boolean")


def _j_integer(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value
    if kind is float and value.is_integer():
        return int(value)
    raise _mismatch(value, "an Integer")


def _j_float(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    raise _mismatch(value, "a Double")


def _j_timestamp(value: Any) -> datetime:
    kind = type(value)
    if kind is not int and kind is not float and kind is not str:
        raise _mismatch(value, "a Timestamp")
    try:
        return parse_timestamp(value) if kind is str else _from_epoch(value)
    except ValueError:
        raise SerializationError(f"Invalid timestamp value: {value!r}") from None


def _b64decode(text: str) -> bytes:
    """Strict, padded base64 (as AWS's Jackson-based decoders require); ValueError if not."""
    if len(text) % 4:
        raise ValueError("base64 length must be a multiple of 4")
    return binascii.a2b_base64(text, strict_mode=True)  # binascii.Error is a ValueError


def _j_blob(value: Any) -> bytes:
    if type(value) is not str:
        raise _mismatch(value, "a Blob")
    try:
        return _b64decode(value)
    except ValueError:
        raise SerializationError("Invalid base64 in a blob value.") from None


def _j_document(value: Any) -> Any:
    return value


_JSON_SCALARS: dict[str, Decoder] = {
    "string": _j_string,
    "boolean": _j_boolean,
    "timestamp": _j_timestamp,
    "blob": _j_blob,
    **dict.fromkeys(_INT_TYPES, _j_integer),
    **dict.fromkeys(_FLOAT_TYPES, _j_float),
}


def _json_decoder(shape: Shape, memo: dict[str, Decoder]) -> Decoder:
    """A function checking and converting one decoded JSON value of `shape`."""
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return _j_document
        cached = memo.get(shape.name)
        if cached is not None:
            return cached
        table: dict[str, tuple[str, Decoder]] = {}
        decoder = _json_struct_decoder(table)
        memo[shape.name] = decoder  # before recursing: shapes may be recursive
        for name, member in shape.members.items():
            table[member.serialization.get("name", name)] = (name, _json_decoder(member, memo))
        return decoder
    if kind == "list":
        return _json_list_decoder(_json_decoder(shape.member, memo))
    if kind == "map":
        return _json_map_decoder(_json_decoder(shape.value, memo))
    return _JSON_SCALARS.get(kind, _j_document)


def _json_struct_decoder(table: dict[str, tuple[str, Decoder]]) -> Decoder:
    def decode(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            if value is None:  # only reachable for a whole body of `null`
                return {}
            raise _mismatch(value, "a Structure")
        out = {}
        get = table.get
        for key, item in value.items():
            entry = get(key)
            if entry is not None and item is not None:  # unknown members are ignored
                name, convert = entry
                if convert is _j_string and type(item) is str:
                    out[name] = item  # most members: skip the call
                else:
                    out[name] = convert(item)
        return out

    return decode


def _json_list_decoder(member: Decoder) -> Decoder:
    def decode(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _mismatch(value, "a List")
        return [None if item is None else member(item) for item in value]

    return decode


def _json_map_decoder(member: Decoder) -> Decoder:
    def decode(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _mismatch(value, "a Map")
        return {key: member(item) for key, item in value.items() if item is not None}

    return decode


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"The request body is not valid JSON: {exc}") from None


def _compile_json(operation: OperationModel) -> _RequestParser:
    shape = operation.input_shape
    if shape is None:
        return lambda request, path_params: {}
    decode = _json_decoder(shape, {})

    def parse(request: HttpRequest, path_params: Mapping[str, str] | None) -> dict[str, Any]:
        body = request.body
        if not body or body.isspace():
            return {}
        return decode(_load_json(body))

    return parse


# --------------------------------------------------------------------------- rest-json


def _t_string(text: str) -> str:
    return text


def _t_boolean(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError("a boolean (true or false)")


def _t_integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("an integer") from None


def _t_float(text: str) -> float:
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    try:
        return float(text)
    except ValueError:
        raise ValueError("a number") from None


def _t_timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ValueError("a timestamp") from None


def _t_blob(text: str) -> bytes:
    try:
        return _b64decode(text)
    except ValueError:
        raise ValueError("base64-encoded data") from None


def _t_jsonvalue(text: str) -> Any:
    try:
        return orjson.loads(_b64decode(text))
    except ValueError:
        raise ValueError("base64-encoded JSON") from None


_TEXT_SCALARS: dict[str, Callable[[str], Any]] = {
    "string": _t_string,
    "boolean": _t_boolean,
    "timestamp": _t_timestamp,
    "blob": _t_blob,
    **dict.fromkeys(_INT_TYPES, _t_integer),
    **dict.fromkeys(_FLOAT_TYPES, _t_float),
}


def _text_converter(shape: Shape) -> Callable[[str], Any]:
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        return _t_jsonvalue
    return _TEXT_SCALARS.get(shape.type_name, _t_string)


def _split_header_list(text: str) -> list[str]:
    """Split a comma-separated header, honouring double-quoted items (RFC 7230)."""
    if '"' not in text:
        return [item.strip() for item in text.split(",")]
    items: list[str] = []
    i, n = 0, len(text)
    while i <= n:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            items.append("".join(chars))
            end = text.find(",", i)
        else:
            end = text.find(",", i)
            items.append(text[i : n if end < 0 else end].strip())
        if end < 0:
            break
        i = end + 1
    return items


_WEEKDAYS = frozenset({"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"})


def _join_http_dates(items: list[str]) -> list[str]:
    """Re-join "Tue", "02 Jan 2024 ..." pieces: HTTP dates contain the list separator."""
    out: list[str] = []
    for item in items:
        if out and out[-1] in _WEEKDAYS:
            out[-1] = f"{out[-1]}, {item}"
        else:
            out.append(item)
    return out


# "%xx" -> character for every ASCII escape (the first hex digit is 0-7: no letter case).
_ASCII_ESCAPES = {f"{c:02x}": chr(c) for c in range(0x80)} | {
    f"{c:02X}": chr(c) for c in range(0x80)
}


def _unquote(text: str) -> str:
    """urllib's unquote, about 3x faster when every escape is ASCII (the usual case)."""
    head, *rest = text.split("%")
    out = [head]
    table = _ASCII_ESCAPES
    for part in rest:
        char = table.get(part[:2])
        if char is None:
            return unquote(text)  # UTF-8 sequences and stray '%' take the general path
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)`, several times faster on typical input.

    Only fields holding '+' or '%' pay for decoding; the result is identical.
    """
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = _unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = _unquote(value)
        pairs.append((name, value))
    return pairs


def _bad_param(location: str, wire: str, expected: str) -> SerializationError:
    return SerializationError(
        f"Invalid value for {location} parameter '{wire}': expected {expected}."
    )


_LABEL_RE = re.compile(r"\{([^}]+)\}")


@cache
def _uri_pattern(request_uri: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex matching a raw path against a requestUri template, and its label names."""
    path = request_uri.split("?", 1)[0]
    parts, labels, last = [], [], 0
    for match in _LABEL_RE.finditer(path):
        label = match.group(1)
        parts.append(re.escape(path[last : match.start()]))
        parts.append("(.+)" if label.endswith("+") else "([^/]+)")
        labels.append(label.rstrip("+"))
        last = match.end()
    parts.append(re.escape(path[last:]))
    return re.compile("".join(parts) + "/?"), tuple(labels)


def uri_params(operation: OperationModel, path: str) -> dict[str, str] | None:
    """The raw (percent-encoded) label values of `path` under the operation's requestUri.

    Keys are label names without a greedy ``+``; None when the path does not match.
    """
    regex, labels = _uri_pattern(operation.http.get("requestUri", "/"))
    match = regex.fullmatch(path)
    if match is None:
        return None
    return dict(zip(labels, match.groups(), strict=True))


def _compile_rest_json(operation: OperationModel) -> _RequestParser:
    shape = operation.input_shape
    if shape is None:
        return lambda request, path_params: {}
    memo: dict[str, Decoder] = {}
    uri: list[tuple[str, str, Callable[[str], Any]]] = []
    query: list[tuple[str, str, Callable[[str], Any], bool]] = []
    query_map: tuple[str, Callable[[str], Any], bool] | None = None
    headers: list[tuple[str, str, Callable[[str], Any], bool | str]] = []
    header_maps: list[tuple[str, str]] = []
    body_table: dict[str, tuple[str, Decoder]] = {}
    payload_name = shape.serialization.get("payload")
    payload: tuple[str, str, Decoder | None] | None = None

    for name, member in shape.members.items():
        ser = member.serialization
        location = ser.get("location")
        wire = ser.get("name", name)
        if location == "uri":
            uri.append((name, wire, _text_converter(member)))
        elif location == "querystring":
            if member.type_name == "map":
                value = member.value
                is_list = value.type_name == "list"
                element = value.member if is_list else value
                query_map = (name, _text_converter(element), is_list)
            elif member.type_name == "list":
                query.append((name, wire, _text_converter(member.member), True))
            else:
                query.append((name, wire, _text_converter(member), False))
        elif location == "header":
            if member.type_name == "list":
                convert = _text_converter(member.member)
                many: bool | str = "dates" if member.member.type_name == "timestamp" else True
                headers.append((name, wire.lower(), convert, many))
            else:
                headers.append((name, wire.lower(), _text_converter(member), False))
        elif location == "headers":
            header_maps.append((name, wire.lower()))
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                payload = (name, member.type_name, None)
            else:
                payload = (name, "json", _json_decoder(member, memo))
        else:
            body_table[wire] = (name, _json_decoder(member, memo))

    static_query = {
        k
        for k, _ in parse_qsl(
            operation.http.get("requestUri", "/").partition("?")[2], keep_blank_values=True
        )
    }
    query_names = {wire for _, wire, _, _ in query} | static_query
    decode_body = _json_struct_decoder(body_table) if body_table else None

    def parse(request: HttpRequest, path_params: Mapping[str, str] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if uri:
            found = path_params
            if found is None:
                found = uri_params(operation, request.path) or {}
            for name, wire, convert in uri:
                raw = found.get(wire)
                if raw is None:
                    raw = found.get(wire + "+")
                if raw is not None:
                    try:
                        out[name] = convert(unquote(raw))
                    except ValueError as exc:
                        raise _bad_param("path", wire, str(exc)) from None
        if (query or query_map) and request.query_string:
            params: dict[str, list[str]] = {}
            for key, value in _form_pairs(request.query_string):
                params.setdefault(key, []).append(value)
            for name, wire, convert, many in query:
                values = params.get(wire)
                if values is None:
                    continue
                try:
                    out[name] = [convert(v) for v in values] if many else convert(values[0])
                except ValueError as exc:
                    raise _bad_param("query", wire, str(exc)) from None
            if query_map is not None:
                name, convert, many = query_map
                rest: dict[str, Any] = {}
                for key, values in params.items():
                    if key in query_names:
                        continue
                    try:
                        rest[key] = [convert(v) for v in values] if many else convert(values[0])
                    except ValueError as exc:
                        raise _bad_param("query", key, str(exc)) from None
                if rest:
                    out[name] = rest
        if headers:
            get_header = request.headers.get
            for name, wire, convert, many in headers:
                raw = get_header(wire)
                if raw is None:
                    continue
                try:
                    if many:
                        items = _split_header_list(raw)
                        if many == "dates":
                            items = _join_http_dates(items)
                        out[name] = [convert(v) for v in items]
                    else:
                        out[name] = convert(raw.strip() if convert is not _t_string else raw)
                except ValueError as exc:
                    raise _bad_param("header", wire, str(exc)) from None
        for name, prefix in header_maps:
            found_map = {
                key[len(prefix) :]: value
                for key, value in request.headers.items()
                if key.startswith(prefix)
            }
            if found_map:
                out[name] = found_map
        body = request.body
        if payload is not None:
            name, kind, decode = payload
            if body:
                if kind == "blob":
                    out[name] = body
                elif kind == "string":
                    try:
                        out[name] = body.decode("utf-8")
                    except UnicodeDecodeError:
                        raise SerializationError("The request body is not valid UTF-8.") from None
                elif not body.isspace():
                    out[name] = decode(_load_json(body))  # type: ignore[misc]
        elif decode_body is not None and body and not body.isspace():
            out.update(decode_body(_load_json(body)))
        return out

    return parse


# --------------------------------------------------------------------------- query


class _QueryError(Exception):
    """A bad query value; the parameter's full name is assembled while unwinding."""

    def __init__(self, expected: str, value: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.parts: list[str] = []

    def to_validation_error(self) -> ValidationError:
        param = ".".join(reversed(self.parts))
        shown = "" if self.value is None else f" '{self.value}'"
        return ValidationError(f"Invalid value{shown} for parameter {param}: {self.expected}.")


def _query_text(convert: Callable[[str], Any], expected: str, echo: bool) -> Decoder:
    def decode(node: Any) -> Any:
        if type(node) is not str:
            raise _QueryError(f"expected {expected}, found nested parameters")
        try:
            return convert(node)
        except ValueError:
            raise _QueryError(f"expected {expected}", node if echo else None) from None

    return decode


def _q_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(text)


_QUERY_SCALARS: dict[str, Decoder] = {
    "string": _query_text(_t_string, "a string", False),
    "boolean": _query_text(_q_boolean, "a boolean (true or false)", True),
    "timestamp": _query_text(_t_timestamp, "an ISO-8601 timestamp", True),
    "blob": _query_text(_t_blob, "base64-encoded data", False),
    **dict.fromkeys(_INT_TYPES, _query_text(_t_integer, "an integer", True)),
    **dict.fromkeys(_FLOAT_TYPES, _query_text(_t_float, "a number", True)),
}


_INDEX_KEYS = tuple(str(i) for i in range(1, 1001))


_q_string = _QUERY_SCALARS["string"]


def _indexed(node: dict[str, Any]) -> list[Any]:
    """The values of a {'1': ..., '2': ...} node in index order, ignoring other keys."""
    try:  # fast path: exactly the keys 1..n, as every SDK sends them
        return [node[key] for key in _INDEX_KEYS[: len(node)]]
    except KeyError:
        return [node[key] for key in _index_keys(node)]


def _index_keys(node: dict[str, Any]) -> list[str]:
    """The numeric keys of `node` in index order (what `_indexed` reads)."""
    return sorted((k for k in node if k.isdigit()), key=int)


def _failed_at(exc: _QueryError, node: dict[str, Any], position: int, *inner: str) -> None:
    """Add the wire name of the `position`-th (0-based) indexed item to a query error."""
    exc.parts.extend(inner)
    exc.parts.append(_index_keys(node)[position])


def _query_decoder(shape: Shape, memo: dict[str, Decoder]) -> Decoder:
    kind = shape.type_name
    if kind == "structure":
        cached = memo.get(shape.name)
        if cached is not None:
            return cached
        table: dict[str, tuple[str, Decoder]] = {}
        decoder = _query_struct_decoder(table)
        memo[shape.name] = decoder
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                wire = member.member.serialization.get("name", wire)
            table[wire] = (name, _query_decoder(member, memo))
        return decoder
    if kind == "list":
        element = _query_decoder(shape.member, memo)
        if shape.serialization.get("flattened"):
            return _query_list_decoder(element, None)
        return _query_list_decoder(element, shape.member.serialization.get("name", "member"))
    if kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        entry = None if shape.serialization.get("flattened") else "entry"
        return _query_map_decoder(
            _query_decoder(shape.key, memo),
            _query_decoder(shape.value, memo),
            key_name,
            value_name,
            entry,
        )
    return _QUERY_SCALARS.get(kind, _QUERY_SCALARS["string"])


def _query_struct_decoder(table: dict[str, tuple[str, Decoder]]) -> Decoder:
    def decode(node: Any) -> dict[str, Any]:
        if type(node) is not dict:
            if node == "":
                return {}
            raise _QueryError("expected nested parameters, found a value")
        out = {}
        get = table.get
        for key, sub in node.items():
            entry = get(key)
            if entry is not None:
                name, convert = entry
                if convert is _q_string and type(sub) is str:
                    out[name] = sub  # most members: skip the call
                    continue
                try:
                    out[name] = convert(sub)
                except _QueryError as exc:
                    exc.parts.append(key)
                    raise
        return out

    return decode


def _query_list_decoder(element: Decoder, member_name: str | None) -> Decoder:
    def decode(node: Any) -> list[Any]:
        if type(node) is not dict:
            if node == "":
                return []  # how the query protocol sends an empty list
            raise _QueryError("expected a list, found a value")
        if member_name is not None:
            node = node.get(member_name)
            if type(node) is not dict:
                return []
        out = []
        for position, sub in enumerate(_indexed(node)):
            try:
                out.append(element(sub))
            except _QueryError as exc:
                _failed_at(exc, node, position)
                if member_name is not None:
                    exc.parts.append(member_name)
                raise
        return out

    return decode


def _query_map_decoder(
    key: Decoder, value: Decoder, key_name: str, value_name: str, entry: str | None
) -> Decoder:
    def decode(node: Any) -> dict[str, Any]:
        if type(node) is not dict:
            if node == "":
                return {}
            raise _QueryError("expected a map, found a value")
        if entry is not None:
            node = node.get(entry)
            if type(node) is not dict:
                return {}
        out: dict[str, Any] = {}
        for position, sub in enumerate(_indexed(node)):
            if type(sub) is not dict or key_name not in sub or value_name not in sub:
                continue  # like JSON's null map values, a half entry is dropped
            try:
                name = key(sub[key_name])
            except _QueryError as exc:
                _failed_at(exc, node, position, key_name)
                if entry is not None:
                    exc.parts.append(entry)
                raise
            try:
                out[name] = value(sub[value_name])
            except _QueryError as exc:
                _failed_at(exc, node, position, value_name)
                if entry is not None:
                    exc.parts.append(entry)
                raise
        return out

    return decode


def _form_tree(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nest dotted names: "A.member.1.B=v" -> {"A": {"member": {"1": {"B": "v"}}}}."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        if "." not in name:  # the common case: a top-level scalar
            if type(root.get(name)) is not dict:
                root[name] = value
            continue
        node = root
        *parents, last = name.split(".")
        for part in parents:
            child = node.get(part)
            if type(child) is not dict:
                child = node[part] = {}
            node = child
        if type(node.get(last)) is not dict:
            node[last] = value
    return root


def _compile_query(operation: OperationModel) -> _RequestParser:
    shape = operation.input_shape
    # Members the model does not name are ignored, so an input without members (such as
    # GetCallerIdentity's) always parses to {}: skip reading the form.
    decode = _query_decoder(shape, {}) if shape is not None and shape.members else None

    def parse(request: HttpRequest, path_params: Mapping[str, str] | None) -> dict[str, Any]:
        if decode is None:
            return {}
        pairs = _form_pairs(request.query_string) if request.query_string else []
        if request.body:
            pairs += _form_pairs(request.body.decode("utf-8", "replace"))
        root = _form_tree(pairs)
        root.pop("Action", None)
        root.pop("Version", None)
        try:
            return decode(root)
        except _QueryError as exc:
            raise exc.to_validation_error() from None

    return parse
