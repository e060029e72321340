"""SigV4 verification against requests signed by botocore itself.

Every positive case is signed by botocore's own signers (SigV4Auth, SigV4QueryAuth, or a
real boto3 client whose send is intercepted), so "verifies" means "an unchanged SDK
client is accepted". The signing clock is pinned by patching botocore.auth's
get_current_datetime, and `now` is passed to verify() explicitly.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from bastion.errors import AuthError
from bastion.protocol.http import HttpRequest
from bastion.protocol.sigv4 import (
    SigningKeyCache,
    SigV4Claim,
    auth_error_code,
    derive_signing_key,
    extract_claim,
    verify,
)

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//token+with/odd=chars=="
T = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)
ENDPOINT = "http://127.0.0.1:4566"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs at T (it reads a naive UTC datetime)."""
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda *a, **k: T.replace(tzinfo=None)
    )


@pytest.fixture
def cache() -> SigningKeyCache:
    return SigningKeyCache()


def to_http(req: AWSRequest) -> HttpRequest:
    """What the gateway would build from the bytes botocore puts on the wire."""
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    # Read the signed request's own headers (HTTPHeaders keeps repeats) and join repeats
    # with ',' as the gateway does.
    for name in dict.fromkeys(k.lower() for k in req.headers):
        headers[name] = ",".join(req.headers.get_all(name))
    for name, value in prepared.headers.items():
        headers.setdefault(name.lower(), value)
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(
        method=prepared.method,
        path=parts.path,
        query_string=parts.query,
        headers=headers,
        body=body,
    )


def sign(
    method: str = "POST",
    url: str = ENDPOINT + "/",
    *,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    params: object = None,
    token: str | None = None,
    service: str = "kms",
    region: str = "us-east-1",
    secret: str = SK,
) -> HttpRequest:
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {}, params=params)
    SigV4Auth(Credentials(AK, secret, token), service, region).add_auth(req)
    return to_http(req)


def presign(
    method: str = "GET",
    url: str = ENDPOINT + "/",
    *,
    params: object = None,
    token: str | None = None,
    expires: int = 300,
    service: str = "sts",
    region: str = "us-east-1",
    signer: type[SigV4QueryAuth] = SigV4QueryAuth,
) -> HttpRequest:
    req = AWSRequest(method=method, url=url, params=params or {})
    signer(Credentials(AK, SK, token), service, region, expires=expires).add_auth(req)
    return to_http(req)


def check(request: HttpRequest, now: datetime = T, secret: str = SK) -> SigV4Claim:
    claim = extract_claim(request)
    assert claim is not None
    verify(request, claim, secret, now, SigningKeyCache())
    return claim


def auth_error(request: HttpRequest, now: datetime = T, secret: str = SK) -> AuthError:
    with pytest.raises(AuthError) as info:
        check(request, now, secret)
    return info.value


def with_headers(request: HttpRequest, **changes: str | None) -> HttpRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return HttpRequest(request.method, request.path, request.query_string, headers, request.body)


def replace(request: HttpRequest, **changes: object) -> HttpRequest:
    fields = {
        "method": request.method,
        "path": request.path,
        "query_string": request.query_string,
        "headers": request.headers,
        "body": request.body,
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


JSON_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "TrentService.Encrypt",
}


# --------------------------------------------------------------------------- accepted


def test_json_post_verifies_and_claim_is_parsed() -> None:
    request = sign(body=b'{"KeyId":"alias/x","Plaintext":"aGk="}', headers=JSON_HEADERS)
    claim = check(request)
    assert claim == SigV4Claim(
        access_key_id=AK,
        request_time=T,
        date_stamp="20261128",
        region="us-east-1",
        service="kms",
        signed_headers=("content-type", "host", "x-amz-date", "x-amz-target"),
        signature=claim.signature,
        security_token=None,
        presigned=False,
        expires_seconds=None,
    )
    assert len(claim.signature) == 64


def test_form_body_post_verifies() -> None:
    request = sign(
        body="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        service="sts",
    )
    assert check(request).service == "sts"


def test_get_with_repeated_keys_and_special_characters_in_params() -> None:
    params = [("b", "2"), ("a", "x y"), ("a", "~é/+=&?%"), ("empty", ""), ("Ünï", "☃")]
    request = sign("GET", params=params, service="ssm")
    assert "a=x+y" in request.query_string  # urlencode's '+' for a space, signed as %20
    check(request)


