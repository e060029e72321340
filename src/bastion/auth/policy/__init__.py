"""IAM policy evaluation: parse and validate policy documents, then decide requests.

A pure package (no I/O): `parse_policy` turns JSON into an immutable compiled `Policy`
(memoised on its text), and `evaluate` applies AWS's evaluation logic to a request
described by `RequestFacts`. Services add their own condition keys
(``kms:EncryptionContext:...``, ``kms:ViaService``, ``secretsmanager:SecretId``...) to
``RequestFacts.context`` (or `RequestFacts.with_context`); nothing else is service-specific.
"""

from bastion.auth.policy.document import (
    MalformedPolicyError,
    Policy,
    Statement,
    parse_policy,
    policy_size,
)
from bastion.auth.policy.evaluate import Decision, EvaluationResult, RequestFacts, evaluate

__all__ = [
    "Decision",
    "EvaluationResult",
    "MalformedPolicyError",
    "Policy",
    "RequestFacts",
    "Statement",
    "evaluate",
    "parse_policy",
    "policy_size",
]
