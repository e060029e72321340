"""The event bus: an outbox in storage, matched against EventBridge rules, delivered to
targets with retries and backoff, all on the injectable clock.

Producers:
- services call `emit(conn, ...)` in the transaction of the change, so the event commits
  with it or not at all ("Parameter Store Change", rotation results...);
- every CloudTrail record is put on the bus as an "AWS API Call via CloudTrail" event:
  the bus reads the audit table by sequence past a cursor it keeps in storage
  (`events_cursors`), so audit.py needs no hook and nothing is lost across restarts.

`EventBus.pump(now)` (a scheduler job; tests call it directly) moves events forward:
audit records and outbox rows are matched against the enabled rules of their account,
region and bus, scheduled rules whose run is due put a "Scheduled Event" on the delivery
path of their own targets, one delivery row is queued per matched target, and due
deliveries are attempted. Target kinds:
- webhook: a target `Arn` that is an `http://` or `https://` URL: the event is POSTed
  as JSON; a 2xx answer delivers it;
- command: `arn:aws:lambda:<region>:<account>:function:bastion-command:<name>`, where
  `<name>` is a command of the commands file (`commands_from_environment`); the event
  is written to its stdin; exit status 0 delivers it.
A failed attempt is retried with exponential backoff (1 s, 2 s, 4 s ... capped at 5 min)
until the target's RetryPolicy (MaximumRetryAttempts, default 185;
MaximumEventAgeInSeconds, default 86,400) is exhausted, as EventBridge does.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from bastion.clock import Clock, as_utc
from bastion.rules.event_patterns import PatternError, matches, parse_pattern
from bastion.rules.schedule_expressions import ScheduleError, parse_schedule
from bastion.storage import Store
from bastion.storage.events_tables import (
    events_cursors,
    events_deliveries,
    events_outbox,
    events_rules,
    events_targets,
)
from bastion.storage.schema import audit_events

log = logging.getLogger("bastion.events")

DEFAULT_BUS = "default"
COMMAND_ARN_MARKER = ":function:bastion-command:"
AUDIT_CURSOR = "audit"
OUTBOX_CURSOR = "outbox"
BATCH = 1000
MAX_BACKOFF = timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_AGE = 86_400
GAP_WAIT_SECONDS = 5.0
WEBHOOK_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
SCHEDULED_SOURCE = "aws.events"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
# `next_fire_at` of a scheduled rule that never runs again (a cron whose years are over)
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    *,
    account_id: str,
    region: str,
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    time: datetime,
    resources: Sequence[str] = (),
    event_id: str | None = None,
) -> dict[str, Any]:
    """An event in EventBridge's envelope."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": iso(time),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


def emit(
    conn: Connection,
    *,
    account_id: str,
    region: str,
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    time: datetime,
    resources: Sequence[str] = (),
    bus: str = DEFAULT_BUS,
) -> dict[str, Any]:
    """Queue an event in the caller's transaction; returns the event."""
    event = envelope(
        account_id=account_id,
        region=region,
        source=source,
        detail_type=detail_type,
        detail=detail,
        time=time,
        resources=resources,
    )
    put(conn, event, bus=bus, created=time)
    return event


def first_fire(expression: str | None, start: datetime) -> datetime | None:
    """When a scheduled rule created or enabled at `start` first runs; None without a
    schedule, NEVER when the expression has no run left (or is not valid)."""
    if not expression:
        return None
    try:
        return parse_schedule(expression).first(start) or NEVER
    except ScheduleError:
        return NEVER


def put(conn: Connection, event: Mapping[str, Any], *, bus: str, created: datetime) -> None:
    conn.execute(
        events_outbox.insert().values(
            account_id=event["account"],
            region=event["region"],
            bus=bus,
            event=json.dumps(event, separators=(",", ":")),
            created_at=created,
        )
    )


