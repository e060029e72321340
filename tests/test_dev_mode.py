"""--dev mode: LocalStack-style credentials, state reset and snapshots."""

from __future__ import annotations

import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from support import ThreadServer, make_settings


@pytest.fixture
def dev_server(tmp_path, clock, database_url):
    srv = ThreadServer(make_settings(tmp_path / "dev", database_url, dev=True), clock).start()
    try:
        yield srv
    finally:
        srv.stop()


def post(server, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(server.endpoint + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_unregistered_key_refused_without_dev(sqlite_server):
    for key in ("test", "AKIAANYTHINGATALL000"):
        sts = sqlite_server.client("sts", access_key=key, secret_key="test")
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sts.get_caller_identity()
        assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_unregistered_key_accepted_with_dev(dev_server):
    for key, secret in (("test", "test"), ("AKIAANYTHINGATALL000", "whatever")):
        identity = dev_server.client("sts", access_key=key, secret_key=secret).get_caller_identity()
        assert identity["Account"] == "000000000000"
        assert identity["Arn"] == "arn:aws:iam::000000000000:root"
    # the dev principal is an administrator
    dev_server.client("iam", access_key="test", secret_key="test").create_user(UserName="u1")


def test_registered_key_with_wrong_signature_refused_in_dev(dev_server):
    key, _ = dev_server.credentials
    sts = dev_server.client("sts", access_key=key, secret_key="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sts.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_registered_non_admin_still_denied_in_dev(dev_server):
    iam = dev_server.client("iam")
    iam.create_user(UserName="limited")
    key = iam.create_access_key(UserName="limited")["AccessKey"]
    limited = dev_server.client(
        "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    with pytest.raises(botocore.exceptions.ClientError) as info:
        limited.list_users()
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_dev_endpoints_do_not_exist_without_dev(sqlite_server):
    for path in ("/_bastion/reset", "/moto-api/reset", "/_bastion/state/save?name=x"):
        status, _ = post(sqlite_server, path)
        assert status == 404
    sqlite_server.client("iam").create_user(UserName="stays")
    assert "stays" in [u["UserName"] for u in sqlite_server.client("iam").list_users()["Users"]]


def _user_names(server) -> list[str]:
    return sorted(u["UserName"] for u in server.client("iam").list_users()["Users"])


@pytest.mark.parametrize("path", ["/_bastion/reset", "/moto-api/reset"])
def test_reset_removes_everything_created(dev_server, path):
    iam = dev_server.client("iam")
    for i in range(5):
        iam.create_user(UserName=f"user{i}")
        iam.create_access_key(UserName=f"user{i}")
    second_admin_key = iam.create_access_key(UserName="admin")["AccessKey"]["AccessKeyId"]
    assert len(_user_names(dev_server)) == 6
    status, body = post(dev_server, path)
    assert status == 200, body
    assert _user_names(dev_server) == ["admin"]
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="admin")["AccessKeyMetadata"]]
    assert keys == [dev_server.credentials[0]]
    assert second_admin_key not in keys
    assert iam.create_user(UserName="user0")["User"]["UserName"] == "user0"  # names free again


def test_reset_of_one_service_and_unknown_service(dev_server):
    dev_server.client("iam").create_user(UserName="keepme")
    assert post(dev_server, "/_bastion/reset?service=cloudtrail")[0] == 200  # keeps IAM state
    assert post(dev_server, "/_bastion/reset?service=nosuch")[0] == 400
    assert "keepme" in _user_names(dev_server)
    assert post(dev_server, "/_bastion/reset?service=iam")[0] == 200
    assert _user_names(dev_server) == ["admin"]


def test_reset_makes_deleted_keys_stop_working(dev_server):
    iam = dev_server.client("iam")
    iam.create_user(UserName="temp")
    key = iam.create_access_key(UserName="temp")["AccessKey"]
    temp = dev_server.client(
        "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    assert temp.get_caller_identity()["Arn"].endswith("user/temp")
    post(dev_server, "/_bastion/reset")
    # now unregistered: in dev mode it is accepted unverified, as the account root
    assert temp.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"


def test_snapshot_save_and_load(dev_server):
    iam = dev_server.client("iam")
    iam.create_user(UserName="prepared", Tags=[{"Key": "k", "Value": "v"}])
    key = iam.create_access_key(UserName="prepared")["AccessKey"]
    assert post(dev_server, "/_bastion/state/save?name=suite-start")[0] == 200
    iam.create_user(UserName="later")
    post(dev_server, "/_bastion/reset")
    assert _user_names(dev_server) == ["admin"]
    status, body = post(dev_server, "/_bastion/state/load?name=suite-start")
    assert status == 200, body
    assert _user_names(dev_server) == ["admin", "prepared"]
    assert iam.get_user(UserName="prepared")["User"]["Tags"] == [{"Key": "k", "Value": "v"}]
    restored = dev_server.client(
        "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    assert restored.get_caller_identity()["Arn"].endswith("user/prepared")  # secret unseals
    assert post(dev_server, "/_bastion/state/load?name=missing")[0] == 404
    assert post(dev_server, "/_bastion/state/save?name=../escape")[0] == 400


def test_sdk_endpoint_environment_variables_reach_bastion(dev_server, monkeypatch):
    """Unchanged client code: no endpoint_url, only the variables AWS SDKs read."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dev_server.endpoint)
    assert boto3.client("sts").get_caller_identity()["Account"] == "000000000000"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", dev_server.endpoint)
    boto3.client("iam").create_user(UserName="via-service-variable")
    assert "via-service-variable" in _user_names(dev_server)
