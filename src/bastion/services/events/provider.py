"""Amazon EventBridge, the subset Bastion's event bus needs: event buses (the default
one and custom ones), rules with event patterns or schedules, targets (webhooks and
commands), PutEvents and TestEventPattern.

Matching, scheduled runs and delivery are the spine's (`bastion.spine.events.EventBus`);
this provider stores buses, rules and targets and puts custom events on a bus. A
scheduled rule's next run is computed here when the rule is created, changed or enabled
(`events_rules.next_fire_at`) and advanced by the bus each time it runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from bastion.clock import Clock, SystemClock
from bastion.context import RequestContext
from bastion.errors import ClientError, ResourceNotFoundError, ValidationError
from bastion.rules.event_patterns import PatternError, matches, parse_pattern
from bastion.rules.schedule_expressions import ScheduleError, parse_schedule
from bastion.services.base import Provider, operation
from bastion.services.events import buses
from bastion.spine import events as bus_module
from bastion.spine.events import DEFAULT_BUS, EventBus
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.events_tables import (
    events_buses,
    events_deliveries,
    events_outbox,
    events_rules,
    events_targets,
)

MAX_TARGETS = 5
MAX_ENTRIES = 10
MAX_EVENT_SIZE = 256 * 1024


def _pattern_error(reason: str) -> ClientError:
    return ClientError(
        f"Event pattern is not valid. Reason: {reason}", code="InvalidEventPatternException"
    )


def _not_found(name: str, bus: str = DEFAULT_BUS) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Rule {name} does not exist on EventBus {bus}.")


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _page(items: list[Any], request: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of `items` from the offset in NextToken (an unreadable token starts over)."""
    token = str(request.get("NextToken") or "0")
    start = int(token) if token.isdigit() else 0
    limit = request.get("Limit") or 100
    out: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out


