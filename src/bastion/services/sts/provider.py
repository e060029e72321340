"""STS: who am I. AssumeRole and session tokens arrive with IAM."""

from __future__ import annotations

from typing import Any

from bastion.context import RequestContext
from bastion.services.base import Provider, operation


class StsProvider(Provider):
    service = "sts"

    @operation("GetCallerIdentity", storage=False)
    def get_caller_identity(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        # AWS: "No permissions are required to perform this operation."
        ctx.waive_authorization("sts:GetCallerIdentity needs no permission")
        principal = ctx.principal
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
