"""The evaluation table: each case is written from AWS's documentation, named in ``doc``.

Sections cited (AWS IAM User Guide unless noted):
  EVAL     How AWS enforcement code logic evaluates requests to allow or deny access
  SINGLE   Policy evaluation for requests within a single account
  CROSS    Cross-account policy evaluation logic
  DENIES   The difference between explicit and implicit denies
  ACTION   IAM JSON policy elements: Action / NotAction
  RESOURCE IAM JSON policy elements: Resource / NotResource (wildcards in resource ARNs)
  PRINCIPAL IAM JSON policy elements: Principal / NotPrincipal
  OPS      IAM JSON policy elements: Condition operators (String, Numeric, Date, Boolean,
           Binary, IP address, ARN, ...IfExists, Null)
  MULTI    Condition with multiple context keys or values / set operators
  VARS     IAM policy elements: Variables and tags
  GLOBAL   AWS global condition context keys
  BOUNDARY Permissions boundaries for IAM entities (Evaluating effective permissions)
  SESSION  Policies and permissions in IAM: Session policies
  KMS      AWS KMS Developer Guide: Key policies in AWS KMS / Default key policy
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bastion.auth.policy import Decision, RequestFacts, evaluate, parse_policy

ACCT = "111122223333"
OTHER = "444455556666"
ROOT = f"arn:aws:iam::{ACCT}:root"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
BOB = f"arn:aws:iam::{ACCT}:user/Bob"
ROLE = f"arn:aws:iam::{ACCT}:role/app"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/app/s1"
ROLE_BY_TAG = f"arn:aws:iam::{ACCT}:role/${{aws:PrincipalTag/role}}"
FED = f"arn:aws:sts::{ACCT}:federated-user/alice"
OTHER_USER = f"arn:aws:iam::{OTHER}:user/carol"
OTHER_ROLE = f"arn:aws:iam::{OTHER}:role/partner"
OTHER_SESSION = f"arn:aws:sts::{OTHER}:assumed-role/partner/p1"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
OBJ = "arn:aws:s3:::bucket/doc.txt"
# the value in the ARN-operators section of the Condition operators page
DOC_ARN_VALUE = (
    "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
)
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:db-AbCdEf"

EVAL = "EVAL: How AWS enforcement code logic evaluates requests to allow or deny access"
SINGLE = "SINGLE: Policy evaluation for requests within a single account"
CROSS = "CROSS: Cross-account policy evaluation logic"
DENIES = "DENIES: The difference between explicit and implicit denies"
ACTION = "ACTION: IAM JSON policy elements: Action"
NOTACTION = "ACTION: IAM JSON policy elements: NotAction"
RESOURCE = "RESOURCE: IAM JSON policy elements: Resource (Using wildcards in resource ARNs)"
NOTRESOURCE = "RESOURCE: IAM JSON policy elements: NotResource"
PRINCIPAL = "PRINCIPAL: IAM JSON policy elements: Principal"
NOTPRINCIPAL = "PRINCIPAL: AWS JSON policy elements: NotPrincipal (NotPrincipal with Deny)"
STRING = "OPS: Condition operators: String condition operators"
NUMERIC = "OPS: Condition operators: Numeric condition operators"
DATE = "OPS: Condition operators: Date condition operators"
BOOL = "OPS: Condition operators: Boolean condition operators"
BINARY = "OPS: Condition operators: Binary condition operators"
IP = "OPS: Condition operators: IP address condition operators"
ARN = "OPS: Condition operators: Amazon Resource Name (ARN) condition operators"
IFEXISTS = "OPS: Condition operators: ...IfExists condition operators"
NULL = "OPS: Condition operators: Condition operator to check existence of condition keys"
MISSING = "OPS: Condition operators (Important: key not present in the request context)"
MULTI = "MULTI: Condition with multiple context keys or values (evaluation logic)"
SETOPS = "MULTI: Set operators for multivalued context keys (ForAllValues/ForAnyValue)"
VARS = "VARS: IAM policy elements: Variables and tags"
GLOBAL = "GLOBAL: AWS global condition context keys"
BOUNDARY = "BOUNDARY: Permissions boundaries: Evaluating effective permissions with boundaries"
SESSIONPOL = "SESSION: Policies and permissions in IAM: Session policies"
KMS = "KMS: Key policies in AWS KMS (Default key policy; allows access to the account)"

ALLOW, EXPLICIT, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY


def stmt(effect: str, action: Any = None, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """A statement; ``action``/``resource`` None leave the element out (use NotAction=...)."""
    out: dict[str, Any] = {"Effect": effect}
    if action is not None:
        out["Action"] = action
    if resource is not None:
        out["Resource"] = resource
    out.update(extra)
    return out


def allow(action: Any = None, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return stmt("Allow", action, resource, **extra)


def deny(action: Any = None, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return stmt("Deny", action, resource, **extra)


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version:
        body = {"Version": version, **body}
    return json.dumps(body)


DEFAULT_KEY_POLICY = doc(
    allow("kms:*", "*", Sid="EnableIAMUserPermissions", Principal={"AWS": ROOT}),
)


@dataclass
class Case:
    name: str
    doc: str
    expect: Decision
    identity: list[str] = field(default_factory=list)
    resource: str | None = None
    boundary: list[str] | None = None
    session: list[str] | None = None
    action: str = "s3:GetObject"
    resources: tuple[str, ...] = (OBJ,)
    principal: str = ALICE
    account: str = ACCT
    role_arn: str | None = None
    user_arn: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    resource_account: str | None = None
    required: bool = False
    is_root: bool = False
    resource_kind: str = "resource"
    reason: str | None = None

    def run(self):
        facts = RequestFacts(
            self.action,
            self.resources,
            self.principal,
            self.account,
            self.context,
            role_arn=self.role_arn,
            user_arn=self.user_arn,
        )
        return evaluate(
            facts,
            identity=[parse_policy(t) for t in self.identity],
            resource=parse_policy(self.resource, kind=self.resource_kind)
            if self.resource
            else None,
            resource_account=self.resource_account,
            boundary=None
            if self.boundary is None
            else [parse_policy(t, kind="boundary") for t in self.boundary],
            session=None
            if self.session is None
            else [parse_policy(t, kind="session") for t in self.session],
            resource_policy_required=self.required,
            is_root=self.is_root,
        )


def role(**kw: Any) -> dict[str, Any]:
    """Keyword arguments for a request made by the ``app`` role session."""
    return {"principal": SESSION, "role_arn": ROLE, **kw}


def fed(**kw: Any) -> dict[str, Any]:
    """Keyword arguments for a request made by alice's federated-user session."""
    return {"principal": FED, "user_arn": ALICE, **kw}


ALLOW_GET = doc(allow("s3:GetObject", OBJ))
ALLOW_S3 = doc(allow("s3:*", "*"))
NOW = "2024-06-01T12:00:00Z"

CASES: list[Case] = [
    # ------------------------------------------------------------------ basics, denies
    Case(
        "no policy: implicit deny",
        EVAL,
        IMPLICIT,
        reason="because no identity-based policy allows the s3:GetObject action",
    ),
    Case("identity allow of the exact action", SINGLE, ALLOW, identity=[ALLOW_GET]),
    Case(
        "action names are case-insensitive",
        ACTION,
        ALLOW,
        identity=[doc(allow("S3:getobject", OBJ))],
    ),
    Case("action wildcard prefix s3:Get*", ACTION, ALLOW, identity=[doc(allow("s3:Get*", OBJ))]),
    Case(
        "s3:Get* does not cover PutObject",
        ACTION,
        IMPLICIT,
        action="s3:PutObject",
        identity=[doc(allow("s3:Get*", OBJ))],
    ),
    Case(
        "Action * covers every service",
        ACTION,
        ALLOW,
        action="kms:Decrypt",
        resources=(KEY,),
        identity=[doc(allow("*"))],
    ),
    Case(
        "wildcard in the middle: s3:*Object",
        ACTION,
        ALLOW,
        identity=[doc(allow("s3:*Object", OBJ))],
    ),
    Case(
        "single-character ? in an action", ACTION, ALLOW, identity=[doc(allow("s3:?etObject", OBJ))]
    ),
    Case(
        "another service's wildcard does not apply",
        ACTION,
        IMPLICIT,
        identity=[doc(allow("kms:*"))],
    ),
    Case(
        "list of actions: second one matches",
        ACTION,
        ALLOW,
        identity=[doc(allow(["s3:PutObject", "s3:GetObject"], OBJ))],
    ),
    Case(
        "explicit deny overrides an allow in the same policy",
        DENIES,
        EXPLICIT,
        identity=[doc(allow("s3:*"), deny("s3:GetObject", OBJ))],
        reason="with an explicit deny in an identity-based policy",
    ),
    Case(
        "explicit deny in another identity policy overrides",
        EVAL,
        EXPLICIT,
        identity=[ALLOW_S3, doc(deny("s3:*"))],
    ),
    Case(
        "a deny alone is an explicit deny, not an implicit one",
        DENIES,
        EXPLICIT,
        identity=[doc(deny("s3:GetObject"))],
    ),
    Case(
        "a deny on another resource does not apply",
        DENIES,
        ALLOW,
        identity=[ALLOW_S3, doc(deny("s3:*", "arn:aws:s3:::other/*"))],
    ),
    Case(
        "a deny whose condition is false does not apply",
        DENIES,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})),
        ],
        context={"aws:SecureTransport": True},
    ),
    Case(
        "any one identity policy allowing is enough (user plus group)",
        SINGLE,
        ALLOW,
        identity=[doc(allow("iam:ListUsers")), ALLOW_GET],
    ),
    Case("Deny * blocks everything", DENIES, EXPLICIT, identity=[ALLOW_S3, doc(deny("*"))]),
    Case(
        "carlossalazar: Deny s3:* on *log* buckets beats Allow on own bucket",
        SINGLE,
        EXPLICIT,
        resources=("arn:aws:s3:::carlossalazar-logs/file.txt",),
        identity=[
            doc(
                allow(
                    "s3:*", ["arn:aws:s3:::carlossalazar-logs/*", "arn:aws:s3:::carlossalazar/*"]
                ),
                deny("s3:*", ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"]),
            )
        ],
    ),
    Case(
        "carlossalazar: own bucket without 'log' is allowed",
        SINGLE,
        ALLOW,
        resources=("arn:aws:s3:::carlossalazar/file.txt",),
        identity=[
            doc(
                allow("s3:*", ["arn:aws:s3:::carlossalazar/*"]),
                deny("s3:*", ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"]),
            )
        ],
    ),
    # ------------------------------------------------------------------ NotAction
    Case(
        "Allow NotAction iam:* allows s3",
        NOTACTION,
        ALLOW,
        identity=[doc(allow(None, NotAction="iam:*"))],
    ),
    Case(
        "Allow NotAction iam:* does not allow iam",
        NOTACTION,
        IMPLICIT,
        action="iam:CreateUser",
        identity=[doc(allow(None, NotAction="iam:*"))],
    ),
    Case(
        "Deny NotAction denies every other action",
        NOTACTION,
        EXPLICIT,
        identity=[doc(allow("*"), deny(None, NotAction=["iam:*"]))],
    ),
    Case(
        "Deny NotAction leaves the listed action alone",
        NOTACTION,
        ALLOW,
        action="iam:ListUsers",
        identity=[doc(allow("*"), deny(None, NotAction=["iam:*"]))],
    ),
    Case(
        "NotAction with a wildcard excludes matching actions",
        NOTACTION,
        IMPLICIT,
        identity=[doc(allow(None, NotAction="s3:Get*"))],
    ),
    Case(
        "NotAction matching ignores case",
        NOTACTION,
        IMPLICIT,
        identity=[doc(allow(None, NotAction="S3:GETOBJECT"))],
    ),
    Case(
        "NotAction * covers no action",
        NOTACTION,
        IMPLICIT,
        identity=[doc(allow(None, NotAction="*"))],
    ),
    Case(
        "NotAction combined with a Resource restriction",
        NOTACTION,
        IMPLICIT,
        identity=[doc(allow(None, "arn:aws:s3:::other/*", NotAction="iam:*"))],
    ),
    # ------------------------------------------------------------------ Resource, NotResource
    Case("exact resource ARN", RESOURCE, ALLOW, identity=[ALLOW_GET]),
    Case(
        "another resource is not covered",
        RESOURCE,
        IMPLICIT,
        resources=("arn:aws:s3:::bucket/other.txt",),
        identity=[ALLOW_GET],
    ),
    Case(
        "* in the resource part expands across slashes",
        RESOURCE,
        ALLOW,
        resources=("arn:aws:s3:::bucket/a/b/test/c.txt",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*/test/*"))],
    ),
    Case(
        "? matches exactly one character (example1bucket)",
        RESOURCE,
        ALLOW,
        resources=("arn:aws:s3:::example1bucket/x",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::example?bucket/*"))],
    ),
    Case(
        "? does not match two characters",
        RESOURCE,
        IMPLICIT,
        resources=("arn:aws:s3:::example12bucket/x",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::example?bucket/*"))],
    ),
    Case(
        "resource ARNs are case-sensitive",
        RESOURCE,
        IMPLICIT,
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::Bucket/*"))],
    ),
    Case(
        "* in the Region segment",
        RESOURCE,
        ALLOW,
        action="kms:Decrypt",
        resources=(KEY,),
        identity=[doc(allow("kms:Decrypt", f"arn:aws:kms:*:{ACCT}:key/*"))],
    ),
    Case(
        "the account segment still has to match",
        RESOURCE,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        identity=[doc(allow("kms:Decrypt", f"arn:aws:kms:*:{OTHER}:key/*"))],
    ),
    Case(
        "a wildcard cannot span ARN segments",
        RESOURCE,
        IMPLICIT,
        action="ssm:GetParameter",
        resources=(f"arn:aws:ssm:us-east-1:{ACCT}:parameter/db",),
        identity=[doc(allow("ssm:GetParameter", "arn:aws:ssm:us-east-1:*"))],
    ),
    Case(
        "Resource * matches an action that has no resource",
        RESOURCE,
        ALLOW,
        action="s3:ListAllMyBuckets",
        resources=("*",),
        identity=[doc(allow("s3:ListAllMyBuckets"))],
    ),
    Case(
        "a specific ARN does not match an action without resource",
        RESOURCE,
        IMPLICIT,
        action="kms:CreateKey",
        resources=("*",),
        identity=[doc(allow("kms:CreateKey", f"arn:aws:kms:*:{ACCT}:key/*"))],
    ),
    Case(
        "resource part with colons (log stream)",
        RESOURCE,
        ALLOW,
        action="logs:PutLogEvents",
        resources=(f"arn:aws:logs:us-east-1:{ACCT}:log-group:app:log-stream:i-1",),
        identity=[
            doc(allow("logs:PutLogEvents", f"arn:aws:logs:us-east-1:{ACCT}:log-group:app:*"))
        ],
    ),
    Case(
        "second entry of a Resource list matches",
        RESOURCE,
        ALLOW,
        identity=[doc(allow("s3:GetObject", ["arn:aws:s3:::x/*", "arn:aws:s3:::bucket/*"]))],
    ),
    Case(
        "every resource of a request must be allowed",
        EVAL,
        IMPLICIT,
        resources=(OBJ, "arn:aws:s3:::secret/x"),
        identity=[ALLOW_GET],
    ),
    Case(
        "a deny on one of the request's resources denies it",
        EVAL,
        EXPLICIT,
        resources=(OBJ, "arn:aws:s3:::secret/x"),
        identity=[ALLOW_S3, doc(deny("s3:*", "arn:aws:s3:::secret/*"))],
    ),
    Case(
        "NotResource: allowed outside the listed bucket",
        NOTRESOURCE,
        ALLOW,
        identity=[doc(allow("s3:*", None, NotResource="arn:aws:s3:::hr/*"))],
    ),
    Case(
        "NotResource: not allowed on the listed bucket",
        NOTRESOURCE,
        IMPLICIT,
        resources=("arn:aws:s3:::hr/pay.csv",),
        identity=[doc(allow("s3:*", None, NotResource="arn:aws:s3:::hr/*"))],
    ),
    Case(
        "Deny NotResource denies everything outside the list",
        NOTRESOURCE,
        EXPLICIT,
        resources=("arn:aws:s3:::elsewhere/x",),
        identity=[ALLOW_S3, doc(deny("s3:*", None, NotResource=["arn:aws:s3:::bucket/*"]))],
    ),
    Case(
        "Deny NotResource leaves the listed resources allowed",
        NOTRESOURCE,
        ALLOW,
        identity=[ALLOW_S3, doc(deny("s3:*", None, NotResource=["arn:aws:s3:::bucket/*"]))],
    ),
    Case(
        "NotResource with NotAction: both exceptions apply",
        NOTRESOURCE,
        IMPLICIT,
        action="iam:GetUser",
        resources=(ALICE,),
        identity=[doc(allow(None, None, NotAction="iam:*", NotResource="arn:aws:s3:::hr/*"))],
    ),
    # ------------------------------------------------------------------ String operators
    Case(
        "StringEquals on a principal tag",
        STRING,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
                )
            )
        ],
        context={"aws:PrincipalTag/job-category": "iamuser-admin"},
    ),
    Case(
        "StringEquals is case-sensitive",
        STRING,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
                )
            )
        ],
        context={"aws:PrincipalTag/job-category": "IAMUser-Admin"},
    ),
    Case(
        "StringEquals: untagged user is implicitly denied",
        MISSING,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
                )
            )
        ],
    ),
    Case(
        "StringNotEquals: a different value matches",
        STRING,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}))
        ],
        context={"aws:RequestedRegion": "us-east-1"},
    ),
    Case(
        "StringNotEquals: the same value does not match",
        STRING,
        IMPLICIT,
        identity=[
            doc(allow("s3:*", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}))
        ],
        context={"aws:RequestedRegion": "eu-west-1"},
    ),
    Case(
        "StringNotEquals on a missing key is true",
        MISSING,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}))
        ],
    ),
    Case(
        "StringEqualsIgnoreCase ignores case",
        STRING,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Blue"}}
                )
            )
        ],
        context={"aws:PrincipalTag/team": "BLUE"},
    ),
    Case(
        "StringNotEqualsIgnoreCase: same letters in another case do not match",
        STRING,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "blue"}},
                )
            )
        ],
        context={"aws:PrincipalTag/team": "BLUE"},
    ),
    Case(
        "StringLike with * wildcard",
        STRING,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringLike": {"s3:prefix": "home/*"}}))],
        context={"s3:prefix": "home/alice/"},
    ),
    Case(
        "StringLike with ? wildcard",
        STRING,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringLike": {"ec2:InstanceType": "t?.micro"}}))],
        context={"ec2:InstanceType": "t3.micro"},
    ),
    Case(
        "StringLike needs wildcards for partial matches",
        STRING,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"StringLike": {"s3:prefix": "home"}}))],
        context={"s3:prefix": "home/alice/"},
    ),
    Case(
        "StringLike is case-sensitive",
        STRING,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"StringLike": {"s3:prefix": "Home/*"}}))],
        context={"s3:prefix": "home/alice/"},
    ),
    Case(
        "StringNotLike: value outside the pattern",
        STRING,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringNotLike": {"s3:prefix": "private/*"}}))],
        context={"s3:prefix": "public/a"},
    ),
    Case(
        "StringNotLike: value inside the pattern",
        STRING,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"StringNotLike": {"s3:prefix": "private/*"}}))],
        context={"s3:prefix": "private/a"},
    ),
    Case(
        "several values for one key are ORed",
        MULTI,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"StringEquals": {"aws:PrincipalTag/team": ["red", "blue"]}}
                )
            )
        ],
        context={"aws:PrincipalTag/team": "blue"},
    ),
    Case(
        "several keys under one operator are ANDed",
        MULTI,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringEquals": {
                            "aws:PrincipalTag/team": "blue",
                            "aws:RequestedRegion": "us-east-1",
                        }
                    },
                )
            )
        ],
        context={"aws:PrincipalTag/team": "blue", "aws:RequestedRegion": "eu-west-1"},
    ),
    Case(
        "several operators in a Condition are ANDed",
        MULTI,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringEquals": {"aws:PrincipalTag/team": "blue"},
                        "Bool": {"aws:SecureTransport": "true"},
                    },
                )
            )
        ],
        context={"aws:PrincipalTag/team": "blue", "aws:SecureTransport": False},
    ),
    Case(
        "negated operator with several values is a NOR",
        MULTI,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}
                    },
                )
            )
        ],
        context={"aws:RequestedRegion": "us-east-1"},
    ),
    Case(
        "condition key names are case-insensitive",
        VARS,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"StringEquals": {"AWS:PRINCIPALTAG/Team": "blue"}}))
        ],
        context={"aws:principaltag/team": "blue"},
    ),
    Case(
        "a JSON number compares as its string form",
        STRING,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringEquals": {"s3:max-keys": 10}}))],
        context={"s3:max-keys": "10"},
    ),
    # ------------------------------------------------------------------ Numeric
    Case(
        "NumericLessThanEquals: 10 <= 10",
        NUMERIC,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
        context={"s3:max-keys": "10"},
    ),
    Case(
        "NumericLessThanEquals: 11 > 10",
        NUMERIC,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
        context={"s3:max-keys": 11},
    ),
    Case(
        "NumericLessThan is strict",
        NUMERIC,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericLessThan": {"s3:max-keys": "10"}}))],
        context={"s3:max-keys": 10},
    ),
    Case(
        "NumericGreaterThan",
        NUMERIC,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"NumericGreaterThan": {"kms:MultiRegionKeys": 1}}))],
        context={"kms:MultiRegionKeys": 2},
    ),
    Case(
        "NumericGreaterThanEquals with decimals",
        NUMERIC,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"NumericGreaterThanEquals": {"svc:ratio": "0.5"}}))],
        context={"svc:ratio": "0.50"},
    ),
    Case(
        "NumericEquals compares numbers, not text",
        NUMERIC,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"NumericEquals": {"svc:count": "7"}}))],
        context={"svc:count": "7.0"},
    ),
    Case(
        "NumericNotEquals: equal number does not match",
        NUMERIC,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericNotEquals": {"svc:count": "7"}}))],
        context={"svc:count": 7},
    ),
    Case(
        "Numeric on a missing key is false",
        MISSING,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
    ),
    Case(
        "a non-numeric request value never matches",
        NUMERIC,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
        context={"s3:max-keys": "ten"},
    ),
    # ------------------------------------------------------------------ Date
    Case(
        "DateGreaterThan with aws:CurrentTime",
        DATE,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:01Z"}},
                )
            )
        ],
        context={"aws:CurrentTime": NOW},
    ),
    Case(
        "DateLessThan: after the date does not match",
        DATE,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
                )
            )
        ],
        context={"aws:CurrentTime": NOW},
    ),
    Case(
        "a date window (DateGreaterThan and DateLessThan)",
        DATE,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
                        "DateLessThan": {"aws:CurrentTime": "2024-12-31T23:59:59Z"},
                    },
                )
            )
        ],
        context={"aws:CurrentTime": NOW},
    ),
    Case(
        "epoch seconds in the policy",
        DATE,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"DateGreaterThan": {"aws:EpochTime": "1577836800"}}))
        ],
        context={"aws:EpochTime": 1717243200},
    ),
    Case(
        "an ISO policy date against an epoch request value",
        DATE,
        IMPLICIT,
        identity=[
            doc(
                allow("s3:*", Condition={"DateLessThan": {"aws:EpochTime": "2020-01-01T00:00:00Z"}})
            )
        ],
        context={"aws:EpochTime": 1717243200},
    ),
    Case(
        "DateEquals: same instant written with an offset",
        DATE,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={"DateEquals": {"aws:TokenIssueTime": "2024-06-01T14:00:00+02:00"}},
                )
            )
        ],
        context={"aws:TokenIssueTime": NOW},
    ),
    Case(
        "DateNotEquals: same instant does not match",
        DATE,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"DateNotEquals": {"aws:TokenIssueTime": NOW}}))],
        context={"aws:TokenIssueTime": datetime(2024, 6, 1, 12, tzinfo=UTC)},
    ),
    Case(
        "DateLessThanEquals includes the instant itself",
        DATE,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"DateLessThanEquals": {"aws:CurrentTime": NOW}}))],
        context={"aws:CurrentTime": NOW},
    ),
    Case(
        "a date-only value means midnight UTC",
        DATE,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"DateGreaterThanEquals": {"aws:CurrentTime": "2024-06-01"}}
                )
            )
        ],
        context={"aws:CurrentTime": "2024-06-01T00:00:00Z"},
    ),
    Case(
        "aws:TokenIssueTime absent (long-term keys): date condition false",
        DATE,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "iam:*AccessKey*",
                    Condition={"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
                )
            )
        ],
        action="iam:CreateAccessKey",
        resources=(ALICE,),
    ),
    # ------------------------------------------------------------------ Bool
    Case(
        "Deny when aws:SecureTransport is false",
        BOOL,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})),
        ],
        context={"aws:SecureTransport": False},
    ),
    Case(
        "no deny when aws:SecureTransport is true",
        BOOL,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})),
        ],
        context={"aws:SecureTransport": "true"},
    ),
    Case(
        "a JSON boolean policy value",
        BOOL,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"Bool": {"aws:SecureTransport": True}}))],
        context={"aws:SecureTransport": True},
    ),
    Case(
        "Bool on a missing key is false: the Deny does not apply",
        MISSING,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
        ],
    ),
    Case(
        "BoolIfExists false denies long-term keys (key absent)",
        IFEXISTS,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        ],
    ),
    Case(
        "BoolIfExists false denies sessions without MFA",
        IFEXISTS,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        ],
        context={"aws:MultiFactorAuthPresent": False},
    ),
    # ------------------------------------------------------------------ Binary
    Case(
        "BinaryEquals compares base64-decoded bytes",
        BINARY,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"BinaryEquals": {"svc:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
                )
            )
        ],
        context={"svc:blob": b"BinaryValueInBase64"},
    ),
    Case(
        "BinaryEquals with different bytes",
        BINARY,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*", Condition={"BinaryEquals": {"svc:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
                )
            )
        ],
        context={"svc:blob": b"other"},
    ),
    # ------------------------------------------------------------------ IP address
    Case(
        "IpAddress: address inside 203.0.113.0/24",
        IP,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))],
        context={"aws:SourceIp": "203.0.113.77"},
    ),
    Case(
        "IpAddress: address outside the range",
        IP,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))],
        context={"aws:SourceIp": "198.51.100.1"},
    ),
    Case(
        "a bare address means /32",
        IP,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.10"}}))],
        context={"aws:SourceIp": "203.0.113.11"},
    ),
    Case(
        "IPv6 CIDR",
        IP,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}
                    },
                )
            )
        ],
        context={"aws:SourceIp": "2001:db8:1234:5678::42"},
    ),
    Case(
        "NotIpAddress deny outside the corporate range",
        IP,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}})),
        ],
        context={"aws:SourceIp": "198.51.100.1"},
    ),
    Case(
        "NotIpAddress deny spares the corporate range",
        IP,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}})),
        ],
        context={"aws:SourceIp": "192.0.2.9"},
    ),
    Case(
        "IpAddress without aws:SourceIp (VPC endpoint) is false",
        MISSING,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}))],
    ),
    Case(
        "an IPv4 address never matches an IPv6 range",
        IP,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "::/0"}}))],
        context={"aws:SourceIp": "203.0.113.5"},
    ),
    # ------------------------------------------------------------------ ARN
    Case(
        "ArnEquals on aws:SourceArn",
        ARN,
        ALLOW,
        resource_account=None,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCT}:topic"}
                    },
                )
            )
        ],
        context={"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCT}:topic"},
    ),
    Case(
        "ArnLike with a wildcard Region",
        ARN,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:*"}}))
        ],
        context={"aws:SourceArn": f"arn:aws:sns:eu-west-1:{ACCT}:alerts"},
    ),
    Case(
        "ArnEquals and ArnLike behave identically (wildcards)",
        ARN,
        ALLOW,
        identity=[
            doc(
                allow("s3:*", Condition={"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:*:{ACCT}:*"}})
            )
        ],
        context={"aws:SourceArn": f"arn:aws:sns:eu-west-1:{ACCT}:alerts"},
    ),
    Case(
        "ArnLike matches segment by segment (doc example fails)",
        ARN,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}
                    },
                )
            )
        ],
        context={"aws:SourceArn": DOC_ARN_VALUE},
    ),
    Case(
        "StringLike matches the same value across segments",
        ARN,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringLike": {
                            "aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"
                        }
                    },
                )
            )
        ],
        context={"aws:SourceArn": DOC_ARN_VALUE},
    ),
    Case(
        "ArnNotEquals: deny everyone but one role (aws:PrincipalArn)",
        ARN,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(
                deny(
                    "s3:*",
                    Condition={
                        "ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/admin"}
                    },
                )
            ),
        ],
        **role(),
    ),
    Case(
        "ArnNotLike on a missing key is true",
        MISSING,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}}))
        ],
    ),
    Case(
        "ArnLike is case-sensitive",
        ARN,
        IMPLICIT,
        identity=[
            doc(allow("s3:*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:SNS:*:*:*"}}))
        ],
        context={"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCT}:t"},
    ),
    # ------------------------------------------------------------------ IfExists, Null
    Case(
        "StringLikeIfExists: key absent -> true",
        IFEXISTS,
        ALLOW,
        action="ec2:RunInstances",
        resources=(f"arn:aws:ec2:us-east-1:{ACCT}:key-pair/k",),
        identity=[
            doc(
                allow(
                    "ec2:RunInstances",
                    Condition={
                        "StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}
                    },
                )
            )
        ],
    ),
    Case(
        "StringLikeIfExists: key present -> checked",
        IFEXISTS,
        IMPLICIT,
        action="ec2:RunInstances",
        resources=(f"arn:aws:ec2:us-east-1:{ACCT}:instance/*",),
        identity=[
            doc(
                allow(
                    "ec2:RunInstances",
                    Condition={
                        "StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}
                    },
                )
            )
        ],
        context={"ec2:InstanceType": "p4d.24xlarge"},
    ),
    Case(
        "StringLike without IfExists fails on other resources",
        IFEXISTS,
        IMPLICIT,
        action="ec2:RunInstances",
        resources=(f"arn:aws:ec2:us-east-1:{ACCT}:key-pair/k",),
        identity=[
            doc(allow("ec2:RunInstances", Condition={"StringLike": {"ec2:InstanceType": ["t2.*"]}}))
        ],
    ),
    Case(
        "Deny with StringNotEqualsIfExists still denies when the tag is missing",
        IFEXISTS,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(
                deny("s3:*", Condition={"StringNotEqualsIfExists": {"aws:ResourceTag/env": "dev"}})
            ),
        ],
    ),
    Case(
        "NumericLessThanIfExists present and too big",
        IFEXISTS,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"NumericLessThanIfExists": {"s3:max-keys": 100}}))],
        context={"s3:max-keys": 1000},
    ),
    Case(
        "ArnLikeIfExists absent",
        IFEXISTS,
        ALLOW,
        identity=[
            doc(
                allow("s3:*", Condition={"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:x"}})
            )
        ],
    ),
    Case(
        "IpAddressIfExists with an address outside",
        IFEXISTS,
        IMPLICIT,
        identity=[
            doc(allow("s3:*", Condition={"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}))
        ],
        context={"aws:SourceIp": "203.0.113.1"},
    ),
    Case(
        "Null true: long-term credentials (no aws:TokenIssueTime)",
        NULL,
        ALLOW,
        action="ec2:DescribeInstances",
        resources=("*",),
        identity=[doc(allow("ec2:*", Condition={"Null": {"aws:TokenIssueTime": "true"}}))],
    ),
    Case(
        "Null true: temporary credentials are refused",
        NULL,
        IMPLICIT,
        action="ec2:DescribeInstances",
        resources=("*",),
        identity=[doc(allow("ec2:*", Condition={"Null": {"aws:TokenIssueTime": "true"}}))],
        context={"aws:TokenIssueTime": NOW},
    ),
    Case(
        "Null false: key present",
        NULL,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"Null": {"aws:ResourceTag/owner": "false"}}))],
        context={"aws:ResourceTag/owner": "alice"},
    ),
    Case(
        "Null false: key absent",
        NULL,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"Null": {"aws:ResourceTag/owner": "false"}}))],
    ),
    # ------------------------------------------------------------------ set operators
    Case(
        "ForAllValues: every requested attribute is listed",
        SETOPS,
        ALLOW,
        action="dynamodb:GetItem",
        resources=(f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread",),
        identity=[
            doc(
                allow(
                    "dynamodb:GetItem",
                    Condition={
                        "ForAllValues:StringLike": {
                            "dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]
                        }
                    },
                )
            )
        ],
        context={"dynamodb:requestedAttributes": ["PostDateTime", "Message"]},
    ),
    Case(
        "ForAllValues: one unlisted attribute (UserName) fails",
        SETOPS,
        IMPLICIT,
        action="dynamodb:GetItem",
        resources=(f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread",),
        identity=[
            doc(
                allow(
                    "dynamodb:GetItem",
                    Condition={
                        "ForAllValues:StringLike": {
                            "dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]
                        }
                    },
                )
            )
        ],
        context={"dynamodb:requestedAttributes": ["PostDateTime", "UserName"]},
    ),
    Case(
        "ForAllValues is true when the key is missing (gotcha)",
        SETOPS,
        ALLOW,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["Department", "CostCenter"]}
                    },
                )
            )
        ],
    ),
    Case(
        "ForAllValues with Null false requires the key",
        SETOPS,
        IMPLICIT,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["Department", "CostCenter"]},
                        "Null": {"aws:TagKeys": "false"},
                    },
                )
            )
        ],
    ),
    Case(
        "ForAllValues on an empty data set is true",
        SETOPS,
        ALLOW,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["Department"]}},
                )
            )
        ],
        context={"aws:TagKeys": []},
    ),
    Case(
        "ForAnyValue: one forbidden attribute triggers the Deny",
        SETOPS,
        EXPLICIT,
        action="dynamodb:PutItem",
        resources=(f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread",),
        identity=[
            doc(
                allow("dynamodb:*"),
                deny(
                    "dynamodb:PutItem",
                    Condition={
                        "ForAnyValue:StringLike": {
                            "dynamodb:requestedAttributes": ["ID", "PostDateTime"]
                        }
                    },
                ),
            )
        ],
        context={"dynamodb:requestedAttributes": ["UserName", "Message", "PostDateTime"]},
    ),
    Case(
        "ForAnyValue: no forbidden attribute, no deny",
        SETOPS,
        ALLOW,
        action="dynamodb:PutItem",
        resources=(f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Thread",),
        identity=[
            doc(
                allow("dynamodb:*"),
                deny(
                    "dynamodb:PutItem",
                    Condition={
                        "ForAnyValue:StringLike": {
                            "dynamodb:requestedAttributes": ["ID", "PostDateTime"]
                        }
                    },
                ),
            )
        ],
        context={"dynamodb:requestedAttributes": ["UserName"]},
    ),
    Case(
        "ForAnyValue is false when the key is missing",
        SETOPS,
        IMPLICIT,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["Department"]}},
                )
            )
        ],
    ),
    Case(
        "ForAnyValue on an empty string is false",
        SETOPS,
        IMPLICIT,
        identity=[doc(allow("s3:*", Condition={"ForAnyValue:StringEquals": {"svc:names": ["a"]}}))],
        context={"svc:names": ""},
    ),
    Case(
        "ForAllValues:StringNotEquals: none of the values listed",
        SETOPS,
        ALLOW,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={"ForAllValues:StringNotEquals": {"aws:TagKeys": ["Owner"]}},
                )
            )
        ],
        context={"aws:TagKeys": ["Env", "Team"]},
    ),
    Case(
        "ForAllValues:StringNotEquals: one value listed",
        SETOPS,
        IMPLICIT,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={"ForAllValues:StringNotEquals": {"aws:TagKeys": ["Owner"]}},
                )
            )
        ],
        context={"aws:TagKeys": ["Env", "Owner"]},
    ),
    Case(
        "ForAnyValue:StringNotLike: one value outside the patterns",
        SETOPS,
        ALLOW,
        action="ec2:CreateTags",
        resources=("*",),
        identity=[
            doc(
                allow(
                    "ec2:CreateTags",
                    Condition={"ForAnyValue:StringNotLike": {"aws:TagKeys": ["aws:*"]}},
                )
            )
        ],
        context={"aws:TagKeys": ["aws:cloudformation:stack", "Team"]},
    ),
    Case(
        "ForAllValues with a single-valued request value",
        SETOPS,
        ALLOW,
        identity=[
            doc(allow("s3:*", Condition={"ForAllValues:StringEquals": {"svc:names": ["a", "b"]}}))
        ],
        context={"svc:names": "a"},
    ),
    Case(
        "an unqualified operator on a multivalued key matches any value",
        MULTI,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringEquals": {"svc:names": "b"}}))],
        context={"svc:names": ["a", "b"]},
    ),
    # ------------------------------------------------------------------ variables
    Case(
        "${aws:username} in Resource: own home directory",
        VARS,
        ALLOW,
        resources=("arn:aws:s3:::mybucket/alice/notes.txt",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/*"))],
        context={"aws:username": "alice"},
    ),
    Case(
        "${aws:username} in Resource: someone else's directory",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::mybucket/bob/notes.txt",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/*"))],
        context={"aws:username": "alice"},
    ),
    Case(
        "${aws:PrincipalTag/department} in Resource",
        VARS,
        ALLOW,
        resources=("arn:aws:s3:::bucket/finance",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:PrincipalTag/department}"))],
        context={"aws:PrincipalTag/department": "finance"},
    ),
    Case(
        "variable inside a StringLike condition value",
        VARS,
        ALLOW,
        action="s3:ListBucket",
        resources=("arn:aws:s3:::mybucket",),
        identity=[
            doc(
                allow(
                    "s3:ListBucket",
                    "arn:aws:s3:::mybucket",
                    Condition={"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}},
                )
            )
        ],
        context={"aws:username": "alice", "s3:prefix": "home/alice/"},
    ),
    Case(
        "unresolvable variable invalidates the Allow statement",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::mybucket/alice/x",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/*"))],
    ),
    Case(
        "unresolvable variable invalidates a Deny statement too",
        VARS,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"StringNotEquals": {"s3:prefix": "${aws:username}"}})),
        ],
    ),
    Case(
        "a default value is used when the key is absent",
        VARS,
        ALLOW,
        resources=("arn:aws:s3:::bucket/anonymous/x",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:userid, 'anonymous'}/*"))],
    ),
    Case(
        "the real value wins over the default",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::bucket/anonymous/x",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:userid, 'anonymous'}/*"))],
        context={"aws:userid": "AIDAEXAMPLE"},
    ),
    Case(
        "${*} is a literal asterisk, not a wildcard",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::bucket/abc",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${*}"))],
    ),
    Case(
        "${*} matches an object literally named *",
        VARS,
        ALLOW,
        resources=("arn:aws:s3:::bucket/*",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${*}"))],
    ),
    Case(
        "variables are literal text in a 2008-10-17 policy",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::mybucket/alice/x",),
        identity=[
            doc(
                allow("s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/*"),
                version="2008-10-17",
            )
        ],
        context={"aws:username": "alice"},
    ),
    Case(
        "a tag value holding * is substituted literally",
        VARS,
        IMPLICIT,
        resources=("arn:aws:s3:::bucket/finance",),
        identity=[doc(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:PrincipalTag/department}"))],
        context={"aws:PrincipalTag/department": "*"},
    ),
    Case(
        "variable in StringEquals (aws:userid)",
        VARS,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringEquals": {"s3:prefix": "${aws:userid}"}}))],
        context={"aws:userid": "AIDAEXAMPLE", "s3:prefix": "AIDAEXAMPLE"},
    ),
    Case(
        "variable in ArnLike",
        VARS,
        ALLOW,
        **role(
            identity=[
                doc(
                    allow(
                        "s3:*",
                        Condition={"ArnLike": {"aws:PrincipalArn": ROLE_BY_TAG}},
                    )
                )
            ],
            context={"aws:PrincipalTag/role": "app"},
        ),
    ),
    # ---------------------------------------------------- resource policies, same account
    Case(
        "bucket policy granting the user ARN suffices without IAM",
        SINGLE,
        ALLOW,
        resource=doc(allow("s3:*", "arn:aws:s3:::bucket/*", Principal={"AWS": ALICE})),
        reason="allowed by a resource-based policy",
    ),
    Case(
        "Principal * grants any principal of the account",
        PRINCIPAL,
        ALLOW,
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal="*")),
    ),
    Case(
        'Principal {"AWS": "*"} is the same as *',
        PRINCIPAL,
        ALLOW,
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": "*"})),
    ),
    Case(
        "a grant to another user does not help",
        PRINCIPAL,
        IMPLICIT,
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": BOB})),
    ),
    Case(
        "user names in Principal ARNs are case-sensitive",
        PRINCIPAL,
        IMPLICIT,
        principal=f"arn:aws:iam::{ACCT}:user/bob",
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": BOB})),
    ),
    Case(
        "account root principal delegates: IAM must still allow",
        PRINCIPAL,
        IMPLICIT,
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": ROOT})),
        reason="because no identity-based policy allows",
    ),
    Case(
        "account-id principal plus an IAM allow",
        PRINCIPAL,
        ALLOW,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": ACCT})),
    ),
    Case(
        "identity allow is enough when the resource policy names others",
        SINGLE,
        ALLOW,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*", Principal={"AWS": BOB})),
    ),
    Case(
        "resource-policy Deny overrides an identity Allow",
        EVAL,
        EXPLICIT,
        identity=[ALLOW_S3],
        resource=doc(deny("s3:*", "arn:aws:s3:::bucket/*", Principal={"AWS": ALICE})),
        reason="with an explicit deny in a resource-based policy",
    ),
    Case(
        "resource-policy Deny to the account root covers its users",
        PRINCIPAL,
        EXPLICIT,
        identity=[ALLOW_S3],
        resource=doc(deny("s3:*", "arn:aws:s3:::bucket/*", Principal={"AWS": ROOT})),
    ),
    Case(
        "resource-policy Allow loses to an identity Deny",
        EVAL,
        EXPLICIT,
        identity=[doc(deny("s3:GetObject"))],
        resource=doc(allow("s3:*", "arn:aws:s3:::bucket/*", Principal={"AWS": ALICE})),
    ),
    Case(
        "a resource-policy allow for another resource does not apply",
        PRINCIPAL,
        IMPLICIT,
        resource=doc(allow("s3:*", "arn:aws:s3:::other/*", Principal={"AWS": ALICE})),
    ),
    Case(
        "Principal * with aws:PrincipalAccount condition",
        GLOBAL,
        ALLOW,
        resource=doc(
            allow(
                "s3:GetObject",
                "*",
                Principal="*",
                Condition={"StringEquals": {"aws:PrincipalAccount": ACCT}},
            )
        ),
    ),
    Case(
        "Principal * with aws:PrincipalAccount of another account",
        GLOBAL,
        IMPLICIT,
        resource=doc(
            allow(
                "s3:GetObject",
                "*",
                Principal="*",
                Condition={"StringEquals": {"aws:PrincipalAccount": OTHER}},
            )
        ),
    ),
    Case(
        "service principal",
        PRINCIPAL,
        ALLOW,
        principal="cloudtrail.amazonaws.com",
        account="",
        action="s3:PutObject",
        resource=doc(
            allow(
                "s3:PutObject",
                "arn:aws:s3:::bucket/*",
                Principal={"Service": "cloudtrail.amazonaws.com"},
            )
        ),
    ),
    Case(
        "service principal list not including the caller",
        PRINCIPAL,
        IMPLICIT,
        principal="config.amazonaws.com",
        account="",
        action="s3:PutObject",
        resource=doc(
            allow(
                "s3:PutObject",
                "arn:aws:s3:::bucket/*",
                Principal={"Service": ["cloudtrail.amazonaws.com"]},
            )
        ),
    ),
    # ---------------------------------------------------- roles, sessions, users vs boundaries
    Case(
        "role session: resource policy names the session ARN",
        EVAL,
        ALLOW,
        **role(resource=doc(allow("s3:GetObject", "*", Principal={"AWS": SESSION}))),
    ),
    Case(
        "role session: resource policy names the role ARN (no identity policy needed)",
        EVAL,
        ALLOW,
        **role(resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ROLE}))),
    ),
    Case(
        "role ARN grant is limited by the role's boundary",
        EVAL,
        IMPLICIT,
        **role(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ROLE})),
            boundary=[doc(allow("ec2:*"))],
        ),
        reason="because no permissions boundary allows",
    ),
    Case(
        "session ARN grant is not limited by the boundary",
        EVAL,
        ALLOW,
        **role(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": SESSION})),
            boundary=[doc(allow("ec2:*"))],
        ),
    ),
    Case(
        "role ARN grant is limited by a session policy",
        EVAL,
        IMPLICIT,
        **role(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ROLE})),
            session=[doc(allow("ec2:*"))],
        ),
        reason="because no session policy allows",
    ),
    Case(
        "session ARN grant is not limited by the session policy",
        SESSIONPOL,
        ALLOW,
        **role(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": SESSION})),
            session=[doc(allow("ec2:*"))],
        ),
    ),
    Case(
        "role ARN grant with boundary and session allowing",
        EVAL,
        ALLOW,
        **role(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ROLE})),
            boundary=[ALLOW_S3],
            session=[ALLOW_S3],
        ),
    ),
    Case(
        "IAM user ARN grant is not limited by the user's boundary",
        BOUNDARY,
        ALLOW,
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ALICE})),
        boundary=[doc(allow("ec2:*"))],
    ),
    Case(
        "account-principal grant plus identity allow is limited by the boundary",
        BOUNDARY,
        IMPLICIT,
        identity=[ALLOW_S3],
        boundary=[doc(allow("ec2:*"))],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ROOT})),
    ),
    Case(
        "federated user: grant to the federated-user ARN ignores the session policy",
        EVAL,
        ALLOW,
        **fed(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": FED})),
            session=[doc(allow("ec2:*"))],
        ),
    ),
    Case(
        "federated user: grant to the IAM user who federated is limited by the session policy",
        EVAL,
        IMPLICIT,
        **fed(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ALICE})),
            session=[doc(allow("ec2:*"))],
        ),
    ),
    Case(
        "federated user: grant to the IAM user with a session policy allowing",
        EVAL,
        ALLOW,
        **fed(
            resource=doc(allow("s3:GetObject", "*", Principal={"AWS": ALICE})), session=[ALLOW_S3]
        ),
    ),
    Case(
        "federated user without session policies has no identity permissions",
        SESSIONPOL,
        IMPLICIT,
        **fed(identity=[ALLOW_S3], session=[]),
    ),
    Case(
        "Principal * with aws:PrincipalArn role condition bypasses the boundary",
        PRINCIPAL,
        ALLOW,
        **role(
            resource=doc(
                allow(
                    "s3:GetObject",
                    "*",
                    Principal="*",
                    Condition={"ArnEquals": {"aws:PrincipalArn": ROLE}},
                )
            ),
            boundary=[doc(allow("ec2:*"))],
        ),
    ),
    Case(
        "role sessions: aws:PrincipalArn is the role ARN",
        GLOBAL,
        ALLOW,
        **role(
            identity=[
                doc(
                    allow(
                        "s3:*",
                        Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/*"}},
                    )
                )
            ]
        ),
    ),
    Case(
        "role session matched against the session ARN in a condition fails",
        GLOBAL,
        IMPLICIT,
        **role(
            identity=[doc(allow("s3:*", Condition={"StringEquals": {"aws:PrincipalArn": SESSION}}))]
        ),
    ),
    # ------------------------------------------------------------------ NotPrincipal
    Case(
        "Deny NotPrincipal [Bob, account]: Bob is spared",
        NOTPRINCIPAL,
        ALLOW,
        principal=BOB,
        identity=[ALLOW_S3],
        resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [BOB, ROOT]})),
    ),
    Case(
        "Deny NotPrincipal [Bob, account]: Alice is denied",
        NOTPRINCIPAL,
        EXPLICIT,
        identity=[ALLOW_S3],
        resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [BOB, ROOT]})),
    ),
    Case(
        "Deny NotPrincipal [Bob] without the account denies Bob",
        NOTPRINCIPAL,
        EXPLICIT,
        principal=BOB,
        identity=[ALLOW_S3],
        resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [BOB]})),
    ),
    Case(
        "Deny NotPrincipal [session, role, account] spares the session",
        NOTPRINCIPAL,
        ALLOW,
        **role(
            identity=[ALLOW_S3],
            resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [SESSION, ROLE, ROOT]})),
        ),
    ),
    Case(
        "Deny NotPrincipal [session, account] without the role denies it",
        NOTPRINCIPAL,
        EXPLICIT,
        **role(
            identity=[ALLOW_S3],
            resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [SESSION, ROOT]})),
        ),
    ),
    Case(
        "Deny NotPrincipal always denies a principal with a boundary",
        BOUNDARY,
        EXPLICIT,
        principal=BOB,
        identity=[ALLOW_S3],
        boundary=[ALLOW_S3],
        resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [BOB, ROOT]})),
    ),
    Case(
        "Allow NotPrincipal grants everyone else",
        NOTPRINCIPAL,
        ALLOW,
        resource=doc(allow("s3:GetObject", "*", NotPrincipal={"AWS": [BOB, ROOT]})),
    ),
    Case(
        "Allow NotPrincipal does not grant the named principal",
        NOTPRINCIPAL,
        IMPLICIT,
        principal=BOB,
        resource=doc(allow("s3:GetObject", "*", NotPrincipal={"AWS": [BOB, ROOT]})),
    ),
    # ------------------------------------------------------------------ cross-account
    Case(
        "cross-account: identity and resource policy both allow",
        CROSS,
        ALLOW,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER})),
    ),
    Case(
        "cross-account: no resource policy",
        CROSS,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        reason="because no resource-based policy allows",
    ),
    Case(
        "cross-account: resource policy names a third account",
        CROSS,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": "999999999999"})),
    ),
    Case(
        "cross-account: resource policy alone is not enough",
        CROSS,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER_ROOT})),
        reason="because no identity-based policy allows",
    ),
    Case(
        "cross-account: naming the user directly still needs its identity policy",
        CROSS,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER_USER})),
    ),
    Case(
        "cross-account: the trusted account's boundary applies",
        CROSS,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        boundary=[doc(allow("ec2:*"))],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER_USER})),
    ),
    Case(
        "cross-account role session, resource policy names the role",
        CROSS,
        ALLOW,
        principal=OTHER_SESSION,
        role_arn=OTHER_ROLE,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER_ROLE})),
    ),
    Case(
        "cross-account session ARN grant is still limited by the session policy",
        CROSS,
        IMPLICIT,
        principal=OTHER_SESSION,
        role_arn=OTHER_ROLE,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        session=[doc(allow("ec2:*"))],
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER_SESSION})),
    ),
    Case(
        "cross-account: resource-policy deny",
        CROSS,
        EXPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        resource=doc(
            allow("s3:*", "*", Principal={"AWS": OTHER}), deny("s3:GetObject", "*", Principal="*")
        ),
    ),
    Case(
        "cross-account: Principal * still needs the identity policy",
        PRINCIPAL,
        IMPLICIT,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        resource=doc(allow("s3:GetObject", "*", Principal="*")),
    ),
    Case(
        "cross-account: Principal * with identity allow",
        PRINCIPAL,
        ALLOW,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[ALLOW_GET],
        resource=doc(allow("s3:GetObject", "*", Principal="*")),
    ),
    Case(
        "cross-account root user with the account granted",
        CROSS,
        ALLOW,
        principal=OTHER_ROOT,
        account=OTHER,
        resource_account=ACCT,
        is_root=True,
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": OTHER})),
    ),
    Case(
        "cross-account root user without a grant",
        CROSS,
        IMPLICIT,
        principal=OTHER_ROOT,
        account=OTHER,
        resource_account=ACCT,
        is_root=True,
        resource=doc(allow("s3:GetObject", "*", Principal={"AWS": "999999999999"})),
    ),
    Case(
        "same account id given explicitly is not cross-account",
        SINGLE,
        ALLOW,
        resource_account=ACCT,
        identity=[ALLOW_GET],
    ),
    # ------------------------------------------------------------------ permissions boundaries
    Case(
        "identity and boundary both allow",
        BOUNDARY,
        ALLOW,
        identity=[ALLOW_GET],
        boundary=[ALLOW_S3],
    ),
    Case(
        "ShirleyRodriguez: boundary without IAM blocks iam:CreateUser",
        BOUNDARY,
        IMPLICIT,
        action="iam:CreateUser",
        resources=(f"arn:aws:iam::{ACCT}:user/new",),
        identity=[doc(allow("iam:CreateUser"))],
        boundary=[doc(allow(["s3:*", "cloudwatch:*", "ec2:*"]))],
        reason="because no permissions boundary allows the iam:CreateUser action",
    ),
    Case(
        "a boundary alone grants nothing",
        BOUNDARY,
        IMPLICIT,
        boundary=[ALLOW_S3],
        reason="because no identity-based policy allows",
    ),
    Case(
        "explicit deny in the boundary",
        BOUNDARY,
        EXPLICIT,
        identity=[ALLOW_S3],
        boundary=[doc(allow("s3:*"), deny("s3:*", ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]))],
        resources=("arn:aws:s3:::logs/x",),
        reason="with an explicit deny in a permissions boundary",
    ),
    Case(
        "boundary with a condition that fails",
        BOUNDARY,
        IMPLICIT,
        identity=[ALLOW_S3],
        boundary=[
            doc(allow("s3:*", Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}}))
        ],
        context={"aws:RequestedRegion": "eu-west-1"},
    ),
    Case(
        "boundary allowing another resource only",
        BOUNDARY,
        IMPLICIT,
        identity=[ALLOW_S3],
        boundary=[doc(allow("s3:*", "arn:aws:s3:::other/*"))],
    ),
    Case(
        "boundary with ${aws:username} resource",
        BOUNDARY,
        ALLOW,
        action="iam:ChangePassword",
        resources=(ALICE,),
        context={"aws:username": "alice"},
        identity=[doc(allow("iam:*"))],
        boundary=[
            doc(
                allow(
                    ["iam:*AccessKey*", "iam:ChangePassword"], "arn:aws:iam::*:user/${aws:username}"
                )
            )
        ],
    ),
    Case(
        "several boundary-like statements: one allowing suffices",
        BOUNDARY,
        ALLOW,
        identity=[ALLOW_S3],
        boundary=[doc(allow("ec2:*"), allow("s3:GetObject"))],
    ),
    # ------------------------------------------------------------------ session policies
    Case(
        "role identity and session policy both allow",
        SESSIONPOL,
        ALLOW,
        **role(identity=[ALLOW_S3], session=[ALLOW_GET]),
    ),
    Case(
        "session policy does not allow",
        SESSIONPOL,
        IMPLICIT,
        **role(identity=[ALLOW_S3], session=[doc(allow("s3:PutObject"))]),
        reason="because no session policy allows the s3:GetObject action",
    ),
    Case(
        "a session policy cannot grant more than the role",
        SESSIONPOL,
        IMPLICIT,
        **role(identity=[doc(allow("ec2:*"))], session=[ALLOW_S3]),
        reason="because no identity-based policy allows",
    ),
    Case(
        "explicit deny in a session policy",
        SESSIONPOL,
        EXPLICIT,
        **role(identity=[ALLOW_S3], session=[doc(allow("*"), deny("s3:GetObject"))]),
        reason="with an explicit deny in a session policy",
    ),
    Case(
        "identity, boundary and session policy all allow",
        SESSIONPOL,
        ALLOW,
        **role(identity=[ALLOW_S3], boundary=[ALLOW_S3], session=[ALLOW_S3]),
    ),
    Case(
        "session allows but the boundary does not",
        SESSIONPOL,
        IMPLICIT,
        **role(identity=[ALLOW_S3], boundary=[doc(allow("ec2:*"))], session=[ALLOW_S3]),
    ),
    Case(
        "inline plus managed session policies: either may allow",
        SESSIONPOL,
        ALLOW,
        **role(identity=[ALLOW_S3], session=[doc(allow("ec2:*")), ALLOW_GET]),
    ),
    Case(
        "session policy with a condition",
        SESSIONPOL,
        IMPLICIT,
        **role(
            identity=[ALLOW_S3],
            session=[doc(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))],
            context={"aws:SourceIp": "192.0.2.1"},
        ),
    ),
    # ------------------------------------------------------------------ KMS key policies
    Case(
        "default key policy delegates to IAM: IAM allows",
        KMS,
        ALLOW,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        identity=[doc(allow("kms:Decrypt", KEY))],
        resource=DEFAULT_KEY_POLICY,
    ),
    Case(
        "default key policy delegates to IAM: no IAM policy",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        resource=DEFAULT_KEY_POLICY,
        reason="because no identity-based policy allows the kms:Decrypt action",
    ),
    Case(
        "without the key policy allowing, IAM policies have no effect",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        identity=[doc(allow("kms:*"))],
        resource=doc(allow("kms:*", "*", Principal={"AWS": BOB})),
        reason="because no resource-based policy allows the kms:Decrypt action",
    ),
    Case(
        "no key policy at all",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        identity=[doc(allow("kms:*"))],
    ),
    Case(
        "key policy naming the user allows without IAM",
        KMS,
        ALLOW,
        action="kms:Encrypt",
        resources=(KEY,),
        required=True,
        resource=doc(allow(["kms:Encrypt", "kms:Decrypt"], "*", Principal={"AWS": ALICE})),
    ),
    Case(
        "key policy naming a role is limited by the session policy",
        KMS,
        IMPLICIT,
        action="kms:Encrypt",
        resources=(KEY,),
        required=True,
        **role(
            resource=doc(allow("kms:Encrypt", "*", Principal={"AWS": ROLE})),
            session=[doc(allow("s3:*"))],
        ),
    ),
    Case(
        "key policy deny beats the IAM allow",
        KMS,
        EXPLICIT,
        action="kms:ScheduleKeyDeletion",
        resources=(KEY,),
        required=True,
        identity=[doc(allow("kms:*"))],
        resource=doc(
            allow("kms:*", "*", Principal={"AWS": ROOT}),
            deny("kms:ScheduleKeyDeletion", "*", Principal={"AWS": ALICE}),
        ),
    ),
    Case(
        "kms:ViaService condition satisfied",
        KMS,
        ALLOW,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        context={"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        resource=doc(
            allow(
                "kms:Decrypt",
                "*",
                Principal={"AWS": ALICE},
                Condition={
                    "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
                },
            )
        ),
    ),
    Case(
        "kms:ViaService missing on a direct call",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        resource=doc(
            allow(
                "kms:Decrypt",
                "*",
                Principal={"AWS": ALICE},
                Condition={
                    "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
                },
            )
        ),
    ),
    Case(
        "kms:EncryptionContext:Dept must match",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        context={"kms:EncryptionContext:Dept": "IT"},
        resource=doc(
            allow(
                "kms:Decrypt",
                "*",
                Principal={"AWS": ALICE},
                Condition={"StringEquals": {"kms:EncryptionContext:Dept": "Finance"}},
            )
        ),
    ),
    Case(
        "kms:EncryptionContextKeys with ForAllValues",
        KMS,
        ALLOW,
        action="kms:Encrypt",
        resources=(KEY,),
        required=True,
        context={"kms:EncryptionContextKeys": ["Dept", "Purpose"]},
        resource=doc(
            allow(
                "kms:Encrypt",
                "*",
                Principal={"AWS": ALICE},
                Condition={
                    "ForAllValues:StringEquals": {
                        "kms:EncryptionContextKeys": ["Dept", "Purpose", "Project"]
                    }
                },
            )
        ),
    ),
    Case(
        "account root user with the default key policy",
        KMS,
        ALLOW,
        action="kms:PutKeyPolicy",
        resources=(KEY,),
        required=True,
        is_root=True,
        principal=ROOT,
        resource=DEFAULT_KEY_POLICY,
    ),
    Case(
        "account root user locked out by a key policy that omits the account",
        KMS,
        IMPLICIT,
        action="kms:PutKeyPolicy",
        resources=(KEY,),
        required=True,
        is_root=True,
        principal=ROOT,
        resource=doc(allow("kms:*", "*", Principal={"AWS": BOB})),
    ),
    Case(
        "cross-account key use: key policy and external IAM policy",
        KMS,
        ALLOW,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[doc(allow("kms:Decrypt", KEY))],
        resource=doc(allow("kms:Decrypt", "*", Principal={"AWS": OTHER_ROOT})),
    ),
    Case(
        "cross-account key use without the external IAM policy",
        KMS,
        IMPLICIT,
        action="kms:Decrypt",
        resources=(KEY,),
        required=True,
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        resource=doc(allow("kms:Decrypt", "*", Principal={"AWS": OTHER_ROOT})),
    ),
    Case(
        "key policy Resource * covers the key itself",
        KMS,
        ALLOW,
        action="kms:DescribeKey",
        resources=(KEY,),
        required=True,
        resource=doc(allow("kms:Describe*", "*", Principal={"AWS": ALICE})),
    ),
    # ------------------------------------------------------------------ role trust policies
    Case(
        "trust policy trusting the account needs sts:AssumeRole in IAM",
        SINGLE,
        IMPLICIT,
        action="sts:AssumeRole",
        resources=(ROLE,),
        required=True,
        resource_kind="trust",
        resource=doc(allow("sts:AssumeRole", None, Principal={"AWS": ROOT})),
    ),
    Case(
        "trust policy trusting the account plus IAM allow",
        SINGLE,
        ALLOW,
        action="sts:AssumeRole",
        resources=(ROLE,),
        required=True,
        resource_kind="trust",
        identity=[doc(allow("sts:AssumeRole", ROLE))],
        resource=doc(allow("sts:AssumeRole", None, Principal={"AWS": ROOT})),
    ),
    Case(
        "trust policy naming the user directly",
        SINGLE,
        ALLOW,
        action="sts:AssumeRole",
        resources=(ROLE,),
        required=True,
        resource_kind="trust",
        resource=doc(allow("sts:AssumeRole", None, Principal={"AWS": ALICE})),
    ),
    Case(
        "trust policy with an ExternalId condition",
        GLOBAL,
        IMPLICIT,
        action="sts:AssumeRole",
        resources=(ROLE,),
        required=True,
        resource_kind="trust",
        principal=OTHER_USER,
        account=OTHER,
        resource_account=ACCT,
        identity=[doc(allow("sts:AssumeRole"))],
        resource=doc(
            allow(
                "sts:AssumeRole",
                None,
                Principal={"AWS": OTHER},
                Condition={"StringEquals": {"sts:ExternalId": "Unique"}},
            )
        ),
    ),
    Case(
        "a service assumes a role it is trusted by",
        PRINCIPAL,
        ALLOW,
        action="sts:AssumeRole",
        resources=(ROLE,),
        required=True,
        resource_kind="trust",
        principal="lambda.amazonaws.com",
        account="",
        resource=doc(allow("sts:AssumeRole", None, Principal={"Service": "lambda.amazonaws.com"})),
    ),
    # ---------------------------------------------------- Secrets Manager resource policies
    Case(
        "secret resource policy granting a role in the account",
        PRINCIPAL,
        ALLOW,
        action="secretsmanager:GetSecretValue",
        resources=(SECRET,),
        **role(resource=doc(allow("secretsmanager:GetSecretValue", "*", Principal={"AWS": ROLE}))),
    ),
    Case(
        "secret resource policy deny for a secret id",
        PRINCIPAL,
        EXPLICIT,
        action="secretsmanager:GetSecretValue",
        resources=(SECRET,),
        context={"secretsmanager:SecretId": SECRET},
        identity=[doc(allow("secretsmanager:*"))],
        resource=doc(
            deny(
                "secretsmanager:GetSecretValue",
                "*",
                Principal="*",
                Condition={"StringLike": {"secretsmanager:SecretId": "*db*"}},
            )
        ),
    ),
    # ------------------------------------------------------------------ root user
    Case(
        "root user has full access without policies",
        EVAL,
        ALLOW,
        is_root=True,
        principal=ROOT,
        action="iam:CreateUser",
        resources=(f"arn:aws:iam::{ACCT}:user/x",),
    ),
    Case(
        "root user is denied by a resource-policy Deny",
        EVAL,
        EXPLICIT,
        is_root=True,
        principal=ROOT,
        resource=doc(deny("s3:*", "*", Principal="*")),
    ),
    Case(
        "root user: Deny to the account principal applies to root",
        PRINCIPAL,
        EXPLICIT,
        is_root=True,
        principal=ROOT,
        resource=doc(deny("s3:*", "*", Principal={"AWS": ACCT})),
    ),
    Case(
        "root user is not limited by a bucket policy naming others",
        EVAL,
        ALLOW,
        is_root=True,
        principal=ROOT,
        resource=doc(allow("s3:*", "*", Principal={"AWS": BOB})),
    ),
    Case(
        "root excluded by NotPrincipal listing the account",
        NOTPRINCIPAL,
        ALLOW,
        is_root=True,
        principal=ROOT,
        resource=doc(deny("s3:*", "*", NotPrincipal={"AWS": [ROOT]})),
    ),
    # ------------------------------------------------------------------ global keys
    Case(
        "aws:RequestedRegion deny outside approved regions",
        GLOBAL,
        EXPLICIT,
        identity=[
            ALLOW_S3,
            doc(
                deny(
                    "*",
                    Condition={
                        "StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}
                    },
                )
            ),
        ],
        context={"aws:RequestedRegion": "ap-south-1"},
    ),
    Case(
        "aws:RequestedRegion inside approved regions",
        GLOBAL,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(
                deny(
                    "*",
                    Condition={
                        "StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}
                    },
                )
            ),
        ],
        context={"aws:RequestedRegion": "us-west-2"},
    ),
    Case(
        "aws:ResourceTag matches the principal tag",
        GLOBAL,
        ALLOW,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringEquals": {"aws:ResourceTag/project": "${aws:PrincipalTag/project}"}
                    },
                )
            )
        ],
        context={"aws:ResourceTag/project": "apollo", "aws:PrincipalTag/project": "apollo"},
    ),
    Case(
        "aws:ResourceTag differs from the principal tag",
        GLOBAL,
        IMPLICIT,
        identity=[
            doc(
                allow(
                    "s3:*",
                    Condition={
                        "StringEquals": {"aws:ResourceTag/project": "${aws:PrincipalTag/project}"}
                    },
                )
            )
        ],
        context={"aws:ResourceTag/project": "gemini", "aws:PrincipalTag/project": "apollo"},
    ),
    Case(
        "aws:username in a condition",
        GLOBAL,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringEquals": {"aws:username": "alice"}}))],
        context={"aws:username": "alice"},
    ),
    Case(
        "aws:userid of a role session (role-id:session)",
        GLOBAL,
        ALLOW,
        **role(
            identity=[
                doc(allow("s3:*", Condition={"StringLike": {"aws:userid": "AROAEXAMPLE:*"}}))
            ],
            context={"aws:userid": "AROAEXAMPLE:s1"},
        ),
    ),
    Case(
        "aws:PrincipalAccount is filled in from the facts",
        GLOBAL,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"StringEquals": {"aws:PrincipalAccount": ACCT}}))],
    ),
    Case(
        "aws:PrincipalArn of an IAM user",
        GLOBAL,
        ALLOW,
        identity=[doc(allow("s3:*", Condition={"ArnEquals": {"aws:PrincipalArn": ALICE}}))],
    ),
    Case(
        "aws:SecureTransport deny on a resource policy",
        GLOBAL,
        EXPLICIT,
        identity=[ALLOW_S3],
        context={"aws:SecureTransport": False},
        resource=doc(
            deny("s3:*", "*", Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}})
        ),
    ),
    Case(
        "aws:MultiFactorAuthPresent true spares the deny",
        GLOBAL,
        ALLOW,
        identity=[
            ALLOW_S3,
            doc(deny("s3:*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        ],
        context={"aws:MultiFactorAuthPresent": True},
    ),
]


def _ids() -> list[str]:
    return [c.name for c in CASES]


def test_table_is_large_and_cited() -> None:
    assert len(CASES) >= 150
    assert len(set(_ids())) == len(CASES), "case names must be unique"
    for case in CASES:
        assert ":" in case.doc, case.name


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_case(case: Case) -> None:
    result = case.run()
    assert result.decision is case.expect, f"{case.name} [{case.doc}]: {result}"
    if case.reason is not None:
        assert case.reason in result.reason, result.reason