def cloudtrail_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge shows it: "AWS API Call via CloudTrail"."""
    source = str(record.get("eventSource", ""))
    service = source.split(".", 1)[0]
    kind = record.get("eventType", "AwsApiCall")
    detail_type = (
        "AWS Service Event via CloudTrail"
        if kind == "AwsServiceEvent"
        else "AWS API Call via CloudTrail"
    )
    return {
        "version": "0",
        "id": str(record.get("eventID") or uuid.uuid4()),
        "detail-type": detail_type,
        "source": f"aws.{service}",
        "account": record.get("recipientAccountId", ""),
        "time": record.get("eventTime", ""),
        "region": record.get("awsRegion", ""),
        "resources": [],
        "detail": dict(record),
    }


# ------------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    timeout: float = COMMAND_TIMEOUT


def commands_from_environment(env: Mapping[str, str] | None = None) -> dict[str, Command]:
    """Commands users plug in, from the TOML file named by `BASTION_COMMANDS` (or
    `BASTION_ROTATORS`), else the `[commands]` table of the `BASTION_CONFIG` file.

        [commands]
        notify = "/usr/local/bin/notify"                 # an executable
        rotate-ldap = ["/usr/bin/python3", "/opt/rotate_ldap.py"]
        [commands.audit-sink]
        argv = ["/opt/sink", "--json"]
        env = { SINK_URL = "http://127.0.0.1:9000" }
        timeout = 30
    """
    env = os.environ if env is None else env
    path = env.get("BASTION_COMMANDS") or env.get("BASTION_ROTATORS") or env.get("BASTION_CONFIG")
    if not path:
        return {}
    try:
        with open(Path(path), "rb") as fh:
            document = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        log.exception("cannot read the commands file %s", path)
        return {}
    out: dict[str, Command] = {}
    for name, spec in (document.get("commands") or {}).items():
        if isinstance(spec, str):
            out[name] = Command(name, (spec,), {})
        elif isinstance(spec, list):
            out[name] = Command(name, tuple(str(a) for a in spec), {})
        elif isinstance(spec, dict) and spec.get("argv"):
            argv = spec["argv"]
            out[name] = Command(
                name,
                (argv,) if isinstance(argv, str) else tuple(str(a) for a in argv),
                {str(k): str(v) for k, v in (spec.get("env") or {}).items()},
                float(spec.get("timeout", COMMAND_TIMEOUT)),
            )
    return out


def command_name(arn: str) -> str | None:
    """`<name>` of a `...:function:bastion-command:<name>` ARN, else None."""
    if arn.startswith("arn:") and COMMAND_ARN_MARKER in arn:
        return arn.split(COMMAND_ARN_MARKER, 1)[1] or None
    return None


def run_command(command: Command, payload: bytes) -> tuple[int, bytes, bytes]:
    """Run a command with `payload` on stdin; (exit status, stdout, stderr)."""
    proc = subprocess.run(
        list(command.argv),
        input=payload,
        capture_output=True,
        timeout=command.timeout,
        env={**os.environ, **command.env},
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


# ------------------------------------------------------------------------ targets


def target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """What the target receives: the event, `Input`, `InputPath` or `InputTransformer`."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return json_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        values = {
            name: json_path(event, path)
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        text = transformer["InputTemplate"]
        for name, value in values.items():
            rendered = value if isinstance(value, str) else json.dumps(value)
            text = text.replace(f"<{name}>", rendered)
        try:
            return json.loads(text)
        except ValueError:
            return text
    return event


def json_path(document: Any, path: str) -> Any:
    """The subset of JSONPath EventBridge uses: `$`, `$.a.b`, `$.a[0]`."""
    if path in ("$", ""):
        return document
    current = document
    for part in path.lstrip("$").strip(".").replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            try:
                current = current[int(part[1:-1])]
            except (ValueError, IndexError, KeyError, TypeError):
                return None
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
    return current


class DeliveryError(Exception):
    pass


