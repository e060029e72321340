"""No secret in plaintext at rest: scan the database files, audit logs and server log."""

from __future__ import annotations

from support import ProcessServer


def _scan(paths, needle: bytes) -> list[str]:
    return [str(p) for p in paths if p.is_file() and needle in p.read_bytes()]


def test_no_plaintext_secret_in_database_or_logs(tmp_path):
    srv = ProcessServer(tmp_path / "data").start()
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="canary-user")
        secret = iam.create_access_key(UserName="canary-user")["AccessKey"]["SecretAccessKey"]
        key_id = iam.list_access_keys(UserName="canary-user")["AccessKeyMetadata"][0]["AccessKeyId"]
        canary = srv.client("sts", access_key=key_id, secret_key=secret)
        assert canary.get_caller_identity()["Arn"].endswith("user/canary-user")
        admin_secret = srv.credentials[1]
    finally:
        srv.stop()  # a clean stop flushes and exports the audit log
    data = tmp_path / "data"
    files = [p for p in data.rglob("*") if p.name not in ("credentials", "root.key")]
    files.append(srv.log_path)
    assert any(p.name == "bastion.db" for p in files)
    assert any(p.suffix == ".jsonl" for p in files)
    for needle in (secret, admin_secret):
        assert _scan(files, needle.encode()) == []
    # the scan can find things: the admin secret is in the credentials file by design
    assert _scan([data / "credentials"], admin_secret.encode()) == [str(data / "credentials")]
