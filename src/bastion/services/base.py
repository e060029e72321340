"""The provider contract: `(ctx, request dict) -> response dict`, one method per operation.

Handlers never see HTTP. They are declared with `@operation`, which records how the
gateway must run them:
- `mutating`: runs in a write transaction with its audit record (CloudTrail readOnly=false);
- `storage`: False for handlers that touch no database, run inline on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any] | None]

_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Check", "Simulate", "Search", "BatchGet")


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    handler: Handler
    mutating: bool
    storage: bool


def operation(
    name: str, *, mutating: bool | None = None, storage: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a provider method as the handler of AWS operation `name`."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__bastion_operation__ = (  # type: ignore[attr-defined]
            name,
            (not name.startswith(_READ_PREFIXES)) if mutating is None else mutating,
            storage,
        )
        return fn

    return mark


class Provider:
    """Base of every service provider. `service` is botocore's service name."""

    service: str = ""

    def operations(self) -> dict[str, OperationSpec]:
        specs: dict[str, OperationSpec] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            marker = getattr(fn, "__bastion_operation__", None)
            if marker is not None:
                name, mutating, storage = marker
                specs[name] = OperationSpec(name, getattr(self, attr), mutating, storage)
        return specs
