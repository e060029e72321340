"""Secrets Manager end to end with boto3: secrets, versions, labels, deletion, policies,
tags, random passwords, batch reads and replication."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta

import botocore.exceptions
import pytest

TOKEN_A = "a" * 32
TOKEN_B = "b" * 32


def _code(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"]


def test_create_get_put_versions_and_stages(server):
    sm = server.client("secretsmanager")
    created = sm.create_secret(
        Name="prod/db",
        SecretString='{"password": "one"}',
        ClientRequestToken=TOKEN_A,
        Description="db",
        Tags=[{"Key": "team", "Value": "core"}],
    )
    arn = created["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-")
    assert len(arn.rsplit("-", 1)[1]) == 6 and created["VersionId"] == TOKEN_A
    assert _code(sm.create_secret, Name="prod/db", SecretString="x") == "ResourceExistsException"
    for secret_id in ("prod/db", arn, arn.rsplit("-", 1)[0]):
        assert sm.get_secret_value(SecretId=secret_id)["SecretString"] == '{"password": "one"}'
    # idempotent token: same data is a no-op, different data an error
    sm.put_secret_value(SecretId=arn, SecretString="two", ClientRequestToken=TOKEN_B)
    sm.put_secret_value(SecretId=arn, SecretString="two", ClientRequestToken=TOKEN_B)
    assert (
        _code(sm.put_secret_value, SecretId=arn, SecretString="three", ClientRequestToken=TOKEN_B)
        == "ResourceExistsException"
    )
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages == {TOKEN_A: ["AWSPREVIOUS"], TOKEN_B: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["VersionId"] == TOKEN_A
    assert sm.get_secret_value(SecretId=arn, VersionId=TOKEN_A)["SecretString"].startswith("{")
    # custom labels and UpdateSecretVersionStage
    sm.put_secret_value(
        SecretId=arn,
        SecretBinary=b"\x00\x01",
        VersionStages=["canary"],
        ClientRequestToken="c" * 32,
    )
    assert sm.get_secret_value(SecretId=arn, VersionStage="canary")["SecretBinary"] == b"\x00\x01"
    assert (
        _code(
            sm.update_secret_version_stage,
            SecretId=arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId="c" * 32,
        )
        == "InvalidParameterException"
    )
    sm.update_secret_version_stage(
        SecretId=arn,
        VersionStage="AWSCURRENT",
        MoveToVersionId="c" * 32,
        RemoveFromVersionId=TOKEN_B,
    )
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages == {TOKEN_B: ["AWSPREVIOUS"], "c" * 32: ["canary", "AWSCURRENT"]}
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="canary", RemoveFromVersionId="c" * 32
    )
    versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    assert {v["VersionId"] for v in versions} == {TOKEN_A, TOKEN_B, "c" * 32}
    # UpdateSecret: description and a new value
    out = sm.update_secret(SecretId=arn, Description="new", SecretString="four")
    assert sm.get_secret_value(SecretId=arn)["VersionId"] == out["VersionId"]
    assert sm.describe_secret(SecretId=arn)["Description"] == "new"
    assert _code(sm.get_secret_value, SecretId="missing") == "ResourceNotFoundException"
    empty = sm.create_secret(Name="empty")
    assert "VersionId" not in empty
    assert _code(sm.get_secret_value, SecretId="empty") == "ResourceNotFoundException"
    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": ["prod/"]}])["SecretList"]
    assert [s["Name"] for s in listed] == ["prod/db"]
    listed = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["!team"]}])["SecretList"]
    assert [s["Name"] for s in listed] == ["empty"]


def test_delete_restore_and_purge(server, clock):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="temp", SecretString="v")["ARN"]
    assert _code(sm.delete_secret, SecretId=arn, RecoveryWindowInDays=6) == (
        "InvalidParameterException"
    )
    assert (
        _code(
            sm.delete_secret, SecretId=arn, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True
        )
        == "InvalidParameterException"
    )
    deleted = sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    assert deleted["DeletionDate"] > datetime.now(UTC) + timedelta(days=6)
    assert _code(sm.get_secret_value, SecretId=arn) == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)
    assert sm.list_secrets()["SecretList"] == []
    assert len(sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]) == 1
    assert _code(sm.create_secret, Name="temp", SecretString="x") == "InvalidRequestException"
    sm.restore_secret(SecretId=arn)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v"
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    provider = server.runtime.providers["secretsmanager"]
    provider.purge_due(clock.now() + timedelta(days=6))
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)
    provider.purge_due(clock.now() + timedelta(days=8))
    assert _code(sm.describe_secret, SecretId=arn) == "ResourceNotFoundException"
    # force delete: immediate, and fine on a secret that does not exist
    sm.create_secret(Name="gone", SecretString="v")
    sm.delete_secret(SecretId="gone", ForceDeleteWithoutRecovery=True)
    assert _code(sm.describe_secret, SecretId="gone") == "ResourceNotFoundException"
    sm.delete_secret(SecretId="never-existed", ForceDeleteWithoutRecovery=True)


def test_policies_tags_random_passwords(server):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="pol", SecretString="v")["ARN"]
    public = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                }
            ],
        }
    )
    scoped = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "secretsmanager:DeleteSecret",
                    "Resource": "*",
                }
            ],
        }
    )
    assert (
        _code(sm.put_resource_policy, SecretId=arn, ResourcePolicy=public, BlockPublicPolicy=True)
        == "PublicPolicyException"
    )
    assert sm.validate_resource_policy(ResourcePolicy=public)["PolicyValidationPassed"] is False
    assert sm.validate_resource_policy(ResourcePolicy=scoped)["PolicyValidationPassed"] is True
    assert _code(sm.put_resource_policy, SecretId=arn, ResourcePolicy="{nope") == (
        "MalformedPolicyDocumentException"
    )
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=scoped, BlockPublicPolicy=True)
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == json.loads(scoped)
    # the policy is enforced: even the administrator can't delete the secret now
    assert _code(sm.delete_secret, SecretId=arn) == "AccessDeniedException"
    sm.delete_resource_policy(SecretId=arn)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sm.untag_resource(SecretId=arn, TagKeys=["a"])
    assert sm.describe_secret(SecretId=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    pw = sm.get_random_password()["RandomPassword"]
    assert len(pw) == 32
    pw = sm.get_random_password(
        PasswordLength=50, ExcludePunctuation=True, ExcludeCharacters="abc", IncludeSpace=True
    )["RandomPassword"]
    assert len(pw) == 50 and not set(pw) & set("abc" + string.punctuation)
    pw = sm.get_random_password(
        PasswordLength=4, ExcludeUppercase=True, ExcludeLowercase=True, ExcludePunctuation=True
    )["RandomPassword"]
    assert pw.isdigit()
    for _ in range(20):
        pw = sm.get_random_password(PasswordLength=4)["RandomPassword"]
        assert any(c.islower() for c in pw) and any(c.isupper() for c in pw)
        assert any(c.isdigit() for c in pw) and any(c in string.punctuation for c in pw)
    assert (
        _code(
            sm.get_random_password,
            ExcludeUppercase=True,
            ExcludeLowercase=True,
            ExcludeNumbers=True,
            ExcludePunctuation=True,
        )
        == "InvalidParameterException"
    )


def test_batch_get_and_replication(server):
    server.client("kms", region="eu-west-1").describe_key(KeyId="alias/aws/secretsmanager")
    sm = server.client("secretsmanager")
    for i in range(3):
        sm.create_secret(Name=f"batch/{i}", SecretString=f"v{i}")
    out = sm.batch_get_secret_value(SecretIdList=["batch/0", "batch/2", "nope"])
    assert [v["SecretString"] for v in out["SecretValues"]] == ["v0", "v2"]
    assert out["Errors"][0]["ErrorCode"] == "ResourceNotFoundException"
    out = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch/"]}], MaxResults=2)
    assert len(out["SecretValues"]) == 2 and out["NextToken"]
    assert (
        _code(
            sm.batch_get_secret_value,
            SecretIdList=["a"],
            Filters=[{"Key": "name", "Values": ["b"]}],
        )
        == "InvalidParameterException"
    )
    # replication: read-only replicas in their region, kept in sync
    arn = sm.create_secret(
        Name="global", SecretString="g1", AddReplicaRegions=[{"Region": "eu-west-1"}]
    )["ARN"]
    eu = server.client("secretsmanager", region="eu-west-1")
    replica_arn = arn.replace("us-east-1", "eu-west-1")
    assert eu.get_secret_value(SecretId="global")["SecretString"] == "g1"
    assert eu.describe_secret(SecretId="global")["PrimaryRegion"] == "us-east-1"
    sm.put_secret_value(SecretId=arn, SecretString="g2")
    assert eu.get_secret_value(SecretId=replica_arn)["SecretString"] == "g2"
    assert _code(eu.put_secret_value, SecretId="global", SecretString="x") == (
        "InvalidRequestException"
    )
    status = sm.describe_secret(SecretId=arn)["ReplicationStatus"]
    assert status[0]["Region"] == "eu-west-1" and status[0]["Status"] == "InSync"
    assert _code(sm.delete_secret, SecretId=arn) == "InvalidRequestException"
    eu.stop_replication_to_replica(SecretId="global")
    eu.put_secret_value(SecretId="global", SecretString="standalone")
    assert "ReplicationStatus" not in sm.describe_secret(SecretId=arn)
    sm.replicate_secret_to_regions(
        SecretId=arn, AddReplicaRegions=[{"Region": "eu-west-1"}], ForceOverwriteReplicaSecret=True
    )
    assert eu.get_secret_value(SecretId="global")["SecretString"] == "g2"
    sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=["eu-west-1"])
    assert _code(eu.get_secret_value, SecretId="global") == "ResourceNotFoundException"
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
