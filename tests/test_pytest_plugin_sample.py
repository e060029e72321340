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


def admin_user_arn(iam) -> str:
    """The README's example 'code under test'."""
    return iam.get_user(UserName="admin")["User"]["Arn"]


def test_readme_example(bastion_client):
    assert admin_user_arn(bastion_client("iam")).endswith(":user/admin")
