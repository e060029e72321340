"""The rotation engine: AWS's four steps, run by the scheduler, outside request transactions.

A rotation is a row state (`rotation_state`: token, step reached, attempts) plus a due
time (`rotation_due_at`). `RotateSecret` (RotateImmediately) and the schedule
(`next_rotation_at`) make a rotation due; `run_due(now)` runs due rotations, step by
step, persisting the step reached after each one, so a failed step (or a crash) is
resumed from that step. Failed attempts are retried with backoff (2, 4, 8, 16 minutes);
after MAX_ATTEMPTS the rotation waits for a new `RotateSecret`, which AWS answers with
"A previous rotation isn't complete. That rotation will be reattempted." and reattempts.

`RotateSecret` with RotateImmediately=false does not rotate: `test_configuration` runs
only the testSecret step against a temporary AWSPENDING version, as AWS tests a rotation
configuration, and a failure fails the call and puts the previous configuration back.

Where AWS invokes a Lambda function, `RotationLambdaARN` names a rotator:
- `...:function:bastion-rotator-postgresql-single-user`, `...-postgresql-alternating-users`,
  `...-random-password`: built in (`rotators/builtin.py`);
- `...:function:bastion-command:<name>`: a command of the commands file (see
  `bastion.spine.events.commands_from_environment`); it receives the Lambda event JSON
  (`Step`, `SecretId`, `ClientRequestToken`, `RotationToken`) on stdin, once per step,
  and must exit 0. Like a Lambda, it calls Secrets Manager's API itself, with its own
  credentials.

Who acts: scheduled work has no caller. Built-in rotators act as Secrets Manager itself
(the `secretsmanager.amazonaws.com` service principal of the secret's account): their
calls skip caller authorization by design, as AWS's service does on a schedule, and are
still audited (KMS calls as their own CloudTrail records, invokedBy the service).
Results are recorded as CloudTrail service events (RotationStarted, RotationSucceeded,
RotationFailed), which the event bus publishes as "AWS Service Event via CloudTrail".
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from bastion import ids
from bastion.clock import Clock, SystemClock
from bastion.context import Principal, RequestContext, ResourcePolicy
from bastion.errors import ClientError, ServiceError
from bastion.services.secretsmanager import schedule
from bastion.spine.audit import insert_entries
from bastion.spine.events import command_name, commands_from_environment, run_command
from bastion.spine.records import build_entry
from bastion.storage import Store
from bastion.storage.secrets_tables import sm_secrets

if TYPE_CHECKING:
    from bastion.services.secretsmanager.provider import SecretsManagerProvider, TrialVersion

log = logging.getLogger("bastion.rotation")

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
MAX_ATTEMPTS = 5
SERVICE = "secretsmanager.amazonaws.com"
BUILTIN_PREFIX = ":function:bastion-rotator-"
TEST_FAILED = (
    "The rotation configuration test failed: the testSecret step of the rotation function"
    " returned an error. The rotation configuration was not changed."
)


_REATTEMPTS_LOCK = threading.Lock()


class RotationError(Exception):
    pass


def service_principal(account_id: str) -> Principal:
    return Principal(
        account_id=account_id,
        arn=SERVICE,
        user_id=SERVICE,
        kind="AWSService",
        name=SERVICE,
    )


def service_authorizer(
    ctx: RequestContext,
    action: str,
    resources: Sequence[str],
    conditions: Mapping[str, Any] | None,
    resource_policy: ResourcePolicy | None,
) -> None:
    """Secrets Manager acting on its own schedule: allowed by design, and recorded."""
    ctx.authz.decisions.append((action, tuple(resources), True))


class SecretsApi:
    """Secrets Manager's operations as the service calls them for a built-in rotator."""

    def __init__(self, engine: RotationEngine, account_id: str, region: str) -> None:
        self._engine = engine
        self.account_id = account_id
        self.region = region

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._engine.service_call(self.account_id, self.region, operation, params)


