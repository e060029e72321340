"""The control plane's request lifecycle: route, authenticate, parse, dispatch, audit.

Blocking work (storage, unsealing) runs on a thread pool; a call that needs neither
(GetCallerIdentity with a cached credential) stays on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from bastion import ids
from bastion.arn import parse_arn
from bastion.auth.authenticate import MISSING
from bastion.context import AuthorizationLog, Principal, RequestContext
from bastion.errors import (
    AuthError,
    InternalFailure,
    NotImplementedOperationError,
    ServiceError,
)
from bastion.gateway.runtime import Runtime
from bastion.protocol.http import HttpRequest, HttpResponse
from bastion.protocol.parse import parse_request
from bastion.protocol.redact import redact
from bastion.protocol.routing import Route
from bastion.protocol.serialize import resolve_error, serialize_error, serialize_response
from bastion.protocol.sigv4 import SigV4Claim, auth_error_code
from bastion.protocol.validate import validate_input
from bastion.services.base import OperationSpec
from bastion.spine.records import AuditEntry, AuditResource, build_entry, event_source
from bastion.storage.store import NeedsStorage, StorageProbe

log = logging.getLogger("bastion.gateway")

_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]*/\d{8}/[^/]*/([^/]+)/aws4_request")
_QUERY_SCOPE_SERVICE = re.compile(r"X-Amz-Credential=[^&]*?%2F\d{8}%2F[^%&]*%2F([^%&]+)%2F")

ANONYMOUS = Principal(account_id="", arn="", user_id="", kind="AWSAccount", name="anonymous")


def _scope_service(request: HttpRequest) -> str | None:
    """The credential scope's service name, read without validating anything else."""
    auth = request.headers.get("authorization")
    if auth:
        match = _SCOPE_SERVICE.search(auth)
        return match.group(1) if match else None
    if "X-Amz-Credential" in request.query_string:
        match = _QUERY_SCOPE_SERVICE.search(request.query_string)
        return match.group(1) if match else None
    return None


def _needs_auth(route: Route) -> bool:
    op = route.operation
    return not (op.auth_type == "none" or "smithy.api#noAuth" in (getattr(op, "auth", None) or ()))


def audit_resources(ctx: RequestContext) -> list[AuditResource]:
    """CloudTrail `resources` from the ARNs the call was authorized against."""
    seen: dict[str, AuditResource] = {}
    for _action, resources, _allowed in ctx.authz.decisions:
        for resource in resources:
            if resource == "*" or resource in seen:
                continue
            found = _audit_resource(resource)
            if found is not None:
                seen[resource] = found
    return list(seen.values())


@functools.lru_cache(maxsize=8192)
def _audit_resource(resource: str) -> AuditResource | None:
    try:
        arn = parse_arn(resource)
    except ValueError:
        return None
    kind = arn.resource_type.replace("-", " ").title().replace(" ", "")
    return AuditResource(f"AWS::{arn.service.upper()}::{kind}", resource)


