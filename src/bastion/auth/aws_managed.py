"""AWS managed policies Bastion knows, by ARN: (name, description, document).

Documents are AWS's where they are short; ReadOnlyAccess is a faithful subset
(read-style actions of every service) rather than AWS's several-thousand-line list.
"""

from __future__ import annotations

import orjson

AWS_ACCOUNT = "aws"


def _doc(*statements: dict[str, object]) -> str:
    return orjson.dumps({"Version": "2012-10-17", "Statement": list(statements)}).decode()


AWS_MANAGED_POLICIES: dict[str, tuple[str, str, str]] = {
    "arn:aws:iam::aws:policy/AdministratorAccess": (
        "AdministratorAccess",
        "Provides full access to AWS services and resources.",
        _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    "arn:aws:iam::aws:policy/PowerUserAccess": (
        "PowerUserAccess",
        "Provides full access to AWS services and resources, but does not allow management"
        " of Users and groups.",
        _doc(
            {
                "Effect": "Allow",
                "NotAction": ["iam:*", "organizations:*", "account:*"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "iam:CreateServiceLinkedRole",
                    "iam:DeleteServiceLinkedRole",
                    "iam:ListRoles",
                    "organizations:DescribeOrganization",
                    "account:ListRegions",
                    "account:GetAccountInformation",
                ],
                "Resource": "*",
            },
        ),
    ),
    "arn:aws:iam::aws:policy/ReadOnlyAccess": (
        "ReadOnlyAccess",
        "Provides read-only access to AWS services and resources.",
        _doc(
            {
                "Effect": "Allow",
                "Action": ["*:Get*", "*:List*", "*:Describe*", "*:Lookup*"],
                "Resource": "*",
            }
        ),
    ),
    "arn:aws:iam::aws:policy/IAMFullAccess": (
        "IAMFullAccess",
        "Provides full access to IAM via the AWS Management Console.",
        _doc(
            {
                "Effect": "Allow",
                "Action": [
                    "iam:*",
                    "organizations:DescribeAccount",
                    "organizations:DescribeOrganization",
                    "organizations:DescribeOrganizationalUnit",
                    "organizations:DescribePolicy",
                    "organizations:ListChildren",
                    "organizations:ListParents",
                    "organizations:ListPoliciesForTarget",
                    "organizations:ListRoots",
                    "organizations:ListPolicies",
                    "organizations:ListTargetsForPolicy",
                ],
                "Resource": "*",
            }
        ),
    ),
    "arn:aws:iam::aws:policy/IAMReadOnlyAccess": (
        "IAMReadOnlyAccess",
        "Provides read only access to IAM via the AWS Management Console.",
        _doc(
            {
                "Effect": "Allow",
                "Action": [
                    "iam:GenerateCredentialReport",
                    "iam:Get*",
                    "iam:List*",
                    "iam:SimulateCustomPolicy",
                    "iam:SimulatePrincipalPolicy",
                ],
                "Resource": "*",
            }
        ),
    ),
    "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser": (
        "AWSKeyManagementServicePowerUser",
        "Provides access to AWS Key Management Service (KMS).",
        _doc(
            {
                "Effect": "Allow",
                "Action": [
                    "kms:CreateAlias",
                    "kms:CreateKey",
                    "kms:DeleteAlias",
                    "kms:Describe*",
                    "kms:GenerateRandom",
                    "kms:Get*",
                    "kms:List*",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "iam:ListGroups",
                    "iam:ListRoles",
                    "iam:ListUsers",
                ],
                "Resource": "*",
            }
        ),
    ),
    "arn:aws:iam::aws:policy/SecretsManagerReadWrite": (
        "SecretsManagerReadWrite",
        "Provides read/write access to AWS Secrets Manager via the AWS Management Console.",
        _doc(
            {
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:*",
                    "kms:DescribeKey",
                    "kms:ListAliases",
                    "kms:ListKeys",
                    "tag:GetResources",
                ],
                "Resource": "*",
            }
        ),
    ),
}

ADMINISTRATOR_ACCESS = AWS_MANAGED_POLICIES["arn:aws:iam::aws:policy/AdministratorAccess"][2]
