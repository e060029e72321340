"""CloudTrail LookupEvents over the audit log (management events, newest first)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import Provider, operation
from bastion.spine.audit import AuditLog

DEFAULT_MAX_RESULTS = 50


def _encode_token(after: tuple[datetime, int]) -> str:
    when, seq = after
    return base64.urlsafe_b64encode(f"v1|{when.isoformat()}|{seq}".encode()).decode()


def _decode_token(token: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        version, when, seq = text.split("|")
        if version != "v1":
            raise ValueError(version)
        return datetime.fromisoformat(when), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ClientError("Invalid NextToken.", code="InvalidNextTokenException") from exc


class CloudTrailProvider(Provider):
    service = "cloudtrail"

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    @operation("LookupEvents")
    def lookup_events(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("cloudtrail:LookupEvents")
        attributes = request.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise ClientError(
                "You cannot specify more than one lookup attribute.",
                code="InvalidLookupAttributesException",
            )
        attribute = None
        if attributes:
            attribute = (attributes[0]["AttributeKey"], attributes[0]["AttributeValue"])
        start, end = request.get("StartTime"), request.get("EndTime")
        if start is not None and end is not None and start > end:
            raise ClientError(
                "Start time must be before end time.", code="InvalidTimeRangeException"
            )
        if request.get("EventCategory") not in (None, "insight"):
            raise ClientError("Invalid EventCategory.", code="InvalidEventCategoryException")
        token = request.get("NextToken")
        rows, next_after = self._audit.lookup(
            account_id=ctx.account_id,
            region=ctx.region,
            attribute=attribute,
            start=start,
            end=end,
            limit=request.get("MaxResults") or DEFAULT_MAX_RESULTS,
            after=_decode_token(token) if token else None,
        )
        events = []
        for row in rows:
            event: dict[str, Any] = {
                "EventId": row["event_id"],
                "EventName": row["event_name"],
                "ReadOnly": "true" if row["read_only"] else "false",
                "EventTime": row["event_time"],
                "EventSource": row["event_source"],
                "Resources": [
                    {"ResourceType": r["resource_type"], "ResourceName": r["resource_name"]}
                    for r in row["resources"]
                ],
                "CloudTrailEvent": row["record"],
            }
            if row["access_key_id"]:
                event["AccessKeyId"] = row["access_key_id"]
            if row["username"]:
                event["Username"] = row["username"]
            events.append(event)
        response: dict[str, Any] = {"Events": events}
        if next_after is not None:
            response["NextToken"] = _encode_token(next_after)
        return response
