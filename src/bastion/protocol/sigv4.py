"""Server-side AWS Signature Version 4 verification.

Pure functions over an `HttpRequest`: no storage and no clock of its own, so the gateway
decides where secrets come from and what "now" is (tests pin it). The flow is

    claim = extract_claim(request)        # parse; None = no auth at all
    secret = <look up claim.access_key_id> # the gateway's job (unknown/inactive keys)
    verify(request, claim, secret, now, cache)

The canonical request is rebuilt exactly as botocore's `SigV4Auth`/`SigV4QueryAuth`
build it for non-S3 services (double URI-encoding of the normalized path, sorted
canonical query, trimmed header values), so unchanged SDK clients verify. Error messages
mirror the ones AWS services answer with, since SDKs and humans grep for them.

What this module does *not* check, because it needs context it does not have: that the
scope's service is the routed service's signing name ("Credential should be scoped to
correct service: 'kms'."), that the region is one Bastion serves, and session tokens.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_from_bytes, unquote_plus, unquote_to_bytes

from bastion.errors import AuthError
from bastion.protocol.http import HttpRequest

__all__ = [
    "ALGORITHM",
    "MAX_PRESIGN_EXPIRES",
    "MAX_SKEW",
    "SigV4Claim",
    "SigningKeyCache",
    "auth_error_code",
    "derive_signing_key",
    "extract_claim",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # one week, AWS's limit for presigned URLs

_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_HOST_NOT_SIGNED = "'Host' must be a 'SignedHeader' in the AWS Authorization."
_BOTH_AUTH = (
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
)
_QUERY_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
# RFC 3986 unreserved characters: the ones SigV4's URI-encoding leaves alone.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_UNRESERVED_OR_SLASH = _UNRESERVED | {"/"}
_UNRESERVED_OR_PCT = _UNRESERVED | {"%"}
_HEX_PAIRS = frozenset(a + b for a in "0123456789ABCDEFabcdef" for b in "0123456789ABCDEFabcdef")


@dataclass(slots=True)  # built per request; not frozen, whose __init__ costs 3x
class SigV4Claim:
    """What a request claims about its signer, before any secret is consulted.

    Read-only by convention.
    """

    access_key_id: str
    request_time: datetime  # aware, UTC
    date_stamp: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str  # hex, as sent
    security_token: str | None
    presigned: bool
    expires_seconds: int | None  # X-Amz-Expires of a presigned URL


# --------------------------------------------------------------------------- parsing


def extract_claim(request: HttpRequest) -> SigV4Claim | None:
    """Parse the SigV4 authentication a request carries.

    Returns None when it carries none (the gateway answers MissingAuthenticationToken);
    an Authorization header that is not an AWS4 one counts as none, as on AWS. Raises
    AuthError("incomplete") for malformed auth and AuthError("bad_signature") for the
    structural mismatches AWS reports as InvalidSignature (scope date/terminator, host
    not signed, both header and query auth).
    """
    headers = request.headers
    auth = headers.get("authorization")
    query = request.query_string
    params: dict[str, str] | None = None
    if query and "X-Amz-" in query:
        params = _auth_query_params(query)
        if "X-Amz-Algorithm" not in params and "X-Amz-Credential" not in params:
            params = None
    if auth is not None and params is not None:
        raise AuthError("bad_signature", _BOTH_AUTH)
    if auth is not None:
        auth = auth.strip()
        if not auth.startswith("AWS4-"):
            return None
        return _claim_from_header(auth, headers)
    if params is not None:
        return _claim_from_query(params)
    return None


# The header every SDK sends; anything else goes through the full tokenizer below.
_CANONICAL_AUTH = re.compile(
    r"(AWS4-HMAC-SHA256) Credential=([^,= ]+), ?SignedHeaders=([^,= ]+), ?Signature=([^,= ]+)"
)


def _claim_from_header(auth: str, headers: Mapping[str, str]) -> SigV4Claim:
    amz_date = headers.get("x-amz-date")
    simple = _CANONICAL_AUTH.fullmatch(auth) if amz_date else None
    if simple is not None and amz_date:
        algorithm, credential, signed, signature = simple.groups()
        return _finish_claim(
            algorithm,
            credential,
            amz_date,
            _parse_amz_date(amz_date),
            tuple(signed.split(";")),
            signature,
            headers.get("x-amz-security-token"),
            presigned=False,
            expires=None,
        )
    algorithm, _, rest = auth.partition(" ")
    fields: dict[str, str] = {}
    # AWS tokenizes on both commas and blanks, so "Credential= AKID/..." fails on the
    # dangling "AKID/..." token, exactly as it does there.
    for token in rest.replace(",", " ").split():
        name, eq, value = token.partition("=")
        if not eq:
            raise AuthError(
                "incomplete",
                f"'{token}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{auth}'.",
            )
        fields[name] = value
    credential = fields.get("Credential", "")
    signed = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    http_date = None if amz_date else headers.get("date")
    msg = [
        f"Authorization header requires '{name}' parameter. "
        for name, value in (
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed),
        )
        if not value
    ]
    if not (amz_date or http_date):
        msg.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if msg:
        raise AuthError("incomplete", "".join(msg) + "Authorization=" + auth)
    if amz_date:
        request_time = _parse_amz_date(amz_date)
    else:
        request_time = _parse_http_date(http_date or "")
        amz_date = _format_amz_date(request_time)
    signed_headers = tuple(signed.split(";"))
    return _finish_claim(
        algorithm,
        credential,
        amz_date,
        request_time,
        signed_headers,
        signature,
        headers.get("x-amz-security-token"),
        presigned=False,
        expires=None,
    )


def _claim_from_query(params: dict[str, str]) -> SigV4Claim:
    missing = [p for p in _QUERY_AUTH_PARAMS if not params.get(p)]
    if missing:
        raise AuthError(
            "incomplete",
            "".join(f"AWS query-string parameters must include '{p}'. " for p in missing)
            + "Re-examine the query-string parameters.",
        )
    amz_date = params["X-Amz-Date"]
    request_time = _parse_amz_date(amz_date)
    expires: int | None = None
    raw_expires = params.get("X-Amz-Expires")
    if raw_expires is not None:
        digits = raw_expires[1:] if raw_expires.startswith("-") else raw_expires
        if not (digits.isascii() and digits.isdigit()):
            raise AuthError("incomplete", "X-Amz-Expires should be a number")
        expires = int(raw_expires)
        if expires < 0:
            raise AuthError("incomplete", "X-Amz-Expires must be non-negative")
        if expires == 0:
            raise AuthError("incomplete", "X-Amz-Expires must be at least 1 second")
        if expires > MAX_PRESIGN_EXPIRES:
            raise AuthError(
                "incomplete",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            )
    return _finish_claim(
        params["X-Amz-Algorithm"],
        params["X-Amz-Credential"],
        amz_date,
        request_time,
        tuple(params["X-Amz-SignedHeaders"].split(";")),
        params["X-Amz-Signature"],
        params.get("X-Amz-Security-Token"),
        presigned=True,
        expires=expires,
    )


def _finish_claim(
    algorithm: str,
    credential: str,
    amz_date: str,
    request_time: datetime,
    signed_headers: tuple[str, ...],
    signature: str,
    security_token: str | None,
    *,
    presigned: bool,
    expires: int | None,
) -> SigV4Claim:
    """The checks shared by header and query auth, in the order AWS reports them."""
    if "host" not in signed_headers:
        raise AuthError("bad_signature", _HOST_NOT_SIGNED)
    if algorithm != ALGORITHM:
        raise AuthError(
            "incomplete",
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). ",
        )
    parts = credential.rstrip("/").split("/")
    if len(parts) != 5:
        raise AuthError(
            "incomplete",
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{credential}'",
        )
    access_key_id, date_stamp, region, service, terminator = parts
    problems = []
    if not region:
        problems.append("Credential should be scoped to a valid region, not ''. ")
    if terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'. "
        )
    if date_stamp != amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{date_stamp}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if problems:
        raise AuthError("bad_signature", "".join(problems).rstrip())
    return SigV4Claim(
        access_key_id=access_key_id,
        request_time=request_time,
        date_stamp=date_stamp,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=signature,
        security_token=security_token or None,
        presigned=presigned,
        expires_seconds=expires,
    )


def _auth_query_params(query: str) -> dict[str, str]:
    """The X-Amz-* parameters of a raw query string, decoded (first occurrence wins)."""
    out: dict[str, str] = {}
    for part in query.split("&"):
        if part.startswith("X-Amz-"):
            name, _, value = part.partition("=")
            if name not in out:
                out[name] = unquote_plus(value) if ("%" in value or "+" in value) else value
    return out


@functools.lru_cache(maxsize=512)  # clients sign many requests within the same second
def _parse_amz_date(value: str) -> datetime:
    """Parse ISO-8601 basic format (20261128T170000Z) without strptime's cost."""
    if len(value) == 16 and value[8] == "T" and value[15] == "Z" and value.isascii():
        d, t = value[:8], value[9:15]
        if d.isdigit() and t.isdigit():
            try:
                return datetime(
                    int(d[:4]), int(d[4:6]), int(d[6:8]),
                    int(t[:2]), int(t[2:4]), int(t[4:6]),
                    tzinfo=UTC,
                )  # fmt: skip
            except ValueError:
                pass
    raise AuthError(
        "incomplete",
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def _parse_http_date(value: str) -> datetime:
    """An RFC 7231 Date header, which botocore signs with when one is present."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        raise AuthError(
            "incomplete",
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        )
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@functools.lru_cache(maxsize=512)
def _format_amz_date(t: datetime) -> str:
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


# --------------------------------------------------------------------------- keys


def derive_signing_key(secret_access_key: str, date_stamp: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and the terminator."""
    key = hmac.digest(("AWS4" + secret_access_key).encode(), date_stamp.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


class SigningKeyCache:
    """Bounded cache of derived signing keys, so a request costs one HMAC, not five.

    Entries are keyed by a salted BLAKE2b fingerprint of the secret (salt random per
    cache), never by the secret itself, so neither a repr nor a heap walk of the keys
    shows it. `derivations` counts cache misses, for tests and metrics.
    """

    __slots__ = ("_entries", "_lock", "_maxsize", "_salt", "derivations")

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._entries: dict[tuple[bytes, str, str, str], tuple[bytes, hmac.HMAC]] = {}
        self._lock = threading.Lock()
        self._salt = os.urandom(16)
        self.derivations = 0

    def signing_key(
        self, secret_access_key: str, date_stamp: str, region: str, service: str
    ) -> bytes:
        return self._entry(secret_access_key, date_stamp, region, service)[0]

    def signing_mac(
        self, secret_access_key: str, date_stamp: str, region: str, service: str
    ) -> hmac.HMAC:
        """A fresh HMAC-SHA256 keyed with the signing key, copied from a keyed template.

        Copying skips re-keying, and unlike `hmac.digest` an HMAC object keeps the GIL
        for short messages, so verification does not hand the GIL to other threads.
        """
        return self._entry(secret_access_key, date_stamp, region, service)[1].copy()

    def _entry(
        self, secret_access_key: str, date_stamp: str, region: str, service: str
    ) -> tuple[bytes, hmac.HMAC]:
        fingerprint = hashlib.blake2b(
            secret_access_key.encode(), key=self._salt, digest_size=16
        ).digest()
        cache_key = (fingerprint, date_stamp, region, service)
        entry = self._entries.get(cache_key)  # a hit takes no lock: one atomic dict read
        if entry is not None:
            return entry
        key = derive_signing_key(secret_access_key, date_stamp, region, service)
        entry = (key, hmac.new(key, digestmod=hashlib.sha256))
        with self._lock:
            entries = self._entries
            entries[cache_key] = entry
            if len(entries) > self._maxsize:  # evict the oldest: keys live a day anyway
                del entries[next(iter(entries))]
            self.derivations += 1
        return entry

    def clear(self) -> None:
        """Drop every key, e.g. after a secret is rotated or deactivated."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"SigningKeyCache(size={len(self._entries)}, maxsize={self._maxsize})"


# --------------------------------------------------------------------------- verify


def verify(
    request: HttpRequest,
    claim: SigV4Claim,
    secret_access_key: str,
    now: datetime,
    key_cache: SigningKeyCache,
) -> None:
    """Check the claim's time window and signature against the request; raise AuthError.

    Time is checked first (as AWS does) so a stale request is reported as expired, not
    as a mismatch. The body is always bound for header auth: a supplied
    x-amz-content-sha256 must equal the body's hash, otherwise a client could sign a
    hash and send a different body.
    """
    _check_time(claim, now)
    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        # botocore presigns non-S3 requests over the body hash; S3-style presigners
        # (and the JS v3 presigner) use UNSIGNED-PAYLOAD. Both are the signer's choice.
        payloads: tuple[str, ...] = (
            (body_hash, UNSIGNED_PAYLOAD) if claim.presigned else (body_hash,)
        )
    elif declared == body_hash or (claim.presigned and declared == UNSIGNED_PAYLOAD):
        payloads = (declared,)
    elif declared == UNSIGNED_PAYLOAD or declared.startswith("STREAMING-"):
        raise AuthError(
            "bad_signature",
            f"x-amz-content-sha256 '{declared}' is only accepted with presigned URLs; "
            "sign the request body.",
        )
    else:
        raise AuthError(
            "bad_signature",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )

    headers = request.headers
    lines = []
    for name in claim.signed_headers:
        value = headers.get(name.lower(), "")
        lines.append(f"{name}:{' '.join(value.split())}")
    prefix = (
        f"{request.method.upper()}\n{_canonical_uri(request.path)}\n"
        f"{_canonical_query(request.query_string, claim.presigned)}\n"
        + "\n".join(lines)
        + "\n\n"
        + ";".join(claim.signed_headers)
        + "\n"
    )
    t = claim.request_time
    sts_prefix = (
        f"{ALGORITHM}\n{_format_amz_date(t)}\n"
        f"{claim.date_stamp}/{claim.region}/{claim.service}/{TERMINATOR}\n"
    )
    mac = key_cache.signing_mac(secret_access_key, claim.date_stamp, claim.region, claim.service)
    provided = claim.signature.encode("utf-8", "surrogateescape")
    last = len(payloads) - 1
    for index, payload in enumerate(payloads):
        canonical_hash = hashlib.sha256((prefix + payload).encode()).hexdigest()
        attempt = mac if index == last else mac.copy()  # `mac` is a fresh copy: use it once
        attempt.update((sts_prefix + canonical_hash).encode())
        expected = attempt.hexdigest()
        if hmac.compare_digest(expected.encode(), provided):
            return
    raise AuthError("bad_signature", _SIGNATURE_MISMATCH)


def _check_time(claim: SigV4Claim, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    t = claim.request_time
    if claim.presigned and claim.expires_seconds is not None:
        if now > t + timedelta(seconds=claim.expires_seconds):
            raise AuthError("expired_signature", "Request has expired")
    elif t < now - MAX_SKEW:
        raise AuthError(
            "expired_signature",
            f"Signature expired: {_format_amz_date(t)} is now earlier than "
            f"{_format_amz_date(now - MAX_SKEW)} ({_format_amz_date(now)} - 15 min.)",
        )
    if t > now + MAX_SKEW:
        raise AuthError(
            "expired_signature",
            f"Signature not yet current: {_format_amz_date(t)} is still later than "
            f"{_format_amz_date(now + MAX_SKEW)} ({_format_amz_date(now)} + 15 min.)",
        )


def _canonical_uri(path: str) -> str:
    """botocore's `quote(normalize_url_path(path), safe='/~')` over the raw path.

    The raw path is still percent-encoded, so '%' is encoded again: non-S3 SigV4
    double-encodes, and that is what every SDK signs.
    """
    if path == "/" or not path:
        return "/"
    if "//" in path or "/." in path:
        path = _remove_dot_segments(path)
    if _UNRESERVED_OR_SLASH.issuperset(path):
        return path
    return quote(path, safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal plus collapsing of empty segments, as botocore does."""
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def _canonical_query(query: str, presigned: bool) -> str:
    """Sorted canonical query pairs; a presigned URL's X-Amz-Signature is left out."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if not _UNRESERVED.issuperset(name):
            name = _canonical_component(name)
        if presigned and name == "X-Amz-Signature":
            continue
        if not _UNRESERVED.issuperset(value):
            value = _canonical_component(value)
        pairs.append((name, value))
    pairs.sort()
    return "&".join([f"{n}={v}" for n, v in pairs])


def _canonical_component(component: str) -> str:
    """One query name or value in SigV4's encoding.

    Already percent-encoded text is kept as sent, which is what botocore signs for the
    query strings its serializers write. Anything else ('+' from form-style encoding,
    raw reserved or non-ASCII characters) is decoded and re-encoded, '+' read as a
    space, which is what botocore signs when it encodes request params itself. The
    gateway's query parser must therefore read '+' as a space too (parse_qs does), so
    the value a handler acts on is the value that was signed.
    """
    if _UNRESERVED_OR_PCT.issuperset(component):
        for piece in component.split("%")[1:]:
            if piece[:2] not in _HEX_PAIRS:
                break
        else:
            return component
    return quote_from_bytes(unquote_to_bytes(component.replace("+", " ")), safe="-_.~")


# --------------------------------------------------------------------------- wire codes

# Checked against AWS's "Common Errors" API-reference pages (query services:
# IncompleteSignature 400, InvalidClientTokenId 403, MissingAuthenticationToken 403) and
# against responses AWS actually sent, as quoted in SDK issue trackers: json services
# (DynamoDB, Kinesis, ECR, ECS) answer InvalidSignatureException, UnrecognizedClientException
# (bad key *and* bad session token) and ExpiredTokenException with 400; rest-json services
# (Lambda, CloudFront KVS) answer the same codes with 403; STS/IAM answer ExpiredToken
# with 403 (aws/aws-sdk-java-v2#1649). S3's own codes (InvalidAccessKeyId...) are not
# covered: Bastion serves no S3.
_JSON_CODES = {
    "missing": "MissingAuthenticationTokenException",
    "incomplete": "IncompleteSignatureException",
    "unknown_key": "UnrecognizedClientException",
    "bad_signature": "InvalidSignatureException",
    "expired_signature": "InvalidSignatureException",
    "expired_token": "ExpiredTokenException",
    "invalid_token": "UnrecognizedClientException",
    "inactive_key": "UnrecognizedClientException",
}
_QUERY_CODES = {
    "missing": ("MissingAuthenticationToken", 403),
    "incomplete": ("IncompleteSignature", 400),
    "unknown_key": ("InvalidClientTokenId", 403),
    "bad_signature": ("SignatureDoesNotMatch", 403),
    "expired_signature": ("SignatureDoesNotMatch", 403),
    "expired_token": ("ExpiredToken", 403),
    "invalid_token": ("InvalidClientTokenId", 403),
    "inactive_key": ("InvalidClientTokenId", 403),
}
_QUERY_PROTOCOLS = frozenset({"query", "ec2", "rest-xml"})


def auth_error_code(kind: str, protocol: str) -> tuple[str, int]:
    """AWS's wire error code and HTTP status for an AuthError kind in a protocol family.

    `protocol` is the botocore model's metadata.protocol ("json", "rest-json", "query",
    "ec2", "rest-xml"). Unknown kinds or protocols raise ValueError: a typo here must
    fail a test, not pick a plausible code.
    """
    if protocol in ("json", "rest-json"):
        code = _JSON_CODES.get(kind)
        if code is not None:
            return code, (400 if protocol == "json" else 403)
    elif protocol in _QUERY_PROTOCOLS:
        entry = _QUERY_CODES.get(kind)
        if entry is not None:
            return entry
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    raise ValueError(f"unknown auth error kind {kind!r}")
