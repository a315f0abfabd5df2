"""Signs EC2 Query requests with botocore's SigV4Auth, for the differential test of ec2/sigv4.

Usage: python ec2_sigv4_botocore.py IN.json OUT.json
IN: a JSON array of {"url", "headers": [[name, value]...], "params": [[name, value]...],
"body", "access_key", "secret_key", "token" (or null), "region", "service", "time" (epoch s)}.
OUT: a JSON array of {"authorization", "x_amz_date", "x_amz_security_token", "body"}, where
"body" is the form body encoded here from "params" (RFC 3986, as ebsnap must encode it), so the
test checks ebsnap's encoding as well as its signature.
"""
import datetime
import json
import sys
import urllib.parse
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main(src: str, dst: str) -> int:
    with open(src, encoding="utf-8") as f:
        requests = json.load(f)
    out = []
    for r in requests:
        fixed = datetime.datetime.fromtimestamp(r["time"], tz=datetime.timezone.utc).replace(tzinfo=None)

        class FixedDateTime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

            @classmethod
            def now(cls, tz=None):
                return fixed.replace(tzinfo=tz) if tz else fixed

        body = "&".join(
            urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~") for k, v in r["params"]
        )
        request = AWSRequest(method="POST", url=r["url"], data=r["body"].encode("utf-8"))
        for name, value in r["headers"]:
            request.headers[name] = value
        credentials = Credentials(r["access_key"], r["secret_key"], r["token"])
        with mock.patch("botocore.auth.datetime.datetime", FixedDateTime):
            SigV4Auth(credentials, r["service"], r["region"]).add_auth(request)
        out.append(
            {
                "authorization": request.headers["Authorization"],
                "x_amz_date": request.headers["X-Amz-Date"],
                "x_amz_security_token": request.headers.get("X-Amz-Security-Token"),
                "body": body,
            }
        )
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
