"""CloudTrail record construction: one dict per API call, in CloudTrail's field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bastion.clock import iso_seconds
from bastion.context import Principal

EVENT_VERSION = "1.09"


@dataclass(frozen=True, slots=True)
class AuditResource:
    resource_type: str | None
    resource_name: str


@dataclass(slots=True)
class AuditEntry:
    """A record plus the columns LookupEvents filters on."""

    record: dict[str, Any]
    event_id: str
    account_id: str
    region: str
    event_time: datetime
    event_name: str
    event_source: str
    username: str | None
    access_key_id: str | None
    read_only: bool
    resources: list[AuditResource] = field(default_factory=list)


def user_identity(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"type": "Unknown"}
    identity: dict[str, Any] = {
        "type": principal.kind,
        "principalId": principal.user_id,
        "arn": principal.arn,
        "accountId": principal.account_id,
    }
    if principal.access_key_id:
        identity["accessKeyId"] = principal.access_key_id
    if principal.kind == "IAMUser":
        identity["userName"] = principal.name
    if principal.session_issued is not None:
        context: dict[str, Any] = {
            "attributes": {
                "creationDate": principal.session_issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": "true" if principal.mfa else "false",
            }
        }
        if principal.kind == "AssumedRole":
            context["sessionIssuer"] = {
                "type": "Role",
                "principalId": principal.source_id,
                "arn": principal.source_arn,
                "accountId": principal.account_id,
                "userName": principal.source_name,
            }
        identity["sessionContext"] = context
    return identity


def event_source(endpoint_prefix: str) -> str:
    return f"{endpoint_prefix}.amazonaws.com"


def build_entry(
    *,
    event_id: str,
    request_id: str,
    event_time: datetime,
    source: str,
    event_name: str,
    region: str,
    principal: Principal | None,
    account_id: str,
    source_ip: str,
    user_agent: str,
    read_only: bool,
    request_parameters: Any,
    response_elements: Any,
    error_code: str | None = None,
    error_message: str | None = None,
    resources: list[AuditResource] | None = None,
) -> AuditEntry:
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(principal),
        "eventTime": iso_seconds(event_time),
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or ""
    if resources:
        record["resources"] = [
            {"ARN": r.resource_name, "accountId": account_id, "type": r.resource_type}
            for r in resources
        ]
    username = None
    if principal is not None:
        username = principal.name
    return AuditEntry(
        record=record,
        event_id=event_id,
        account_id=account_id,
        region=region,
        event_time=event_time,
        event_name=event_name,
        event_source=source,
        username=username,
        access_key_id=principal.access_key_id if principal else None,
        read_only=read_only,
        resources=list(resources or []),
    )
