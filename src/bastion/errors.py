"""AWS-style errors raised anywhere in Bastion and serialized by the protocol layer.

A `ServiceError` carries exactly what every AWS protocol needs to render an error: the
error code (`__type` in JSON, `<Code>` in XML), a message, the HTTP status and whether the
caller is at fault (`Sender`) or the server (`Receiver`). Providers raise these; nothing
else in an error path reaches the wire.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error that is answered to the client in the AWS format of its protocol."""

    code: str = "InternalFailure"
    status: int = 500
    sender_fault: bool = False
    service: str = ""  # set when the error is raised before a provider knew its service

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, {self.message!r})"


class ClientError(ServiceError):
    """The request is at fault (HTTP 4xx)."""

    code = "BadRequest"
    status = 400
    sender_fault = True


class ValidationError(ClientError):
    """Input failed the model's constraints. AWS's json services call it ValidationException."""

    code = "ValidationException"


class SerializationError(ClientError):
    """The body could not be decoded at all (bad JSON, wrong content type...)."""

    code = "SerializationException"


class UnknownOperationError(ClientError):
    """No operation matches the request (`UnknownOperationException` / `InvalidAction`)."""

    code = "UnknownOperationException"


class NotImplementedOperationError(ClientError):
    """The operation exists in AWS's model but Bastion does not serve it yet."""

    code = "NotImplemented"
    status = 501


class AuthError(ClientError):
    """Authentication failed. `kind` is protocol-neutral; the gateway maps it to AWS's code.

    kinds: missing, incomplete, unknown_key, bad_signature, expired_signature,
    expired_token, invalid_token, inactive_key.
    """

    status = 403

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class AccessDeniedError(ClientError):
    """The principal is authenticated but not authorized for the action."""

    code = "AccessDeniedException"
    status = 400


class ResourceNotFoundError(ClientError):
    code = "ResourceNotFoundException"


class PayloadTooLargeError(ClientError):
    code = "RequestEntityTooLarge"
    status = 413


class InternalFailure(ServiceError):
    """An unexpected server-side failure; the message never carries internal details."""

    code = "InternalFailure"
    status = 500
    sender_fault = False


class ServiceUnavailableError(ServiceError):
    code = "ServiceUnavailable"
    status = 503
