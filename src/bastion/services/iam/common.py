"""What every IAM module shares: AWS's errors and messages, pagination, tags, documents.

IAM names (users, groups, roles, managed policies) are unique without regard to case and
found without regard to case, as on AWS; every other table refers to an entity by the
name exactly as it was created (its "canonical" name), so lookups go through `find_*`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from bastion.arn import make_arn
from bastion.auth.credentials import CredentialStore
from bastion.auth.policy import MalformedPolicyError, parse_policy
from bastion.barrier import Barrier
from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import Provider
from bastion.storage.iam_tables import iam_groups, iam_roles
from bastion.storage.schema import iam_users

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 100
MAX_TAGS = 50

# principal kinds in iam_inline_policies / iam_attachments
USER, GROUP, ROLE = "user", "group", "role"

# AWS's quotas (the defaults of an account).
USERS_PER_ACCOUNT = 5000
GROUPS_PER_ACCOUNT = 300
ROLES_PER_ACCOUNT = 1000
POLICIES_PER_ACCOUNT = 1500
GROUPS_PER_USER = 10
MANAGED_POLICIES_PER_ENTITY = {USER: 10, GROUP: 10, ROLE: 10}
VERSIONS_PER_POLICY = 5

# Policy size quotas, in characters without white space.
MANAGED_POLICY_SIZE = 6144
INLINE_POLICY_SIZE = {USER: 2048, GROUP: 5120, ROLE: 10240}
TRUST_POLICY_SIZE = 2048


class IamBase(Provider):
    """State shared by the IAM mixins (the composed provider is `IamProvider`)."""

    service = "iam"

    def __init__(
        self, barrier: Barrier, credentials: CredentialStore, bootstrap_key_id: str = ""
    ) -> None:
        self._barrier = barrier
        self._credentials = credentials
        self._bootstrap_key_id = bootstrap_key_id


# --- errors -------------------------------------------------------------------------------


def no_such_entity(message: str) -> ClientError:
    return ClientError(message, code="NoSuchEntity", status=404)


def already_exists(message: str) -> ClientError:
    return ClientError(message, code="EntityAlreadyExists", status=409)


def delete_conflict(message: str) -> ClientError:
    return ClientError(message, code="DeleteConflict", status=409)


def limit_exceeded(message: str) -> ClientError:
    return ClientError(message, code="LimitExceeded", status=409)


def invalid_input(message: str) -> ClientError:
    return ClientError(message, code="InvalidInput", status=400)


def malformed_policy(message: str) -> ClientError:
    return ClientError(message, code="MalformedPolicyDocument", status=400)


def quota(name: str, limit: int) -> ClientError:
    return limit_exceeded(f"Cannot exceed quota for {name}: {limit}")


@contextmanager
def unique_or(error: ClientError) -> Iterator[None]:
    """Answer `error` when a write loses a race for a unique name (the checks before it
    cannot see a concurrent transaction's uncommitted row)."""
    try:
        yield
    except IntegrityError as exc:
        raise error from exc


# --- ARNs -----------------------------------------------------------------------------------


def iam_arn(ctx: RequestContext, kind: str, name: str, path: str = "/") -> str:
    """`arn:aws:iam::<account>:<kind><path><name>` (kind: user, group, role, policy)."""
    return make_arn("iam", "", ctx.account_id, f"{kind}{path}{name}")


# --- lookups ------------------------------------------------------------------------------


def _find(conn: Connection, table: Table, column: str, account_id: str, name: str) -> Any:
    return (
        conn.execute(
            select(table)
            .where(table.c.account_id == account_id)
            .where(func.lower(table.c[column]) == name.lower())
        )
        .mappings()
        .first()
    )


def find_user(conn: Connection, account_id: str, name: str) -> RowMapping | None:
    return _find(conn, iam_users, "user_name", account_id, name)


def find_group(conn: Connection, account_id: str, name: str) -> RowMapping | None:
    return _find(conn, iam_groups, "group_name", account_id, name)


def find_role(conn: Connection, account_id: str, name: str) -> RowMapping | None:
    return _find(conn, iam_roles, "role_name", account_id, name)


def no_such_user(name: str) -> ClientError:
    return no_such_entity(f"The user with name {name} cannot be found.")


def no_such_group(name: str) -> ClientError:
    return no_such_entity(f"The group with name {name} cannot be found.")


def no_such_role(name: str) -> ClientError:
    return no_such_entity(f"The role with name {name} cannot be found.")


def authorized_user(ctx: RequestContext, action: str, name: str, **kw: Any) -> RowMapping:
    """Find user `name`, authorize `action` on its ARN (a path-less one when absent), or 404."""
    row = find_user(ctx.tx, ctx.account_id, name)
    ctx.authorize(action, [row["arn"] if row else iam_arn(ctx, "user", name)], **kw)
    if row is None:
        raise no_such_user(name)
    return row


def authorized_group(ctx: RequestContext, action: str, name: str, **kw: Any) -> RowMapping:
    row = find_group(ctx.tx, ctx.account_id, name)
    ctx.authorize(action, [row["arn"] if row else iam_arn(ctx, "group", name)], **kw)
    if row is None:
        raise no_such_group(name)
    return row


def authorized_role(ctx: RequestContext, action: str, name: str, **kw: Any) -> RowMapping:
    row = find_role(ctx.tx, ctx.account_id, name)
    ctx.authorize(action, [row["arn"] if row else iam_arn(ctx, "role", name)], **kw)
    if row is None:
        raise no_such_role(name)
    return row


def count(conn: Connection, table: Table, *where: Any) -> int:
    query = select(func.count()).select_from(table)
    for clause in where:
        query = query.where(clause)
    return int(conn.execute(query).scalar_one())


# --- pagination -----------------------------------------------------------------------------


def _encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise invalid_input("Invalid Marker.") from exc


def paginate(
    request: dict[str, Any],
    items: Iterable[T],
    key: Callable[[T], str],
    member: str,
    view: Callable[[T], Any] = lambda item: item,
) -> dict[str, Any]:
    """One page of `items` in `key` order, AWS style: `member`, IsTruncated, Marker.

    The marker is the (opaque) key of the last item returned, so a page never repeats or
    skips an item that existed on both calls, whatever was created or deleted between them.
    """
    ordered = sorted(items, key=key)
    marker = request.get("Marker")
    if marker:
        after = _decode_marker(marker)
        ordered = [item for item in ordered if key(item) > after]
    limit = request.get("MaxItems") or DEFAULT_MAX_ITEMS
    page = ordered[:limit]
    response: dict[str, Any] = {member: [view(item) for item in page], "IsTruncated": False}
    if len(ordered) > limit:
        response["IsTruncated"] = True
        response["Marker"] = _encode_marker(key(page[-1]))
    return response


# --- tags ---------------------------------------------------------------------------------


def load_tags(text: str | None) -> dict[str, str]:
    return orjson.loads(text or "{}")


def dump_tags(tags: dict[str, str]) -> str:
    return orjson.dumps(tags).decode()


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_conditions(tags: Sequence[dict[str, str]] | None) -> dict[str, Any] | None:
    """aws:RequestTag/<key> and aws:TagKeys for a call that sets tags."""
    if not tags:
        return None
    conditions: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    conditions["aws:TagKeys"] = [t["Key"] for t in tags]
    return conditions


def merge_tags(current: dict[str, str], new: Sequence[dict[str, str]] | None) -> dict[str, str]:
    """Add or overwrite tags. IAM tag keys are unique without regard to case."""
    new = list(new or [])
    seen: set[str] = set()
    for tag in new:
        lowered = tag["Key"].lower()
        if lowered in seen:
            raise invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        seen.add(lowered)
        if lowered.startswith("aws:"):
            raise invalid_input("User-defined tag keys can't start with 'aws:'.")
    merged = {k: v for k, v in current.items() if k.lower() not in seen}
    for tag in new:
        merged[tag["Key"]] = tag["Value"]
    if len(merged) > MAX_TAGS:
        raise limit_exceeded("The number of tags has reached the maximum limit.")
    return merged


def remove_tags(current: dict[str, str], keys: Sequence[str]) -> dict[str, str]:
    drop = {k.lower() for k in keys}
    return {k: v for k, v in current.items() if k.lower() not in drop}


def list_tags(request: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """ListUserTags/ListRoleTags/ListPolicyTags: tags in the order they were added."""
    keyed = [(f"{i:06d}", k, v) for i, (k, v) in enumerate(tags.items())]
    return paginate(request, keyed, lambda t: t[0], "Tags", lambda t: {"Key": t[1], "Value": t[2]})


# --- policy documents -----------------------------------------------------------------------


def encode_document(text: str) -> str:
    """IAM returns documents URL-encoded; botocore un-quotes them into dicts."""
    return quote(text, safe="")


def check_document(
    text: str, *, kind: str, max_length: int, managed: bool = False, too_large: str = ""
) -> None:
    """Refuse a document AWS would refuse, with AWS's code and message.

    Over its size quota (white space not counted) a document is refused with
    LimitExceeded and `too_large` as the message when given (AWS words it per entity).
    """
    if too_large and document_size(text) > max_length:
        raise limit_exceeded(too_large)
    try:
        parse_policy(text, max_length=max_length, kind=kind, managed=managed)
    except MalformedPolicyError as exc:
        code = getattr(exc, "code", "MalformedPolicyDocument")
        if code == "LimitExceeded":
            raise limit_exceeded(str(exc)) from exc
        raise malformed_policy(str(exc)) from exc


def document_size(text: str) -> int:
    """Characters IAM counts against a size quota: white space is not counted."""
    return sum(1 for ch in text if not ch.isspace())
