"""Helpers of the IAM suite."""

from __future__ import annotations

import json
import uuid
from typing import Any

import botocore.exceptions
import pytest

ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def doc(policy: dict[str, Any] = ALLOW_S3) -> str:
    return json.dumps(policy)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call, *args, **kwargs) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the ClientError boto3 raises."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def paged(call, key: str, **kwargs) -> tuple[list[Any], int]:
    """Every item of a Marker-paginated list and the number of calls it took."""
    items: list[Any] = []
    calls = 0
    while True:
        page = call(**kwargs)
        calls += 1
        items.extend(page[key])
        if not page["IsTruncated"]:
            assert "Marker" not in page
            return items, calls
        kwargs["Marker"] = page["Marker"]
