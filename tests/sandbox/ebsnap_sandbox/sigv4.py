"""SigV4 verification of a received request, with botocore doing the signing arithmetic.

We rebuild the request from what arrived (method, path, query, the headers named in
SignedHeaders, body, X-Amz-Date), let botocore.auth.SigV4Auth compute the signature it would
have sent with the issued secret, and compare. Any divergence in the client's canonical request
therefore shows up as AuthFailure, as it would against EC2.
"""
import datetime
import hashlib
import hmac
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .credentials import CredentialStore, Issued
from .errors import Ec2Error, auth_failure, request_expired

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$")


class _ExactHeadersSigV4(SigV4Auth):
    """Signs exactly the headers the client listed (botocore would skip e.g. User-Agent)."""

    def __init__(self, credentials, service, region, signed: list[str]):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        from botocore.compat import HTTPHeaders
        out = HTTPHeaders()
        for name in self._signed:
            if name in request.headers:
                out[name] = request.headers[name]
        return out


def _redacted(canonical: str) -> str:
    return re.sub(r"(?im)^(x-amz-security-token:).*$", r"\1<redacted>", canonical)


def verify(method: str, raw_path: str, headers, body: bytes, store: CredentialStore,
           regions, now: float, max_skew_s: float) -> tuple[Issued, str]:
    """Returns the credentials the request was signed with and the region of its credential
    scope (one of `regions`: the region that serves it), or raises EC2's error."""
    authz = headers.get("Authorization")
    if not authz:
        raise Ec2Error("MissingAuthenticationToken",
                       "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.", 401)
    m = _AUTH_RE.match(authz.strip())
    if not m:
        raise auth_failure("malformed Authorization header")
    parts = m["cred"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise auth_failure("malformed credential scope")
    access_key, scope_date, scope_region, scope_service, _ = parts
    if scope_service != "ec2":
        raise auth_failure(f"credential scope names service '{scope_service}', expected 'ec2'")
    if scope_region not in regions:
        raise auth_failure(f"credential should be scoped to a valid region, not '{scope_region}'")
    region = scope_region

    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        raise auth_failure("no X-Amz-Date header")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise auth_failure("X-Amz-Date is not in the form YYYYMMDDTHHMMSSZ")
    if scope_date != amz_date[:8]:
        raise auth_failure("credential scope date differs from X-Amz-Date")
    if abs(when.timestamp() - now) > max_skew_s:
        raise request_expired(f"Request has expired. Timestamp date is {amz_date}.")

    issued = store.lookup(access_key)
    if issued is None:
        raise auth_failure("unknown access key")
    token = headers.get("X-Amz-Security-Token")
    if issued.session_token is not None:
        if token is None:
            raise auth_failure("temporary credentials need X-Amz-Security-Token")
        if not hmac.compare_digest(token, issued.session_token):
            raise auth_failure("the security token included in the request is invalid")
        if now >= issued.expiration:
            raise request_expired("Request has expired. The security token has expired.")
    elif token is not None:
        raise auth_failure("the security token included in the request is invalid")

    signed = m["signed"].split(";")
    if "host" not in signed:
        raise auth_failure("the Host header must be signed")
    missing = [h for h in signed if headers.get(h) is None]
    if missing:
        raise auth_failure(f"signed header(s) missing from the request: {', '.join(missing)}")
    content_sha = headers.get("X-Amz-Content-SHA256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        raise auth_failure("X-Amz-Content-SHA256 does not match the body")

    request = AWSRequest(method=method, url=f"http://{headers.get('Host')}{raw_path}",
                         headers={h: headers.get(h) for h in signed}, data=body)
    request.context["timestamp"] = amz_date
    creds = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    signer = _ExactHeadersSigV4(creds, "ec2", region, signed)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m["sig"]):
        # For whoever debugs a client: the canonical request we expected (no secrets in it
        # once the session token is redacted).
        print("sandbox: signature mismatch; expected canonical request:\n"
              + _redacted(canonical), file=sys.stderr, flush=True)
        raise auth_failure("signature mismatch")
    return issued, region


# A PresignedUrl (CopySnapshot): SigV4 query signing of a GET to the source region's endpoint,
# as botocore's inject_presigned_url_ec2 makes it (SigV4QueryAuth, X-Amz-SignedHeaders=host).
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
               "X-Amz-SignedHeaders", "X-Amz-Signature")


