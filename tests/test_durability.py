"""An acknowledged write survives `kill -9` of a real server process."""

from __future__ import annotations

from support import ProcessServer


def test_kill_9_right_after_mutating_call_keeps_the_change(tmp_path, database_url):
    srv = ProcessServer(tmp_path / "data", database_url).start()
    try:
        iam = srv.client("iam")
        created = iam.create_user(UserName="durable")["User"]
        key = iam.create_access_key(UserName="durable")["AccessKey"]
        srv.kill()
        srv.start()
        iam = srv.client("iam")
        assert iam.get_user(UserName="durable")["User"]["UserId"] == created["UserId"]
        durable = srv.client(
            "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
        )
        assert durable.get_caller_identity()["Arn"].endswith(":user/durable")
        events = srv.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}]
        )["Events"]
        assert len(events) == 1
    finally:
        srv.stop()
