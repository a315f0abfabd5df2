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
from botocore.credentials import Credentials


class _Captured(Exception):
    pass


def main(src: str, dst: str) -> int:
    with open(src, encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    clients = {}
    for c in cases:
        fixed = datetime.datetime.fromtimestamp(c["time"], tz=datetime.timezone.utc).replace(tzinfo=None)

        class FixedDateTime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

            @classmethod
            def now(cls, tz=None):
                return fixed.replace(tzinfo=tz) if tz else fixed

        # One client per region and endpoint (making one costs ~0.2 s); each case signs with its
        # own keys.
        key = (c["region"], c["endpoint_url"])
        client = clients.get(key)
        if client is None:
            kwargs = {"endpoint_url": c["endpoint_url"]} if c["endpoint_url"] else {}
            client = clients[key] = boto3.client("ec2", region_name=c["region"], aws_access_key_id="x",
                                                 aws_secret_access_key="x", **kwargs)
        client._request_signer._credentials = Credentials(c["access_key"], c["secret_key"], c["token"])
        captured = {}

        def grab(request, **_):
            body = request.body
            captured.update(urllib.parse.parse_qsl(body.decode() if isinstance(body, bytes) else body,
                                                   keep_blank_values=True))
            raise _Captured()

        client.meta.events.unregister("before-send.ec2.CopySnapshot", unique_id="ebsnap-capture")
        client.meta.events.register("before-send.ec2.CopySnapshot", grab, unique_id="ebsnap-capture")
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
