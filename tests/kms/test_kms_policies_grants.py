"""KMS part 4: key policies (with their condition keys) and grants, through real principals."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"

DEFAULT_POLICY = """{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::000000000000:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"""


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def make_user(server, name: str):
    """An IAM user with no policies, and a KMS client signed with its credentials."""
    iam = server.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    client = server.client("kms", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    return arn, client


def policy(*statements: dict) -> str:
    admin = {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})


def test_default_key_policy_and_put_get_list(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    got = kms.get_key_policy(KeyId=key, PolicyName="default")
    assert got["Policy"] == DEFAULT_POLICY
    assert kms.get_key_policy(KeyId=key)["PolicyName"] == "default"
    assert kms.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]
    new = policy(
        {
            "Sid": "x",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:Encrypt",
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=new)
    assert kms.get_key_policy(KeyId=key)["Policy"] == new
    with pytest.raises(ClientError) as exc:
        kms.get_key_policy(KeyId=key, PolicyName="other")
    assert code(exc) == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy="{not json")
    assert code(exc) == "MalformedPolicyDocumentException"
    # the lockout safety check: a policy that would stop anyone updating it is refused...
    lockout = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ROOT},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            ],
        }
    )
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=lockout)
    assert code(exc) == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=lockout)
    assert code(exc) == "MalformedPolicyDocumentException"
    # ...unless the caller bypasses it explicitly
    created = kms.create_key(Policy=lockout, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    assert kms.encrypt(KeyId=created["KeyId"], Plaintext=b"x")["KeyId"] == created["Arn"]
    with pytest.raises(ClientError) as exc:  # and is now locked out of managing it
        kms.get_key_policy(KeyId=created["KeyId"])
    assert code(exc) == "AccessDeniedException"


def test_key_policy_grants_a_user_and_its_encryption_context_conditions(server):
    admin = server.client("kms")
    user_arn, user = make_user(server, "writer")
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:  # default policy: only IAM policies decide
        user.encrypt(KeyId=key, Plaintext=b"x")
    assert code(exc) == "AccessDeniedException"
    admin.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=policy(
            {
                "Sid": "writer may encrypt for Dept 10 only",
                "Effect": "Allow",
                "Principal": {"AWS": user_arn},
                "Action": ["kms:Encrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:EncryptionContext:Dept": "10",
                        "kms:CallerAccount": ACCOUNT,
                    },
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "App"]},
                },
            }
        ),
    )
    ok = user.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"Dept": "10", "App": "a"})
    assert ok["KeyId"].endswith(key)
    for bad in ({"Dept": "11"}, {}, {"Dept": "10", "Other": "z"}):
        with pytest.raises(ClientError) as exc:
            user.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=bad)
        assert code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        user.decrypt(
            CiphertextBlob=ok["CiphertextBlob"], EncryptionContext={"Dept": "10", "App": "a"}
        )
    assert code(exc) == "AccessDeniedException"


def test_grants_allow_what_policies_do_not(server):
    admin = server.client("kms")
    grantee_arn, grantee = make_user(server, "grantee")
    retiree_arn, retiree = make_user(server, "retiree")
    key = admin.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        grantee.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert code(exc) == "AccessDeniedException"

    made = admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee_arn,
        RetiringPrincipal=retiree_arn,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
        Name="billing-grant",
    )
    token = made["GrantToken"]
    context = {"app": "billing", "id": "7"}
    # usable at once with its token
    blob = grantee.encrypt(
        KeyId=key["Arn"], Plaintext=b"granted", EncryptionContext=context, GrantTokens=[token]
    )["CiphertextBlob"]
    assert (
        grantee.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"granted"
    )
    assert grantee.generate_data_key(
        KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=context
    )
    assert grantee.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    # the constraint holds, and nothing beyond the granted operations is allowed
    with pytest.raises(ClientError) as exc:
        grantee.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "other"})
    assert code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        grantee.re_encrypt(
            CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=key["KeyId"]
        )
    assert code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        grantee.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["not-a-token"])
    assert code(exc) == "InvalidGrantTokenException"

    # same name and parameters: the same grant (idempotent retry)
    again = admin.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=grantee_arn,
        RetiringPrincipal=retiree_arn,
        Operations=["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
        Name="billing-grant",
    )
    assert again["GrantId"] == made["GrantId"] and again["GrantToken"] != token

    listed = admin.list_grants(KeyId=key["KeyId"])["Grants"]
    assert len(listed) == 1
    entry = listed[0]
    assert entry["GrantId"] == made["GrantId"] and entry["KeyId"] == key["Arn"]
    assert entry["GranteePrincipal"] == grantee_arn and entry["RetiringPrincipal"] == retiree_arn
    assert entry["Constraints"] == {"EncryptionContextSubset": {"app": "billing"}}
    assert entry["IssuingAccount"] == ROOT and entry["Name"] == "billing-grant"
    retirable = admin.list_retirable_grants(RetiringPrincipal=retiree_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [made["GrantId"]]

    # the retiring principal retires it with the token, no policy needed
    retiree.retire_grant(GrantToken=token)
    assert admin.list_grants(KeyId=key["KeyId"])["Grants"] == []
    with pytest.raises(ClientError) as exc:
        grantee.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)
    assert code(exc) == "AccessDeniedException"


def test_revoke_and_grant_validation_and_child_grants(server):
    admin = server.client("kms")
    user_arn, user = make_user(server, "delegate")
    other_arn, other = make_user(server, "other")
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        admin.create_grant(KeyId=key, GranteePrincipal=user_arn, Operations=["Sign"])
    assert code(exc) == "ValidationException"
    signing = admin.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"
    ]
    with pytest.raises(ClientError) as exc:
        admin.create_grant(
            KeyId=signing,
            GranteePrincipal=user_arn,
            Operations=["Sign"],
            Constraints={"EncryptionContextEquals": {"a": "b"}},
        )
    assert code(exc) == "ValidationException"
    sign_grant = admin.create_grant(
        KeyId=signing, GranteePrincipal=user_arn, Operations=["Sign", "GetPublicKey"]
    )
    assert user.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert user.get_public_key(KeyId=signing)["PublicKey"]
    with pytest.raises(ClientError) as exc:
        user.verify(
            KeyId=signing, Message=b"m", Signature=b"x" * 64, SigningAlgorithm="ECDSA_SHA_256"
        )
    assert code(exc) == "AccessDeniedException"
    admin.revoke_grant(KeyId=signing, GrantId=sign_grant["GrantId"])
    with pytest.raises(ClientError) as exc:
        user.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        admin.revoke_grant(KeyId=signing, GrantId=sign_grant["GrantId"])
    assert code(exc) == "NotFoundException"

    # a grantee holding CreateGrant may delegate a subset of its operations, no more
    admin.create_grant(KeyId=key, GranteePrincipal=user_arn, Operations=["Encrypt", "CreateGrant"])
    child = user.create_grant(KeyId=key, GranteePrincipal=other_arn, Operations=["Encrypt"])
    assert other.encrypt(KeyId=key, Plaintext=b"delegated")["KeyId"].endswith(key)
    with pytest.raises(ClientError) as exc:
        user.create_grant(KeyId=key, GranteePrincipal=other_arn, Operations=["Decrypt"])
    assert code(exc) == "AccessDeniedException"
    # a grant the grantee may retire itself
    with pytest.raises(ClientError) as exc:  # no RetireGrant in the child: other may not
        other.retire_grant(KeyId=key, GrantId=child["GrantId"])
    assert code(exc) == "AccessDeniedException"
    admin.retire_grant(KeyId=key, GrantId=child["GrantId"])  # the account may
    with pytest.raises(ClientError) as exc:
        other.encrypt(KeyId=key, Plaintext=b"x")
    assert code(exc) == "AccessDeniedException"
    # grants stop working while the key is disabled
    admin.disable_key(KeyId=key)
    with pytest.raises(ClientError) as exc:
        user.encrypt(KeyId=key, Plaintext=b"x")
    assert code(exc) == "DisabledException"
    with pytest.raises(ClientError) as exc:
        admin.create_grant(KeyId=key, GranteePrincipal=other_arn, Operations=["Encrypt"])
    assert code(exc) == "DisabledException"