def test_query_string_already_in_url_verifies() -> None:
    # botocore's serializers put rest-json query members in the URL, percent-encoded.
    request = sign("GET", ENDPOINT + "/things?z=1&a=%2F%20%E2%98%83&a=0&flag=&x=~._-")
    check(request)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/keys/my%20key",
        "/%C3%A9t%C3%A9/%F0%9F%94%91",
        "/a%2Fb/c",
        "/a/./b/../c//d/",
        "/a/b/..",
        "/x!$'()*,;:@=/~tilde",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations",
    ],
)
def test_paths_are_canonicalized_like_botocore(path: str) -> None:
    check(sign("GET", ENDPOINT + path, service="lambda"))


def test_session_token_is_signed_and_exposed() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS, token=TOKEN)
    assert check(request).security_token == TOKEN
    tampered = with_headers(request, x_amz_security_token=TOKEN + "x")
    assert auth_error(tampered).kind == "bad_signature"


def test_header_whitespace_and_repeated_headers() -> None:
    req = AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=b"{}",
        headers={"X-Custom": "  a   b \t c  ", **JSON_HEADERS},
    )
    req.headers["X-Amz-Meta-Tag"] = "one"
    req.headers["X-Amz-Meta-Tag"] = "two"
    SigV4Auth(Credentials(AK, SK), "kms", "us-east-1").add_auth(req)
    request = to_http(req)
    assert request.headers["x-amz-meta-tag"] == "one,two"
    check(request)


