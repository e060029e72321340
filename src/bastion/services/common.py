"""Service-neutral helpers shared by providers: AWS tag lists and offset pagination.

Nothing here knows a service's errors or limits; callers pass those in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson


def tags_from_list(tags: Iterable[dict[str, Any]]) -> dict[str, str]:
    """AWS `[{"Key": k, "Value": v}, ...]` as a dict (a missing Value is ""; last wins)."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags}


def tags_to_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """A tag dict as AWS's `[{"Key": k, "Value": v}, ...]`."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def load_tags(stored: str | None) -> dict[str, str]:
    """The tag dict kept as JSON in a `tags` column (empty when unset)."""
    return orjson.loads(stored or "{}")


def dump_tags(tags: dict[str, str]) -> str:
    """A tag dict as the JSON text a `tags` column keeps."""
    return orjson.dumps(tags).decode()


def offset_page(
    items: list[Any],
    marker: str | None,
    size: int,
    key: str,
    bad_marker: Callable[[str], Exception],
) -> dict[str, Any]:
    """One page of `items` under `key`, from the offset `marker` encodes; `NextMarker`
    when more remain. An unparseable marker raises `bad_marker(marker)`."""
    start = 0
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise bad_marker(marker) from None
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextMarker"] = str(start + size)
    return out
