"""SimulatePrincipalPolicy / SimulateCustomPolicy answer what enforcement does."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

ACCOUNT = "000000000000"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def iam(sqlite_server):
    return sqlite_server.client("iam")


def decisions(response) -> dict[tuple[str, str], str]:
    return {
        (r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"]
        for r in response["EvaluationResults"]
    }


def test_simulate_custom_policy(iam):
    policy = doc(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
    )
    result = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["kms:Encrypt", "kms:ScheduleKeyDeletion", "s3:GetObject"],
    )
    assert decisions(result) == {
        ("kms:Encrypt", "*"): "allowed",
        ("kms:ScheduleKeyDeletion", "*"): "explicitDeny",
        ("s3:GetObject", "*"): "implicitDeny",
    }


def test_simulate_custom_policy_with_context_and_resources(iam):
    policy = doc(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::reports/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        }
    )
    arns = ["arn:aws:s3:::reports/q1.csv", "arn:aws:s3:::other/x"]
    inside = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["s3:GetObject"],
        ResourceArns=arns,
        ContextEntries=[
            {
                "ContextKeyName": "aws:SourceIp",
                "ContextKeyValues": ["203.0.113.9"],
                "ContextKeyType": "ip",
            }
        ],
    )
    assert decisions(inside) == {
        ("s3:GetObject", arns[0]): "allowed",
        ("s3:GetObject", arns[1]): "implicitDeny",
    }
    outside = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["s3:GetObject"],
        ResourceArns=arns[:1],
        ContextEntries=[
            {
                "ContextKeyName": "aws:SourceIp",
                "ContextKeyValues": ["198.51.100.1"],
                "ContextKeyType": "ip",
            }
        ],
    )
    assert decisions(outside) == {("s3:GetObject", arns[0]): "implicitDeny"}


def test_simulate_principal_policy_uses_the_stored_policies(iam, sqlite_server):
    iam.create_user(UserName="sim")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="sim")
    iam.put_group_policy(
        GroupName="readers",
        PolicyName="read",
        PolicyDocument=doc({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}),
    )
    iam.put_user_policy(
        UserName="sim",
        PolicyName="no-roles",
        PolicyDocument=doc({"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}),
    )
    arn = f"arn:aws:iam::{ACCOUNT}:user/sim"
    result = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["iam:ListUsers", "iam:ListRoles", "iam:CreateUser"]
    )
    simulated = decisions(result)
    assert simulated == {
        ("iam:ListUsers", "*"): "allowed",
        ("iam:ListRoles", "*"): "explicitDeny",
        ("iam:CreateUser", "*"): "implicitDeny",
    }
    # and enforcement agrees with the simulator
    key = iam.create_access_key(UserName="sim")["AccessKey"]
    as_sim = sqlite_server.client(
        "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    assert as_sim.list_users()["Users"]
    for call in (as_sim.list_roles, lambda: as_sim.create_user(UserName="x")):
        with pytest.raises(botocore.exceptions.ClientError):
            call()


def test_simulate_with_permissions_boundary(iam):
    result = iam.simulate_custom_policy(
        PolicyInputList=[doc({"Effect": "Allow", "Action": "*", "Resource": "*"})],
        PermissionsBoundaryPolicyInputList=[
            doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
        ],
        ActionNames=["kms:Decrypt", "iam:CreateUser"],
    )
    assert decisions(result) == {
        ("kms:Decrypt", "*"): "allowed",
        ("iam:CreateUser", "*"): "implicitDeny",
    }
    by_action = {r["EvalActionName"]: r for r in result["EvaluationResults"]}
    assert by_action["iam:CreateUser"]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": False
    }


def test_simulate_errors(iam):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/ghost", ActionNames=["iam:ListUsers"]
        )
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=["{bad"], ActionNames=["iam:ListUsers"])
    assert info.value.response["Error"]["Code"] == "MalformedPolicyDocument"
