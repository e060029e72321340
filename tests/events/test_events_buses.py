"""Custom event buses: their lifecycle, rules and targets on them by name or ARN, and
events matched only against the rules of the bus they are put on."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from events_support import event_bus

ACCOUNT = "000000000000"
BUS_ARN = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/"


def _error(info: pytest.ExceptionInfo) -> tuple[str, str]:
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_bus_lifecycle(server):
    events = server.client("events")
    assert events.list_event_buses()["EventBuses"] == [
        {"Name": "default", "Arn": BUS_ARN + "default"}
    ]
    assert events.describe_event_bus()["Arn"] == BUS_ARN + "default"
    out = events.create_event_bus(
        Name="orders",
        Description="order events",
        DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"},
        Tags=[{"Key": "team", "Value": "shop"}],
    )
    assert out["EventBusArn"] == BUS_ARN + "orders"
    assert out["Description"] == "order events"
    for name in ("orders", BUS_ARN + "orders"):
        described = events.describe_event_bus(Name=name)
        assert described["Name"] == "orders" and described["Arn"] == BUS_ARN + "orders"
        assert described["Description"] == "order events"
        assert described["DeadLetterConfig"] == {"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"}
        assert described["CreationTime"] <= described["LastModifiedTime"]
    for name in ("orders-eu", "audit"):
        events.create_event_bus(Name=name)
    names = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert names == ["audit", "default", "orders", "orders-eu"]
    prefixed = events.list_event_buses(NamePrefix="orders")["EventBuses"]
    assert [b["Name"] for b in prefixed] == ["orders", "orders-eu"]
    first = events.list_event_buses(Limit=3)
    assert len(first["EventBuses"]) == 3
    rest = events.list_event_buses(Limit=3, NextToken=first["NextToken"])
    assert [b["Name"] for b in rest["EventBuses"]] == ["orders-eu"] and "NextToken" not in rest
    events.delete_event_bus(Name="orders")
    events.delete_event_bus(Name="orders")  # deleting a missing bus succeeds
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.describe_event_bus(Name="orders")
    assert _error(info) == ("ResourceNotFoundException", "Event bus orders does not exist.")


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (
            {"Name": "default"},
            "ResourceAlreadyExistsException",
            "Event bus default already exists.",
        ),
        ({"Name": "dup"}, "ResourceAlreadyExistsException", "Event bus dup already exists."),
        ({"Name": "team/bus"}, "ValidationException", "Event bus name must not contain '/'."),
        (
            {"Name": "aws.partner/acme.com/1/bus", "EventSourceName": "aws.partner/acme.com/1/bus"},
            "ResourceNotFoundException",
            "Event source aws.partner/acme.com/1/bus does not exist.",
        ),
    ],
)
def test_bus_names_refused(server, call, code, message):
    events = server.client("events")
    events.create_event_bus(Name="dup")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.create_event_bus(**call)
    assert _error(info) == (code, message)


def test_the_default_bus_cannot_be_deleted(server):
    events = server.client("events")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.delete_event_bus(Name="default")
    assert _error(info) == ("ValidationException", "Cannot delete event bus default.")


def test_unknown_buses_are_not_found(server):
    events = server.client("events")
    missing = ("ResourceNotFoundException", "Event bus nope does not exist.")
    calls = [
        lambda: events.put_rule(Name="r", EventPattern='{"source": ["a"]}', EventBusName="nope"),
        lambda: events.describe_rule(Name="r", EventBusName="nope"),
        lambda: events.list_rules(EventBusName="nope"),
        lambda: events.enable_rule(Name="r", EventBusName="nope"),
        lambda: events.disable_rule(Name="r", EventBusName="nope"),
        lambda: events.delete_rule(Name="r", EventBusName=BUS_ARN + "nope"),
        lambda: events.put_targets(
            Rule="r", EventBusName="nope", Targets=[{"Id": "t", "Arn": "http://127.0.0.1:9/"}]
        ),
        lambda: events.remove_targets(Rule="r", EventBusName="nope", Ids=["t"]),
        lambda: events.list_targets_by_rule(Rule="r", EventBusName="nope"),
        lambda: events.describe_event_bus(Name="nope"),
    ]
    for call in calls:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            call()
        assert _error(info) == missing
    out = events.put_events(
        Entries=[{"Source": "app", "DetailType": "x", "Detail": "{}", "EventBusName": "nope"}]
    )
    assert out["FailedEntryCount"] == 1
    assert out["Entries"] == [
        {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": missing[1]}
    ]


def test_scheduled_rules_only_on_the_default_bus(server):
    events = server.client("events")
    events.create_event_bus(Name="orders")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.put_rule(Name="tick", ScheduleExpression="rate(1 hour)", EventBusName="orders")
    assert _error(info) == (
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    )


def test_events_match_only_the_rules_of_their_bus(server, clock, hook):
    events = server.client("events")
    events.create_event_bus(Name="orders")
    pattern = json.dumps({"source": ["shop"]})
    arn = events.put_rule(Name="placed", EventPattern=pattern, EventBusName="orders")["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders/placed"
    events.put_rule(Name="placed", EventPattern=pattern)  # same name, default bus
    events.put_targets(
        Rule="placed",
        EventBusName=BUS_ARN + "orders",
        Targets=[{"Id": "orders-hook", "Arn": hook.url, "Input": '{"bus": "orders"}'}],
    )
    events.put_targets(
        Rule="placed", Targets=[{"Id": "default-hook", "Arn": hook.url, "Input": '{"bus": "d"}'}]
    )
    listed = events.list_rules(EventBusName="orders")["Rules"]
    assert [(r["Name"], r["EventBusName"], r["Arn"]) for r in listed] == [("placed", "orders", arn)]
    targets = events.list_targets_by_rule(Rule="placed", EventBusName="orders")["Targets"]
    assert [t["Id"] for t in targets] == ["orders-hook"]
    result = events.put_events(
        Entries=[
            {"Source": "shop", "DetailType": "Placed", "Detail": "{}", "EventBusName": "orders"},
            {
                "Source": "shop",
                "DetailType": "Placed",
                "Detail": "{}",
                "EventBusName": BUS_ARN + "orders",
            },
            {"Source": "shop", "DetailType": "Placed", "Detail": "{}"},
        ]
    )
    assert result["FailedEntryCount"] == 0
    event_bus(server).pump(clock.now())
    assert sorted(e["bus"] for e in hook.received) == ["d", "orders", "orders"]
    events.disable_rule(Name="placed", EventBusName="orders")
    assert events.describe_rule(Name="placed", EventBusName="orders")["State"] == "DISABLED"
    assert events.describe_rule(Name="placed")["State"] == "ENABLED"


def test_deleting_a_bus_deletes_its_rules(server, clock, hook):
    events = server.client("events")
    events.create_event_bus(Name="orders")
    events.put_rule(Name="placed", EventPattern='{"source": ["shop"]}', EventBusName="orders")
    events.put_targets(
        Rule="placed", EventBusName="orders", Targets=[{"Id": "hook", "Arn": hook.url}]
    )
    events.put_rule(Name="placed", EventPattern='{"source": ["shop"]}')
    events.delete_event_bus(Name="orders")
    events.create_event_bus(Name="orders")
    assert events.list_rules(EventBusName="orders")["Rules"] == []
    events.put_events(
        Entries=[{"Source": "shop", "DetailType": "x", "Detail": "{}", "EventBusName": "orders"}]
    )
    event_bus(server).pump(clock.now())
    assert hook.received == []
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["placed"]  # default bus kept
