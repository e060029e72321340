"""Amazon Resource Names: parse and format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        """`user` for `user/alice`, `key` for `key/1234`, '' when the resource has no type."""
        for sep in ("/", ":"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[0]
        return ""

    @property
    def resource_id(self) -> str:
        for sep in ("/", ":"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[1]
        return self.resource


def parse_arn(text: str) -> Arn:
    """Split an ARN; raises ValueError when it is not one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        raise ValueError(f"not an ARN: {text!r}")
    return Arn(*parts[1:])


def is_arn(text: str) -> bool:
    try:
        parse_arn(text)
    except ValueError:
        return False
    return True


def make_arn(service: str, region: str, account: str, resource: str) -> str:
    return str(Arn("aws", service, region, account, resource))
