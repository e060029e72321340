"""Managed policies: customer managed ones (stored, up to five versions) and the AWS managed
ones of `aws_managed` (read-only, one version), their tags and who uses them."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from bastion import ids
from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import operation
from bastion.services.iam.aws_managed import (
    AWS_MANAGED_POLICIES,
    AWS_POLICY_DATE,
    AWS_POLICY_PREFIX,
    AWS_POLICY_VERSION,
)
from bastion.services.iam.common import (
    GROUP,
    MANAGED_POLICY_SIZE,
    POLICIES_PER_ACCOUNT,
    ROLE,
    USER,
    VERSIONS_PER_POLICY,
    IamBase,
    already_exists,
    check_document,
    count,
    delete_conflict,
    dump_tags,
    encode_document,
    iam_arn,
    invalid_input,
    limit_exceeded,
    list_tags,
    load_tags,
    merge_tags,
    no_such_entity,
    paginate,
    quota,
    remove_tags,
    tag_conditions,
    tag_list,
    unique_or,
)
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_groups,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_user_boundaries,
)
from bastion.storage.schema import iam_users


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    arn: str
    name: str
    policy_id: str
    path: str
    description: str | None
    default_version_id: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    aws: bool = False
    next_version: int = 2


def _aws_policy_id(arn: str) -> str:
    digest = hashlib.sha256(arn.encode()).digest()
    return "ANPA" + base64.b32encode(digest).decode()[:17]


def aws_policy(arn: str) -> ManagedPolicy | None:
    entry = AWS_MANAGED_POLICIES.get(arn)
    if entry is None:
        return None
    name, description, _document = entry
    return ManagedPolicy(
        arn=arn,
        name=name,
        policy_id=_aws_policy_id(arn),
        path=arn[len(AWS_POLICY_PREFIX) : -len(name)] or "/",
        description=description,
        default_version_id=AWS_POLICY_VERSION,
        created_at=AWS_POLICY_DATE,
        updated_at=AWS_POLICY_DATE,
        aws=True,
    )


def customer_policy(row: Any) -> ManagedPolicy:
    return ManagedPolicy(
        arn=row["arn"],
        name=row["policy_name"],
        policy_id=row["policy_id"],
        path=row["path"],
        description=row["description"],
        default_version_id=row["default_version_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tags=load_tags(row["tags"]),
        next_version=row["next_version"],
    )


def find_policy(ctx: RequestContext, arn: str) -> ManagedPolicy | None:
    """The managed policy `arn` visible to the caller's account: its own or AWS's."""
    if arn.startswith(AWS_POLICY_PREFIX):
        return aws_policy(arn)
    row = (
        ctx.tx.execute(
            select(iam_policies)
            .where(iam_policies.c.arn == arn)
            .where(iam_policies.c.account_id == ctx.account_id)
        )
        .mappings()
        .first()
    )
    return customer_policy(row) if row else None


def no_such_policy(arn: str) -> ClientError:
    return no_such_entity(f"Policy {arn} does not exist or is not attachable.")


def authorized_policy(ctx: RequestContext, action: str, arn: str, **kw: Any) -> ManagedPolicy:
    ctx.authorize(action, [arn], **kw)
    policy = find_policy(ctx, arn)
    if policy is None:
        raise no_such_policy(arn)
    return policy


def _customer_only(ctx: RequestContext, policy: ManagedPolicy, verb: str) -> None:
    """AWS managed policies belong to AWS's account: no customer may change them."""
    if policy.aws:
        raise ClientError(
            f"User: {ctx.principal.arn} is not authorized to {verb} the AWS managed policy"
            f" {policy.arn}: it belongs to AWS's account.",
            code="AccessDenied",
            status=403,
        )


def _is_policy_arn(arn: str) -> bool:
    parts = arn.split(":", 5)
    return (
        len(parts) == 6
        and parts[0] == "arn"
        and parts[2] == "iam"
        and (parts[5].startswith("policy/"))
    )


