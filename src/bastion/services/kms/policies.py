"""Key policies: the defaults AWS writes, the AWS managed keys' policies, and the checks
PutKeyPolicy/CreateKey make before accepting a document."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from bastion.context import Principal
from bastion.services.kms.errors import malformed_policy

POLICY_NAME = "default"

# AWS managed keys Bastion creates on first use: alias -> (service, policy id, description)
AWS_MANAGED_KEYS: dict[str, tuple[str, str, str, str]] = {
    "alias/aws/ssm": (
        "ssm",
        "auto-ssm-1",
        "AWS Systems Manager",
        "Default key that protects my SSM parameters when no other key is defined",
    ),
    "alias/aws/secretsmanager": (
        "secretsmanager",
        "auto-secretsmanager-2",
        "AWS Secrets Manager",
        "Default key that protects my Secrets Manager data when no other key is defined",
    ),
}


def jackson(document: Any) -> str:
    """JSON pretty-printed as KMS returns policies: `"Key" : value`, `[ {` on one line."""
    return _dump(document, 0)


def _dump(value: Any, indent: int) -> str:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{ }"
        items = [f"{pad}  {json.dumps(k)} : {_dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        if all(isinstance(v, dict) for v in value):
            return "[ " + ", ".join(_dump(v, indent) for v in value) + " ]"
        return "[ " + ", ".join(_dump(v, indent + 1) for v in value) + " ]"
    return json.dumps(value)


def default_policy(account_id: str) -> str:
    return jackson(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )


def aws_managed_policy(alias: str, account_id: str, region: str) -> str:
    service, policy_id, service_title, _ = AWS_MANAGED_KEYS[alias]
    return jackson(
        {
            "Version": "2012-10-17",
            "Id": policy_id,
            "Statement": [
                {
                    "Sid": f"Allow access through {service_title} for all principals in the "
                    f"account that are authorized to use {service_title}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:CreateGrant",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"{service}.{region}.amazonaws.com",
                            "kms:CallerAccount": account_id,
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        }
    )


def parse_policy(text: str) -> dict[str, Any]:
    """Parse and sanity-check a key policy (MalformedPolicyDocumentException otherwise)."""
    if len(text.encode()) > 32768:
        raise malformed_policy("Policy exceeds the maximum size of 32 KB.")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise malformed_policy("The policy is not a valid JSON document.") from exc
    if not isinstance(document, dict):
        raise malformed_policy("The policy is not a valid JSON document.")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise malformed_policy("Policy contains a statement with no Statement element.")
    for statement in statements:
        if not isinstance(statement, dict):
            raise malformed_policy("Policy contains an invalid statement.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise malformed_policy("Policy contains a statement with an invalid Effect.")
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise malformed_policy("Policy contains a statement with no principal.")
        if "Action" not in statement and "NotAction" not in statement:
            raise malformed_policy("Policy contains a statement with no Action.")
    return document


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_names(principal: Principal) -> set[str]:
    names = {"*", principal.arn, principal.account_id, f"arn:aws:iam::{principal.account_id}:root"}
    if principal.kind == "AssumedRole" and ":assumed-role/" in principal.arn:
        role = principal.arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        names.add(f"arn:aws:iam::{principal.account_id}:role/{role}")
    return names


def allows_policy_update(document: dict[str, Any], principal: Principal) -> bool:
    """The lockout safety check: may `principal` still call PutKeyPolicy under `document`?

    A statement allowing kms:PutKeyPolicy to the caller, to "*", or to the account root
    (which delegates to IAM policies) passes; an explicit Deny for the caller fails.
    """
    names = _principal_names(principal)
    allowed = False
    for statement in _as_list(document.get("Statement")):
        principals = statement.get("Principal")
        if principals == "*":
            listed = {"*"}
        elif isinstance(principals, dict):
            listed = {str(p) for p in _as_list(principals.get("AWS"))}
        else:
            listed = set()
        if not listed & names:
            continue
        actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
        if not any(fnmatch.fnmatchcase("kms:putkeypolicy", a) for a in actions):
            continue
        if statement.get("Effect") == "Deny" and not statement.get("Condition"):
            return False
        if statement.get("Effect") == "Allow" and not statement.get("Condition"):
            allowed = True
    return allowed
