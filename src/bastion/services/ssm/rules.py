"""Parameter Store's rules: names, labels, tiers, data types and parameter policies.

Pure functions raising AWS's errors; the provider applies them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bastion.errors import ClientError, ValidationError

MAX_DEPTH = 15
MAX_VERSIONS = 100
MAX_LABELS_PER_VERSION = 10
MAX_TAGS = 50
STANDARD_MAX = 4096
ADVANCED_MAX = 8192
POLICY_TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")

_NAME_CHARS = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
_LABEL = re.compile(r"^[a-zA-Z0-9_.\-]{1,100}$")
_AMI = re.compile(r"^ami-[a-z0-9]{8,17}$")

NAME_RULES = (
    'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as'
    " a path, it can consist of sub-paths divided by slash symbol; each sub-path can be"
    " formed as a mix of letters, numbers and the following 3 symbols .-_"
)


def ssm_error(code: str, message: str = "") -> ClientError:
    return ClientError(message, code=code)


def not_found(name: str = "") -> ClientError:
    return ssm_error("ParameterNotFound", f"Parameter {name} not found." if name else "")


def check_name(name: str) -> str:
    """Validate a name for PutParameter; returns it trimmed."""
    name = name.strip()
    if not name or not _NAME_CHARS.match(name):
        raise ValidationError(NAME_RULES)
    bare = name.lstrip("/")
    if bare.lower().startswith(("aws", "ssm")):
        raise ValidationError(NAME_RULES)
    if "/" in name and not name.startswith("/"):
        raise ValidationError("Parameter name must be a fully qualified name.")
    if name.startswith("/") and ("//" in name or name.endswith("/")):
        raise ValidationError(NAME_RULES)
    if len(name) > 2048 - 1037:
        raise ValidationError(
            "Parameter name must be shorter than 1011 characters when fully qualified."
        )
    if name.count("/") > MAX_DEPTH:
        raise ssm_error(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see"
            " Requirements and constraints for parameter names in the AWS Systems Manager"
            " User Guide.",
        )
    return name


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def name_candidates(text: str) -> tuple[str, ...]:
    """The names a Get selector's name part (a name or a parameter ARN) may designate."""
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        if len(parts) == 6 and parts[5].startswith("parameter/"):
            rest = parts[5][len("parameter/") :]
            return ("/" + rest,) if "/" in rest else (rest, "/" + rest)
        return (text,)
    return (text.strip(),)


@dataclass(frozen=True, slots=True)
class Selector:
    text: str  # as requested
    name: str  # the name part (may be an ARN)
    version: int | None = None
    label: str | None = None

    @property
    def suffix(self) -> str | None:
        if self.version is not None:
            return f":{self.version}"
        if self.label is not None:
            return f":{self.label}"
        return None


def parse_selector(text: str) -> Selector:
    """`name`, `name:version` or `name:label` (the name may be a parameter ARN)."""
    head, tail = text, ""
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        if len(parts) == 6 and ":" in parts[5]:
            resource, tail = parts[5].rsplit(":", 1)
            head = ":".join([*parts[:5], resource])
    elif ":" in text:
        head, tail = text.rsplit(":", 1)
    if not tail:
        return Selector(text, head)
    if tail.isdigit():
        return Selector(text, head, version=int(tail))
    return Selector(text, head, label=tail)


def label_problem(label: str) -> bool:
    """True when `label` breaks the label rules (it comes back in InvalidLabels)."""
    return not _LABEL.match(label) or label[0].isdigit() or label.lower().startswith(("aws", "ssm"))


def check_data_type(data_type: str, type_: str, value: str) -> None:
    if data_type not in ("text", "aws:ec2:image", "aws:ssm:integration"):
        raise ValidationError(
            f"The following data type is not supported: {data_type} (Data type names are all"
            " lowercase.)"
        )
    if data_type == "aws:ec2:image":
        if type_ != "String":
            raise ValidationError(
                "Data type aws:ec2:image is only supported for String parameters."
            )
        if not _AMI.match(value):
            raise ValidationError(
                f"Parameter value, {value}, is not a valid aws:ec2:image data type: the value"
                " must be an AMI ID (ami-xxxxxxxx)."
            )


