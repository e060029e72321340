"""Everything a running Bastion holds, built once from `Settings`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bastion.auth.authenticate import Authenticator
from bastion.auth.authorize import Authorizer
from bastion.auth.bootstrap import BootstrapResult, bootstrap_admin, write_credentials_file
from bastion.auth.credentials import CredentialStore
from bastion.auth.policies import PolicyCache
from bastion.barrier import Barrier, seal_from_settings
from bastion.clock import Clock, SystemClock
from bastion.config import DEFAULT_ACCOUNT_ID, Settings
from bastion.context import Principal
from bastion.protocol.routing import Router
from bastion.services.base import OperationSpec, Provider
from bastion.services.cloudtrail.provider import CloudTrailProvider
from bastion.services.elbv2.provider import Elbv2Provider
from bastion.services.events.provider import EventsProvider
from bastion.services.iam.provider import IamProvider
from bastion.services.kms.provider import KmsProvider
from bastion.services.secretsmanager.provider import SecretsManagerProvider
from bastion.services.ssm.provider import SsmProvider
from bastion.services.sts.provider import StsProvider
from bastion.services.wafv2.provider import Wafv2Provider
from bastion.spine.audit import AuditLog
from bastion.spine.audit_writer import RemoteAuditSink
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.changes import ChangeSignal
from bastion.storage.schema import accounts

log = logging.getLogger("bastion")

# Every AWS API Bastion answers on its endpoint. Operations without a provider method
# answer an AWS-shaped "not implemented" error.
SERVED_SERVICES = (
    "sts",
    "iam",
    "kms",
    "ssm",
    "secretsmanager",
    "cloudtrail",
    "events",
    "wafv2",
    "fms",
    "shield",
    "guardduty",
    "elbv2",
    "cloudhsmv2",
)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    store: Store
    barrier: Barrier
    audit: AuditLog
    authenticator: Authenticator
    router: Router
    scheduler: Scheduler
    authorizer: Authorizer
    policies: PolicyCache
    operations: dict[str, dict[str, OperationSpec]] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    bootstrap: BootstrapResult | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    worker: int = 0  # this process's slot among `settings.workers`; 0 leads

    @property
    def leader(self) -> bool:
        """The worker that runs the scheduler's storage jobs, the audit export and the
        data-plane listeners (one of each per server, whatever the worker count)."""
        return self.worker == 0

    def start(self) -> None:
        """Start background work: audit writer and exporter, scheduler."""
        self.audit.start(export=self.leader)
        self.scheduler.start()

    def sync_caches(self) -> None:
        """Drop every cache if another worker committed a write since the last check."""
        changes = self.store.changes
        if changes is not None:
            changes.sync(self.clear_caches)

    def clear_caches(self) -> None:
        """Forget everything derived from storage: credentials, policies, service caches."""
        self.authenticator.credentials.invalidate()
        self.policies.invalidate()
        for provider in self.providers.values():
            provider.clear_caches()

    def close(self) -> None:
        self.scheduler.stop()
        self.authenticator.credentials.flush_usage()
        self.audit.stop()
        self.store.dispose()


def open_storage(settings: Settings) -> tuple[Store, Barrier]:
    """Open the database (migrating it) and the barrier."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(settings.effective_database_url)
    store.migrate()
    barrier = Barrier(store, seal_from_settings(settings))
    barrier.open()
    return store, barrier


def resolve_account(settings: Settings, store: Store) -> Settings:
    """Fill the account id: the one asked for, else the one made at init, else the default."""
    if settings.account_id:
        return settings
    with store.read() as conn:
        existing = conn.execute(
            select(accounts.c.account_id).order_by(accounts.c.created_at).limit(1)
        ).scalar()
    return replace(settings, account_id=existing or DEFAULT_ACCOUNT_ID)


def initialise(settings: Settings, store: Store, barrier: Barrier, clock: Clock) -> BootstrapResult:
    """Create the account's administrator on first use; write its credentials file."""
    with store.write() as conn:
        result = bootstrap_admin(conn, barrier, settings.account_id, clock.now())
    if result.secret_access_key:
        write_credentials_file(
            settings.credentials_file,
            result.access_key_id,
            result.secret_access_key,
            settings.region,
        )
    return result


def prepare_storage(settings: Settings, clock: Clock) -> tuple[Settings, BootstrapResult]:
    """Migrate, resolve the account and bootstrap its administrator, then close storage
    (what `init` does, and what a supervisor does once before starting its workers)."""
    store, barrier = open_storage(settings)
    try:
        settings = resolve_account(settings, store)
        return settings, initialise(settings, store, barrier, clock)
    finally:
        store.dispose()


def dev_principal(settings: Settings) -> Principal:
    """The identity LocalStack-style `test`/`test` credentials map to in --dev mode."""
    return Principal(
        account_id=settings.account_id,
        arn=f"arn:aws:iam::{settings.account_id}:root",
        user_id=settings.account_id,
        kind="Root",
        name="root",
        access_key_id="test",
        is_admin=True,
    )


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    worker: int = 0,
    audit_socket: Path | None = None,
) -> Runtime:
    """Everything one serving process needs. `worker` is its slot when there are several;
    `audit_socket` names the audit writer process that then stores read-call records."""
    clock = clock or SystemClock()
    store, barrier = open_storage(settings)
    if settings.workers > 1:
        store.changes = ChangeSignal(settings.changes_file, worker)
    settings = resolve_account(settings, store)
    bootstrap = initialise(settings, store, barrier, clock)
    audit = AuditLog(
        store,
        settings.audit_dir,
        clock,
        flush_interval=settings.audit_flush_interval,
        sink=RemoteAuditSink(audit_socket) if audit_socket is not None else None,
    )
    credentials = CredentialStore(store, barrier, clock)
    scheduler = Scheduler(clock, leader=worker == 0)
    scheduler.register(
        "access-key-last-used", credentials.flush_usage, timedelta(minutes=1), every_process=True
    )
    policies = PolicyCache(clock)
    authenticator = Authenticator(
        credentials, dev_principal=dev_principal(settings) if settings.dev else None
    )
    providers: list[Provider] = [
        StsProvider(barrier, store, scheduler),
        IamProvider(barrier, credentials, bootstrap.access_key_id),
        CloudTrailProvider(audit),
        KmsProvider(barrier, store, scheduler),
        SsmProvider(store, scheduler),
        SecretsManagerProvider(store, scheduler, clock),
        EventsProvider(store, scheduler, clock),
        Elbv2Provider(),
        Wafv2Provider(),
    ]
    runtime = Runtime(
        settings=settings,
        clock=clock,
        store=store,
        barrier=barrier,
        audit=audit,
        authenticator=authenticator,
        router=Router(SERVED_SERVICES),
        scheduler=scheduler,
        authorizer=Authorizer(store, policies),
        policies=policies,
        bootstrap=bootstrap,
        worker=worker,
    )
    scheduler.before_run = runtime.sync_caches  # jobs see other workers' commits too
    for provider in providers:
        runtime.providers[provider.service] = provider
        runtime.operations[provider.service] = provider.operations()
    return runtime
