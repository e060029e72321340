"""Elastic Load Balancing v2, the subset that creates Bastion's edge listeners.

An application load balancer here is a set of sockets the edge binds: CreateListener's
`Port` on the load balancer's host (the `bastion:listen-host` tag of CreateLoadBalancer,
else the edge's default, 127.0.0.1). Targets are of type `ip`: any reachable address and
port, loopback included. There are no VPCs: Subnets, SubnetMappings, SecurityGroups and
VpcId are accepted and recorded, never required. HTTPS listeners take their certificate
and key from files named by the `bastion:certificate-file` / `bastion:private-key-file`
tags (or a `file:///cert.pem#/key.pem` CertificateArn).

Every change bumps the ELBv2 version row, so running edges pick it up within a poll.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services import common
from bastion.services.base import Provider, operation
from bastion.storage.elbv2_tables import (
    bump_elbv2_version,
    elbv2_listeners,
    elbv2_load_balancers,
    elbv2_target_groups,
    elbv2_targets,
)
from bastion.storage.wafv2_tables import wafv2_associations

HOST_TAG = "bastion:listen-host"
MAX_TAGS = 50
_DEFAULT_HC = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckEnabled": True,
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 5,
    "UnhealthyThresholdCount": 2,
    "HealthCheckPath": "/",
    "Matcher": {"HttpCode": "200"},
}


def elb_error(code: str, message: str) -> ClientError:
    return ClientError(message, code=code)


def _lb_not_found() -> ClientError:
    return elb_error("LoadBalancerNotFound", "One or more load balancers not found")


def _tg_not_found() -> ClientError:
    return elb_error("TargetGroupNotFound", "One or more target groups not found")


def _listener_not_found() -> ClientError:
    return elb_error("ListenerNotFound", "One or more listeners not found")


def validation(message: str) -> ClientError:
    return elb_error("ValidationError", message)


def _hex() -> str:
    return secrets.token_hex(8)


def _tags_in(tags: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    out = common.tags_from_list(tags or ())
    if len(out) > MAX_TAGS:
        raise elb_error("TooManyTags", "Too many tags")
    return out


def _check_name(name: str, kind: str) -> None:
    if len(name) > 32:
        raise validation(f"The {kind} name '{name}' cannot be longer than '32' characters")
    if name.startswith("-") or name.endswith("-"):
        raise validation(f"The {kind} name '{name}' cannot begin or end with a hyphen")
    if not all(c.isalnum() or c == "-" for c in name) or not name.isascii():
        raise validation(
            f"The {kind} name '{name}' can only contain characters that are alphanumeric"
            " characters or hyphens(-)"
        )
    if kind == "load balancer" and name.lower().startswith("internal-"):
        raise validation("Load balancer names cannot start with 'internal-'")


def _invalid_marker(_marker: str) -> ClientError:
    return validation("Invalid marker")


def _page(items: list[dict[str, Any]], request: dict[str, Any], key: str) -> dict[str, Any]:
    size = request.get("PageSize") or 400
    return common.offset_page(items, request.get("Marker"), size, key, _invalid_marker)


class Elbv2Provider(Provider):
    service = "elbv2"
    state_tables = (elbv2_load_balancers, elbv2_target_groups, elbv2_targets, elbv2_listeners)

    def reset_state(self, conn: Connection) -> None:
        super().reset_state(conn)
        bump_elbv2_version(conn)

    def load_state(self, conn: Connection, state: dict[str, Any]) -> None:
        super().load_state(conn, state)
        bump_elbv2_version(conn)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _auth(ctx: RequestContext, action: str, resources: list[str] | None = None) -> None:
        ctx.authorize(f"elasticloadbalancing:{action}", resources or ["*"])

    @staticmethod
    def _prefix(ctx: RequestContext) -> str:
        return f"arn:aws:elasticloadbalancing:{ctx.region}:{ctx.account_id}:"

    def _lb(self, ctx: RequestContext, arn: str) -> Any:
        row = ctx.tx.execute(
            select(elbv2_load_balancers).where(
                elbv2_load_balancers.c.arn == arn,
                elbv2_load_balancers.c.account_id == ctx.account_id,
                elbv2_load_balancers.c.region == ctx.region,
            )
        ).first()
        if row is None:
            raise _lb_not_found()
        return row

    def _tg(self, ctx: RequestContext, arn: str) -> Any:
        row = ctx.tx.execute(
            select(elbv2_target_groups).where(
                elbv2_target_groups.c.arn == arn,
                elbv2_target_groups.c.account_id == ctx.account_id,
                elbv2_target_groups.c.region == ctx.region,
            )
        ).first()
        if row is None:
            raise _tg_not_found()
        return row

    def _listener(self, ctx: RequestContext, arn: str) -> Any:
        row = ctx.tx.execute(
            select(elbv2_listeners).where(
                elbv2_listeners.c.arn == arn,
                elbv2_listeners.c.account_id == ctx.account_id,
                elbv2_listeners.c.region == ctx.region,
            )
        ).first()
        if row is None:
            raise _listener_not_found()
        return row

    @staticmethod
    def _lb_view(row: Any) -> dict[str, Any]:
        subnets = orjson.loads(row.subnets or "[]")
        out: dict[str, Any] = {
            "LoadBalancerArn": row.arn,
            "DNSName": row.dns_name,
            "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
            "CreatedTime": row.created_at,
            "LoadBalancerName": row.name,
            "Scheme": row.scheme,
            "State": {"Code": "active"},
            "Type": row.type,
            "AvailabilityZones": [
                {"ZoneName": f"{row.region}{chr(97 + i % 6)}", "SubnetId": s}
                for i, s in enumerate(subnets)
            ],
            "IpAddressType": row.ip_address_type,
        }
        if row.vpc_id:
            out["VpcId"] = row.vpc_id
        groups = orjson.loads(row.security_groups or "[]")
        if groups:
            out["SecurityGroups"] = groups
        return out

    def _tg_view(self, conn: Connection, row: Any) -> dict[str, Any]:
        hc = {**_DEFAULT_HC, **orjson.loads(row.health_check or "{}")}
        lbs = sorted(
            {
                lis.load_balancer_arn
                for lis in conn.execute(select(elbv2_listeners))
                if row.arn in lis.default_actions
            }
        )
        out: dict[str, Any] = {
            "TargetGroupArn": row.arn,
            "TargetGroupName": row.name,
            "Protocol": row.protocol,
            "Port": row.port,
            "TargetType": row.target_type,
            "LoadBalancerArns": lbs,
            "ProtocolVersion": "HTTP1",
            "IpAddressType": "ipv4",
            **hc,
        }
        if row.vpc_id:
            out["VpcId"] = row.vpc_id
        return out

    @staticmethod
    def _listener_view(row: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ListenerArn": row.arn,
            "LoadBalancerArn": row.load_balancer_arn,
            "Port": row.port,
            "Protocol": row.protocol,
            "DefaultActions": orjson.loads(row.default_actions),
        }
        certs = orjson.loads(row.certificates or "[]")
        if certs:
            out["Certificates"] = certs
        if row.ssl_policy:
            out["SslPolicy"] = row.ssl_policy
        return out

    # ---------------------------------------------------------- load balancers

    @operation("CreateLoadBalancer")
    def create_load_balancer(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Name"]
        prefix = self._prefix(ctx)
        _check_name(name, "load balancer")
        lb_type = request.get("Type", "application")
        self._auth(ctx, "CreateLoadBalancer", [f"{prefix}loadbalancer/app/{name}/*"])
        if lb_type != "application":
            raise elb_error(
                "InvalidConfigurationRequest",
                f"Load balancer type '{lb_type}' is not supported by Bastion's edge;"
                " use 'application'",
            )
        tags = _tags_in(request.get("Tags"))
        existing = ctx.tx.execute(
            select(elbv2_load_balancers).where(
                elbv2_load_balancers.c.account_id == ctx.account_id,
                elbv2_load_balancers.c.region == ctx.region,
                elbv2_load_balancers.c.name == name,
            )
        ).first()
        if existing is not None:
            if existing.scheme != request.get("Scheme", "internet-facing"):
                raise elb_error(
                    "DuplicateLoadBalancerName",
                    f"A load balancer with the same name '{name}' exists, but with different"
                    " settings",
                )
            return {"LoadBalancers": [self._lb_view(existing)]}
        subnets = list(request.get("Subnets") or [])
        subnets += [m["SubnetId"] for m in request.get("SubnetMappings") or [] if "SubnetId" in m]
        lb_id = _hex()
        arn = f"{prefix}loadbalancer/app/{name}/{lb_id}"
        host = tags.get(HOST_TAG, "")
        if host:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise validation(f"Tag {HOST_TAG} must be an IP address, got '{host}'") from None
        digits = str(int(lb_id, 16) % 10**10).rjust(10, "1")
        ctx.tx.execute(
            insert(elbv2_load_balancers).values(
                arn=arn,
                account_id=ctx.account_id,
                region=ctx.region,
                name=name,
                type=lb_type,
                scheme=request.get("Scheme", "internet-facing"),
                ip_address_type=request.get("IpAddressType", "ipv4"),
                dns_name=f"{name}-{digits}.{ctx.region}.elb.localhost",
                host=host,  # "": the edge's default_host
                vpc_id="vpc-bastion" if subnets else "",
                subnets=orjson.dumps(subnets).decode(),
                security_groups=orjson.dumps(request.get("SecurityGroups") or []).decode(),
                attributes="{}",
                tags=common.dump_tags(tags),
                source="api",
                created_at=ctx.now,
            )
        )
        bump_elbv2_version(ctx.tx)
        return {"LoadBalancers": [self._lb_view(self._lb(ctx, arn))]}

    @operation("DescribeLoadBalancers")
    def describe_load_balancers(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        arns = request.get("LoadBalancerArns") or []
        names = request.get("Names") or []
        self._auth(ctx, "DescribeLoadBalancers")
        query = select(elbv2_load_balancers).where(
            elbv2_load_balancers.c.account_id == ctx.account_id,
            elbv2_load_balancers.c.region == ctx.region,
        )
        rows = list(ctx.tx.execute(query.order_by(elbv2_load_balancers.c.created_at)))
        if arns:
            rows = [r for r in rows if r.arn in arns]
            if len(rows) != len(set(arns)):
                raise _lb_not_found()
        if names:
            rows = [r for r in rows if r.name in names]
            if len(rows) != len(set(names)):
                raise _lb_not_found()
        return _page([self._lb_view(r) for r in rows], request, "LoadBalancers")

    @operation("DeleteLoadBalancer")
    def delete_load_balancer(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["LoadBalancerArn"]
        self._auth(ctx, "DeleteLoadBalancer", [arn])
        row = ctx.tx.execute(
            select(elbv2_load_balancers).where(
                elbv2_load_balancers.c.arn == arn,
                elbv2_load_balancers.c.account_id == ctx.account_id,
            )
        ).first()
        if row is None:
            return {}  # AWS: deleting a missing load balancer succeeds
        ctx.tx.execute(delete(elbv2_listeners).where(elbv2_listeners.c.load_balancer_arn == arn))
        ctx.tx.execute(delete(elbv2_load_balancers).where(elbv2_load_balancers.c.arn == arn))
        ctx.tx.execute(delete(wafv2_associations).where(wafv2_associations.c.resource_arn == arn))
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("DescribeLoadBalancerAttributes")
    def describe_load_balancer_attributes(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        arn = request["LoadBalancerArn"]
        self._auth(ctx, "DescribeLoadBalancerAttributes", [arn])
        row = self._lb(ctx, arn)
        attrs = {
            "idle_timeout.timeout_seconds": "60",
            "routing.http.drop_invalid_header_fields.enabled": "false",
            "routing.http.desync_mitigation_mode": "strictest",
            "deletion_protection.enabled": "false",
            "waf.fail_open.enabled": "true",
        }
        stored = orjson.loads(row.attributes or "{}")
        attrs.update({k: v for k, v in stored.items() if k != "state"})
        return {"Attributes": [{"Key": k, "Value": v} for k, v in sorted(attrs.items())]}

    @operation("ModifyLoadBalancerAttributes")
    def modify_load_balancer_attributes(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        arn = request["LoadBalancerArn"]
        self._auth(ctx, "ModifyLoadBalancerAttributes", [arn])
        row = self._lb(ctx, arn)
        stored = orjson.loads(row.attributes or "{}")
        for attr in request.get("Attributes") or []:
            stored[attr["Key"]] = attr.get("Value", "")
        ctx.tx.execute(
            update(elbv2_load_balancers)
            .where(elbv2_load_balancers.c.arn == arn)
            .values(attributes=orjson.dumps(stored).decode())
        )
        return self.describe_load_balancer_attributes(ctx, {"LoadBalancerArn": arn})

    # ------------------------------------------------------------ target groups

    @operation("CreateTargetGroup")
    def create_target_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Name"]
        _check_name(name, "target group")
        prefix = self._prefix(ctx)
        self._auth(ctx, "CreateTargetGroup", [f"{prefix}targetgroup/{name}/*"])
        target_type = request.get("TargetType", "instance")
        if target_type not in ("ip", "instance"):
            raise elb_error(
                "InvalidConfigurationRequest",
                f"Target type '{target_type}' is not supported by Bastion's edge; use 'ip'",
            )
        protocol = request.get("Protocol")
        port = request.get("Port")
        if protocol is None or port is None:
            raise validation("A protocol and port must be specified for the target group")
        if protocol not in ("HTTP", "HTTPS"):
            raise validation(f"Protocol '{protocol}' is not supported for application targets")
        existing = ctx.tx.execute(
            select(elbv2_target_groups).where(
                elbv2_target_groups.c.account_id == ctx.account_id,
                elbv2_target_groups.c.region == ctx.region,
                elbv2_target_groups.c.name == name,
            )
        ).first()
        if existing is not None:
            if existing.port != port or existing.protocol != protocol:
                raise elb_error(
                    "DuplicateTargetGroupName",
                    f"A target group with the same name '{name}' exists, but with different"
                    " settings",
                )
            return {"TargetGroups": [self._tg_view(ctx.tx, existing)]}
        hc = {k: request[k] for k in _DEFAULT_HC if k in request}
        arn = f"{prefix}targetgroup/{name}/{_hex()}"
        ctx.tx.execute(
            insert(elbv2_target_groups).values(
                arn=arn,
                account_id=ctx.account_id,
                region=ctx.region,
                name=name,
                protocol=protocol,
                port=port,
                target_type=target_type,
                vpc_id=request.get("VpcId") or "",
                health_check=orjson.dumps(hc).decode(),
                attributes="{}",
                tags=common.dump_tags(_tags_in(request.get("Tags"))),
                source="api",
                created_at=ctx.now,
            )
        )
        return {"TargetGroups": [self._tg_view(ctx.tx, self._tg(ctx, arn))]}

    @operation("DescribeTargetGroups")
    def describe_target_groups(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._auth(ctx, "DescribeTargetGroups")
        arns = request.get("TargetGroupArns") or []
        names = request.get("Names") or []
        rows = list(
            ctx.tx.execute(
                select(elbv2_target_groups)
                .where(
                    elbv2_target_groups.c.account_id == ctx.account_id,
                    elbv2_target_groups.c.region == ctx.region,
                )
                .order_by(elbv2_target_groups.c.created_at)
            )
        )
        if arns:
            rows = [r for r in rows if r.arn in arns]
            if len(rows) != len(set(arns)):
                raise _tg_not_found()
        if names:
            rows = [r for r in rows if r.name in names]
            if len(rows) != len(set(names)):
                raise _tg_not_found()
        views = [self._tg_view(ctx.tx, r) for r in rows]
        if request.get("LoadBalancerArn"):
            self._lb(ctx, request["LoadBalancerArn"])
            views = [v for v in views if request["LoadBalancerArn"] in v["LoadBalancerArns"]]
        return _page(views, request, "TargetGroups")

    @operation("DeleteTargetGroup")
    def delete_target_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["TargetGroupArn"]
        self._auth(ctx, "DeleteTargetGroup", [arn])
        row = ctx.tx.execute(
            select(elbv2_target_groups).where(
                elbv2_target_groups.c.arn == arn,
                elbv2_target_groups.c.account_id == ctx.account_id,
            )
        ).first()
        if row is None:
            return {}
        for lis in ctx.tx.execute(select(elbv2_listeners.c.default_actions)):
            if arn in lis.default_actions:
                raise elb_error(
                    "ResourceInUse",
                    f"Target group '{arn}' is currently in use by a listener or a rule",
                )
        ctx.tx.execute(delete(elbv2_targets).where(elbv2_targets.c.target_group_arn == arn))
        ctx.tx.execute(delete(elbv2_target_groups).where(elbv2_target_groups.c.arn == arn))
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("RegisterTargets")
    def register_targets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["TargetGroupArn"]
        self._auth(ctx, "RegisterTargets", [arn])
        tg = self._tg(ctx, arn)
        for target in request["Targets"]:
            target_id = target["Id"]
            if tg.target_type == "ip":
                try:
                    ipaddress.ip_address(target_id)
                except ValueError:
                    raise elb_error(
                        "InvalidTarget",
                        f"The IP address '{target_id}' is not a valid IPv4 address",
                    ) from None
            port = target.get("Port") or tg.port
            if not 1 <= port <= 65535:
                raise validation("Port must be between 1 and 65535")
            ctx.tx.execute(
                delete(elbv2_targets).where(
                    elbv2_targets.c.target_group_arn == arn,
                    elbv2_targets.c.target_id == target_id,
                    elbv2_targets.c.port == port,
                )
            )
            ctx.tx.execute(
                insert(elbv2_targets).values(
                    target_group_arn=arn,
                    target_id=target_id,
                    port=port,
                    availability_zone=target.get("AvailabilityZone") or "",
                    registered_at=ctx.now,
                )
            )
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("DeregisterTargets")
    def deregister_targets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["TargetGroupArn"]
        self._auth(ctx, "DeregisterTargets", [arn])
        tg = self._tg(ctx, arn)
        for target in request["Targets"]:
            port = target.get("Port") or tg.port
            result = ctx.tx.execute(
                delete(elbv2_targets).where(
                    elbv2_targets.c.target_group_arn == arn,
                    elbv2_targets.c.target_id == target["Id"],
                    elbv2_targets.c.port == port,
                )
            )
            if result.rowcount == 0:
                raise elb_error(
                    "InvalidTarget",
                    f"The following targets are not registered in target group: '{target['Id']}'",
                )
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("DescribeTargetHealth")
    def describe_target_health(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        arn = request["TargetGroupArn"]
        self._auth(ctx, "DescribeTargetHealth", [arn])
        tg = self._tg(ctx, arn)
        in_use = any(
            arn in row.default_actions
            for row in ctx.tx.execute(select(elbv2_listeners.c.default_actions))
        )
        rows = list(
            ctx.tx.execute(
                select(elbv2_targets)
                .where(elbv2_targets.c.target_group_arn == arn)
                .order_by(elbv2_targets.c.registered_at)
            )
        )
        wanted = request.get("Targets")
        out = []
        for row in rows:
            if wanted and not any(
                w["Id"] == row.target_id and (w.get("Port") or tg.port) == row.port for w in wanted
            ):
                continue
            health: dict[str, Any] = {"State": "healthy"}
            if not in_use:
                health = {
                    "State": "unused",
                    "Reason": "Target.NotInUse",
                    "Description": "Target group is not configured to receive traffic from the"
                    " load balancer",
                }
            target = {"Id": row.target_id, "Port": row.port}
            if row.availability_zone:
                target["AvailabilityZone"] = row.availability_zone
            out.append({"Target": target, "HealthCheckPort": str(row.port), "TargetHealth": health})
        return {"TargetHealthDescriptions": out}

    # ------------------------------------------------------------------ listeners

    def _check_actions(self, ctx: RequestContext, actions: list[dict[str, Any]]) -> None:
        if not actions:
            raise validation("A default action must be specified")
        for act in actions:
            kind = act.get("Type")
            if kind == "forward":
                arns = [act["TargetGroupArn"]] if act.get("TargetGroupArn") else []
                arns += [
                    tg["TargetGroupArn"]
                    for tg in (act.get("ForwardConfig") or {}).get("TargetGroups") or []
                ]
                if not arns:
                    raise validation("A target group ARN must be specified")
                for arn in arns:
                    self._tg(ctx, arn)
            elif kind == "fixed-response":
                if not act.get("FixedResponseConfig"):
                    raise validation("A fixed response configuration must be specified")
            else:
                raise elb_error(
                    "InvalidConfigurationRequest",
                    f"Action type '{kind}' is not supported by Bastion's edge"
                    " (use forward or fixed-response)",
                )

    def _check_port_free(self, ctx: RequestContext, lb: Any, port: int, skip: str = "") -> None:
        for row in ctx.tx.execute(select(elbv2_listeners).where(elbv2_listeners.c.port == port)):
            if row.arn == skip:
                continue
            if row.load_balancer_arn == lb.arn:
                raise elb_error(
                    "DuplicateListener",
                    f"A listener already exists on this port for this load balancer '{lb.arn}'",
                )
            other = ctx.tx.execute(
                select(elbv2_load_balancers.c.host).where(
                    elbv2_load_balancers.c.arn == row.load_balancer_arn
                )
            ).scalar()
            if other == lb.host or "0.0.0.0" in (other, lb.host):  # noqa: S104
                raise elb_error(
                    "DuplicateListener",
                    f"Port {port} on {lb.host} is already used by listener '{row.arn}'",
                )

    @operation("CreateListener")
    def create_listener(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        lb_arn = request["LoadBalancerArn"]
        self._auth(ctx, "CreateListener", [lb_arn])
        lb = self._lb(ctx, lb_arn)
        protocol = request.get("Protocol", "HTTP")
        port = request.get("Port", 443 if protocol == "HTTPS" else 80)
        if protocol not in ("HTTP", "HTTPS"):
            raise validation(
                f"Protocol '{protocol}' is not supported by application load balancers"
            )
        if not 1 <= port <= 65535:
            raise validation("Port must be between 1 and 65535")
        certs = request.get("Certificates") or []
        tags = _tags_in(request.get("Tags"))
        if protocol == "HTTPS" and not (certs or "bastion:certificate-file" in tags):
            raise validation("A certificate must be specified for HTTPS listeners")
        actions = request["DefaultActions"]
        self._check_actions(ctx, actions)
        self._check_port_free(ctx, lb, port)
        lb_tail = lb_arn.split(":loadbalancer/", 1)[1]
        arn = f"{self._prefix(ctx)}listener/{lb_tail}/{_hex()}"
        ctx.tx.execute(
            insert(elbv2_listeners).values(
                arn=arn,
                load_balancer_arn=lb_arn,
                account_id=ctx.account_id,
                region=ctx.region,
                port=port,
                protocol=protocol,
                ssl_policy=request.get("SslPolicy")
                or ("ELBSecurityPolicy-2016-08" if protocol == "HTTPS" else ""),
                certificates=orjson.dumps(certs).decode(),
                default_actions=orjson.dumps(actions).decode(),
                tags=common.dump_tags(tags),
                source="api",
                created_at=ctx.now,
            )
        )
        bump_elbv2_version(ctx.tx)
        return {"Listeners": [self._listener_view(self._listener(ctx, arn))]}

    @operation("ModifyListener")
    def modify_listener(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["ListenerArn"]
        self._auth(ctx, "ModifyListener", [arn])
        row = self._listener(ctx, arn)
        values: dict[str, Any] = {}
        if request.get("Port") is not None:
            lb = self._lb(ctx, row.load_balancer_arn)
            self._check_port_free(ctx, lb, request["Port"], skip=arn)
            values["port"] = request["Port"]
        if request.get("Protocol"):
            values["protocol"] = request["Protocol"]
        if request.get("Certificates") is not None:
            values["certificates"] = orjson.dumps(request["Certificates"]).decode()
        if request.get("SslPolicy"):
            values["ssl_policy"] = request["SslPolicy"]
        if request.get("DefaultActions"):
            self._check_actions(ctx, request["DefaultActions"])
            values["default_actions"] = orjson.dumps(request["DefaultActions"]).decode()
        if values:
            ctx.tx.execute(
                update(elbv2_listeners).where(elbv2_listeners.c.arn == arn).values(**values)
            )
            bump_elbv2_version(ctx.tx)
        return {"Listeners": [self._listener_view(self._listener(ctx, arn))]}

    @operation("DescribeListeners")
    def describe_listeners(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        lb_arn = request.get("LoadBalancerArn")
        arns = request.get("ListenerArns") or []
        self._auth(ctx, "DescribeListeners")
        if not lb_arn and not arns:
            raise validation("You must specify either listener ARNs or a load balancer ARN")
        query = select(elbv2_listeners).where(
            elbv2_listeners.c.account_id == ctx.account_id,
            elbv2_listeners.c.region == ctx.region,
        )
        if lb_arn:
            self._lb(ctx, lb_arn)
            query = query.where(elbv2_listeners.c.load_balancer_arn == lb_arn)
        rows = list(ctx.tx.execute(query.order_by(elbv2_listeners.c.created_at)))
        if arns:
            rows = [r for r in rows if r.arn in arns]
            if len(rows) != len(set(arns)):
                raise _listener_not_found()
        return _page([self._listener_view(r) for r in rows], request, "Listeners")

    @operation("DeleteListener")
    def delete_listener(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["ListenerArn"]
        self._auth(ctx, "DeleteListener", [arn])
        self._listener(ctx, arn)
        ctx.tx.execute(delete(elbv2_listeners).where(elbv2_listeners.c.arn == arn))
        bump_elbv2_version(ctx.tx)
        return {}

    # ----------------------------------------------------------------------- tags

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[Any, Any]:
        for table in (elbv2_load_balancers, elbv2_target_groups, elbv2_listeners):
            row = ctx.tx.execute(
                select(table).where(table.c.arn == arn, table.c.account_id == ctx.account_id)
            ).first()
            if row is not None:
                return table, row
        if ":targetgroup/" in arn:
            raise _tg_not_found()
        if ":listener/" in arn:
            raise _listener_not_found()
        raise _lb_not_found()

    @operation("AddTags")
    def add_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "AddTags", list(request["ResourceArns"]))
        for arn in request["ResourceArns"]:
            table, row = self._tagged(ctx, arn)
            tags = common.load_tags(row.tags)
            tags.update(_tags_in(request["Tags"]))
            if len(tags) > MAX_TAGS:
                raise elb_error("TooManyTags", "Too many tags")
            ctx.tx.execute(
                update(table).where(table.c.arn == arn).values(tags=common.dump_tags(tags))
            )
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("RemoveTags")
    def remove_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "RemoveTags", list(request["ResourceArns"]))
        for arn in request["ResourceArns"]:
            table, row = self._tagged(ctx, arn)
            tags = common.load_tags(row.tags)
            for key in request["TagKeys"]:
                tags.pop(key, None)
            ctx.tx.execute(
                update(table).where(table.c.arn == arn).values(tags=common.dump_tags(tags))
            )
        bump_elbv2_version(ctx.tx)
        return {}

    @operation("DescribeTags")
    def describe_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "DescribeTags", list(request["ResourceArns"]))
        out = []
        for arn in request["ResourceArns"]:
            _, row = self._tagged(ctx, arn)
            tags = common.load_tags(row.tags)
            out.append({"ResourceArn": arn, "Tags": common.tags_to_list(tags)})
        return {"TagDescriptions": out}