class RotationEngine:
    def __init__(
        self, provider: SecretsManagerProvider, store: Store | None, clock: Clock | None = None
    ) -> None:
        self._provider = provider
        self._store = store
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._waker: threading.Thread | None = None
        self._reattempts: set[str] = set()

    def set_clock(self, clock: Clock) -> None:
        self._clock = clock

    # --- rotators --------------------------------------------------------------------

    def known(self, lambda_arn: str) -> bool:
        from bastion.services.secretsmanager.rotators import BUILTIN

        if BUILTIN_PREFIX in lambda_arn:
            return lambda_arn.split(BUILTIN_PREFIX, 1)[1] in BUILTIN
        name = command_name(lambda_arn)
        return name is not None and name in commands_from_environment()

    def _invoke(self, lambda_arn: str, event: dict[str, Any], api: SecretsApi) -> None:
        from bastion.services.secretsmanager.rotators import BUILTIN

        if BUILTIN_PREFIX in lambda_arn:
            rotator = BUILTIN.get(lambda_arn.split(BUILTIN_PREFIX, 1)[1])
            if rotator is None:
                raise RotationError(f"no built-in rotator for {lambda_arn}")
            rotator(event, api)
            return
        name = command_name(lambda_arn)
        command = commands_from_environment().get(name or "")
        if command is None:
            raise RotationError(f"no command rotator named {name!r} in the commands file")
        status, _out, err = run_command(command, json.dumps(event).encode())
        if status != 0:
            raise RotationError(
                f"the rotation command exited with status {status}:"
                f" {err[-400:].decode(errors='replace').strip()}"
            )

    # --- service calls ---------------------------------------------------------------

    def service_call(
        self, account_id: str, region: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        assert self._store is not None
        spec = self._provider.operations()[operation]
        now = self._clock.now()
        callbacks: list[Any] = []
        if spec.mutating:
            callbacks.append(self._provider.after_write)
            with self._store.write() as conn:
                ctx = self._ctx(account_id, region, operation, conn, now, callbacks)
                out = spec.handler(ctx, params) or {}
                entry = build_entry(
                    event_id=ids.event_id(),
                    request_id=ctx.request_id,
                    event_time=now,
                    source=SERVICE,
                    event_name=operation,
                    region=region,
                    principal=ctx.principal,
                    account_id=account_id,
                    source_ip=SERVICE,
                    user_agent=SERVICE,
                    read_only=False,
                    request_parameters={
                        k: v
                        for k, v in params.items()
                        if k
                        in (
                            "SecretId",
                            "ClientRequestToken",
                            "VersionStage",
                            "VersionStages",
                            "MoveToVersionId",
                            "RemoveFromVersionId",
                        )
                    },
                    response_elements=None,
                )
                insert_entries(conn, [entry])
        else:
            with self._store.read() as conn:
                ctx = self._ctx(account_id, region, operation, conn, now, callbacks)
                out = spec.handler(ctx, params) or {}
        for callback in callbacks:
            callback()
        return out

    def _ctx(
        self,
        account_id: str,
        region: str,
        operation: str,
        conn: Any,
        now: datetime,
        callbacks: list[Any],
    ) -> RequestContext:
        return RequestContext(
            request_id=ids.request_id(),
            service="secretsmanager",
            operation=operation,
            region=region,
            principal=service_principal(account_id),
            now=now,
            source_ip=SERVICE,
            user_agent=SERVICE,
            secure_transport=True,
            tx=conn,
            authorizer=service_authorizer,
            invoker=self._provider.invoker,
            on_commit=callbacks,
        )

    # --- running -------------------------------------------------------------------------

    def reattempt(self, arn: str) -> None:
        """Make an unfinished rotation due again (RotateSecret on a rotation in progress)."""
        with self._lock_reattempts():
            self._reattempts.add(arn)
        self.wake()

    def _lock_reattempts(self) -> threading.Lock:
        return _REATTEMPTS_LOCK

    def wake(self) -> None:
        """Run due rotations soon, in the background (after RotateSecret commits)."""
        if self._waker is not None and self._waker.is_alive():
            return
        self._waker = threading.Thread(target=self._wake_run, name="rotation", daemon=True)
        self._waker.start()

    def _wake_run(self) -> None:
        try:
            self.run_due(self._clock.now())
        except Exception:
            log.exception("rotation run failed")

    def run_due(self, now: datetime | None = None) -> list[str]:
        """Start scheduled rotations, then run every due one. Returns the ARNs rotated."""
        if self._store is None:
            return []
        now = now or self._clock.now()
        with self._lock:
            if self._provider.invoker is None:
                log.info("rotation waits for the control plane to start")
                return []
            self._start_scheduled(now)
            with self._lock_reattempts():
                again, self._reattempts = self._reattempts, set()
            for arn in again:
                self._save(arn, rotation_due_at=now)
            with self._store.read() as conn:
                due = [
                    arn
                    for (arn,) in conn.execute(
                        select(sm_secrets.c.arn).where(
                            sm_secrets.c.rotation_due_at <= now,
                            sm_secrets.c.deleted_at.is_(None),
                        )
                    )
                ]
            done = []
            for arn in due:
                if self._rotate(arn, now):
                    done.append(arn)
            return done

    def _start_scheduled(self, now: datetime) -> None:
        assert self._store is not None
        with self._store.write() as conn:
            rows = (
                conn.execute(
                    select(sm_secrets).where(
                        sm_secrets.c.rotation_enabled.is_(True),
                        sm_secrets.c.next_rotation_at <= now,
                        sm_secrets.c.deleted_at.is_(None),
                        sm_secrets.c.primary_region.is_(None),
                        or_(
                            sm_secrets.c.rotation_state.is_(None),
                            sm_secrets.c.rotation_due_at.is_(None),
                        ),
                    )
                )
                .mappings()
                .all()
            )
            for row in rows:
                state = json.loads(row["rotation_state"] or "null")
                if state and state.get("active"):
                    continue  # a failed rotation waits for RotateSecret
                rules = json.loads(row["rotation_rules"] or "null") or {}
                state = {
                    "active": True,
                    "token": str(uuid.uuid4()),
                    "step": "createSecret",
                    "attempts": 0,
                }
                self._provider.start_pending(conn, row["arn"], state["token"], now)
                conn.execute(
                    update(sm_secrets)
                    .where(and_(sm_secrets.c.arn == row["arn"]))
                    .values(
                        rotation_state=json.dumps(state),
                        rotation_due_at=now,
                        next_rotation_at=schedule.next_rotation(rules, now) if rules else None,
                    )
                )
        self._provider.after_write()

    def _save(self, arn: str, **values: Any) -> None:
        assert self._store is not None
        with self._store.write() as conn:
            conn.execute(update(sm_secrets).where(sm_secrets.c.arn == arn).values(**values))
        self._provider.after_write()

    def _rotate(self, arn: str, now: datetime) -> bool:
        assert self._store is not None
        with self._store.read() as conn:
            row = self._provider.read_row(conn, arn)
        if row is None:
            return False
        state = json.loads(row["rotation_state"] or "null")
        if not state or not state.get("active"):
            self._save(arn, rotation_due_at=None)
            return False
        api = SecretsApi(self, row["account_id"], row["region"])
        token = state["token"]
        if state["step"] == "createSecret" and not state.get("attempts"):
            self._service_event(row, "RotationStarted", now)
        step = state["step"]
        try:
            for step in STEPS[STEPS.index(state["step"]) :]:
                event = {
                    "Step": step,
                    "SecretId": arn,
                    "ClientRequestToken": token,
                    "RotationToken": token,
                }
                self._invoke(row["rotation_lambda"], event, api)
                if step != STEPS[-1]:
                    state["step"] = STEPS[STEPS.index(step) + 1]
                    self._save(arn, rotation_state=json.dumps(state))
            self._finish(row, token)
        except (RotationError, ServiceError, Exception) as exc:
            state["attempts"] = state.get("attempts", 0) + 1
            state["error"] = f"{step}: {exc}"
            retry = state["attempts"] < MAX_ATTEMPTS
            self._save(
                arn,
                rotation_state=json.dumps(state),
                rotation_due_at=now + timedelta(minutes=2 ** state["attempts"]) if retry else None,
            )
            log.warning("rotation of %s failed at %s: %s", arn, step, exc)
            self._service_event(row, "RotationFailed", now, {"step": step, "error": str(exc)[:500]})
            return False
        rules = json.loads(row["rotation_rules"] or "null") or {}
        self._save(
            arn,
            rotation_state=None,
            rotation_due_at=None,
            rotated_at=now,
            next_rotation_at=schedule.next_rotation(rules, now) if rules else None,
        )
        self._service_event(row, "RotationSucceeded", now)
        return True

    # --- RotateImmediately=false ----------------------------------------------------------

    def test_configuration(
        self, arn: str, token: str, lambda_arn: str, previous: Mapping[str, Any]
    ) -> None:
        """Test a rotation configuration as AWS does when RotateSecret doesn't rotate at once:
        add an AWSPENDING version, run only the rotator's testSecret step, remove the version.

        Called once RotateSecret's configuration has committed, so that the rotator (a
        separate process for a command) sees the secret enabled for rotation and the
        pending version, as AWS's rotation templates check. On failure the `previous`
        rotation configuration is put back and RotateSecret fails: versions, labels and
        configuration are then as they were before the call.
        """
        assert self._store is not None
        with self._lock:
            with self._store.read() as conn:
                row = self._provider.read_row(conn, arn)
            trial = None
            failure: Exception | None = None
            try:
                trial = self._add_trial(row, token)
                event = {
                    "Step": "testSecret",
                    "SecretId": arn,
                    "ClientRequestToken": trial.version_id,
                    "RotationToken": trial.version_id,
                }
                self._invoke(lambda_arn, event, SecretsApi(self, row["account_id"], row["region"]))
            except Exception as exc:  # whatever the rotator raised: the test failed
                failure = exc
            finally:
                with self._store.write() as conn:
                    if trial is not None:
                        self._provider.remove_trial_version(conn, arn, trial)
                    if failure is not None:
                        conn.execute(
                            update(sm_secrets).where(sm_secrets.c.arn == arn).values(**previous)
                        )
                self._provider.after_write()
        if failure is None:
            return
        log.warning("rotation configuration test of %s failed: %s", arn, failure)
        if trial is None and isinstance(failure, ServiceError):
            raise failure  # the version could not be made (KMS refused...): AWS's own error
        raise ClientError(TEST_FAILED, code="InvalidRequestException")

    def _add_trial(self, row: Any, token: str) -> TrialVersion:
        assert self._store is not None
        callbacks: list[Any] = []
        now = self._clock.now()
        with self._store.write() as conn:
            ctx = self._ctx(row["account_id"], row["region"], "RotateSecret", conn, now, callbacks)
            trial = self._provider.add_trial_version(ctx, row, token)
        for callback in callbacks:
            callback()
        self._provider.after_write()
        return trial

    def _finish(self, row: Any, token: str) -> None:
        """After finishSecret: AWSCURRENT must be on the new version; AWSPENDING goes."""
        assert self._store is not None
        with self._store.read() as conn:
            versions = self._provider.versions_of(conn, row["arn"])
        mine = next((v for v in versions if v["version_id"] == token), None)
        if mine is None or "AWSCURRENT" not in mine["stages"]:
            raise RotationError("finishSecret did not move AWSCURRENT to the new version")
        if "AWSPENDING" in mine["stages"]:
            self.service_call(
                row["account_id"],
                row["region"],
                "UpdateSecretVersionStage",
                {
                    "SecretId": row["arn"],
                    "VersionStage": "AWSPENDING",
                    "RemoveFromVersionId": token,
                },
            )

    def _service_event(
        self, row: Any, name: str, now: datetime, extra: dict[str, Any] | None = None
    ) -> None:
        """A CloudTrail service event (AwsServiceEvent), as AWS records rotation results."""
        assert self._store is not None
        entry = build_entry(
            event_id=ids.event_id(),
            request_id=ids.request_id(),
            event_time=now,
            source=SERVICE,
            event_name=name,
            region=row["region"],
            principal=None,
            account_id=row["account_id"],
            source_ip=SERVICE,
            user_agent=SERVICE,
            read_only=False,
            request_parameters=None,
            response_elements=None,
        )
        entry.record["eventType"] = "AwsServiceEvent"
        entry.record["userIdentity"] = {"accountId": row["account_id"], "invokedBy": SERVICE}
        entry.record["additionalEventData"] = {"SecretId": row["arn"], **(extra or {})}
        entry.record["serviceEventDetails"] = {"SecretId": row["arn"]}
        entry.username = None
        with self._store.write() as conn:
            insert_entries(conn, [entry])


def utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
