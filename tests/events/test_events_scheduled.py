"""Scheduled rules fire on the injectable clock: rate and cron schedules, the Scheduled
Event they deliver, disabled rules, missed runs and restarts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import botocore.exceptions
import pytest
from events_support import event_bus

from bastion.spine.events import EventBus, iso
from bastion.storage.events_tables import events_rules


def _scheduled(hook) -> list[dict]:
    return [e for e in hook.received if e["detail-type"] == "Scheduled Event"]


def test_rate_rule_delivers_a_scheduled_event_every_period(server, clock, hook):
    events = server.client("events")
    start = clock.now()
    arn = events.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)")["RuleArn"]
    events.put_targets(Rule="every-5", Targets=[{"Id": "hook", "Arn": hook.url}])
    rule = events.describe_rule(Name="every-5")
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and "EventPattern" not in rule
    bus = event_bus(server)
    clock.advance(timedelta(minutes=4, seconds=59))
    bus.pump(clock.now())
    assert hook.received == []
    clock.advance(timedelta(seconds=1))
    server.runtime.scheduler.run_due(clock.now(), force=True)  # the registered job
    assert len(hook.received) == 1
    event = hook.received[0]
    assert {k: v for k, v in event.items() if k != "id"} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": iso(start + timedelta(minutes=5)),
        "region": "us-east-1",
        "resources": [arn],
        "detail": {},
    }
    uuid.UUID(event["id"])
    bus.pump(clock.now())
    assert len(hook.received) == 1  # a run fires once
    clock.advance(timedelta(minutes=5))
    bus.pump(clock.now())
    assert [e["time"] for e in hook.received][1:] == [iso(start + timedelta(minutes=10))]


def test_missed_runs_fire_once_then_the_schedule_resumes(server, clock, hook):
    events = server.client("events")
    start = clock.now()
    events.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="every-5", Targets=[{"Id": "hook", "Arn": hook.url}])
    bus = event_bus(server)
    clock.advance(timedelta(hours=1, minutes=2))  # down for an hour: twelve runs missed
    bus.pump(clock.now())
    assert len(hook.received) == 1
    clock.advance(timedelta(minutes=2, seconds=59))
    bus.pump(clock.now())
    assert len(hook.received) == 1
    clock.advance(timedelta(seconds=1))
    bus.pump(clock.now())
    assert [e["time"] for e in hook.received][1:] == [iso(start + timedelta(hours=1, minutes=5))]


def test_cron_rule_fires_at_its_utc_minute(server, clock, hook):
    events = server.client("events")
    start = clock.now()
    due = (start + timedelta(hours=2)).replace(minute=30, second=0, microsecond=0)
    events.put_rule(Name="daily", ScheduleExpression=f"cron(30 {due.hour} * * ? *)")
    events.put_targets(Rule="daily", Targets=[{"Id": "hook", "Arn": hook.url}])
    bus = event_bus(server)
    clock.set(due - timedelta(seconds=1))
    bus.pump(clock.now())
    assert hook.received == []
    clock.set(due)
    bus.pump(clock.now())
    clock.set(due + timedelta(hours=23))
    bus.pump(clock.now())
    clock.set(due + timedelta(days=1))
    bus.pump(clock.now())
    assert [e["time"] for e in hook.received] == [iso(due), iso(due + timedelta(days=1))]


def test_disabled_rules_do_not_fire_and_a_restart_does_not_fire_twice(server, clock, hook):
    events = server.client("events")
    events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)", State="DISABLED")
    events.put_targets(Rule="hourly", Targets=[{"Id": "hook", "Arn": hook.url}])
    bus = event_bus(server)
    clock.advance(timedelta(hours=3))
    bus.pump(clock.now())
    assert hook.received == []
    clock.set(datetime.now(UTC))  # botocore signs with the real time
    events.enable_rule(Name="hourly")
    enabled = clock.now()  # the schedule starts again when the rule is enabled
    clock.set(enabled + timedelta(minutes=59))
    bus.pump(clock.now())
    assert hook.received == []
    clock.set(enabled + timedelta(hours=1))
    bus.pump(clock.now())
    assert len(hook.received) == 1
    # another process (or this one restarted) finds the next run in storage
    restarted = EventBus(server.runtime.store, clock)
    restarted.pump(clock.now())
    assert len(hook.received) == 1 and restarted.pending() == 0
    clock.set(datetime.now(UTC))
    events.disable_rule(Name="hourly")
    clock.set(enabled + timedelta(hours=5))
    bus.pump(clock.now())
    assert len(hook.received) == 1


def test_a_rule_scheduled_before_runs_were_tracked_starts_its_schedule(server, clock, hook):
    """After an upgrade, a stored scheduled rule has no next run yet: the first pump starts
    its schedule rather than firing at once."""
    events = server.client("events")
    events.put_rule(Name="legacy", ScheduleExpression="rate(10 minutes)")
    events.put_targets(Rule="legacy", Targets=[{"Id": "hook", "Arn": hook.url}])
    with server.runtime.store.write() as conn:
        conn.execute(events_rules.update().values(next_fire_at=None))
    bus = event_bus(server)
    clock.advance(timedelta(hours=2))
    upgraded = clock.now()
    bus.pump(upgraded)
    assert hook.received == []
    clock.advance(timedelta(minutes=10))
    bus.pump(clock.now())
    assert [e["time"] for e in hook.received] == [iso(upgraded + timedelta(minutes=10))]


def test_a_rule_with_a_schedule_and_a_pattern_fires_on_both(server, clock, hook):
    events = server.client("events")
    events.put_rule(
        Name="both",
        ScheduleExpression="rate(1 day)",
        EventPattern=json.dumps({"source": ["myapp"]}),
    )
    events.put_targets(Rule="both", Targets=[{"Id": "hook", "Arn": hook.url}])
    events.put_events(Entries=[{"Source": "myapp", "DetailType": "Ping", "Detail": "{}"}])
    bus = event_bus(server)
    bus.pump(clock.now())
    assert [e["detail-type"] for e in hook.received] == ["Ping"]
    clock.advance(timedelta(days=1))
    bus.pump(clock.now())
    assert [e["detail-type"] for e in hook.received] == ["Ping", "Scheduled Event"]


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(2 weeks)",
        "cron(0 10 * * *)",
        "cron(7 20 * * 1-7 *)",
        "cron(*/60 * * * ? *)",
        "every 5 minutes",
    ],
)
def test_invalid_schedule_expressions_are_refused(server, expression):
    events = server.client("events")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.put_rule(Name="bad", ScheduleExpression=expression)
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Parameter ScheduleExpression is not valid.",
    }
    assert events.list_rules()["Rules"] == []


def test_a_rule_needs_a_pattern_or_a_schedule(server):
    events = server.client("events")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        events.put_rule(Name="empty", Description="nothing to match")
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Parameter(s) EventPattern or ScheduleExpression must be specified.",
    }
