"""Request authentication: SigV4 claim -> verified credential -> principal.

Split in two so the event loop only hops to a thread when the credential is not
already in memory: `claim()` and `check()` are pure; `CredentialStore.resolve` blocks.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import datetime

from bastion.auth.credentials import Credential, CredentialStore
from bastion.context import Principal
from bastion.errors import AuthError
from bastion.protocol.http import HttpRequest
from bastion.protocol.sigv4 import SigningKeyCache, SigV4Claim, extract_claim, verify

INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105
EXPIRED_TOKEN = "The security token included in the request is expired"  # noqa: S105
MISSING = "Request is missing Authentication Token"


class Authenticator:
    """Verifies SigV4 signatures against stored (sealed) access keys.

    With `dev_principal` set (`--dev` mode, unsafe by design), an access key id that is
    not registered is accepted without checking its signature and acts as that
    principal, as LocalStack does; registered keys are still fully verified.
    """

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        dev_principal: Principal | None = None,
    ) -> None:
        self.credentials = credentials
        self._keys = SigningKeyCache()
        self._dev_principal = dev_principal

    def _dev_credential(self, access_key_id: str) -> Credential | None:
        if self._dev_principal is None:
            return None
        principal = replace(self._dev_principal, access_key_id=access_key_id)
        return Credential(access_key_id, "", principal, active=True, verify_signature=False)

    @staticmethod
    def claim(request: HttpRequest) -> SigV4Claim | None:
        return extract_claim(request)

    def lookup_cached(self, access_key_id: str) -> tuple[bool, Credential | None]:
        hit, credential = self.credentials.cached(access_key_id)
        if hit and credential is None:
            return True, self._dev_credential(access_key_id)
        return hit, credential

    def lookup(self, access_key_id: str) -> Credential | None:
        """Blocking: may read storage and unseal the secret."""
        credential = self.credentials.resolve(access_key_id)
        if credential is None:
            return self._dev_credential(access_key_id)
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
        if not credential.verify_signature:
            return credential.principal
        if credential.session_token_sha256 is None:
            if claim.security_token:
                raise AuthError("invalid_token", INVALID_TOKEN)
        else:
            presented = hashlib.sha256((claim.security_token or "").encode()).hexdigest()
            if not hmac.compare_digest(presented, credential.session_token_sha256):
                raise AuthError("invalid_token", INVALID_TOKEN)
            if credential.expires is not None and now >= credential.expires:
                raise AuthError("expired_token", EXPIRED_TOKEN)
        verify(request, claim, credential.secret, now, self._keys)
        return credential.principal
