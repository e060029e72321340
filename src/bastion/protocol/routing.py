"""Which service and operation a request is for, on one shared endpoint.

Order of evidence, as AWS's own front ends and LocalStack use it:
1. `X-Amz-Target: <targetPrefix>.<Operation>` (json protocols);
2. the SigV4 credential scope's service name, then the protocol's own addressing:
   `Action=` for query services, the request path for rest-json services;
3. for unsigned query requests (e.g. sts:AssumeRoleWithWebIdentity), the `Version=`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from botocore.model import OperationModel, ServiceModel

from bastion.errors import SerializationError, UnknownOperationError
from bastion.protocol.http import HttpRequest
from bastion.protocol.models import load_service_model, protocol_of


@dataclass(frozen=True, slots=True)
class Route:
    service: str
    model: ServiceModel
    protocol: str
    operation: OperationModel | None
    path_params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _RestOperation:
    method: str
    pattern: re.Pattern[str]
    literal_segments: int
    operation: OperationModel


def _compile_uri(template: str) -> tuple[re.Pattern[str], int]:
    """`/detector/{DetectorId}/findings` -> a regex with named groups; greedy `{Key+}`."""
    path = template.split("?", 1)[0]
    regex = ""
    literal = 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            group = re.sub(r"\W", "_", name)
            regex += f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)"
        elif part:
            regex += re.escape(part)
            literal += part.count("/") + len(part)
    return re.compile(f"^{regex}/?$"), literal


class Router:
    """Routes requests to (service, operation) across the services Bastion answers."""

    def __init__(self, services: Iterable[str]) -> None:
        self.models: dict[str, ServiceModel] = {}
        self.protocols: dict[str, str] = {}
        self._by_target: dict[str, str] = {}
        self._by_signing_name: dict[str, str] = {}
        self._by_query_version: dict[str, str] = {}
        self._rest: dict[str, list[_RestOperation]] = {}
        self._rest_uri_names: dict[str, dict[str, str]] = {}
        self._routes: dict[tuple[str, str], Route] = {}  # json and query routes by name
        for name in services:
            model = load_service_model(name)
            protocol = protocol_of(model)
            self.models[name] = model
            self.protocols[name] = protocol
            meta = model.metadata
            signing = meta.get("signingName") or meta.get("endpointPrefix") or name
            self._by_signing_name.setdefault(signing, name)
            self._by_signing_name.setdefault(meta.get("endpointPrefix", name), name)
            if protocol == "json" and meta.get("targetPrefix"):
                self._by_target[meta["targetPrefix"]] = name
            elif protocol == "query":
                self._by_query_version[meta["apiVersion"]] = name
            elif protocol == "rest-json":
                self._rest[name] = self._compile_rest(model)

    @staticmethod
    def _compile_rest(model: ServiceModel) -> list[_RestOperation]:
        table = []
        for op_name in model.operation_names:
            op = model.operation_model(op_name)
            pattern, literal = _compile_uri(op.http["requestUri"])
            table.append(_RestOperation(op.http["method"], pattern, literal, op))
        # Most specific first: more literal text wins over a placeholder.
        table.sort(key=lambda r: -r.literal_segments)
        return table

    def service_for_signing_name(self, signing_name: str) -> str | None:
        return self._by_signing_name.get(signing_name)

    def route(self, request: HttpRequest, signing_service: str | None) -> Route:
        """The route, or UnknownOperationError (with the service filled when known)."""
        target = request.headers.get("x-amz-target")
        if target:
            prefix, _, op_name = target.rpartition(".")
            service = self._by_target.get(prefix)
            if service is None:
                raise UnknownOperationError(f"Unknown target {target!r}")
            return self._json_route(service, op_name)
        service = self.service_for_signing_name(signing_service) if signing_service else None
        if service is None:
            service = self._guess_unsigned(request)
        if service is None:
            raise UnknownOperationError("Could not find a service for this request")
        protocol = self.protocols[service]
        if protocol == "query":
            return self._query_route(service, request)
        if protocol == "rest-json":
            return self._rest_route(service, request)
        # A json service signed but without X-Amz-Target.
        raise self._unknown(service, "Missing X-Amz-Target header")

    def _json_route(self, service: str, op_name: str) -> Route:
        route = self._routes.get((service, op_name))
        if route is None:
            if op_name not in self.models[service].operation_names:
                raise self._unknown(service, f"Operation {op_name} is not supported by {service}")
            route = self._route_for(service, op_name)
        return route

    def _query_route(self, service: str, request: HttpRequest) -> Route:
        action = query_action(request)
        route = self._routes.get((service, action or ""))
        if route is None:
            model = self.models[service]
            if action is None or action not in model.operation_names:
                err = UnknownOperationError(
                    f"Could not find operation {action} for version {model.api_version}",
                    code="InvalidAction",
                )
                err.service = service
                raise err
            route = self._route_for(service, action)
        return route

    def _route_for(self, service: str, op_name: str) -> Route:
        """The (shared, immutable) route of an operation addressed by name."""
        model = self.models[service]
        route = Route(service, model, self.protocols[service], model.operation_model(op_name))
        self._routes[(service, op_name)] = route
        return route

    def _rest_route(self, service: str, request: HttpRequest) -> Route:
        path = request.path.split("?", 1)[0]
        for candidate in self._rest[service]:
            if candidate.method != request.method:
                continue
            match = candidate.pattern.match(path)
            if match:
                op = candidate.operation
                params = self._uri_params(op, match.groupdict())
                return Route(service, self.models[service], "rest-json", op, params)
        err = UnknownOperationError(
            f"No operation of {service} answers {request.method} {path}", status=404
        )
        err.service = service
        raise err

    @staticmethod
    def _uri_params(op: OperationModel, groups: dict[str, str]) -> dict[str, str]:
        template = op.http["requestUri"].split("?", 1)[0]
        names = [n.rstrip("+") for n in re.findall(r"\{([^}]+)\}", template)]
        return {name: groups[re.sub(r"\W", "_", name)] for name in names}

    def _guess_unsigned(self, request: HttpRequest) -> str | None:
        ctype = request.headers.get("content-type", "")
        if "x-www-form-urlencoded" in ctype or (request.method == "GET" and request.query_string):
            version = query_params(request).get("Version")
            if version:
                return self._by_query_version.get(version)
        return None

    def _unknown(self, service: str, message: str) -> UnknownOperationError:
        err = UnknownOperationError(message)
        err.service = service
        return err


def query_params(request: HttpRequest) -> dict[str, str]:
    """The query protocol's parameters, from the form body or the query string."""
    source = request.query_string
    if request.method == "POST" and request.body:
        try:
            source = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError("Request body is not valid UTF-8") from exc
    return dict(parse_qsl(source, keep_blank_values=True))


def query_action(request: HttpRequest) -> str | None:
    """The `Action` parameter, found without decoding the whole form (hot path)."""
    source = request.body if request.method == "POST" and request.body else None
    text = source.decode("latin-1") if source is not None else request.query_string
    for pair in text.split("&"):
        if pair.startswith("Action="):
            value = pair[7:]
            return unquote_plus(value) if ("%" in value or "+" in value) else value
    return None
