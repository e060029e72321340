"""WAFv2's errors, with AWS WAF's messages."""

from __future__ import annotations

from bastion.errors import ClientError

NONEXISTENT = (
    "AWS WAF couldn\u2019t perform the operation because your resource doesn\u2019t exist."
)
DUPLICATE = (
    "AWS WAF couldn\u2019t perform the operation because some resource in your request is a"
    " duplicate of an existing one."
)
OPTIMISTIC_LOCK = (
    "AWS WAF couldn\u2019t save your changes because someone changed the resource after you"
    " started to edit it. Reapply your changes."
)
ASSOCIATED = (
    "AWS WAF couldn\u2019t perform the operation because your resource is being used by another"
    " resource or it\u2019s associated with another resource."
)
LIMITS = (
    "AWS WAF couldn\u2019t perform the operation because you exceeded your resource limit. For"
    " example, the maximum number of WebACL objects that you can create for an Amazon Web"
    " Services account. For more information, see Quotas in the WAF Developer Guide."
)
UNAVAILABLE = (
    "AWS WAF couldn\u2019t retrieve a resource that you specified for this operation. If"
    " you've just created a resource that you're using in this operation, you might just need"
    " to wait a few minutes. It can take from a few seconds to a number of minutes for"
    " changes to propagate. Verify the resources that you are specifying in your request"
    " parameters and then retry the operation."
)


def waf_error(code: str, message: str) -> ClientError:
    return ClientError(message, code=code)


def nonexistent() -> ClientError:
    return waf_error("WAFNonexistentItemException", NONEXISTENT)


def duplicate() -> ClientError:
    return waf_error("WAFDuplicateItemException", DUPLICATE)


def optimistic_lock() -> ClientError:
    return waf_error("WAFOptimisticLockException", OPTIMISTIC_LOCK)


def associated() -> ClientError:
    return waf_error("WAFAssociatedItemException", ASSOCIATED)


def limits(message: str = LIMITS) -> ClientError:
    return waf_error("WAFLimitsExceededException", message)


def unavailable() -> ClientError:
    return waf_error("WAFUnavailableEntityException", UNAVAILABLE)


def invalid(field: str, parameter: str, reason: str = "") -> ClientError:
    """AWS's WAFInvalidParameterException text: `Error reason: <why>., field: <F>,
    parameter: <value>`."""
    why = reason or "The parameter contains formatting that isn't valid"
    return waf_error(
        "WAFInvalidParameterException",
        f"Error reason: {why}., field: {field}, parameter: {parameter}",
    )


def invalid_message(message: str) -> ClientError:
    return waf_error("WAFInvalidParameterException", message)
