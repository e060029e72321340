"""The shipped pytest plugin, used the way a user's test suite uses it."""

from __future__ import annotations

import pytest


def caller_arn(sts_client) -> str:
    """A piece of 'application code' under test."""
    return sts_client.get_caller_identity()["Arn"]


@pytest.fixture(autouse=True)
def _isolated(bastion_reset):
    """Every test in this module starts from a fresh state."""


def test_client_factory_reaches_the_dev_server(bastion_client):
    assert caller_arn(bastion_client("sts")) == "arn:aws:iam::000000000000:root"


def test_state_from_one_test_is_gone_in_the_next_part_one(bastion_client):
    bastion_client("iam").create_user(UserName="leaky")
    assert "leaky" in [u["UserName"] for u in bastion_client("iam").list_users()["Users"]]


def test_state_from_one_test_is_gone_in_the_next_part_two(bastion_client):
    assert "leaky" not in [u["UserName"] for u in bastion_client("iam").list_users()["Users"]]


def test_running_context_manager_outside_pytest():
    from bastion.testing import running

    with running() as bastion:
        assert bastion.client("sts").get_caller_identity()["Account"] == "000000000000"
        bastion.client("iam").create_user(UserName="x")
        assert "iam" in bastion.reset()["reset"]


def read_db_password(secrets) -> str:
    """The README's example 'code under test'."""
    return secrets.get_secret_value(SecretId="prod/db")["SecretString"]


def test_readme_example(bastion_client):
    bastion_client("secretsmanager").create_secret(Name="prod/db", SecretString="s3cret")
    assert read_db_password(bastion_client("secretsmanager")) == "s3cret"


def test_reset_also_clears_secrets_keys_and_parameters(bastion_server, bastion_client):
    bastion_client("secretsmanager").create_secret(Name="gone/soon", SecretString="x")
    key_id = bastion_client("kms").create_key()["KeyMetadata"]["KeyId"]
    bastion_client("ssm").put_parameter(Name="/gone/soon", Value="v", Type="String")
    bastion_server.reset()
    assert bastion_client("secretsmanager").list_secrets()["SecretList"] == []
    assert bastion_client("ssm").describe_parameters()["Parameters"] == []
    keys = [k["KeyId"] for k in bastion_client("kms").list_keys()["Keys"]]
    assert key_id not in keys
