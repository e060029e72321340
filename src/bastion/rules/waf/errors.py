"""Configuration errors of the WAF engine."""

from __future__ import annotations


class WafConfigError(ValueError):
    """An invalid web ACL or rule group; the message is AWS's WAFInvalidParameterException's."""

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason
