"""KMS governs access: without kms:Decrypt on the key, SecureStrings and secret values
can't be read (AWS's errors), while plain parameters still can."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

ACCOUNT = "000000000000"


def _role(iam, name: str, actions: list[str]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def _session(server, role_arn: str, service: str):
    creds = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="reader")[
        "Credentials"
    ]
    return server.client(
        service,
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )


def _error(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]


def test_kms_decrypt_permission_governs_secure_reads(server):
    iam = server.client("iam")
    key = server.client("kms").create_key(Description="app key")["KeyMetadata"]["Arn"]
    ssm, sm = server.client("ssm"), server.client("secretsmanager")
    ssm.put_parameter(Name="/k/secure", Value="s3cret", Type="SecureString", KeyId=key)
    ssm.put_parameter(Name="/k/plain", Value="public", Type="String")
    sm.create_secret(Name="k/secret", SecretString="s3cret", KmsKeyId=key)
    readers = ["ssm:GetParameter*", "secretsmanager:GetSecretValue"]
    full = _role(iam, "reader", [*readers, "kms:Decrypt"])
    partial = _role(iam, "no-kms", readers)
    ok_ssm, ok_sm = _session(server, full, "ssm"), _session(server, full, "secretsmanager")
    assert (
        ok_ssm.get_parameter(Name="/k/secure", WithDecryption=True)["Parameter"]["Value"]
        == "s3cret"
    )
    assert ok_sm.get_secret_value(SecretId="k/secret")["SecretString"] == "s3cret"
    no_ssm, no_sm = _session(server, partial, "ssm"), _session(server, partial, "secretsmanager")
    err = _error(no_ssm.get_parameter, Name="/k/secure", WithDecryption=True)
    assert err["Code"] == "AccessDeniedException"
    assert "kms:Decrypt" in err["Message"] and "(Service: AWSKMS;" in err["Message"]
    err = _error(no_sm.get_secret_value, SecretId="k/secret")
    assert err == {"Code": "AccessDeniedException", "Message": "Access to KMS is not allowed"}
    # without decryption and for plain parameters, KMS is not involved
    assert no_ssm.get_parameter(Name="/k/plain")["Parameter"]["Value"] == "public"
    assert no_ssm.get_parameter(Name="/k/secure")["Parameter"]["Value"] != "s3cret"
    # and the ssm permission is needed as well
    kms_only = _session(server, _role(iam, "kms-only", ["kms:Decrypt"]), "ssm")
    assert _error(kms_only.get_parameter, Name="/k/secure", WithDecryption=True)["Code"] == (
        "AccessDeniedException"
    )
    # the KMS calls were made through Secrets Manager / Parameter Store (kms:ViaService)
    server.runtime.audit.flush()
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]
    )["Events"]
    agents = {json.loads(e["CloudTrailEvent"])["userAgent"] for e in events}
    assert {"ssm.amazonaws.com", "secretsmanager.amazonaws.com"} <= agents