def test_date_header_instead_of_x_amz_date() -> None:
    request = sign(body=b"{}", headers={**JSON_HEADERS, "Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    assert check(request).request_time == T


def test_unsigned_headers_may_change() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    check(with_headers(request, user_agent="something-else", content_length="2"))


def test_matching_content_sha256_header_is_accepted() -> None:
    body = b'{"a":1}'
    request = sign(
        body=body,
        headers={**JSON_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )
    check(request)


def test_presigned_get_with_token() -> None:
    request = presign(params={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, token=TOKEN)
    claim = check(request)
    assert claim.presigned
    assert claim.expires_seconds == 300
    assert claim.security_token == TOKEN
    assert claim.signed_headers == ("host",)


def test_presigned_with_unsigned_payload() -> None:
    # S3-style presigners sign UNSIGNED-PAYLOAD; any body is then allowed.
    request = presign(
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        signer=S3SigV4QueryAuth,
    )
    check(request)
    check(replace(request, body=b"anything"))
    check(with_headers(request, x_amz_content_sha256="UNSIGNED-PAYLOAD"))


def test_presigned_body_hash_binds_the_body() -> None:
    request = presign("POST", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    check(request)
    assert auth_error(replace(request, body=b"Action=AssumeRole")).kind == "bad_signature"


# ------------------------------------------------------------------ real boto3 clients


class _Captured(Exception):
    pass


def capture(service: str, call: str, **kwargs: object) -> HttpRequest:
    """Run a real boto3 call, stop it at send time and hand back the signed request."""
    session = boto3.Session(
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        aws_session_token=TOKEN,
        region_name="eu-west-1",
    )
    client = session.client(service, endpoint_url=ENDPOINT)
    seen: list[AWSRequest] = []

    def stop(request: AWSRequest, **_: object) -> None:
        seen.append(request)
        raise _Captured

    client.meta.events.register_first("before-send", stop)
    with pytest.raises((_Captured, BotoCoreError)):
        getattr(client, call)(**kwargs)
    prepared = seen[0]
    parts = urlsplit(prepared.url)
    headers = {
        _text(k).lower(): _text(v) for k, v in prepared.headers.items()
    }  # botocore hands some header values to urllib3 as bytes
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    return HttpRequest(
        prepared.method,
        parts.path,
        parts.query,
        headers,
        body.encode() if isinstance(body, str) else body,
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize(
    ("service", "call", "kwargs"),
    [
        ("kms", "encrypt", {"KeyId": "alias/a b", "Plaintext": b"\x00secret"}),
        ("ssm", "get_parameter", {"Name": "/app/db password", "WithDecryption": True}),
        ("sts", "get_caller_identity", {}),
        ("iam", "get_user", {"UserName": "a+b=c"}),
        ("lambda", "get_function", {"FunctionName": "fn:$LATEST", "Qualifier": "1 2/é"}),
        ("guardduty", "get_detector", {"DetectorId": "a b%2F☃"}),
    ],
)
def test_real_clients_verify(service: str, call: str, kwargs: dict[str, object]) -> None:
    request = capture(service, call, **kwargs)
    claim = check(request)
    assert claim.region == "eu-west-1"
    assert claim.security_token == TOKEN


def test_real_presigned_url_verifies() -> None:
    client = boto3.client(
        "sts",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
    )
    url = client.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"
    )
    parts = urlsplit(url)
    request = HttpRequest("GET", parts.path, parts.query, {"host": parts.netloc}, b"")
    claim = check(request)
    assert claim.expires_seconds == 60


# --------------------------------------------------------------------------- rejected


def test_tampered_body() -> None:
    request = sign(body=b'{"KeyId":"a"}', headers=JSON_HEADERS)
    error = auth_error(replace(request, body=b'{"KeyId":"b"}'))
    assert error.kind == "bad_signature"
    assert error.message.startswith("The request signature we calculated does not match")


def test_tampered_signed_header() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    tampered = with_headers(request, x_amz_target="TrentService.Decrypt")
    assert auth_error(tampered).kind == "bad_signature"


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "PUT"},
        {"path": "/other"},
        {"query_string": "a=1"},
    ],
)
def test_tampered_request_line(changes: dict[str, str]) -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    assert auth_error(replace(request, **changes)).kind == "bad_signature"


def test_tampered_presigned_query() -> None:
    request = presign(params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    tampered = replace(request, query_string=request.query_string.replace("GetCaller", "GetSess"))
    assert auth_error(tampered).kind == "bad_signature"


def test_wrong_secret() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    assert auth_error(request, secret=SK + "x").kind == "bad_signature"


def test_scope_region_differs_from_signing_region() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS, region="us-west-2")
    forged = request.headers["authorization"].replace("/us-west-2/", "/us-east-1/")
    assert auth_error(with_headers(request, authorization=forged)).kind == "bad_signature"


def test_content_sha256_header_must_match_body() -> None:
    request = sign(body=b"{}", headers={**JSON_HEADERS, "X-Amz-Content-SHA256": "0" * 64})
    error = auth_error(request)
    assert error.kind == "bad_signature"
    assert "x-amz-content-sha256" in error.message


def test_unsigned_payload_rejected_for_header_auth() -> None:
    request = sign(body=b"{}", headers={**JSON_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    error = auth_error(request)
    assert error.kind == "bad_signature"
    assert "presigned" in error.message


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    claim = extract_claim(request)
    assert claim is not None
    forged = SigV4Claim(**{**_as_dict(claim), "signature": "é" * 64})
    with pytest.raises(AuthError) as info:
        verify(request, forged, SK, T, SigningKeyCache())
    assert info.value.kind == "bad_signature"


def _as_dict(claim: SigV4Claim) -> dict[str, object]:
    return {name: getattr(claim, name) for name in SigV4Claim.__slots__}


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(minutes=14, seconds=59), True),
        (timedelta(minutes=15), True),
        (timedelta(minutes=15, seconds=1), False),
        (-timedelta(minutes=14, seconds=59), True),
        (-timedelta(minutes=15), True),
        (-timedelta(minutes=15, seconds=1), False),
    ],
)
def test_header_auth_clock_skew(offset: timedelta, ok: bool) -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    if ok:
        check(request, now=T + offset)
    else:
        assert auth_error(request, now=T + offset).kind == "expired_signature"


def test_expired_and_future_messages_match_aws() -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    late = auth_error(request, now=datetime(2026, 11, 28, 17, 30, tzinfo=UTC))
    assert late.message == (
        "Signature expired: 20261128T170000Z is now earlier than 20261128T171500Z "
        "(20261128T173000Z - 15 min.)"
    )
    early = auth_error(request, now=datetime(2026, 11, 28, 16, 30, tzinfo=UTC))
    assert early.message == (
        "Signature not yet current: 20261128T170000Z is still later than 20261128T164500Z "
        "(20261128T163000Z + 15 min.)"
    )


def test_naive_now_is_taken_as_utc() -> None:
    check(sign(body=b"{}", headers=JSON_HEADERS), now=T.replace(tzinfo=None))


def test_presigned_expiry() -> None:
    request = presign(params={"Action": "GetCallerIdentity"}, expires=300)
    check(request, now=T + timedelta(seconds=300))
    error = auth_error(request, now=T + timedelta(seconds=301))
    assert (error.kind, error.message) == ("expired_signature", "Request has expired")
    assert auth_error(request, now=T - timedelta(minutes=16)).kind == "expired_signature"


def test_presigned_may_outlive_the_skew_window() -> None:
    request = presign(params={"Action": "GetCallerIdentity"}, expires=3600)
    check(request, now=T + timedelta(minutes=59))


@pytest.mark.parametrize("expires", ["0", "-5", "--5", "604801", "abc", "1e3", "", "٣"])
def test_presigned_expires_bounds(expires: str) -> None:
    request = presign(params={"Action": "GetCallerIdentity"}, expires=300)
    query = request.query_string.replace("X-Amz-Expires=300", f"X-Amz-Expires={expires}")
    with pytest.raises(AuthError) as info:
        extract_claim(replace(request, query_string=query))
    assert info.value.kind == "incomplete"


# --------------------------------------------------------------------------- malformed


def test_no_auth_at_all_is_none() -> None:
    request = HttpRequest("POST", "/", "a=1&X-Amz-Foo=2", {"host": "h"}, b"")
    assert extract_claim(request) is None


def test_non_aws4_authorization_is_treated_as_missing() -> None:
    request = HttpRequest("POST", "/", "", {"host": "h", "authorization": "Bearer abc"}, b"")
    assert extract_claim(request) is None


def _header_request(authorization: str, **headers: str) -> HttpRequest:
    base = {"host": "h", "x-amz-date": "20261128T170000Z", "authorization": authorization}
    base.update(headers)
    return HttpRequest("POST", "/", "", base, b"")


GOOD_CRED = "AKID/20261128/us-east-1/kms/aws4_request"
SIG = "f" * 64


@pytest.mark.parametrize(
    ("authorization", "kind", "message"),
    [
        (
            "AWS4-HMAC-SHA256",
            "incomplete",
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=host",
            "incomplete",
            "Authorization header requires 'Signature' parameter. "
            f"Authorization=AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=host",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential= {GOOD_CRED}, SignedHeaders=host, Signature={SIG}",
            "incomplete",
            f"'{GOOD_CRED}' not a valid key=value pair (missing equal-sign) in Authorization "
            f"header: 'AWS4-HMAC-SHA256 Credential= {GOOD_CRED}, SignedHeaders=host, "
            f"Signature={SIG}'.",
        ),
        (
            f"AWS4-HMAC-SHA512 Credential={GOOD_CRED}, SignedHeaders=host, Signature={SIG}",
            "incomplete",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/kms, SignedHeaders=host, "
            f"Signature={SIG}",
            "incomplete",
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got 'AKID/20261128/us-east-1/kms'",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/kms/aws5_request, "
            f"SignedHeaders=host, Signature={SIG}",
            "bad_signature",
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKID/20261127/us-east-1/kms/aws4_request, "
            f"SignedHeaders=host, Signature={SIG}",
            "bad_signature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '20261127' != '20261128', from '20261128T170000Z'.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKID/20261128//kms/aws4_request, "
            f"SignedHeaders=host, Signature={SIG}",
            "bad_signature",
            "Credential should be scoped to a valid region, not ''.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=x-amz-date, Signature={SIG}",
            "bad_signature",
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ],
)
def test_malformed_authorization(authorization: str, kind: str, message: str) -> None:
    with pytest.raises(AuthError) as info:
        extract_claim(_header_request(authorization))
    assert (info.value.kind, info.value.message) == (kind, message)


def test_missing_date_header() -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=host, Signature={SIG}"
    request = HttpRequest("POST", "/", "", {"host": "h", "authorization": auth}, b"")
    with pytest.raises(AuthError) as info:
        extract_claim(request)
    assert info.value.kind == "incomplete"
    assert info.value.message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
        f"header. Authorization={auth}"
    )


@pytest.mark.parametrize("value", ["2026-11-28T17:00:00Z", "20261328T170000Z", "20261128T1700Z"])
def test_bad_date_format(value: str) -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}, SignedHeaders=host, Signature={SIG}"
    with pytest.raises(AuthError) as info:
        extract_claim(_header_request(auth, **{"x-amz-date": value}))
    assert info.value.kind == "incomplete"
    assert info.value.message.startswith("Date must be in ISO-8601 'basic format'.")