def resolve_boundary(ctx: RequestContext, arn: str) -> ManagedPolicy:
    """A permissions boundary must be an existing managed policy."""
    if not _is_policy_arn(arn):
        raise invalid_input(f"ARN {arn} is not valid.")
    policy = find_policy(ctx, arn)
    if policy is None:
        raise no_such_entity(f"Scope ARN: {arn} does not exist or is not attachable.")
    return policy


def boundary_view(arn: str) -> dict[str, str]:
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def policy_document(ctx: RequestContext, policy: ManagedPolicy, version_id: str) -> Any:
    """(document text, created) of one version, or None."""
    if policy.aws:
        if version_id != AWS_POLICY_VERSION:
            return None
        return AWS_MANAGED_POLICIES[policy.arn][2], policy.created_at
    return ctx.tx.execute(
        select(iam_policy_versions.c.document, iam_policy_versions.c.created_at)
        .where(iam_policy_versions.c.policy_arn == policy.arn)
        .where(iam_policy_versions.c.version_id == version_id)
    ).first()


def usage_counts(ctx: RequestContext) -> tuple[Counter[str], Counter[str]]:
    """(attachments, boundary uses) per policy ARN in the caller's account."""
    attachments: Counter[str] = Counter(
        dict(
            ctx.tx.execute(
                select(iam_attachments.c.policy_arn, func.count())
                .where(iam_attachments.c.account_id == ctx.account_id)
                .group_by(iam_attachments.c.policy_arn)
            ).all()
        )
    )
    boundaries: Counter[str] = Counter(
        dict(
            ctx.tx.execute(
                select(iam_user_boundaries.c.policy_arn, func.count())
                .where(iam_user_boundaries.c.account_id == ctx.account_id)
                .group_by(iam_user_boundaries.c.policy_arn)
            ).all()
        )
    )
    for arn, n in ctx.tx.execute(
        select(iam_roles.c.permissions_boundary_arn, func.count())
        .where(iam_roles.c.account_id == ctx.account_id)
        .where(iam_roles.c.permissions_boundary_arn.is_not(None))
        .group_by(iam_roles.c.permissions_boundary_arn)
    ).all():
        boundaries[arn] += n
    return attachments, boundaries


def usage_of(ctx: RequestContext, arn: str) -> tuple[int, int]:
    attached = count(
        ctx.tx,
        iam_attachments,
        iam_attachments.c.account_id == ctx.account_id,
        iam_attachments.c.policy_arn == arn,
    )
    bounded = count(
        ctx.tx,
        iam_user_boundaries,
        iam_user_boundaries.c.account_id == ctx.account_id,
        iam_user_boundaries.c.policy_arn == arn,
    ) + count(
        ctx.tx,
        iam_roles,
        iam_roles.c.account_id == ctx.account_id,
        iam_roles.c.permissions_boundary_arn == arn,
    )
    return attached, bounded


def policy_view(
    policy: ManagedPolicy,
    attached: int,
    bounded: int,
    *,
    description: bool = True,
    tags: bool = True,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": attached,
        "PermissionsBoundaryUsageCount": bounded,
        "IsAttachable": True,
        "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at,
    }
    if description and policy.description:
        view["Description"] = policy.description
    if tags and policy.tags:
        view["Tags"] = tag_list(policy.tags)
    return view


def _version_number(version_id: str) -> int:
    digits = version_id[1:].split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


def _check_managed_document(text: str) -> None:
    check_document(
        text,
        kind="identity",
        max_length=MANAGED_POLICY_SIZE,
        managed=True,
        too_large=f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}",
    )


