"""What the edge reads from storage (listeners, target groups, associations, web ACLs)
and what it writes back (config-file listeners, counters, sampled requests).

Blocking (SQLAlchemy): the server calls these off the event loop.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from bastion.dataplane.edge.config import EdgeConfig, StaticListener
from bastion.storage import Store
from bastion.storage.elbv2_tables import (
    bump_elbv2_version,
    elbv2_listeners,
    elbv2_load_balancers,
    elbv2_meta,
    elbv2_target_groups,
    elbv2_targets,
)
from bastion.storage.wafv2_tables import (
    load_doc,
    wafv2_associations,
    wafv2_logging,
    wafv2_meta,
    wafv2_metrics,
    wafv2_resources,
    wafv2_samples,
)

SAMPLE_RETENTION = 3 * 3600.0  # GetSampledRequests looks back at most 3 hours
SAMPLES_PER_RULE = 5000  # rows kept per (web ACL, rule metric name)


@dataclass(frozen=True)
class Action:
    kind: str  # forward | fixed-response
    targets: tuple[tuple[str, int], ...] = ()
    status: int = 200
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class ListenerSpec:
    arn: str
    load_balancer_arn: str
    load_balancer_name: str
    account_id: str
    region: str
    host: str
    port: int
    protocol: str
    certificate: str = ""
    private_key: str = ""
    action: Action = field(default_factory=lambda: Action("fixed-response", status=503))

    @property
    def binding(self) -> tuple[str, int, str, str, str]:
        return (self.host, self.port, self.protocol, self.certificate, self.private_key)


@dataclass(frozen=True)
class AclSource:
    arn: str
    account_id: str
    region: str
    scope: str
    name: str
    doc: dict[str, Any]
    fingerprint: str
    logging: dict[str, Any] | None


@dataclass
class EdgeSnapshot:
    versions: tuple[int, int]
    listeners: list[ListenerSpec]
    associations: dict[str, str]  # load balancer ARN -> web ACL ARN
    acls: dict[str, AclSource]
    rule_groups: dict[str, dict[str, Any]]
    ip_sets: dict[str, dict[str, Any]]
    regex_sets: dict[str, dict[str, Any]]


def _version(conn: Connection, table: Any) -> int:
    value = conn.execute(select(table.c.value).where(table.c.name == "version")).scalar()
    return int(value or 0)


def current_versions(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        return _version(conn, elbv2_meta), _version(conn, wafv2_meta)


def _targets(conn: Connection, tg_arns: list[str]) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {arn: [] for arn in tg_arns}
    if not tg_arns:
        return out
    groups = {
        row.arn: row
        for row in conn.execute(
            select(elbv2_target_groups).where(elbv2_target_groups.c.arn.in_(tg_arns))
        )
    }
    for row in conn.execute(
        select(elbv2_targets)
        .where(elbv2_targets.c.target_group_arn.in_(tg_arns))
        .order_by(elbv2_targets.c.target_id, elbv2_targets.c.port)
    ):
        group = groups.get(row.target_group_arn)
        if group is None or group.target_type not in ("ip", "instance"):
            continue
        out[row.target_group_arn].append((row.target_id, int(row.port or group.port)))
    return out


def _action(actions: list[dict[str, Any]], targets: dict[str, list[tuple[str, int]]]) -> Action:
    for act in sorted(actions, key=lambda a: a.get("Order", 0)):
        kind = act.get("Type")
        if kind == "forward":
            arns = []
            if act.get("TargetGroupArn"):
                arns.append(act["TargetGroupArn"])
            for tg in (act.get("ForwardConfig") or {}).get("TargetGroups") or []:
                if tg.get("Weight", 1) != 0 and tg.get("TargetGroupArn") not in arns:
                    arns.append(tg["TargetGroupArn"])
            pool: list[tuple[str, int]] = []
            for arn in arns:
                pool.extend(targets.get(arn, []))
            return Action("forward", tuple(pool))
        if kind == "fixed-response":
            cfg = act.get("FixedResponseConfig") or {}
            return Action(
                "fixed-response",
                status=int(cfg.get("StatusCode", "200")),
                content_type=cfg.get("ContentType") or "text/plain",
                body=cfg.get("MessageBody") or "",
            )
    return Action("fixed-response", status=503)


def _tg_arns(actions: list[dict[str, Any]]) -> list[str]:
    out = []
    for act in actions:
        if act.get("TargetGroupArn"):
            out.append(act["TargetGroupArn"])
        for tg in (act.get("ForwardConfig") or {}).get("TargetGroups") or []:
            out.append(tg["TargetGroupArn"])
    return out


def load_snapshot(store: Store) -> EdgeSnapshot:
    with store.read() as conn:
        versions = (_version(conn, elbv2_meta), _version(conn, wafv2_meta))
        lbs = {row.arn: row for row in conn.execute(select(elbv2_load_balancers))}
        rows = list(conn.execute(select(elbv2_listeners).order_by(elbv2_listeners.c.created_at)))
        decoded = [(row, orjson.loads(row.default_actions)) for row in rows]
        tg_arns = sorted({arn for _, actions in decoded for arn in _tg_arns(actions)})
        targets = _targets(conn, tg_arns)
        listeners: list[ListenerSpec] = []
        for row, actions in decoded:
            lb = lbs.get(row.load_balancer_arn)
            if lb is None:
                continue
            tags = orjson.loads(row.tags or "{}")
            lb_tags = orjson.loads(lb.tags or "{}")
            certs = orjson.loads(row.certificates or "[]")
            cert = tags.get("bastion:certificate-file") or lb_tags.get("bastion:certificate-file")
            key = tags.get("bastion:private-key-file") or lb_tags.get("bastion:private-key-file")
            for c in certs:  # a CertificateArn may name files: file:///cert.pem#/key.pem
                ref = c.get("CertificateArn", "")
                if ref.startswith("file://") and not cert:
                    cert, _, key = ref[len("file://") :].partition("#")
            listeners.append(
                ListenerSpec(
                    arn=row.arn,
                    load_balancer_arn=lb.arn,
                    load_balancer_name=lb.name,
                    account_id=row.account_id,
                    region=row.region,
                    host=lb.host,
                    port=int(row.port),
                    protocol=row.protocol,
                    certificate=cert or "",
                    private_key=key or "",
                    action=_action(actions, targets),
                )
            )
        associations = {
            row.resource_arn: row.web_acl_arn for row in conn.execute(select(wafv2_associations))
        }
        logging = {
            row.web_acl_arn: orjson.loads(row.config) for row in conn.execute(select(wafv2_logging))
        }
        resources = list(conn.execute(select(wafv2_resources)))
    rule_groups: dict[str, dict[str, Any]] = {}
    ip_sets: dict[str, dict[str, Any]] = {}
    regex_sets: dict[str, dict[str, Any]] = {}
    tokens: dict[tuple[str, str, str], list[str]] = {}
    acl_rows = []
    for row in resources:
        if row.kind == "webacl":
            acl_rows.append(row)
            continue
        doc = load_doc(row.doc)
        {"rulegroup": rule_groups, "ipset": ip_sets, "regexpatternset": regex_sets}[row.kind][
            row.arn
        ] = doc
        tokens.setdefault((row.account_id, row.region, row.scope), []).append(
            row.arn + "=" + row.lock_token
        )
    acls: dict[str, AclSource] = {}
    wanted = set(associations.values())
    for row in acl_rows:
        if row.arn not in wanted:
            continue
        deps = sorted(tokens.get((row.account_id, row.region, row.scope), []))
        fingerprint = hashlib.sha256("|".join([row.lock_token, *deps]).encode()).hexdigest()
        acls[row.arn] = AclSource(
            arn=row.arn,
            account_id=row.account_id,
            region=row.region,
            scope=row.scope,
            name=row.name,
            doc=load_doc(row.doc),
            fingerprint=fingerprint,
            logging=logging.get(row.arn),
        )
    return EdgeSnapshot(versions, listeners, associations, acls, rule_groups, ip_sets, regex_sets)


# ------------------------------------------------------------------ config listeners


def _hex_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def static_arns(account_id: str, region: str, item: StaticListener) -> tuple[str, str, str]:
    """(load balancer, target group, listener) ARNs of a config-file listener: stable
    across restarts, so associations survive them."""
    prefix = f"arn:aws:elasticloadbalancing:{region}:{account_id}:"
    lb_id = _hex_id("lb", account_id, region, item.name)
    lb = f"{prefix}loadbalancer/app/{item.name}/{lb_id}"
    tg = f"{prefix}targetgroup/{item.name}/{_hex_id('tg', account_id, region, item.name)}"
    listener = f"{prefix}listener/app/{item.name}/{lb_id}/{_hex_id('l', lb, str(item.port))}"
    return lb, tg, listener


def _split_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"edge listener target {text!r}: expected host:port")
    return host.strip("[]"), int(port)


def sync_static_listeners(
    store: Store, config: EdgeConfig, account_id: str, region: str, now: datetime
) -> bool:
    """Make the config file's listeners exist in the ELBv2 tables (source "config"),
    removing config listeners that left the file. True when something changed."""
    wanted: dict[str, tuple[StaticListener, str, str]] = {}
    for item in config.listeners:
        lb, tg, listener = static_arns(account_id, region, item)
        wanted[lb] = (item, tg, listener)
    changed = False
    with store.write() as conn:
        existing = {
            row.arn: row
            for row in conn.execute(
                select(elbv2_load_balancers).where(elbv2_load_balancers.c.source == "config")
            )
        }
        for lb_arn in set(existing) - set(wanted):
            _delete_static(conn, lb_arn)
            changed = True
        for lb_arn, (item, tg_arn, listener_arn) in wanted.items():
            targets = [_split_target(t) for t in item.targets]
            protocol = "HTTPS" if item.certificate and item.private_key else "HTTP"
            tags = {"bastion:source": "config"}
            if item.certificate:
                tags["bastion:certificate-file"] = item.certificate
                tags["bastion:private-key-file"] = item.private_key
            state = (item.host, item.port, protocol, sorted(targets), tags)
            row = existing.get(lb_arn)
            if row is not None and orjson.loads(row.attributes or "{}").get("state") == repr(state):
                continue
            _delete_static(conn, lb_arn)
            conn.execute(
                insert(elbv2_load_balancers).values(
                    arn=lb_arn,
                    account_id=account_id,
                    region=region,
                    name=item.name,
                    type="application",
                    scheme="internet-facing",
                    ip_address_type="ipv4",
                    dns_name=f"{item.host}:{item.port}",
                    host=item.host,
                    vpc_id="",
                    subnets="[]",
                    security_groups="[]",
                    attributes=orjson.dumps({"state": repr(state)}).decode(),
                    tags=orjson.dumps(tags).decode(),
                    source="config",
                    created_at=now,
                )
            )
            conn.execute(
                insert(elbv2_target_groups).values(
                    arn=tg_arn,
                    account_id=account_id,
                    region=region,
                    name=item.name,
                    protocol="HTTP",
                    port=targets[0][1],
                    target_type="ip",
                    vpc_id="",
                    health_check="{}",
                    attributes="{}",
                    tags=orjson.dumps({"bastion:source": "config"}).decode(),
                    source="config",
                    created_at=now,
                )
            )
            for host, port in targets:
                conn.execute(
                    insert(elbv2_targets).values(
                        target_group_arn=tg_arn,
                        target_id=host,
                        port=port,
                        availability_zone="",
                        registered_at=now,
                    )
                )
            actions = [{"Type": "forward", "TargetGroupArn": tg_arn, "Order": 1}]
            conn.execute(
                insert(elbv2_listeners).values(
                    arn=listener_arn,
                    load_balancer_arn=lb_arn,
                    account_id=account_id,
                    region=region,
                    port=item.port,
                    protocol=protocol,
                    ssl_policy="ELBSecurityPolicy-2016-08" if protocol == "HTTPS" else "",
                    certificates="[]",
                    default_actions=orjson.dumps(actions).decode(),
                    tags=orjson.dumps(tags).decode(),
                    source="config",
                    created_at=now,
                )
            )
            changed = True
        if changed:
            bump_elbv2_version(conn)
    return changed


def _delete_static(conn: Connection, lb_arn: str) -> None:
    tg_arns = [
        row.arn
        for row in conn.execute(
            select(elbv2_target_groups.c.arn).where(
                elbv2_target_groups.c.source == "config",
                elbv2_target_groups.c.name == lb_arn.split("/")[-2],
            )
        )
    ]
    conn.execute(delete(elbv2_listeners).where(elbv2_listeners.c.load_balancer_arn == lb_arn))
    for tg in tg_arns:
        conn.execute(delete(elbv2_targets).where(elbv2_targets.c.target_group_arn == tg))
        conn.execute(delete(elbv2_target_groups).where(elbv2_target_groups.c.arn == tg))
    conn.execute(delete(elbv2_load_balancers).where(elbv2_load_balancers.c.arn == lb_arn))


# --------------------------------------------------------------------- reporting


def report(
    store: Store,
    counters: dict[tuple[str, str, str], int],
    samples: list[tuple[str, str, float, int, str]],
    now: float | None = None,
    *,
    prune: bool = False,
) -> None:
    """Add counter deltas and sampled requests; drop samples older than 3 hours."""
    now = time.time() if now is None else now
    with store.write() as conn:
        for (acl, rule, metric), delta in counters.items():
            if not delta:
                continue
            where = (
                (wafv2_metrics.c.web_acl_arn == acl)
                & (wafv2_metrics.c.rule == rule)
                & (wafv2_metrics.c.metric == metric)
            )
            result = conn.execute(
                update(wafv2_metrics).where(where).values(value=wafv2_metrics.c.value + delta)
            )
            if result.rowcount == 0:
                conn.execute(
                    insert(wafv2_metrics).values(
                        web_acl_arn=acl, rule=rule, metric=metric, value=delta
                    )
                )
        if samples:
            conn.execute(
                insert(wafv2_samples),
                [
                    {
                        "web_acl_arn": acl,
                        "rule_metric_name": rule,
                        "ts": ts,
                        "weight": weight,
                        "record": record,
                    }
                    for acl, rule, ts, weight, record in samples
                ],
            )
        if prune:
            conn.execute(delete(wafv2_samples).where(wafv2_samples.c.ts < now - SAMPLE_RETENTION))
            keys = conn.execute(
                select(wafv2_samples.c.web_acl_arn, wafv2_samples.c.rule_metric_name)
                .group_by(wafv2_samples.c.web_acl_arn, wafv2_samples.c.rule_metric_name)
                .having(func.count() > SAMPLES_PER_RULE)
            ).all()
            for acl, rule in keys:
                cutoff = conn.execute(
                    select(wafv2_samples.c.id)
                    .where(
                        wafv2_samples.c.web_acl_arn == acl,
                        wafv2_samples.c.rule_metric_name == rule,
                    )
                    .order_by(wafv2_samples.c.id.desc())
                    .offset(SAMPLES_PER_RULE)
                    .limit(1)
                ).scalar()
                if cutoff is not None:
                    conn.execute(
                        delete(wafv2_samples).where(
                            wafv2_samples.c.web_acl_arn == acl,
                            wafv2_samples.c.rule_metric_name == rule,
                            wafv2_samples.c.id <= cutoff,
                        )
                    )


def read_metrics(store: Store) -> list[tuple[str, str, str, int]]:
    with store.read() as conn:
        return [
            (row.web_acl_arn, row.rule, row.metric, int(row.value))
            for row in conn.execute(select(wafv2_metrics))
        ]