class ControlPlane:
    def __init__(self, runtime: Runtime, max_threads: int = 16) -> None:
        self.rt = runtime
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="bastion")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def run_blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.rt.sync_caches()  # another worker's commit is visible to this request
        request_id = ids.request_id()
        now = self.rt.clock.now()
        route: Route | None = None
        ctx: RequestContext | None = None
        params: dict[str, Any] | None = None
        claim: SigV4Claim | None = None
        try:
            try:  # parsed once: its scope routes the request, then it is verified
                claim = self.rt.authenticator.claim(request)
                claim_error: AuthError | None = None
            except AuthError as err:  # reported after routing, which shapes the error
                claim_error = err
            scope = claim.service if claim is not None else _scope_service(request)
            route = self.rt.router.route(request, scope)
            if claim_error is not None:
                raise claim_error
            principal, region = await self._authenticate(request, route, now, claim)
            params = parse_request(route.operation, request, route.path_params)
            validate_input(route.operation, params)
            spec = self.rt.operations.get(route.service, {}).get(route.operation.name)
            if spec is None:
                raise NotImplementedOperationError(
                    f"{route.service}:{route.operation.name} is not available in Bastion yet."
                )
            ctx = RequestContext(
                request_id=request_id,
                service=route.service,
                operation=route.operation.name,
                region=region,
                principal=principal,
                now=now,
                source_ip=request.client_ip,
                user_agent=request.headers.get("user-agent", ""),
                secure_transport=request.scheme == "https",
                authorizer=self.rt.authorizer,
                invoker=self.invoke,
            )
            result = await self._dispatch(spec, ctx, params, route)
            return serialize_response(route.operation, result, request_id)
        except ServiceError as err:
            return self._failed(request, route, ctx, params, claim, err, request_id, now)
        except Exception:
            log.exception("internal failure on request %s", request_id)
            err = InternalFailure(f"An internal error occurred. Request id: {request_id}")
            return self._failed(request, route, ctx, params, claim, err, request_id, now)

    async def _authenticate(
        self, request: HttpRequest, route: Route, now: datetime, claim: SigV4Claim | None
    ) -> tuple[Principal, str]:
        auth = self.rt.authenticator
        if not _needs_auth(route):
            return ANONYMOUS, claim.region if claim else self.rt.settings.region
        if claim is None:
            raise AuthError("missing", MISSING)
        expected = route.model.metadata.get("signingName") or route.model.metadata["endpointPrefix"]
        if claim.service != expected:
            raise AuthError(
                "bad_signature", f"Credential should be scoped to correct service: '{expected}'."
            )
        hit, credential = auth.lookup_cached(claim.access_key_id)
        if not hit:
            credential = await self.run_blocking(auth.lookup, claim.access_key_id)
        principal = auth.check(request, claim, credential, now)
        auth.credentials.note_use(claim.access_key_id, now, claim.service, claim.region)
        return principal, claim.region

    async def _dispatch(
        self, spec: OperationSpec, ctx: RequestContext, params: dict[str, Any], route: Route
    ) -> dict[str, Any] | None:
        if not spec.storage:
            result = spec.handler(ctx, params)
            self._ensure_authorized(ctx)
            self.rt.audit.submit(self._entry(ctx, route, params, result, spec.mutating))
            return result
        if spec.cached:
            deferred: list[AuditEntry] = []
            attempt = replace(ctx, tx=StorageProbe(), deferred_audit=deferred)
            try:
                result = spec.handler(attempt, params)
            except NeedsStorage:  # a cache miss: start over where blocking is allowed
                ctx.authz.decisions.clear()
            except ServiceError:  # a final answer: its nested calls happened
                self._submit_all(deferred)
                raise
            else:
                self._ensure_authorized(attempt)
                self._submit_all(deferred)
                self.rt.audit.submit(self._entry(attempt, route, params, result, False))
                return result
        return await self.run_blocking(self._run_in_transaction, spec, ctx, params, route)

    def _run_in_transaction(
        self, spec: OperationSpec, ctx: RequestContext, params: dict[str, Any], route: Route
    ) -> dict[str, Any] | None:
        store = self.rt.store
        if spec.mutating:
            with store.write() as conn:
                ctx = replace(ctx, tx=conn)
                result = spec.handler(ctx, params)
                self._ensure_authorized(ctx)
                self.rt.audit.write(conn, self._entry(ctx, route, params, result, True))
            for callback in ctx.on_commit:  # after the commit: the change is visible now
                callback()
            if ctx.service == "iam":
                self.rt.policies.invalidate()
            self.rt.providers[ctx.service].after_write()
            return result
        with store.lazy_read() as conn:  # cache-served reads never touch the database
            ctx = replace(ctx, tx=conn)
            result = spec.handler(ctx, params)
            self._ensure_authorized(ctx)
        self.rt.audit.submit(self._entry(ctx, route, params, result, False))
        return result

    def invoke(
        self, caller: RequestContext, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Run another service's operation for `caller` (see RequestContext.call).

        Runs in the caller's thread and transaction, validated against the callee's model,
        authorized with kms:ViaService set, and audited as the callee's own event.
        """
        spec = self.rt.operations.get(service, {}).get(operation)
        model = self.rt.router.models.get(service)
        if spec is None or model is None:
            raise InternalFailure(f"{service}:{operation} is not available in process")
        op = model.operation_model(operation)
        validate_input(op, params)
        endpoint = self.rt.router.models[caller.service].metadata.get(
            "endpointPrefix", caller.service
        )
        ctx = replace(
            caller,
            request_id=ids.request_id(),
            service=service,
            operation=operation,
            source_ip=f"{endpoint}.amazonaws.com",
            user_agent=f"{endpoint}.amazonaws.com",
            via_service=f"{endpoint}.{caller.region}.amazonaws.com",
            authz=AuthorizationLog(),
            on_commit=caller.on_commit,
        )
        route = Route(service, model, self.rt.router.protocols[service], op)
        try:
            result = spec.handler(ctx, params) or {}
            self._ensure_authorized(ctx)
        except ServiceError as err:
            self._submit_quietly(self._entry(ctx, route, params, None, False, err), caller)
            raise
        entry = self._entry(ctx, route, params, result, spec.mutating)
        if spec.mutating:
            caller.on_commit.append(self.rt.providers[service].after_write)
        if spec.mutating and ctx.tx is not None:
            self.rt.audit.write(ctx.tx, entry)
        else:
            self._submit_nested(entry, caller)
        return result

    def _submit_all(self, entries: list[AuditEntry]) -> None:
        for entry in entries:
            self.rt.audit.submit(entry)

    def _submit_nested(self, entry: AuditEntry, caller: RequestContext) -> None:
        """Submit a nested call's record, or, while the caller is tried on the event loop,
        hold it with the caller's (written only if that try completes)."""
        if caller.deferred_audit is not None:
            caller.deferred_audit.append(entry)
        else:
            self.rt.audit.submit(entry)

    def _submit_quietly(self, entry: AuditEntry, caller: RequestContext) -> None:
        try:
            self._submit_nested(entry, caller)
        except ServiceError:
            log.error("audit unavailable: failed nested call %s not recorded", entry.event_id)

    @staticmethod
    def _ensure_authorized(ctx: RequestContext) -> None:
        if not ctx.authz.checked:
            log.error("%s:%s returned without authorizing", ctx.service, ctx.operation)
            raise InternalFailure(f"An internal error occurred. Request id: {ctx.request_id}")

    def _entry(
        self,
        ctx: RequestContext,
        route: Route,
        params: dict[str, Any] | None,
        result: dict[str, Any] | None,
        mutating: bool,
        error: ServiceError | None = None,
    ) -> AuditEntry:
        op = route.operation
        return build_entry(
            event_id=ids.event_id(),
            request_id=ctx.request_id,
            event_time=ctx.now,
            source=event_source(route.model.metadata.get("endpointPrefix", route.service)),
            event_name=op.name,
            region=ctx.region,
            principal=ctx.principal,
            account_id=ctx.account_id or self.rt.settings.account_id,
            source_ip=ctx.source_ip,
            user_agent=ctx.user_agent,
            read_only=not mutating,
            request_parameters=redact(op.input_shape, params) if params else None,
            response_elements=redact(op.output_shape, result) if mutating and result else None,
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            resources=audit_resources(ctx),
        )

    def _failed(
        self,
        request: HttpRequest,
        route: Route | None,
        ctx: RequestContext | None,
        params: dict[str, Any] | None,
        claim: SigV4Claim | None,
        err: ServiceError,
        request_id: str,
        now: datetime,
    ) -> HttpResponse:
        wire = self._auth_wire_error(route, err)
        model = self._error_model(request, route, err)
        if route is not None:
            code = resolve_error(model, wire)[0]  # as the client sees it, e.g. AccessDenied
            audited = ServiceError(wire.message, code=code)
            self._audit_failure(request, route, ctx, params, claim, audited, request_id, now)
        return serialize_error(model, wire, request_id, route.operation if route else None)

    @staticmethod
    def _auth_wire_error(route: Route | None, err: ServiceError) -> ServiceError:
        """Authentication errors are protocol-neutral; give them AWS's code per protocol."""
        if isinstance(err, AuthError):
            code, status = auth_error_code(err.kind, route.protocol if route else "json")
            return ServiceError(err.message, code=code, status=status, sender_fault=True)
        return err

    def _error_model(self, request: HttpRequest, route: Route | None, err: ServiceError) -> Any:
        router = self.rt.router
        if route is not None:
            return route.model
        if err.service and err.service in router.models:
            return router.models[err.service]
        if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            return router.models["sts"]
        return router.models["kms"]

    def _audit_failure(
        self,
        request: HttpRequest,
        route: Route,
        ctx: RequestContext | None,
        params: dict[str, Any] | None,
        claim: SigV4Claim | None,
        err: ServiceError,
        request_id: str,
        now: datetime,
    ) -> None:
        if ctx is None:
            principal = Principal(
                account_id=self.rt.settings.account_id,
                arn="",
                user_id="",
                kind="Unknown",
                name="",
                access_key_id=claim.access_key_id if claim else "",
            )
            ctx = RequestContext(
                request_id=request_id,
                service=route.service,
                operation=route.operation.name,
                region=claim.region if claim else self.rt.settings.region,
                principal=principal,
                now=now,
                source_ip=request.client_ip,
                user_agent=request.headers.get("user-agent", ""),
            )
        try:
            self.rt.audit.submit(self._entry(ctx, route, params, None, False, err))
        except ServiceError:
            log.error("audit unavailable: failed call %s not recorded", request_id)