def test_header_and_query_auth_together() -> None:
    request = presign(params={"Action": "GetCallerIdentity"})
    both = with_headers(request, authorization=f"AWS4-HMAC-SHA256 Credential={GOOD_CRED}")
    with pytest.raises(AuthError) as info:
        extract_claim(both)
    assert info.value.kind == "bad_signature"
    assert "Found both 'X-Amz-Algorithm'" in info.value.message


def test_query_auth_missing_parameters() -> None:
    request = HttpRequest("GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256", {"host": "h"}, b"")
    with pytest.raises(AuthError) as info:
        extract_claim(request)
    assert info.value.kind == "incomplete"
    assert info.value.message == (
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
        "AWS query-string parameters must include 'X-Amz-Date'. "
        "Re-examine the query-string parameters."
    )


def test_query_auth_host_must_be_signed() -> None:
    request = presign(params={"Action": "GetCallerIdentity"})
    query = request.query_string.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x")
    with pytest.raises(AuthError) as info:
        extract_claim(replace(request, query_string=query))
    assert info.value.kind == "bad_signature"


# --------------------------------------------------------------------------- key cache


def test_verify_uses_the_key_cache(cache: SigningKeyCache) -> None:
    request = sign(body=b"{}", headers=JSON_HEADERS)
    claim = extract_claim(request)
    assert claim is not None
    verify(request, claim, SK, T, cache)
    assert cache.derivations == 1
    verify(request, claim, SK, T, cache)
    assert cache.derivations == 1  # second call derived no new key
    other = sign(body=b"{}", headers=JSON_HEADERS, region="eu-west-1")
    other_claim = extract_claim(other)
    assert other_claim is not None
    verify(other, other_claim, SK, T, cache)
    assert cache.derivations == 2


