"""AWS managed policies as IAM shows them: `AWS_MANAGED_POLICIES[arn] = (name, description,
document_json)`.

The table itself lives with the authorizer (`bastion.auth.aws_managed`, a lower layer), so
the document GetPolicyVersion shows is exactly the one that is enforced. Each AWS managed
policy exists here in one version, `v1`, created at a fixed date.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bastion.auth.aws_managed import AWS_MANAGED_POLICIES

__all__ = ["AWS_MANAGED_POLICIES", "AWS_POLICY_DATE", "AWS_POLICY_PREFIX", "AWS_POLICY_VERSION"]

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
AWS_POLICY_VERSION = "v1"
AWS_POLICY_DATE = datetime(2015, 2, 6, 18, 39, 46, tzinfo=UTC)