class ManagedPoliciesMixin(IamBase):
    @operation("CreatePolicy")
    def create_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name, path = request["PolicyName"], request.get("Path") or "/"
        arn = iam_arn(ctx, "policy", name, path)
        ctx.authorize("iam:CreatePolicy", [arn], conditions=tag_conditions(request.get("Tags")))
        exists = ctx.tx.execute(
            select(iam_policies.c.arn)
            .where(iam_policies.c.account_id == ctx.account_id)
            .where(func.lower(iam_policies.c.policy_name) == name.lower())
        ).first()
        if exists is not None:
            raise already_exists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        if count(ctx.tx, iam_policies, iam_policies.c.account_id == ctx.account_id) >= (
            POLICIES_PER_ACCOUNT
        ):
            raise quota("PoliciesPerAccount", POLICIES_PER_ACCOUNT)
        document = request["PolicyDocument"]
        _check_managed_document(document)
        tags = merge_tags({}, request.get("Tags"))
        row = {
            "arn": arn,
            "account_id": ctx.account_id,
            "policy_name": name,
            "policy_id": ids.unique_id("ANPA"),
            "path": path,
            "description": request.get("Description"),
            "default_version_id": "v1",
            "next_version": 2,
            "tags": dump_tags(tags),
            "created_at": ctx.now,
            "updated_at": ctx.now,
        }
        exists_error = already_exists(
            f"A policy called {name} already exists. Duplicate names are not allowed."
        )
        with unique_or(exists_error):
            ctx.tx.execute(iam_policies.insert().values(**row))
        ctx.tx.execute(
            iam_policy_versions.insert().values(
                policy_arn=arn, version_id="v1", document=document, created_at=ctx.now
            )
        )
        # AWS's CreatePolicy answer leaves out the description.
        return {"Policy": policy_view(customer_policy(row), 0, 0, description=False)}

    @operation("GetPolicy")
    def get_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:GetPolicy", request["PolicyArn"])
        return {"Policy": policy_view(policy, *usage_of(ctx, policy.arn))}

    @operation("ListPolicies")
    def list_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("iam:ListPolicies", ["*"])
        scope = request.get("Scope") or "All"
        prefix = request.get("PathPrefix") or "/"
        policies: list[ManagedPolicy] = []
        if scope in ("All", "AWS"):
            policies.extend(p for arn in AWS_MANAGED_POLICIES if (p := aws_policy(arn)))
        if scope in ("All", "Local"):
            rows = ctx.tx.execute(
                select(iam_policies).where(iam_policies.c.account_id == ctx.account_id)
            ).mappings()
            policies.extend(customer_policy(r) for r in rows)
        attachments, boundaries = usage_counts(ctx)
        usage = request.get("PolicyUsageFilter")
        selected = [
            p
            for p in policies
            if p.path.startswith(prefix)
            and (not request.get("OnlyAttached") or attachments[p.arn] > 0)
            and (usage != "PermissionsPolicy" or attachments[p.arn] > 0)
            and (usage != "PermissionsBoundary" or boundaries[p.arn] > 0)
        ]
        return paginate(
            request,
            selected,
            lambda p: f"{p.name}\0{p.arn}",
            "Policies",
            lambda p: policy_view(
                p, attachments[p.arn], boundaries[p.arn], description=False, tags=False
            ),
        )

    @operation("DeletePolicy")
    def delete_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        policy = authorized_policy(ctx, "iam:DeletePolicy", request["PolicyArn"])
        _customer_only(ctx, policy, "delete")
        attached, bounded = usage_of(ctx, policy.arn)
        if attached or bounded:
            raise delete_conflict("Cannot delete a policy attached to entities.")
        versions = count(
            ctx.tx, iam_policy_versions, iam_policy_versions.c.policy_arn == policy.arn
        )
        if versions > 1:
            raise delete_conflict(
                "This policy has more than one version. Before you delete a policy, you must"
                " delete the policy's versions. The default version is deleted with the policy."
            )
        ctx.tx.execute(
            delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == policy.arn)
        )
        ctx.tx.execute(delete(iam_policies).where(iam_policies.c.arn == policy.arn))
        return None

    # --- versions -------------------------------------------------------------------------

    @operation("CreatePolicyVersion")
    def create_policy_version(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:CreatePolicyVersion", request["PolicyArn"])
        _customer_only(ctx, policy, "change")
        document = request["PolicyDocument"]
        _check_managed_document(document)
        versions = count(
            ctx.tx, iam_policy_versions, iam_policy_versions.c.policy_arn == policy.arn
        )
        if versions >= VERSIONS_PER_POLICY:
            raise limit_exceeded(
                f"A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you"
                " create a new version, you must delete an existing version."
            )
        version_id = f"v{policy.next_version}"
        ctx.tx.execute(
            iam_policy_versions.insert().values(
                policy_arn=policy.arn, version_id=version_id, document=document, created_at=ctx.now
            )
        )
        values: dict[str, Any] = {"next_version": policy.next_version + 1}
        default = bool(request.get("SetAsDefault"))
        if default:
            values.update(default_version_id=version_id, updated_at=ctx.now)
        ctx.tx.execute(
            update(iam_policies).where(iam_policies.c.arn == policy.arn).values(**values)
        )
        return {
            "PolicyVersion": {
                "VersionId": version_id,
                "IsDefaultVersion": default,
                "CreateDate": ctx.now,
            }
        }

    @operation("GetPolicyVersion")
    def get_policy_version(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:GetPolicyVersion", request["PolicyArn"])
        version_id = request["VersionId"]
        found = policy_document(ctx, policy, version_id)
        if found is None:
            raise no_such_entity(
                f"Policy {policy.arn} version {version_id} does not exist or is not attachable."
            )
        document, created = found
        return {
            "PolicyVersion": {
                "Document": encode_document(document),
                "VersionId": version_id,
                "IsDefaultVersion": version_id == policy.default_version_id,
                "CreateDate": created,
            }
        }

    @operation("ListPolicyVersions")
    def list_policy_versions(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:ListPolicyVersions", request["PolicyArn"])
        if policy.aws:
            versions = [(AWS_POLICY_VERSION, policy.created_at)]
        else:
            versions = [
                (v, c)
                for v, c in ctx.tx.execute(
                    select(
                        iam_policy_versions.c.version_id, iam_policy_versions.c.created_at
                    ).where(iam_policy_versions.c.policy_arn == policy.arn)
                ).all()
            ]
        return paginate(  # newest first, as AWS lists them
            request,
            versions,
            lambda v: f"{10**9 - _version_number(v[0]):010d}{v[0]}",
            "Versions",
            lambda v: {
                "VersionId": v[0],
                "IsDefaultVersion": v[0] == policy.default_version_id,
                "CreateDate": v[1],
            },
        )

    def _require_version(self, policy: ManagedPolicy, ctx: RequestContext, version_id: str) -> None:
        if policy_document(ctx, policy, version_id) is None:
            raise no_such_entity(
                f"Policy {policy.arn} version {version_id} does not exist or is not attachable."
            )

    @operation("SetDefaultPolicyVersion")
    def set_default_policy_version(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        policy = authorized_policy(ctx, "iam:SetDefaultPolicyVersion", request["PolicyArn"])
        _customer_only(ctx, policy, "change")
        version_id = request["VersionId"]
        self._require_version(policy, ctx, version_id)
        ctx.tx.execute(
            update(iam_policies)
            .where(iam_policies.c.arn == policy.arn)
            .values(default_version_id=version_id, updated_at=ctx.now)
        )
        return None

    @operation("DeletePolicyVersion")
    def delete_policy_version(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        policy = authorized_policy(ctx, "iam:DeletePolicyVersion", request["PolicyArn"])
        _customer_only(ctx, policy, "change")
        version_id = request["VersionId"]
        self._require_version(policy, ctx, version_id)
        if version_id == policy.default_version_id:
            raise delete_conflict("Cannot delete the default version of a policy.")
        ctx.tx.execute(
            delete(iam_policy_versions)
            .where(iam_policy_versions.c.policy_arn == policy.arn)
            .where(iam_policy_versions.c.version_id == version_id)
        )
        return None

    # --- tags -----------------------------------------------------------------------------

    def _set_policy_tags(self, ctx: RequestContext, arn: str, tags: dict[str, str]) -> None:
        ctx.tx.execute(
            update(iam_policies).where(iam_policies.c.arn == arn).values(tags=dump_tags(tags))
        )

    @operation("TagPolicy")
    def tag_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        policy = authorized_policy(
            ctx, "iam:TagPolicy", request["PolicyArn"], conditions=tag_conditions(request["Tags"])
        )
        _customer_only(ctx, policy, "tag")
        self._set_policy_tags(ctx, policy.arn, merge_tags(policy.tags, request["Tags"]))
        return None

    @operation("UntagPolicy")
    def untag_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        keys = request["TagKeys"]
        policy = authorized_policy(
            ctx, "iam:UntagPolicy", request["PolicyArn"], conditions={"aws:TagKeys": keys}
        )
        _customer_only(ctx, policy, "untag")
        self._set_policy_tags(ctx, policy.arn, remove_tags(policy.tags, keys))
        return None

    @operation("ListPolicyTags")
    def list_policy_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:ListPolicyTags", request["PolicyArn"])
        return list_tags(request, policy.tags)

    # --- usage ----------------------------------------------------------------------------

    @operation("ListEntitiesForPolicy")
    def list_entities_for_policy(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        policy = authorized_policy(ctx, "iam:ListEntitiesForPolicy", request["PolicyArn"])
        kinds = {"User": {USER}, "Group": {GROUP}, "Role": {ROLE}}.get(
            request.get("EntityFilter") or "", {USER, GROUP, ROLE}
        )
        if request.get("EntityFilter") in ("LocalManagedPolicy", "AWSManagedPolicy"):
            kinds = set()
        usage = request.get("PolicyUsageFilter")
        used: set[tuple[str, str]] = set()
        if usage != "PermissionsBoundary":
            used.update(
                ctx.tx.execute(
                    select(iam_attachments.c.principal_kind, iam_attachments.c.principal_name)
                    .where(iam_attachments.c.account_id == ctx.account_id)
                    .where(iam_attachments.c.policy_arn == policy.arn)
                ).all()
            )
        if usage != "PermissionsPolicy":
            used.update(
                (USER, name)
                for name in ctx.tx.execute(
                    select(iam_user_boundaries.c.user_name)
                    .where(iam_user_boundaries.c.account_id == ctx.account_id)
                    .where(iam_user_boundaries.c.policy_arn == policy.arn)
                ).scalars()
            )
            used.update(
                (ROLE, name)
                for name in ctx.tx.execute(
                    select(iam_roles.c.role_name)
                    .where(iam_roles.c.account_id == ctx.account_id)
                    .where(iam_roles.c.permissions_boundary_arn == policy.arn)
                ).scalars()
            )
        prefix = request.get("PathPrefix") or "/"
        entities: list[tuple[str, str, str]] = []  # (kind, name, id)
        for kind, table, name_col, id_col in (
            (GROUP, iam_groups, iam_groups.c.group_name, iam_groups.c.group_id),
            (ROLE, iam_roles, iam_roles.c.role_name, iam_roles.c.role_id),
            (USER, iam_users, iam_users.c.user_name, iam_users.c.user_id),
        ):
            names = [name for k, name in used if k == kind]
            if kind not in kinds or not names:
                continue
            for name, entity_id, path in ctx.tx.execute(
                select(name_col, id_col, table.c.path)
                .where(table.c.account_id == ctx.account_id)
                .where(name_col.in_(names))
            ).all():
                if path.startswith(prefix):
                    entities.append((kind, name, entity_id))
        page = paginate(request, entities, lambda e: f"{e[0]}\0{e[1]}", "Entities")
        members = {GROUP: "PolicyGroups", ROLE: "PolicyRoles", USER: "PolicyUsers"}
        fields = {GROUP: "Group", ROLE: "Role", USER: "User"}
        response: dict[str, Any] = {
            "PolicyGroups": [],
            "PolicyUsers": [],
            "PolicyRoles": [],
            "IsTruncated": page["IsTruncated"],
        }
        for kind, name, entity_id in page.pop("Entities"):
            response[members[kind]].append(
                {f"{fields[kind]}Name": name, f"{fields[kind]}Id": entity_id}
            )
        if "Marker" in page:
            response["Marker"] = page["Marker"]
        return response
