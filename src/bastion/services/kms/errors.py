"""KMS's errors: codes and messages as AWS KMS answers them."""

from __future__ import annotations

from bastion.errors import ClientError, ValidationError


def kms_error(code: str, message: str = "") -> ClientError:
    return ClientError(message, code=code)


def not_found(message: str) -> ClientError:
    return kms_error("NotFoundException", message)


def key_not_found(arn: str) -> ClientError:
    return not_found(f"Key '{arn}' does not exist")


def alias_not_found(alias_arn: str) -> ClientError:
    return not_found(f"Alias {alias_arn} is not found.")


def invalid_key_id(key_id: str) -> ClientError:
    return not_found(f"Invalid keyId {key_id}")


def disabled(arn: str) -> ClientError:
    return kms_error("DisabledException", f"{arn} is disabled.")


def invalid_state(message: str) -> ClientError:
    return kms_error("KMSInvalidStateException", message)


def invalid_ciphertext() -> ClientError:
    return kms_error("InvalidCiphertextException", "")


def incorrect_key() -> ClientError:
    return kms_error(
        "IncorrectKeyException",
        "The key ID in the request does not identify a KMS key that can perform this operation.",
    )


def invalid_key_usage(message: str) -> ClientError:
    return kms_error("InvalidKeyUsageException", message)


def unsupported(message: str) -> ClientError:
    return kms_error("UnsupportedOperationException", message)


def validation(message: str) -> ValidationError:
    return ValidationError(message)


def already_exists(message: str) -> ClientError:
    return kms_error("AlreadyExistsException", message)


def malformed_policy(message: str) -> ClientError:
    return kms_error("MalformedPolicyDocumentException", message)


def tag_error(message: str) -> ClientError:
    return kms_error("TagException", message)


def limit_exceeded(message: str) -> ClientError:
    return kms_error("LimitExceededException", message)
