"""Amazon EventBridge, the subset Bastion's event bus needs: rules with event patterns,
targets (webhooks and commands), PutEvents and TestEventPattern, on the default bus.

Matching and delivery are the spine's (`bastion.spine.events.EventBus`); this provider
stores rules and targets and puts custom events on the bus. Scheduled rules
(`ScheduleExpression`) are stored and shown but do not fire in this version.
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
from bastion.services.base import Provider, operation
from bastion.spine import events as bus_module
from bastion.spine.events import DEFAULT_BUS, EventBus
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.events_tables import (
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
    state_tables = (events_rules, events_targets, events_outbox, events_deliveries)

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
        name = request.get("EventBusName") or DEFAULT_BUS
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        if name != DEFAULT_BUS:
            raise ResourceNotFoundError(f"Event bus {name} does not exist.")
        return name

    @staticmethod
    def _rule_arn(ctx: RequestContext, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/{path}"

    @staticmethod
    def _bus_arn(ctx: RequestContext, bus: str) -> str:
        return f"arn:aws:events:{ctx.region}:{ctx.account_id}:event-bus/{bus}"

    def _rule(self, ctx: RequestContext, bus: str, name: str) -> Any:
        return (
            ctx.tx.execute(
                select(events_rules).where(
                    events_rules.c.account_id == ctx.account_id,
                    events_rules.c.region == ctx.region,
                    events_rules.c.bus == bus,
                    events_rules.c.name == name,
                )
            )
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
        if pattern:
            try:
                parse_pattern(pattern)
            except PatternError as exc:
                raise _pattern_error(str(exc)) from None
        state = request.get("State") or "ENABLED"
        values = {
            "arn": arn,
            "pattern": pattern,
            "schedule": schedule,
            "state": "ENABLED" if state.startswith("ENABLED") else "DISABLED",
            "description": request.get("Description"),
            "role_arn": request.get("RoleArn"),
        }
        existing = self._rule(ctx, bus, name)
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
                update(events_rules)
                .where(
                    events_rules.c.account_id == ctx.account_id,
                    events_rules.c.region == ctx.region,
                    events_rules.c.bus == bus,
                    events_rules.c.name == name,
                )
                .values(**values)
            )
        return {"RuleArn": arn}

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
        if self._rule(ctx, bus, name) is None:
            raise _not_found(name, bus)
        ctx.tx.execute(
            update(events_rules)
            .where(
                events_rules.c.account_id == ctx.account_id,
                events_rules.c.region == ctx.region,
                events_rules.c.bus == bus,
                events_rules.c.name == name,
            )
            .values(state=state)
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
        ctx.tx.execute(
            delete(events_rules).where(
                events_rules.c.account_id == ctx.account_id,
                events_rules.c.region == ctx.region,
                events_rules.c.bus == bus,
                events_rules.c.name == name,
            )
        )
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
                ctx.authorize(
                    "events:PutEvents", [self._bus_arn(ctx, entry.get("EventBusName") or "")]
                )
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
