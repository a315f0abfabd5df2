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
           region: str, now: float, max_skew_s: float) -> Issued:
    """Returns the credentials the request was signed with, or raises EC2's error."""
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
    if scope_region != region:
        raise auth_failure(f"credential should be scoped to a valid region, not '{scope_region}'")

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
    return issued