def deliver(target: Mapping[str, Any], payload: str, commands: Mapping[str, Command]) -> None:
    """One attempt; raises DeliveryError on failure."""
    arn = str(target.get("Arn", ""))
    if arn.startswith(("http://", "https://")):
        headers = {"Content-Type": "application/json", "User-Agent": "bastion-events/1"}
        for key, value in (
            (target.get("HttpParameters") or {}).get("HeaderParameters") or {}
        ).items():
            headers[key] = value
        # http(s) only: checked above
        request = urllib.request.Request(  # noqa: S310
            arn, data=payload.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"connection failed: {exc}") from None
        return
    name = command_name(arn)
    if name is not None:
        command = commands.get(name)
        if command is None:
            raise DeliveryError(f"no command named {name!r} in the commands file")
        try:
            status, _out, err = run_command(command, payload.encode())
        except (OSError, subprocess.SubprocessError) as exc:
            raise DeliveryError(f"command failed to run: {exc}") from None
        if status != 0:
            raise DeliveryError(
                f"command exited with {status}: {err[-500:].decode(errors='replace')}"
            )
        return
    raise DeliveryError(f"target {arn} is not a webhook or a command Bastion can deliver to")


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** max(0, attempts - 1)), MAX_BACKOFF)


# ------------------------------------------------------------------------ the bus


@dataclass(slots=True)
class _Rule:
    arn: str
    pattern: dict[str, Any]
    targets: list[dict[str, Any]]


