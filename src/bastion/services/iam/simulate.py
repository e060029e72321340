"""SimulatePrincipalPolicy and SimulateCustomPolicy, answered by the enforcing engine.

The simulator asks `bastion.auth.policy.evaluate` exactly what the authorizer asks
for a real request, so "would this be allowed?" and "is it allowed?" never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from bastion.arn import parse_arn
from bastion.auth.policies import load_role_policies, load_user_policies, managed_policy_document
from bastion.auth.policy import Decision, MalformedPolicyError, RequestFacts, evaluate, parse_policy
from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import operation
from bastion.storage.iam_tables import iam_attachments, iam_groups, iam_inline_policies

DEFAULT_MAX_ITEMS = 100


def _invalid(message: str) -> ClientError:
    return ClientError(message, code="InvalidInput", status=400)


def _parse_all(documents: list[str], kind: str) -> list[Any]:
    parsed = []
    for document in documents:
        try:
            parsed.append(parse_policy(document, kind=kind))
        except MalformedPolicyError as exc:
            raise ClientError(str(exc), code="MalformedPolicyDocument", status=400) from exc
    return parsed


def _context(entries: list[dict[str, Any]]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for entry in entries:
        values = entry.get("ContextKeyValues") or []
        kind = entry.get("ContextKeyType") or "string"
        context[entry["ContextKeyName"]] = (
            values if kind.endswith("List") else (values[0] if values else "")
        )
    return context


def _group_documents(conn: Connection, account_id: str, group: str) -> list[str]:
    documents = list(
        conn.execute(
            select(iam_inline_policies.c.document)
            .where(iam_inline_policies.c.account_id == account_id)
            .where(iam_inline_policies.c.principal_kind == "group")
            .where(iam_inline_policies.c.principal_name == group)
        ).scalars()
    )
    for arn in conn.execute(
        select(iam_attachments.c.policy_arn)
        .where(iam_attachments.c.account_id == account_id)
        .where(iam_attachments.c.principal_kind == "group")
        .where(iam_attachments.c.principal_name == group)
    ).scalars():
        document = managed_policy_document(conn, arn)
        if document is not None:
            documents.append(document)
    return documents


class SimulationOperations:
    """Mixed into the IAM provider."""

    def _simulate(
        self,
        request: dict[str, Any],
        identity: list[str],
        boundary: list[str] | None,
        caller_arn: str,
        caller_account: str,
    ) -> dict[str, Any]:
        identity_policies = _parse_all(
            identity + list(request.get("PolicyInputList") or []), "identity"
        )
        boundary_docs = list(request.get("PermissionsBoundaryPolicyInputList") or []) or boundary
        boundary_policies = _parse_all(boundary_docs, "boundary") if boundary_docs else None
        resource_policy = None
        if request.get("ResourcePolicy"):
            resource_policy = _parse_all([request["ResourcePolicy"]], "resource")[0]
        resource_owner = request.get("ResourceOwner")
        if resource_owner and resource_owner.startswith("arn:"):
            resource_owner = parse_arn(resource_owner).account
        caller = request.get("CallerArn") or caller_arn
        if resource_policy is not None and not caller:
            raise _invalid("CallerArn is required when a resource policy is simulated.")
        context = _context(request.get("ContextEntries") or [])
        resources = list(request.get("ResourceArns") or ["*"])
        results = []
        for action in request["ActionNames"]:
            per_resource = []
            for resource in resources:
                facts = RequestFacts(
                    action=action,
                    resources=(resource,),
                    principal_arn=caller,
                    principal_account=caller_account,
                    context=context,
                    user_arn=caller if ":user/" in caller else None,
                    role_arn=caller if ":role/" in caller else None,
                )
                outcome = evaluate(
                    facts,
                    identity=identity_policies,
                    resource=resource_policy,
                    resource_account=resource_owner
                    or (caller_account if resource_policy else None),
                    boundary=boundary_policies,
                )
                entry: dict[str, Any] = {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": outcome.decision.value,
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                }
                if boundary_policies is not None:
                    boundary_only = evaluate(facts, identity=boundary_policies)
                    entry["PermissionsBoundaryDecisionDetail"] = {
                        "AllowedByPermissionsBoundary": boundary_only.decision is Decision.ALLOW
                    }
                per_resource.append(entry)
            results.extend(per_resource)
        marker = int(request.get("Marker") or 0)
        limit = request.get("MaxItems") or DEFAULT_MAX_ITEMS
        page = results[marker : marker + limit]
        response: dict[str, Any] = {
            "EvaluationResults": page,
            "IsTruncated": marker + limit < len(results),
        }
        if response["IsTruncated"]:
            response["Marker"] = str(marker + limit)
        return response

    @operation("SimulateCustomPolicy", mutating=False)
    def simulate_custom_policy(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        ctx.authorize("iam:SimulateCustomPolicy", ["*"])
        return self._simulate(request, [], None, request.get("CallerArn") or "", ctx.account_id)

    @operation("SimulatePrincipalPolicy", mutating=False)
    def simulate_principal_policy(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        source = request["PolicySourceArn"]
        ctx.authorize("iam:SimulatePrincipalPolicy", [source])
        try:
            arn = parse_arn(source)
        except ValueError as exc:
            raise _invalid(f"Invalid ARN: {source}") from exc
        kind, _, name = arn.resource.partition("/")
        name = name.rsplit("/", 1)[-1]
        if arn.service == "sts" and kind == "assumed-role":
            kind, name = "role", arn.resource.split("/")[1]
        if kind == "user":
            policies = load_user_policies(ctx.tx, arn.account, name)
            identity, boundary = list(policies.identity), policies.boundary
        elif kind == "role":
            policies = load_role_policies(ctx.tx, arn.account, name)
            identity, boundary = list(policies.identity), policies.boundary
        elif kind == "group":
            exists = ctx.tx.execute(
                select(iam_groups.c.group_name)
                .where(iam_groups.c.account_id == arn.account)
                .where(iam_groups.c.group_name == name)
            ).first()
            policies = None
            identity, boundary = (
                (_group_documents(ctx.tx, arn.account, name) if exists else []),
                None,
            )
            if not exists:
                raise ClientError(f"Group {name} cannot be found.", code="NoSuchEntity", status=404)
        else:
            raise _invalid(f"Invalid PolicySourceArn: {source}")
        if policies is not None and not policies.exists:
            raise ClientError(
                f"The {kind} with name {name} cannot be found.", code="NoSuchEntity", status=404
            )
        caller = request.get("CallerArn") or (source if kind != "group" else "")
        return self._simulate(
            request, identity, [boundary] if boundary else None, caller, arn.account
        )
