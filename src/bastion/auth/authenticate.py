"""Request authentication: SigV4 claim -> verified credential -> principal.

Split in two so the event loop only hops to a thread when the credential is not
already in memory: `claim()` and `check()` are pure; `CredentialStore.resolve` blocks.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from bastion.auth.credentials import Credential, CredentialStore
from bastion.context import Principal
from bastion.errors import AuthError
from bastion.protocol.http import HttpRequest
from bastion.protocol.sigv4 import SigningKeyCache, SigV4Claim, extract_claim, verify

INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105
EXPIRED_TOKEN = "The security token included in the request is expired"  # noqa: S105
MISSING = "Request is missing Authentication Token"

DEV_ACCESS_KEY = "test"
DEV_SECRET = "test"  # noqa: S105 - LocalStack's well-known dev credentials


class Authenticator:
    """Verifies SigV4 signatures against stored (sealed) access keys."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        dev_principal: Principal | None = None,
    ) -> None:
        self.credentials = credentials
        self._keys = SigningKeyCache()
        self._dev_credential = (
            Credential(DEV_ACCESS_KEY, DEV_SECRET, dev_principal, active=True)
            if dev_principal is not None
            else None
        )

    @staticmethod
    def claim(request: HttpRequest) -> SigV4Claim | None:
        return extract_claim(request)

    def lookup_cached(self, access_key_id: str) -> tuple[bool, Credential | None]:
        hit, credential = self.credentials.cached(access_key_id)
        if not hit and self._dev_credential and access_key_id == DEV_ACCESS_KEY:
            return True, self._dev_credential
        return hit, credential

    def lookup(self, access_key_id: str) -> Credential | None:
        """Blocking: may read storage and unseal the secret."""
        credential = self.credentials.resolve(access_key_id)
        if credential is None and self._dev_credential and access_key_id == DEV_ACCESS_KEY:
            return self._dev_credential
        return credential

    def check(
        self,
        request: HttpRequest,
        claim: SigV4Claim,
        credential: Credential | None,
        now: datetime,
    ) -> Principal:
        """Verify the signature and the credential's state; return the principal."""
        if credential is None:
            raise AuthError("unknown_key", INVALID_TOKEN)
        if not credential.active:
            raise AuthError("inactive_key", INVALID_TOKEN)
        if credential.session_token is None:
            if claim.security_token:
                raise AuthError("invalid_token", INVALID_TOKEN)
        else:
            token = claim.security_token or ""
            if not hmac.compare_digest(token.encode(), credential.session_token.encode()):
                raise AuthError("invalid_token", INVALID_TOKEN)
            if credential.expires is not None and now >= credential.expires:
                raise AuthError("expired_token", EXPIRED_TOKEN)
        verify(request, claim, credential.secret, now, self._keys)
        return credential.principal
