"""AWS managed rule groups, written by Bastion with AWS's group names, rule names, labels and
capacities. AWS does not publish the rules' contents: these are Bastion's own, built on its
tokenizing SQLi/XSS detectors and structural detectors (see docs/waf-rules.md). Rules marked
`bastion_addition` are not in AWS's group; they are kept under names in AWS's style.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from ..capacity import MANAGED_CAPACITY
from ..statements import IpMatcher
from . import groups

VENDOR = "AWS"
_GROUPS: dict[str, dict] = {g["Name"]: g for g in groups.GROUPS}

# IP lists behind the reputation and anonymity groups, by internal ARN.
IP_LIST_FILES = {
    "reputation": "AWSManagedIPReputationList",
    "reconnaissance": "AWSManagedReconnaissanceList",
    "ddos": "AWSManagedIPDDoSList",
    "anonymous": "AnonymousIPList",
    "hosting": "HostingProviderIPList",
}
_lock = threading.Lock()
_ip_lists: dict[str, IpMatcher] = {}
_ip_version = 0


def load_ip_lists(directory: Path | str) -> None:
    """(Re)load the IP lists from `directory`: one file per list, named after the list (e.g.
    `AWSManagedIPReputationList.txt` or `reputation.txt`), one CIDR per line, `#` comments.
    A missing file leaves that list empty. Web ACLs compiled afterwards use the new lists."""
    global _ip_version
    d = Path(directory)
    fresh: dict[str, IpMatcher] = {}
    for short, long in IP_LIST_FILES.items():
        cidrs: list[str] = []
        for cand in (d / f"{long}.txt", d / f"{short}.txt", d / long, d / short):
            if cand.is_file():
                cidrs = [ln.split("#", 1)[0].strip() for ln in cand.read_text().splitlines()]
                cidrs = [c for c in cidrs if c]
                break
        fresh[groups.ip_list_arn(short)] = IpMatcher(cidrs, f"{long} list")
    with _lock:
        _ip_lists.clear()
        _ip_lists.update(fresh)
        _ip_version += 1


def ip_lists_version() -> int:
    """Bumped by each load_ip_lists(); a caller recompiles its web ACLs when it changes."""
    return _ip_version


def ip_matchers(override: Any = None) -> dict[str, IpMatcher]:
    """The IP lists by internal ARN (override: {short name or ARN: [CIDR...] or IpMatcher})."""
    with _lock:
        out = dict(_ip_lists)
    for short in IP_LIST_FILES:
        out.setdefault(groups.ip_list_arn(short), IpMatcher([]))
    if override:
        for k, v in override.items():
            arn = k if k.startswith("arn:") else groups.ip_list_arn(k)
            out[arn] = v if isinstance(v, IpMatcher) else IpMatcher(list(v))
    return out


def group_spec(vendor: str, name: str) -> dict | None:
    if vendor != VENDOR:
        return None
    return _GROUPS.get(name)


def managed_rule_groups() -> list[dict]:
    return [
        {
            "VendorName": VENDOR,
            "Name": g["Name"],
            "Description": g["Description"],
            "VersionEnabled": True,
        }
        for g in groups.GROUPS
    ]


def describe_managed_rule_group(vendor: str, name: str) -> dict:
    g = group_spec(vendor, name)
    if g is None:
        from ..errors import WafConfigError

        raise WafConfigError(
            f"The managed rule group does not exist: {vendor} {name}.", reason="NONEXISTENT_ITEM"
        )
    available = []
    for r in g["Rules"]:
        for lab in r.get("RuleLabels") or []:
            available.append({"Name": lab["Name"]})
    return {
        "VersionName": g.get("VersionName", "Version_1.0"),
        "Capacity": MANAGED_CAPACITY[g["Name"]],
        "Rules": [{"Name": r["Name"], "Action": copy.deepcopy(r["Action"])} for r in g["Rules"]],
        "LabelNamespace": g["LabelNamespace"],
        "AvailableLabels": available,
        "ConsumedLabels": [],
    }