class EventsProvider(Provider):
    service = "events"
    state_tables = (events_buses, events_rules, events_targets, events_outbox, events_deliveries)

    def __init__(
        self,
        store: Store | None = None,
        scheduler: Scheduler | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.bus = EventBus(store, clock or SystemClock()) if store is not None else None
        if scheduler is not None and self.bus is not None:
            scheduler.register("events-bus", self.bus.pump, timedelta(seconds=1))

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _bus(ctx: RequestContext, request: dict[str, Any]) -> str:
        """The bus a rule operation names; ResourceNotFoundException if there is none."""
        name = buses.bus_name(ctx, request.get("EventBusName"))
        buses.require(ctx.tx, ctx, name)
        return name

    @staticmethod
    def _rule_arn(ctx: RequestContext, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/{path}"

    @staticmethod
    def _bus_arn(ctx: RequestContext, bus: str) -> str:
        return buses.bus_arn(ctx, bus)

    @staticmethod
    def _where_rule(ctx: RequestContext, bus: str, name: str) -> tuple[Any, ...]:
        return (
            events_rules.c.account_id == ctx.account_id,
            events_rules.c.region == ctx.region,
            events_rules.c.bus == bus,
            events_rules.c.name == name,
        )

    def _rule(self, ctx: RequestContext, bus: str, name: str) -> Any:
        return (
            ctx.tx.execute(select(events_rules).where(*self._where_rule(ctx, bus, name)))
            .mappings()
            .first()
        )

    @staticmethod
    def _rule_out(row: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": row["name"],
            "Arn": row["arn"],
            "State": row["state"],
            "EventBusName": row["bus"],
        }
        for key, column in (
            ("EventPattern", "pattern"),
            ("ScheduleExpression", "schedule"),
            ("Description", "description"),
            ("RoleArn", "role_arn"),
        ):
            if row[column]:
                out[key] = row[column]
        return out

    def _targets(
        self, conn: Connection, ctx: RequestContext, bus: str, rule: str
    ) -> list[dict[str, Any]]:
        return [
            json.loads(text)
            for (text,) in conn.execute(
                select(events_targets.c.target)
                .where(
                    events_targets.c.account_id == ctx.account_id,
                    events_targets.c.region == ctx.region,
                    events_targets.c.bus == bus,
                    events_targets.c.rule == rule,
                )
                .order_by(events_targets.c.target_id)
            )
        ]

    # ---------------------------------------------------------------- buses

    @operation("CreateEventBus")
    def create_event_bus(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Name"]
        arn = self._bus_arn(ctx, name)
        ctx.authorize("events:CreateEventBus", [arn])
        if name == DEFAULT_BUS or buses.find(ctx.tx, ctx, name) is not None:
            raise ClientError(
                f"Event bus {name} already exists.", code="ResourceAlreadyExistsException"
            )
        source = request.get("EventSourceName")
        if source is None and "/" in name:
            raise ValidationError("Event bus name must not contain '/'.")
        if source is not None:  # partner event sources: none exist on Bastion
            raise ResourceNotFoundError(f"Event source {source} does not exist.")
        ctx.tx.execute(
            events_buses.insert().values(
                account_id=ctx.account_id,
                region=ctx.region,
                name=name,
                arn=arn,
                description=request.get("Description"),
                kms_key=request.get("KmsKeyIdentifier"),
                dead_letter=_json_or_none(request.get("DeadLetterConfig")),
                log_config=_json_or_none(request.get("LogConfig")),
                tags=json.dumps(request.get("Tags") or []),
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        out: dict[str, Any] = {"EventBusArn": arn}
        for key in ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig"):
            if request.get(key) is not None:
                out[key] = request[key]
        return out

    @operation("DescribeEventBus")
    def describe_event_bus(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = buses.bus_name(ctx, request.get("Name"))
        ctx.authorize("events:DescribeEventBus", [self._bus_arn(ctx, name)])
        if name == DEFAULT_BUS:
            return buses.describe(ctx, name, None, full=True)
        row = buses.find(ctx.tx, ctx, name)
        if row is None:
            raise buses.not_found(name)
        return buses.describe(ctx, name, row, full=True)

    @operation("ListEventBuses")
    def list_event_buses(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("events:ListEventBuses", ["*"])
        found = buses.listed(ctx.tx, ctx, request.get("NamePrefix"))
        return _page(found, request, "EventBuses")

    @operation("DeleteEventBus")
    def delete_event_bus(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Name"]
        ctx.authorize("events:DeleteEventBus", [self._bus_arn(ctx, name)])
        if name == DEFAULT_BUS:
            raise ValidationError("Cannot delete event bus default.")
        buses.delete_with_rules(ctx.tx, ctx, name)
        return {}

    # ---------------------------------------------------------------- rules

    @operation("PutRule")
    def put_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        name = request["Name"]
        arn = self._rule_arn(ctx, bus, name)
        ctx.authorize("events:PutRule", [arn])
        pattern = request.get("EventPattern")
        schedule = request.get("ScheduleExpression")
        if not pattern and not schedule:
            raise ValidationError(
                "Parameter(s) EventPattern or ScheduleExpression must be specified."
            )
        if schedule is not None and bus != DEFAULT_BUS:
            raise ValidationError("ScheduleExpression is supported only on the default event bus.")
        if schedule:
            try:
                parse_schedule(schedule)
            except ScheduleError:
                raise ValidationError("Parameter ScheduleExpression is not valid.") from None
        if pattern:
            try:
                parse_pattern(pattern)
            except PatternError as exc:
                raise _pattern_error(str(exc)) from None
        state = "DISABLED" if (request.get("State") or "ENABLED") == "DISABLED" else "ENABLED"
        existing = self._rule(ctx, bus, name)
        values = {
            "arn": arn,
            "pattern": pattern or None,
            "schedule": schedule or None,
            "state": state,
            "description": request.get("Description"),
            "role_arn": request.get("RoleArn"),
            "next_fire_at": self._next_fire(ctx, existing, schedule or None, state),
        }
        if existing is None:
            ctx.tx.execute(
                events_rules.insert().values(
                    account_id=ctx.account_id,
                    region=ctx.region,
                    bus=bus,
                    name=name,
                    tags=json.dumps(request.get("Tags") or []),
                    created_at=ctx.now,
                    **values,
                )
            )
        else:
            ctx.tx.execute(
                update(events_rules).where(*self._where_rule(ctx, bus, name)).values(**values)
            )
        return {"RuleArn": arn}

    @staticmethod
    def _next_fire(ctx: RequestContext, existing: Any, schedule: str | None, state: str) -> Any:
        """A schedule starts when its rule is created, re-scheduled or enabled; an update
        that keeps an enabled rule's schedule keeps its next run."""
        if schedule is None or state != "ENABLED":
            return None
        if (
            existing is not None
            and existing["schedule"] == schedule
            and existing["state"] == "ENABLED"
            and existing["next_fire_at"] is not None
        ):
            return existing["next_fire_at"]
        return bus_module.first_fire(schedule, ctx.now)

    @operation("DescribeRule")
    def describe_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        name = request["Name"]
        ctx.authorize("events:DescribeRule", [self._rule_arn(ctx, bus, name)])
        row = self._rule(ctx, bus, name)
        if row is None:
            raise _not_found(name, bus)
        out = self._rule_out(row)
        out["CreatedBy"] = ctx.account_id
        return out

    def _set_state(
        self, ctx: RequestContext, request: dict[str, Any], action: str, state: str
    ) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        name = request["Name"]
        ctx.authorize(f"events:{action}", [self._rule_arn(ctx, bus, name)])
        row = self._rule(ctx, bus, name)
        if row is None:
            raise _not_found(name, bus)
        next_fire = self._next_fire(ctx, row, row["schedule"], state)
        ctx.tx.execute(
            update(events_rules)
            .where(*self._where_rule(ctx, bus, name))
            .values(state=state, next_fire_at=next_fire)
        )
        return {}

    @operation("EnableRule")
    def enable_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._set_state(ctx, request, "EnableRule", "ENABLED")

    @operation("DisableRule")
    def disable_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return self._set_state(ctx, request, "DisableRule", "DISABLED")

    @operation("DeleteRule")
    def delete_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        name = request["Name"]
        ctx.authorize("events:DeleteRule", [self._rule_arn(ctx, bus, name)])
        if self._rule(ctx, bus, name) is None:
            return {}
        if self._targets(ctx.tx, ctx, bus, name):
            raise ValidationError("Rule can't be deleted since it has targets.")
        ctx.tx.execute(delete(events_rules).where(*self._where_rule(ctx, bus, name)))
        return {}

    @operation("ListRules")
    def list_rules(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        ctx.authorize("events:ListRules", ["*"])
        query = select(events_rules).where(
            events_rules.c.account_id == ctx.account_id,
            events_rules.c.region == ctx.region,
            events_rules.c.bus == bus,
        )
        if request.get("NamePrefix"):
            query = query.where(
                events_rules.c.name.startswith(request["NamePrefix"], autoescape=True)
            )
        rows = [
            self._rule_out(r)
            for r in ctx.tx.execute(query.order_by(events_rules.c.name)).mappings()
        ]
        return _page(rows, request, "Rules")

    # ---------------------------------------------------------------- targets

    @operation("PutTargets")
    def put_targets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        rule = request["Rule"]
        ctx.authorize("events:PutTargets", [self._rule_arn(ctx, bus, rule)])
        if self._rule(ctx, bus, rule) is None:
            raise _not_found(rule, bus)
        existing = {t["Id"] for t in self._targets(ctx.tx, ctx, bus, rule)}
        incoming = {t["Id"] for t in request["Targets"]}
        if len(existing | incoming) > MAX_TARGETS:
            raise ClientError(
                "The requested resource exceeds the maximum number allowed"
                f" (targets per rule: {MAX_TARGETS}).",
                code="LimitExceededException",
            )
        failed = []
        for target in request["Targets"]:
            arn = target["Arn"]
            if not (
                arn.startswith(("http://", "https://"))
                or bus_module.command_name(arn) is not None
                or arn.startswith("arn:")
            ):
                failed.append(
                    {
                        "TargetId": target["Id"],
                        "ErrorCode": "ValidationException",
                        "ErrorMessage": f"Parameter {arn} is not valid.",
                    }
                )
                continue
            key = {
                "account_id": ctx.account_id,
                "region": ctx.region,
                "bus": bus,
                "rule": rule,
                "target_id": target["Id"],
            }
            ctx.tx.execute(
                delete(events_targets).where(*(events_targets.c[k] == v for k, v in key.items()))
            )
            ctx.tx.execute(events_targets.insert().values(**key, target=json.dumps(target)))
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @operation("RemoveTargets")
    def remove_targets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        rule = request["Rule"]
        ctx.authorize("events:RemoveTargets", [self._rule_arn(ctx, bus, rule)])
        if self._rule(ctx, bus, rule) is None:
            raise _not_found(rule, bus)
        existing = {t["Id"] for t in self._targets(ctx.tx, ctx, bus, rule)}
        failed = []
        for target_id in request["Ids"]:
            if target_id not in existing:
                failed.append(
                    {
                        "TargetId": target_id,
                        "ErrorCode": "ResourceNotFoundException",
                        "ErrorMessage": f"Target {target_id} does not exist on rule {rule}.",
                    }
                )
                continue
            ctx.tx.execute(
                delete(events_targets).where(
                    events_targets.c.account_id == ctx.account_id,
                    events_targets.c.region == ctx.region,
                    events_targets.c.bus == bus,
                    events_targets.c.rule == rule,
                    events_targets.c.target_id == target_id,
                )
            )
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @operation("ListTargetsByRule")
    def list_targets_by_rule(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, request)
        rule = request["Rule"]
        ctx.authorize("events:ListTargetsByRule", [self._rule_arn(ctx, bus, rule)])
        if self._rule(ctx, bus, rule) is None:
            raise _not_found(rule, bus)
        targets = self._targets(ctx.tx, ctx, bus, rule)
        return _page(targets, request, "Targets")

    # ---------------------------------------------------------------- events

    @operation("PutEvents")
    def put_events(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        entries = request["Entries"]
        results: list[dict[str, Any]] = []
        failed = 0
        for entry in entries:
            try:
                bus = self._bus(ctx, entry)
            except ResourceNotFoundError as err:
                named = buses.bus_name(ctx, entry.get("EventBusName"))
                ctx.authorize("events:PutEvents", [self._bus_arn(ctx, named)])
                results.append(
                    {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": err.message}
                )
                failed += 1
                continue
            source, detail_type = entry.get("Source"), entry.get("DetailType")
            conditions = {"events:source": source or "", "events:detail-type": detail_type or ""}
            ctx.authorize("events:PutEvents", [self._bus_arn(ctx, bus)], conditions)
            error = None
            detail: Any = None
            if not source:
                error = (
                    "InvalidArgument",
                    "Parameter Source is not valid. Reason: Source is a required argument.",
                )
            elif not detail_type:
                error = (
                    "InvalidArgument",
                    "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
                )
            elif not entry.get("Detail"):
                error = (
                    "InvalidArgument",
                    "Parameter Detail is not valid. Reason: Detail is a required argument.",
                )
            elif source.startswith("aws."):
                error = ("NotAuthorizedForSourceException", "Not authorized for the source.")
            else:
                try:
                    detail = json.loads(entry["Detail"])
                except ValueError:
                    detail = None
                if not isinstance(detail, dict):
                    error = ("MalformedDetail", "Detail is malformed.")
                elif len(json.dumps(entry)) > MAX_EVENT_SIZE:
                    error = (
                        "InvalidArgument",
                        "Total size of the entries in the request is over the limit.",
                    )
            if error is not None:
                results.append({"ErrorCode": error[0], "ErrorMessage": error[1]})
                failed += 1
                continue
            when = entry.get("Time")
            if isinstance(when, datetime):
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
            else:
                when = ctx.now
            event = bus_module.envelope(
                account_id=ctx.account_id,
                region=ctx.region,
                source=source,
                detail_type=detail_type,
                detail=detail,
                time=when,
                resources=entry.get("Resources") or [],
            )
            bus_module.put(ctx.tx, event, bus=bus, created=ctx.now)
            results.append({"EventId": event["id"]})
        return {"FailedEntryCount": failed, "Entries": results}

    @operation("TestEventPattern", storage=False)
    def test_event_pattern(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("events:TestEventPattern", ["*"])
        try:
            pattern = parse_pattern(request["EventPattern"])
        except PatternError as exc:
            raise _pattern_error(str(exc)) from None
        try:
            event = json.loads(request["Event"])
        except ValueError:
            raise ValidationError("Parameter Event is not valid.") from None
        if not isinstance(event, dict):
            raise ValidationError("Parameter Event is not valid.")
        for key in ("id", "account", "source", "time", "region"):
            if key not in event:
                raise ValidationError(
                    f"Parameter Event is not valid. Reason: Provided Event must have {key}"
                )
        return {"Result": matches(pattern, event)}

    def pending_deliveries(self, conn: Connection) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(events_deliveries)
                .where(events_deliveries.c.done.is_(False))
            ).scalar()
            or 0
        )