class PresignedUrlInvalid(ValueError):
    """Why a PresignedUrl does not authorise the copy (the sandbox logs it; EC2 says nothing)."""


def check_presigned_url(url: str, store: CredentialStore, now: float, source_region: str,
                        source_snapshot_id: str, destination_region: str) -> Issued:
    """Verifies a CopySnapshot PresignedUrl with botocore's SigV4QueryAuth: a GET of
    Action=CopySnapshot naming this copy's SourceRegion, SourceSnapshotId and DestinationRegion,
    signed (host only) for the source region with credentials the sandbox issued, not expired.
    Returns the credentials it was signed with; raises PresignedUrlInvalid."""
    from urllib.parse import parse_qsl, urlsplit
    from botocore.auth import SigV4QueryAuth

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PresignedUrlInvalid("not an http(s) URL")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = {}
    for k, v in pairs:
        if k in query:
            raise PresignedUrlInvalid(f"parameter {k} appears twice")
        query[k] = v
    missing = [k for k in _QUERY_AUTH if k not in query]
    if missing:
        raise PresignedUrlInvalid(f"no {', '.join(missing)}")
    if query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise PresignedUrlInvalid("X-Amz-Algorithm is not AWS4-HMAC-SHA256")
    wanted = {"Action": "CopySnapshot", "SourceRegion": source_region,
              "SourceSnapshotId": source_snapshot_id, "DestinationRegion": destination_region}
    for k, v in wanted.items():
        if query.get(k) != v:
            raise PresignedUrlInvalid(f"{k} is {query.get(k)!r}, the copy needs {v!r}")
    cred = query["X-Amz-Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise PresignedUrlInvalid("malformed X-Amz-Credential")
    access_key, scope_date, scope_region, scope_service, _ = cred
    if scope_service != "ec2" or scope_region != source_region:
        raise PresignedUrlInvalid(f"signed for {scope_region}/{scope_service}, not {source_region}/ec2")
    amz_date = query["X-Amz-Date"]
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        expires = int(query["X-Amz-Expires"])
    except ValueError:
        raise PresignedUrlInvalid("malformed X-Amz-Date or X-Amz-Expires") from None
    if scope_date != amz_date[:8]:
        raise PresignedUrlInvalid("credential scope date differs from X-Amz-Date")
    if not 1 <= expires <= 604800:
        raise PresignedUrlInvalid("X-Amz-Expires out of range")
    if now > when.timestamp() + expires:
        raise PresignedUrlInvalid("expired")
    if when.timestamp() > now + 900:
        raise PresignedUrlInvalid("X-Amz-Date is in the future")
    issued = store.lookup(access_key)
    if issued is None:
        raise PresignedUrlInvalid("unknown access key")
    token = query.get("X-Amz-Security-Token")
    if (issued.session_token is None) != (token is None) or (
            token is not None and not hmac.compare_digest(token, issued.session_token)):
        raise PresignedUrlInvalid("wrong or missing X-Amz-Security-Token")
    if issued.session_token is not None and now >= issued.expiration:
        raise PresignedUrlInvalid("the credentials it was signed with have expired")
    signed = query["X-Amz-SignedHeaders"].split(";")
    if signed != ["host"]:
        raise PresignedUrlInvalid(f"X-Amz-SignedHeaders is {query['X-Amz-SignedHeaders']!r}, not 'host'")

    # botocore computes the signature over the URL as it is, less X-Amz-Signature.
    unsigned = "&".join(seg for seg in parts.query.split("&") if not seg.startswith("X-Amz-Signature="))
    request = AWSRequest(method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path or '/'}?{unsigned}",
                         headers={"host": parts.netloc})
    request.context["timestamp"] = amz_date
    signer = SigV4QueryAuth(Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token),
                            "ec2", source_region, expires=expires)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        print("sandbox: PresignedUrl signature mismatch; expected canonical request:\n"
              + re.sub(r"X-Amz-Security-Token=[^&\n]*", "X-Amz-Security-Token=<redacted>", canonical),
              file=sys.stderr, flush=True)
        raise PresignedUrlInvalid("signature mismatch")
    return issued