class EventBus:
    """Matching and delivery. `pump(now)` is idempotent and safe to call from any thread."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        commands: Callable[[], Mapping[str, Command]] = commands_from_environment,
    ) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands
        self._lock = threading.Lock()
        self._gap_since: float | None = None
        self.delivered = 0

    def pump(self, now: datetime | None = None) -> int:
        """Match new events and attempt due deliveries; returns deliveries attempted."""
        now = now or self._clock.now()
        with self._lock:
            self._from_audit(now)
            self._fire_schedules(now)
            self._from_outbox(now)
            return self._deliver_due(now)

    # --- matching ------------------------------------------------------------------

    def _rules(
        self,
        conn: Connection,
        cache: dict[tuple[str, str, str], list[_Rule]],
        key: tuple[str, str, str],
    ) -> list[_Rule]:
        if key in cache:
            return cache[key]
        account, region, bus = key
        rows = conn.execute(
            select(events_rules.c.name, events_rules.c.arn, events_rules.c.pattern).where(
                events_rules.c.account_id == account,
                events_rules.c.region == region,
                events_rules.c.bus == bus,
                events_rules.c.state == "ENABLED",
                events_rules.c.pattern.is_not(None),
            )
        ).all()
        rules = []
        for name, arn, text in rows:
            try:
                pattern = parse_pattern(text)
            except PatternError:
                continue
            targets = self._targets_of(conn, account, region, bus, name)
            if targets:
                rules.append(_Rule(arn, pattern, targets))
        cache[key] = rules
        return rules

    def _route(
        self,
        conn: Connection,
        cache: dict[tuple[str, str, str], list[_Rule]],
        event: dict[str, Any],
        bus: str,
        now: datetime,
    ) -> None:
        rules = self._rules(conn, cache, (event.get("account", ""), event.get("region", ""), bus))
        for rule in rules:
            if not matches(rule.pattern, event):
                continue
            for target in rule.targets:
                self._queue(conn, rule.arn, target, event, now)

    @staticmethod
    def _targets_of(
        conn: Connection, account: str, region: str, bus: str, rule: str
    ) -> list[dict[str, Any]]:
        return [
            json.loads(t)
            for (t,) in conn.execute(
                select(events_targets.c.target).where(
                    events_targets.c.account_id == account,
                    events_targets.c.region == region,
                    events_targets.c.bus == bus,
                    events_targets.c.rule == rule,
                )
            )
        ]

    @staticmethod
    def _queue(
        conn: Connection,
        rule_arn: str,
        target: dict[str, Any],
        event: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """One delivery of `event` to `target`, attempted by the next `_deliver_due`."""
        try:
            payload = target_input(target, event)
        except (ValueError, KeyError, TypeError):
            log.warning("target %s of %s: input cannot be built", target.get("Id"), rule_arn)
            return
        conn.execute(
            events_deliveries.insert().values(
                account_id=event.get("account", ""),
                region=event.get("region", ""),
                rule_arn=rule_arn,
                target=json.dumps(target),
                payload=payload if isinstance(payload, str) else json.dumps(payload),
                event_time=now,
                attempts=0,
                next_attempt_at=now,
                done=False,
            )
        )

    def _cursor(self, conn: Connection, name: str) -> int:
        row = conn.execute(
            select(events_cursors.c.position).where(events_cursors.c.name == name)
        ).scalar()
        if row is None:
            conn.execute(events_cursors.insert().values(name=name, position=0))
            return 0
        return int(row)

    def _set_cursor(self, conn: Connection, name: str, position: int) -> None:
        conn.execute(
            update(events_cursors).where(events_cursors.c.name == name).values(position=position)
        )

    def _from_audit(self, now: datetime) -> None:
        while True:
            with self._store.write(notify=False) as conn:
                cursor = self._cursor(conn, AUDIT_CURSOR)
                if not self._has_pattern_rules(conn, DEFAULT_BUS):
                    # Nothing can match: skip the records instead of reading each back.
                    last = conn.execute(select(func.max(audit_events.c.seq))).scalar() or 0
                    if last > cursor:
                        self._set_cursor(conn, AUDIT_CURSOR, int(last))
                    return
                rows = conn.execute(
                    select(audit_events.c.seq, audit_events.c.record)
                    .where(audit_events.c.seq > cursor)
                    .order_by(audit_events.c.seq)
                    .limit(BATCH)
                ).all()
                if not rows:
                    return
                rows = self._until_gap(cursor, rows)
                if not rows:
                    return
                cache: dict[tuple[str, str, str], list[_Rule]] = {}
                for _seq, record in rows:
                    event = cloudtrail_event(orjson.loads(record))
                    self._route(conn, cache, event, DEFAULT_BUS, now)
                self._set_cursor(conn, AUDIT_CURSOR, rows[-1][0])
            if len(rows) < BATCH:
                return

    @staticmethod
    def _has_pattern_rules(conn: Connection, bus: str) -> bool:
        """Whether any enabled rule with an event pattern exists on `bus` (any account)."""
        found = conn.execute(
            select(events_rules.c.name)
            .where(
                events_rules.c.bus == bus,
                events_rules.c.state == "ENABLED",
                events_rules.c.pattern.is_not(None),
            )
            .limit(1)
        ).first()
        return found is not None

    def _until_gap(self, cursor: int, rows: list[Any]) -> list[Any]:
        """Rows up to the first hole in the sequence (a record another transaction has
        not committed yet), unless that hole has lasted GAP_WAIT_SECONDS (a rollback)."""
        expected = cursor + 1
        for i, (seq, _record) in enumerate(rows):
            if seq != expected and cursor > 0:
                started = self._gap_since
                if started is None:
                    self._gap_since = time.monotonic()
                    return rows[:i]
                if time.monotonic() - started < GAP_WAIT_SECONDS:
                    return rows[:i]
                self._gap_since = None
            expected = seq + 1
        self._gap_since = None
        return rows

    # --- scheduled rules -------------------------------------------------------------

    def _fire_schedules(self, now: datetime) -> None:
        """Run the scheduled rules that are due (enabled, on the default bus).

        A run puts one "Scheduled Event" on the delivery path of the rule's own targets:
        a scheduled rule triggers itself, it is not an event other rules match. Runs
        missed while Bastion was down are not replayed: a late rule runs once, then keeps
        to its schedule. The next run is claimed in the transaction that queues the
        deliveries, so a run is never fired twice (another node, a restart).
        """
        with self._store.read() as conn:
            due = conn.execute(
                select(
                    events_rules.c.account_id,
                    events_rules.c.region,
                    events_rules.c.name,
                    events_rules.c.arn,
                    events_rules.c.schedule,
                    events_rules.c.next_fire_at,
                ).where(
                    events_rules.c.bus == DEFAULT_BUS,
                    events_rules.c.state == "ENABLED",
                    events_rules.c.schedule.is_not(None),
                    (events_rules.c.next_fire_at <= now) | events_rules.c.next_fire_at.is_(None),
                )
            ).all()
        for row in due:
            with self._store.write() as conn:
                self._fire(conn, row, now)

    def _fire(self, conn: Connection, row: Any, now: datetime) -> None:
        account, region, name, arn, expression, stored = row
        due = as_utc(stored)
        if due is None:  # a rule stored before runs were tracked: its schedule starts now
            following = first_fire(expression, now)
        else:
            try:
                following = parse_schedule(expression).after(due, now) or NEVER
            except ScheduleError:
                following = NEVER
        claimed = conn.execute(
            update(events_rules)
            .where(
                events_rules.c.account_id == account,
                events_rules.c.region == region,
                events_rules.c.bus == DEFAULT_BUS,
                events_rules.c.name == name,
                events_rules.c.state == "ENABLED",
                events_rules.c.next_fire_at.is_(None)
                if stored is None
                else events_rules.c.next_fire_at == stored,
            )
            .values(next_fire_at=following)
        )
        if due is None or claimed.rowcount != 1:
            return  # not started yet, or changed (or fired by another node) meanwhile
        event = envelope(
            account_id=account,
            region=region,
            source=SCHEDULED_SOURCE,
            detail_type=SCHEDULED_DETAIL_TYPE,
            detail={},
            time=due,
            resources=[arn],
        )
        for target in self._targets_of(conn, account, region, DEFAULT_BUS, name):
            self._queue(conn, arn, target, event, now)

    def _from_outbox(self, now: datetime) -> None:
        while True:
            with self._store.write() as conn:
                cursor = self._cursor(conn, OUTBOX_CURSOR)
                rows = conn.execute(
                    select(events_outbox.c.seq, events_outbox.c.bus, events_outbox.c.event)
                    .where(events_outbox.c.seq > cursor)
                    .order_by(events_outbox.c.seq)
                    .limit(BATCH)
                ).all()
                if not rows:
                    return
                cache: dict[tuple[str, str, str], list[_Rule]] = {}
                for _seq, bus, text in rows:
                    self._route(conn, cache, json.loads(text), bus, now)
                self._set_cursor(conn, OUTBOX_CURSOR, rows[-1][0])
            if len(rows) < BATCH:
                return

    # --- delivery --------------------------------------------------------------------

    def _deliver_due(self, now: datetime) -> int:
        with self._store.read() as conn:
            due = (
                conn.execute(
                    select(events_deliveries)
                    .where(
                        events_deliveries.c.done.is_(False),
                        events_deliveries.c.next_attempt_at <= now,
                    )
                    .order_by(events_deliveries.c.id)
                    .limit(BATCH)
                )
                .mappings()
                .all()
            )
        if not due:
            return 0
        commands = self._commands()
        for row in due:
            target = json.loads(row["target"])
            attempts = row["attempts"] + 1
            error = None
            try:
                deliver(target, row["payload"], commands)
            except DeliveryError as exc:
                error = str(exc)
            values: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if error is None:
                values.update(done=True, outcome="delivered")
                self.delivered += 1
            else:
                policy = target.get("RetryPolicy") or {}
                max_attempts = policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS) + 1
                max_age = timedelta(seconds=policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
                retry_at = now + backoff(attempts)
                event_time = row["event_time"]
                if event_time.tzinfo is None:
                    event_time = event_time.replace(tzinfo=UTC)
                if attempts >= max_attempts or retry_at - event_time > max_age:
                    values.update(done=True, outcome="failed")
                    log.warning("event delivery to %s abandoned: %s", target.get("Arn"), error)
                else:
                    values["next_attempt_at"] = retry_at
            with self._store.write() as conn:
                conn.execute(
                    update(events_deliveries)
                    .where(events_deliveries.c.id == row["id"], events_deliveries.c.done.is_(False))
                    .values(**values)
                )
        return len(due)

    def pending(self) -> int:
        with self._store.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(events_deliveries)
                    .where(events_deliveries.c.done.is_(False))
                ).scalar()
                or 0
            )
