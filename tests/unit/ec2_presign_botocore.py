"""Makes CopySnapshot's PresignedUrl with botocore itself, for the differential test of
ec2/presign: a real boto3 client (in the destination region) runs copy_snapshot, whose
inject_presigned_url_ec2 handler adds PresignedUrl and DestinationRegion; the request is captured
before it is sent (nothing goes on the wire), at a fixed time.

Usage: python ec2_presign_botocore.py IN.json OUT.json
IN: a JSON array of {"region" (destination), "endpoint_url" (or null: the region's endpoint),
"access_key", "secret_key", "token" (or null), "time" (epoch s), "params": [[name, value]...]}
where params are copy_snapshot's keyword arguments in the order ebsnap sends them (botocore
serialises them in the order given). OUT: a JSON array of {"presigned_url", "destination_region"}.
"""
import datetime
import json
import sys
import urllib.parse
from unittest import mock

import boto3


class _Captured(Exception):
    pass


def main(src: str, dst: str) -> int:
    with open(src, encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    for c in cases:
        fixed = datetime.datetime.fromtimestamp(c["time"], tz=datetime.timezone.utc).replace(tzinfo=None)

        class FixedDateTime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

            @classmethod
            def now(cls, tz=None):
                return fixed.replace(tzinfo=tz) if tz else fixed

        kwargs = {}
        if c["endpoint_url"]:
            kwargs["endpoint_url"] = c["endpoint_url"]
        client = boto3.client("ec2", region_name=c["region"], aws_access_key_id=c["access_key"],
                              aws_secret_access_key=c["secret_key"], aws_session_token=c["token"], **kwargs)
        captured = {}

        def grab(request, **_):
            body = request.body
            captured.update(urllib.parse.parse_qsl(body.decode() if isinstance(body, bytes) else body,
                                                   keep_blank_values=True))
            raise _Captured()

        client.meta.events.register("before-send.ec2.CopySnapshot", grab)
        params = {}
        for name, value in c["params"]:
            params[name] = value
        with mock.patch("botocore.auth.datetime.datetime", FixedDateTime):
            try:
                client.copy_snapshot(**params)
            except _Captured:
                pass
        out.append({"presigned_url": captured.get("PresignedUrl"),
                    "destination_region": captured.get("DestinationRegion")})
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
