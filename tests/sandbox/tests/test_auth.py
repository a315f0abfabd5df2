"""SigV4 verification: only requests signed with credentials the sandbox issued get through."""
import datetime
import http.client
import unittest
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support import SandboxTestCase


class Auth(SandboxTestCase):
    def _signed(self, body: dict, secret=None, when=None):
        """A DescribeVolumes request signed with botocore, before any tampering."""
        creds = Credentials(self.sb.env["AWS_ACCESS_KEY_ID"], secret or self.sb.env["AWS_SECRET_ACCESS_KEY"])
        req = AWSRequest(method="POST", url=self.sb.endpoint, data=urllib.parse.urlencode(body),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        signer = SigV4Auth(creds, "ec2", self.sb.region)
        if when is not None:
            # SigV4Auth takes the time from the clock; sign "at" another time by patching it.
            import botocore.auth
            real = botocore.auth.datetime.datetime

            class Fixed(real):
                @classmethod
                def utcnow(cls):
                    return when

                @classmethod
                def now(cls, tz=None):
                    return when if tz is None else when.replace(tzinfo=tz)
            botocore.auth.datetime.datetime = Fixed
            try:
                signer.add_auth(req)
            finally:
                botocore.auth.datetime.datetime = real
        else:
            signer.add_auth(req)
        return req

    def _send(self, req: AWSRequest, body: bytes | None = None):
        url = urllib.parse.urlsplit(self.sb.endpoint)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request(req.method, "/", body=body if body is not None else req.body, headers=dict(req.headers))
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    BODY = {"Action": "DescribeVolumes", "Version": "2016-11-15"}

    def test_valid_signature_is_accepted(self):
        status, text = self._send(self._signed(self.BODY))
        self.assertEqual(status, 200, text)
        self.assertIn("<DescribeVolumesResponse", text)

    def test_tampered_body_is_rejected(self):
        req = self._signed({**self.BODY, "VolumeId.1": "vol-00000000000000001"})
        status, text = self._send(req, body=req.body.replace(b"vol-00000000000000001", b"vol-00000000000000002"))
        self.assertEqual(status, 401, text)
        self.assertIn("<Code>AuthFailure</Code>", text)

    def test_tampered_signature_is_rejected(self):
        req = self._signed(self.BODY)
        auth = req.headers["Authorization"]
        sig = auth[-64:]
        req.headers.replace_header("Authorization", auth[:-64] + ("0" if sig[0] != "0" else "1") + sig[1:])
        status, text = self._send(req)
        self.assertEqual(status, 401, text)
        self.assertIn("<Code>AuthFailure</Code>", text)

    def test_missing_signature_is_rejected(self):
        req = self._signed(self.BODY)
        del req.headers["Authorization"]
        status, text = self._send(req)
        self.assertEqual(status, 401, text)
        self.assertIn("<Code>MissingAuthenticationToken</Code>", text)

    def test_wrong_secret_is_auth_failure(self):
        ec2 = self.sb.boto3(secret_key="x" * 40)
        self.assertBotoError("AuthFailure", ec2.describe_volumes, status=401)
        # awscli too
        env = self.sb.client_env(AWS_SECRET_ACCESS_KEY="y" * 40)
        from tests.support import AwsCliError
        with self.assertRaises(AwsCliError) as cm:
            self.sb.aws("describe-volumes", env=env)
        self.assertEqual(cm.exception.code, "AuthFailure")

    def test_unknown_access_key_is_auth_failure(self):
        ec2 = self.sb.boto3(access_key="AKIAUNKNOWNUNKNOWN00")
        self.assertBotoError("AuthFailure", ec2.describe_volumes, status=401)

    def test_clock_skew_beyond_15_minutes_is_request_expired(self):
        when = datetime.datetime.utcnow() - datetime.timedelta(minutes=16)
        status, text = self._send(self._signed(self.BODY, when=when))
        self.assertEqual(status, 400, text)
        self.assertIn("<Code>RequestExpired</Code>", text)
        when = datetime.datetime.utcnow() - datetime.timedelta(minutes=14)
        status, text = self._send(self._signed(self.BODY, when=when))
        self.assertEqual(status, 200, text)

    def test_session_token_on_static_key_is_rejected(self):
        ec2 = self.sb.boto3(token="not-a-token")
        self.assertBotoError("AuthFailure", ec2.describe_volumes, status=401)

    def test_signature_mismatch_log_has_no_secret(self):
        self.assertBotoError("AuthFailure", self.sb.boto3(secret_key="z" * 40).describe_volumes)
        err = self.sb.stderr()
        self.assertIn("signature mismatch", err)
        self.assertNotIn(self.sb.env["AWS_SECRET_ACCESS_KEY"], err)
        self.assertNotIn("z" * 40, err)


if __name__ == "__main__":
    unittest.main()
