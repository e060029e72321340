"""The event bus end to end: rules, webhook and command targets, retries, CloudTrail
events, Parameter Store change and policy events."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import botocore.exceptions
import pytest


def _bus(server):
    return server.runtime.providers["events"].bus


def test_parameter_change_events_reach_a_webhook_with_retries(server, clock, hook):
    events = server.client("events")
    ssm = server.client("ssm")
    events.put_rule(
        Name="ssm-changes",
        EventPattern=json.dumps(
            {
                "source": ["aws.ssm"],
                "detail-type": ["Parameter Store Change"],
                "detail": {"name": [{"prefix": "/app/"}]},
            }
        ),
    )
    hook.failures = 1
    events.put_targets(Rule="ssm-changes", Targets=[{"Id": "hook", "Arn": hook.url}])
    assert events.list_targets_by_rule(Rule="ssm-changes")["Targets"][0]["Arn"] == hook.url
    ssm.put_parameter(Name="/app/a", Value="1", Type="String")
    ssm.put_parameter(Name="/other", Value="1", Type="String")
    _bus(server).pump(clock.now())
    assert hook.received == []  # first attempt failed (HTTP 500)
    _bus(server).pump(clock.now())
    assert hook.received == []  # not due yet: backoff on the injectable clock
    clock.advance(timedelta(seconds=2))
    _bus(server).pump(clock.now())
    assert len(hook.received) == 1
    event = hook.received[0]
    assert event["source"] == "aws.ssm" and event["detail-type"] == "Parameter Store Change"
    assert event["detail"] == {"operation": "Create", "name": "/app/a", "type": "String"}
    assert event["resources"] == ["arn:aws:ssm:us-east-1:000000000000:parameter/app/a"]
    # disabled rules do not match; rules with targets can't be deleted
    events.disable_rule(Name="ssm-changes")
    ssm.put_parameter(Name="/app/a", Value="2", Overwrite=True)
    _bus(server).pump(clock.now())
    assert len(hook.received) == 1
    assert events.describe_rule(Name="ssm-changes")["State"] == "DISABLED"
    with pytest.raises(botocore.exceptions.ClientError):
        events.delete_rule(Name="ssm-changes")
    events.remove_targets(Rule="ssm-changes", Ids=["hook"])
    events.delete_rule(Name="ssm-changes")
    assert events.list_rules()["Rules"] == []


def test_cloudtrail_records_and_custom_events_reach_a_command(server, clock, tmp_path, monkeypatch):
    out = tmp_path / "events.jsonl"
    script = tmp_path / "sink.py"
    script.write_text(
        f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n"
    )
    commands = tmp_path / "commands.toml"
    commands.write_text(f"[commands]\nsink = [{sys.executable!r}, {str(script)!r}]\n")
    monkeypatch.setenv("BASTION_COMMANDS", str(commands))
    events = server.client("events")
    events.put_rule(
        Name="iam-calls",
        EventPattern=json.dumps(
            {
                "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {"eventSource": ["iam.amazonaws.com"], "eventName": ["CreateUser"]},
            }
        ),
    )
    events.put_rule(
        Name="custom",
        EventPattern=json.dumps(
            {"source": [{"prefix": "myapp."}], "detail": {"n": [{"numeric": [">", 1]}]}}
        ),
    )
    sink = "arn:aws:lambda:us-east-1:000000000000:function:bastion-command:sink"
    for rule in ("iam-calls", "custom"):
        events.put_targets(Rule=rule, Targets=[{"Id": "sink", "Arn": sink}])
    server.client("iam").create_user(UserName="watched")
    result = events.put_events(
        Entries=[
            {"Source": "myapp.orders", "DetailType": "Order", "Detail": json.dumps({"n": 2})},
            {"Source": "myapp.orders", "DetailType": "Order", "Detail": json.dumps({"n": 0})},
            {"Source": "aws.fake", "DetailType": "x", "Detail": "{}"},
            {"Source": "myapp.orders", "DetailType": "Order", "Detail": "not json"},
        ]
    )
    assert result["FailedEntryCount"] == 2
    assert [e.get("ErrorCode") for e in result["Entries"]] == [
        None,
        None,
        "NotAuthorizedForSourceException",
        "MalformedDetail",
    ]
    server.runtime.audit.flush()
    _bus(server).pump(clock.now())
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = sorted(e["detail-type"] for e in lines)
    assert kinds == ["AWS API Call via CloudTrail", "Order"]
    trail = next(e for e in lines if e["detail-type"] == "AWS API Call via CloudTrail")
    assert trail["source"] == "aws.iam"
    assert trail["detail"]["requestParameters"]["userName"] == "watched"
    assert (
        events.test_event_pattern(
            EventPattern=json.dumps({"source": ["a"]}),
            Event=json.dumps(
                {
                    "id": "1",
                    "account": "1",
                    "source": "a",
                    "time": "t",
                    "region": "r",
                    "detail-type": "d",
                    "detail": {},
                }
            ),
        )["Result"]
        is True
    )
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.put_rule(Name="bad", EventPattern='{"source": "x"}')
    assert info.value.response["Error"]["Code"] == "InvalidEventPatternException"


def test_api_calls_made_while_no_rule_exists_are_never_delivered(server, clock, hook):
    """With no enabled pattern rule the bus skips audit records without reading them;
    a rule created later sees only the calls made after it."""
    iam = server.client("iam")
    events = server.client("events")
    iam.create_user(UserName="before-rule")
    server.runtime.audit.flush()
    _bus(server).pump(clock.now())
    events.put_rule(
        Name="iam-users",
        EventPattern=json.dumps(
            {"detail-type": ["AWS API Call via CloudTrail"], "source": ["aws.iam"]}
        ),
    )
    events.put_targets(Rule="iam-users", Targets=[{"Id": "hook", "Arn": hook.url}])
    iam.create_user(UserName="after-rule")
    server.runtime.audit.flush()
    _bus(server).pump(clock.now())
    users = [e["detail"]["requestParameters"]["userName"] for e in hook.received]
    assert users == ["after-rule"]


def test_parameter_policies_expire_and_notify(server, clock, hook):
    events = server.client("events")
    ssm = server.client("ssm")
    events.put_rule(
        Name="policy",
        EventPattern=json.dumps(
            {"source": ["aws.ssm"], "detail-type": ["Parameter Store Policy Action"]}
        ),
    )
    events.put_targets(Rule="policy", Targets=[{"Id": "hook", "Arn": hook.url}])
    expires = (clock.now() + timedelta(hours=3)).astimezone(UTC)
    policies = [
        {
            "Type": "Expiration",
            "Version": "1.0",
            "Attributes": {"Timestamp": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
        },
        {
            "Type": "ExpirationNotification",
            "Version": "1.0",
            "Attributes": {"Before": "1", "Unit": "Hours"},
        },
        {
            "Type": "NoChangeNotification",
            "Version": "1.0",
            "Attributes": {"After": "1", "Unit": "Hours"},
        },
    ]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ssm.put_parameter(
            Name="/temp", Value="v", Type="String", Tier="Standard", Policies=json.dumps(policies)
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ssm.put_parameter(
            Name="/temp",
            Value="v",
            Type="String",
            Tier="Advanced",
            Policies=json.dumps([{"Type": "Nope", "Version": "1.0", "Attributes": {}}]),
        )
    assert info.value.response["Error"]["Code"] == "InvalidPolicyTypeException"
    assert (
        ssm.put_parameter(
            Name="/temp",
            Value="v",
            Type="String",
            Tier="Intelligent-Tiering",
            Policies=json.dumps(policies),
        )["Tier"]
        == "Advanced"
    )
    described = ssm.describe_parameters()["Parameters"][0]["Policies"]
    assert {p["PolicyType"] for p in described} == {
        "Expiration",
        "ExpirationNotification",
        "NoChangeNotification",
    }
    provider = server.runtime.providers["ssm"]
    clock.advance(timedelta(hours=1, minutes=1))
    provider.run_policies(clock.now())
    clock.advance(timedelta(hours=1))
    provider.run_policies(clock.now())
    _bus(server).pump(clock.now())
    kinds = sorted(e["detail"]["policy-type"] for e in hook.received)
    assert kinds == ["ExpirationNotification", "NoChangeNotification"]
    later = clock.now()
    clock.set(datetime.now(UTC))  # botocore signs with the real time
    assert ssm.get_parameter(Name="/temp")["Parameter"]["Value"] == "v"
    clock.set(later + timedelta(hours=1))
    provider.run_policies(clock.now())
    _bus(server).pump(clock.now())
    clock.set(datetime.now(UTC))
    assert hook.received[-1]["detail"]["policy-type"] == "Expiration"
    assert hook.received[-1]["detail"]["parameter-name"] == "/temp"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ssm.get_parameter(Name="/temp")
    assert info.value.response["Error"]["Code"] == "ParameterNotFound"