def test_cache_is_bounded_and_keyed_by_secret() -> None:
    cache = SigningKeyCache(maxsize=2)
    k1 = cache.signing_key(SK, "20261128", "us-east-1", "kms")
    cache.signing_key(SK, "20261128", "us-east-2", "kms")
    assert cache.signing_key(SK, "20261128", "us-east-1", "kms") == k1  # a hit
    assert cache.derivations == 2
    cache.signing_key(SK, "20261128", "us-east-3", "kms")  # full: the oldest goes
    assert len(cache) == 2 and cache.derivations == 3
    assert cache.signing_key(SK, "20261128", "us-east-1", "kms") == k1  # derived again
    assert len(cache) == 2 and cache.derivations == 4
    assert cache.signing_key("other", "20261128", "us-east-1", "kms") != k1
    assert k1 == derive_signing_key(SK, "20261128", "us-east-1", "kms")
    assert SK not in repr(cache)
    cache.clear()
    assert len(cache) == 0


def test_derive_signing_key_matches_aws_documented_example() -> None:
    # The worked example from AWS's SigV4 documentation.
    key = derive_signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


# --------------------------------------------------------------------------- wire codes


@pytest.mark.parametrize(
    ("kind", "json", "query"),
    [
        (
            "missing",
            ("MissingAuthenticationTokenException", 400),
            ("MissingAuthenticationToken", 403),
        ),
        ("incomplete", ("IncompleteSignatureException", 400), ("IncompleteSignature", 400)),
        ("unknown_key", ("UnrecognizedClientException", 400), ("InvalidClientTokenId", 403)),
        ("bad_signature", ("InvalidSignatureException", 400), ("SignatureDoesNotMatch", 403)),
        ("expired_signature", ("InvalidSignatureException", 400), ("SignatureDoesNotMatch", 403)),
        ("expired_token", ("ExpiredTokenException", 400), ("ExpiredToken", 403)),
        ("invalid_token", ("UnrecognizedClientException", 400), ("InvalidClientTokenId", 403)),
        ("inactive_key", ("UnrecognizedClientException", 400), ("InvalidClientTokenId", 403)),
    ],
)
def test_auth_error_codes(kind: str, json: tuple[str, int], query: tuple[str, int]) -> None:
    assert auth_error_code(kind, "json") == json
    assert auth_error_code(kind, "rest-json") == (json[0], 403)
    assert auth_error_code(kind, "query") == query
    assert auth_error_code(kind, "ec2") == query


def test_auth_error_code_rejects_unknowns() -> None:
    with pytest.raises(ValueError, match="kind"):
        auth_error_code("nope", "json")
    with pytest.raises(ValueError, match="protocol"):
        auth_error_code("missing", "smithy-rpc-v9")


def test_auth_header_layouts_other_sdks_send_parse_and_verify_alike() -> None:
    """botocore's layout takes a fast path; reordered or spaced-out fields (valid for AWS)
    must give the same claim and still verify."""
    request = sign(body=b"{}", headers=JSON_HEADERS)
    auth = request.headers["authorization"]
    algorithm, rest = auth.split(" ", 1)
    credential, signed, signature = (part.strip() for part in rest.split(","))
    variants = [
        f"{algorithm} {credential},{signed},{signature}",
        f"{algorithm}  {signature}, {credential},  {signed}",
        f"{algorithm} {credential} {signed} {signature}",
    ]
    expected = check(request)
    for variant in variants:
        assert check(with_headers(request, authorization=variant)) == expected
