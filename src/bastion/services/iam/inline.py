"""Inline policies of users, groups and roles, and managed policy attachments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping

from bastion.context import RequestContext
from bastion.services.base import operation
from bastion.services.iam.common import (
    GROUP,
    INLINE_POLICY_SIZE,
    MANAGED_POLICIES_PER_ENTITY,
    ROLE,
    USER,
    IamBase,
    authorized_group,
    authorized_role,
    authorized_user,
    check_document,
    count,
    document_size,
    encode_document,
    limit_exceeded,
    no_such_entity,
    paginate,
    quota,
)
from bastion.services.iam.policies import find_policy, no_such_policy
from bastion.storage.iam_tables import iam_attachments, iam_inline_policies

# kind -> (request member naming the entity, its row's name column, the lookup)
_KINDS: dict[str, tuple[str, str, Callable[..., RowMapping]]] = {
    USER: ("UserName", "user_name", authorized_user),
    GROUP: ("GroupName", "group_name", authorized_group),
    ROLE: ("RoleName", "role_name", authorized_role),
}
_TITLE = {USER: "User", GROUP: "Group", ROLE: "Role"}
# verb -> what follows the entity in the action name (PutUserPolicy, ListUserPolicies...)
_SUFFIX = {
    "Put": "Policy",
    "Get": "Policy",
    "Delete": "Policy",
    "List": "Policies",
    "Attach": "Policy",
    "Detach": "Policy",
    "ListAttached": "Policies",
}


def _entity(ctx: RequestContext, kind: str, verb: str, request: dict[str, Any], **kw: Any) -> str:
    """Authorize `iam:<verb><Kind><suffix>` on the named entity; its canonical name."""
    member, column, lookup = _KINDS[kind]
    action = f"iam:{verb}{_TITLE[kind]}{_SUFFIX[verb]}"
    return lookup(ctx, action, request[member], **kw)[column]


class InlinePoliciesMixin(IamBase):
    # --- inline policies ------------------------------------------------------------------

    def _inline_where(self, ctx: RequestContext, kind: str, name: str) -> Any:
        t = iam_inline_policies
        return (
            (t.c.account_id == ctx.account_id)
            & (t.c.principal_kind == kind)
            & (t.c.principal_name == name)
        )

    def _put_inline(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> None:
        name = _entity(ctx, kind, "Put", request)
        policy_name, document = request["PolicyName"], request["PolicyDocument"]
        limit = INLINE_POLICY_SIZE[kind]
        too_large = f"Maximum policy size of {limit} bytes exceeded for {kind} {name}"
        check_document(document, kind="identity", max_length=limit, too_large=too_large)
        where = self._inline_where(ctx, kind, name)
        others = ctx.tx.execute(
            select(iam_inline_policies.c.policy_name, iam_inline_policies.c.document).where(where)
        ).all()
        total = document_size(document) + sum(
            document_size(text) for other, text in others if other != policy_name
        )
        if total > limit:  # the quota is the sum of the entity's inline policies
            raise limit_exceeded(too_large)
        if any(other == policy_name for other, _ in others):
            ctx.tx.execute(
                update(iam_inline_policies)
                .where(where)
                .where(iam_inline_policies.c.policy_name == policy_name)
                .values(document=document)
            )
        else:
            ctx.tx.execute(
                iam_inline_policies.insert().values(
                    account_id=ctx.account_id,
                    principal_kind=kind,
                    principal_name=name,
                    policy_name=policy_name,
                    document=document,
                )
            )

    def _inline_document(self, ctx: RequestContext, kind: str, name: str, policy_name: str) -> str:
        document = ctx.tx.execute(
            select(iam_inline_policies.c.document)
            .where(self._inline_where(ctx, kind, name))
            .where(iam_inline_policies.c.policy_name == policy_name)
        ).scalar()
        if document is None:
            raise no_such_entity(f"The {kind} policy with name {policy_name} cannot be found.")
        return document

    def _get_inline(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> dict:
        name = _entity(ctx, kind, "Get", request)
        document = self._inline_document(ctx, kind, name, request["PolicyName"])
        return {
            _KINDS[kind][0]: name,
            "PolicyName": request["PolicyName"],
            "PolicyDocument": encode_document(document),
        }

    def _delete_inline(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> None:
        name = _entity(ctx, kind, "Delete", request)
        self._inline_document(ctx, kind, name, request["PolicyName"])
        ctx.tx.execute(
            delete(iam_inline_policies)
            .where(self._inline_where(ctx, kind, name))
            .where(iam_inline_policies.c.policy_name == request["PolicyName"])
        )

    def _list_inline(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> dict:
        name = _entity(ctx, kind, "List", request)
        names = ctx.tx.execute(
            select(iam_inline_policies.c.policy_name).where(self._inline_where(ctx, kind, name))
        ).scalars()
        return paginate(request, list(names), lambda n: n, "PolicyNames")

    @operation("PutUserPolicy")
    def put_user_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._put_inline(ctx, USER, request)

    @operation("GetUserPolicy")
    def get_user_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._get_inline(ctx, USER, request)

    @operation("DeleteUserPolicy")
    def delete_user_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._delete_inline(ctx, USER, request)

    @operation("ListUserPolicies")
    def list_user_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._list_inline(ctx, USER, request)

    @operation("PutGroupPolicy")
    def put_group_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._put_inline(ctx, GROUP, request)

    @operation("GetGroupPolicy")
    def get_group_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._get_inline(ctx, GROUP, request)

    @operation("DeleteGroupPolicy")
    def delete_group_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._delete_inline(ctx, GROUP, request)

    @operation("ListGroupPolicies")
    def list_group_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._list_inline(ctx, GROUP, request)

    @operation("PutRolePolicy")
    def put_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._put_inline(ctx, ROLE, request)

    @operation("GetRolePolicy")
    def get_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._get_inline(ctx, ROLE, request)

    @operation("DeleteRolePolicy")
    def delete_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._delete_inline(ctx, ROLE, request)

    @operation("ListRolePolicies")
    def list_role_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._list_inline(ctx, ROLE, request)

    # --- managed policy attachments -------------------------------------------------------

    def _attach_where(self, ctx: RequestContext, kind: str, name: str) -> Any:
        t = iam_attachments
        return (
            (t.c.account_id == ctx.account_id)
            & (t.c.principal_kind == kind)
            & (t.c.principal_name == name)
        )

    def _is_attached(self, ctx: RequestContext, kind: str, name: str, arn: str) -> bool:
        return bool(
            count(
                ctx.tx,
                iam_attachments,
                self._attach_where(ctx, kind, name),
                iam_attachments.c.policy_arn == arn,
            )
        )

    def _attach(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> None:
        arn = request["PolicyArn"]
        name = _entity(ctx, kind, "Attach", request, conditions={"iam:PolicyARN": arn})
        if find_policy(ctx, arn) is None:
            raise no_such_policy(arn)
        if self._is_attached(ctx, kind, name, arn):
            return
        limit = MANAGED_POLICIES_PER_ENTITY[kind]
        if count(ctx.tx, iam_attachments, self._attach_where(ctx, kind, name)) >= limit:
            raise quota(f"PoliciesPer{_TITLE[kind]}", limit)
        ctx.tx.execute(
            iam_attachments.insert().values(
                account_id=ctx.account_id, principal_kind=kind, principal_name=name, policy_arn=arn
            )
        )

    def _detach(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> None:
        arn = request["PolicyArn"]
        name = _entity(ctx, kind, "Detach", request, conditions={"iam:PolicyARN": arn})
        if not self._is_attached(ctx, kind, name, arn):
            raise no_such_entity(f"Policy {arn} was not found.")
        ctx.tx.execute(
            delete(iam_attachments)
            .where(self._attach_where(ctx, kind, name))
            .where(iam_attachments.c.policy_arn == arn)
        )

    def _list_attached(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> dict:
        name = _entity(ctx, kind, "ListAttached", request)
        prefix = request.get("PathPrefix") or "/"
        attached = []
        for arn in ctx.tx.execute(
            select(iam_attachments.c.policy_arn).where(self._attach_where(ctx, kind, name))
        ).scalars():
            policy = find_policy(ctx, arn)
            if policy is not None and policy.path.startswith(prefix):
                attached.append({"PolicyName": policy.name, "PolicyArn": policy.arn})
        return paginate(
            request, attached, lambda p: f"{p['PolicyName']}\0{p['PolicyArn']}", "AttachedPolicies"
        )

    @operation("AttachUserPolicy")
    def attach_user_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._attach(ctx, USER, request)

    @operation("DetachUserPolicy")
    def detach_user_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._detach(ctx, USER, request)

    @operation("ListAttachedUserPolicies")
    def list_attached_user_policies(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._list_attached(ctx, USER, request)

    @operation("AttachGroupPolicy")
    def attach_group_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._attach(ctx, GROUP, request)

    @operation("DetachGroupPolicy")
    def detach_group_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._detach(ctx, GROUP, request)

    @operation("ListAttachedGroupPolicies")
    def list_attached_group_policies(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._list_attached(ctx, GROUP, request)

    @operation("AttachRolePolicy")
    def attach_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._attach(ctx, ROLE, request)

    @operation("DetachRolePolicy")
    def detach_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._detach(ctx, ROLE, request)

    @operation("ListAttachedRolePolicies")
    def list_attached_role_policies(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._list_attached(ctx, ROLE, request)