def value_limit_error(tier: str) -> ValidationError:
    if tier == "Standard":
        return ValidationError(
            "Standard tier parameters support a maximum parameter value of 4096 characters."
            " To create a larger parameter value, upgrade the parameter to use the"
            " advanced-parameter tier. For more information, see"
            " https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "parameter-store-advanced-parameters.html"
        )
    return ValidationError(
        "Advanced tier parameters support a maximum parameter value of 8192 characters."
    )


# ------------------------------------------------------------------------ policies


@dataclass(frozen=True, slots=True)
class Schedule:
    expires_at: datetime | None = None
    expiry_notice_at: datetime | None = None
    no_change_at: datetime | None = None


def _timestamp(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError("timestamp")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp without offset")
    return value.astimezone(UTC)


def _amount(attrs: dict[str, Any], key: str) -> timedelta:
    count = int(str(attrs.get(key)))
    if count < 1:
        raise ValueError(key)
    unit = attrs.get("Unit")
    if unit == "Days":
        return timedelta(days=count)
    if unit == "Hours":
        return timedelta(hours=count)
    raise ValueError("Unit")


def parse_policies(text: str) -> list[dict[str, Any]]:
    """Validate a Policies document; returns its items (empty list: remove policies)."""
    try:
        items = json.loads(text) if text.strip() else []
    except ValueError:
        raise ssm_error(
            "InvalidPolicyTypeException", "The policies are not a valid JSON array."
        ) from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ssm_error("InvalidPolicyTypeException", "The policies are not a valid JSON array.")
    if len(items) > 10:
        raise ssm_error(
            "PoliciesLimitExceededException",
            "You specified more than the maximum number of allowed policies for the parameter."
            " The maximum is 10.",
        )
    seen: set[str] = set()
    for item in items:
        kind = item.get("Type")
        if kind not in POLICY_TYPES:
            raise ssm_error(
                "InvalidPolicyTypeException",
                f"The following policy type is not supported: {kind}. Supported policy types:"
                " Expiration, ExpirationNotification, NoChangeNotification",
            )
        if kind in seen:
            raise ssm_error(
                "IncompatiblePolicyException",
                f"There is a conflict in the policies specified for this parameter: more than"
                f" one {kind} policy.",
            )
        seen.add(kind)
        attrs = item.get("Attributes") or {}
        try:
            if kind == "Expiration":
                _timestamp(attrs.get("Timestamp"))
            elif kind == "ExpirationNotification":
                _amount(attrs, "Before")
            else:
                _amount(attrs, "After")
        except (ValueError, TypeError):
            raise ssm_error(
                "InvalidPolicyAttributeException",
                f"A policy attribute or its value is invalid for the {kind} policy.",
            ) from None
    if "ExpirationNotification" in seen and "Expiration" not in seen:
        raise ssm_error(
            "IncompatiblePolicyException",
            "There is a conflict in the policies specified for this parameter: an"
            " ExpirationNotification policy needs an Expiration policy.",
        )
    return items


def schedule(items: list[dict[str, Any]], modified_at: datetime) -> Schedule:
    expires = notice = no_change = None
    for item in items:
        attrs = item.get("Attributes") or {}
        if item["Type"] == "Expiration":
            expires = _timestamp(attrs["Timestamp"])
    for item in items:
        attrs = item.get("Attributes") or {}
        if item["Type"] == "ExpirationNotification" and expires is not None:
            notice = expires - _amount(attrs, "Before")
        elif item["Type"] == "NoChangeNotification":
            no_change = modified_at + _amount(attrs, "After")
    return Schedule(expires, notice, no_change)


def describe_policies(text: str | None, row: Any, now: datetime) -> list[dict[str, Any]]:
    if not text:
        return []
    out = []
    for item in json.loads(text):
        kind = item.get("Type")
        status = "Pending"
        if kind == "ExpirationNotification" and row["expiry_notice_at"] is None:
            status = "Finished"
        if kind == "NoChangeNotification" and row["no_change_at"] is None:
            status = "Finished"
        out.append(
            {
                "PolicyText": json.dumps(item, separators=(",", ":")),
                "PolicyType": kind,
                "PolicyStatus": status,
            }
        )
    return out
