"""IP address to country for GeoMatch.

The database is the `iptocc` package (MIT OR Apache-2.0): country assignments from the
five Regional Internet Registries' delegation files, embedded in the wheel, no network.
A user-supplied file (`CIDR,CC` per line) overrides or replaces it: `load_country_file()`.
Unknown addresses are "XX", as AWS labels them.
"""

from __future__ import annotations

import bisect
import ipaddress
from functools import lru_cache
from pathlib import Path

try:  # an offline IP-to-country database made for the job
    from iptocc import country_code as _iptocc
except ImportError:  # pragma: no cover - the engine still works from a user file
    _iptocc = None

_override: dict[int, tuple[list[int], list[int], list[str]]] = {}


def load_country_file(path: Path | str | None) -> int:
    """Load `CIDR,CC` lines (also `CIDR CC`); None clears. Returns the number of ranges."""
    _override.clear()
    country_of.cache_clear()
    if path is None:
        return 0
    rows: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cidr, _, cc = line.replace(",", " ").partition(" ")
        net = ipaddress.ip_network(cidr.strip(), strict=False)
        rows[net.version].append(
            (int(net.network_address), int(net.broadcast_address), cc.strip().upper())
        )
    n = 0
    for version, items in rows.items():
        items.sort()
        _override[version] = (
            [a for a, _, _ in items],
            [b for _, b, _ in items],
            [c for _, _, c in items],
        )
        n += len(items)
    return n


@lru_cache(maxsize=65536)
def country_of(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return "XX"
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    table = _override.get(addr.version)
    if table:
        starts, ends, codes = table
        n = int(addr)
        i = bisect.bisect_right(starts, n) - 1
        if i >= 0 and n <= ends[i]:
            return codes[i]
    if _iptocc is not None:
        cc = _iptocc(str(addr))
        if cc:
            return cc
    return "XX"
