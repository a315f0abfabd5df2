"""IMDSv2: tokens, metadata, user-data, identity document, role credentials the gateway accepts."""
import json
import os
import time
import unittest
import urllib.error
import urllib.request

from tests.support import SandboxTestCase


class Imds(SandboxTestCase):
    def tearDown(self):
        self.sb.configure({"imds": {"v1_enabled": False, "user_data": None, "fail_503_next": 0,
                                    "fail_503_for_s": 0, "token_lifetime_s": None,
                                    "credential_refresh_margin_s": None,
                                    "spot_instance_action": None, "rebalance_recommendation": None}})

    def http(self, method, path, headers=None):
        req = urllib.request.Request(self.sb.imds + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def token(self, ttl=60):
        status, body = self.http("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        self.assertEqual(status, 200)
        return body

    def get(self, path, token=None):
        return self.http("GET", path, {"X-aws-ec2-metadata-token": token} if token else {})

    def test_token_needs_a_ttl_between_1_and_21600(self):
        self.assertEqual(self.http("PUT", "/latest/api/token")[0], 400)
        for bad in ("0", "21601", "abc"):
            self.assertEqual(self.http("PUT", "/latest/api/token",
                                       {"X-aws-ec2-metadata-token-ttl-seconds": bad})[0], 400)
        self.assertTrue(self.token(21600))

    def test_get_without_valid_token_is_401_unless_v1_enabled(self):
        self.assertEqual(self.get("/latest/meta-data/instance-id")[0], 401)
        self.assertEqual(self.get("/latest/meta-data/instance-id", "bogus")[0], 401)
        self.assertEqual(self.get("/latest/meta-data/instance-id", self.token()), (200, self.sb.instance_id))
        self.sb.configure({"imds": {"v1_enabled": True}})
        self.assertEqual(self.get("/latest/meta-data/instance-id"), (200, self.sb.instance_id))

    def test_tokens_expire(self):
        token = self.token(1)
        self.assertEqual(self.get("/latest/meta-data/instance-id", token)[0], 200)
        time.sleep(1.3)
        self.assertEqual(self.get("/latest/meta-data/instance-id", token)[0], 401)

    def test_503_for_a_window_from_when_it_is_set(self):
        t = self.token()
        self.sb.configure({"imds": {"fail_503_for_s": 1.5}})
        started = time.monotonic()
        self.assertEqual(self.get("/latest/meta-data/instance-id", t)[0], 503)
        self.assertEqual(self.http("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0], 503)
        while time.monotonic() - started < 1.0:
            self.assertEqual(self.get("/latest/meta-data/instance-id", t)[0], 503)
            time.sleep(0.1)
        time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
        self.assertEqual(self.get("/latest/meta-data/instance-id", t), (200, self.sb.instance_id))
        self.assertTrue(self.token())

    def test_answers_are_counted_by_status(self):
        before = self.sb.imds_answers()
        t = self.token()
        self.get("/latest/meta-data/instance-id", t)
        self.get("/latest/meta-data/instance-id", "bogus")
        self.sb.configure({"imds": {"fail_503_next": 1}})
        self.get("/latest/meta-data/instance-id", t)
        after = self.sb.imds_answers()
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self.assertEqual({k: v for k, v in delta.items() if v}, {"200": 2, "401": 1, "503": 1})

    def test_token_lifetime_cuts_a_token_short_whatever_its_ttl_header_says(self):
        self.sb.configure({"imds": {"token_lifetime_s": 1}})
        req = urllib.request.Request(self.sb.imds + "/latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.headers["X-aws-ec2-metadata-token-ttl-seconds"], "21600")
            token = r.read().decode()
        self.assertEqual(self.get("/latest/meta-data/instance-id", token)[0], 200)
        time.sleep(1.3)
        self.assertEqual(self.get("/latest/meta-data/instance-id", token)[0], 401)
        # A new token works (for its second).
        self.assertEqual(self.get("/latest/meta-data/instance-id", self.token())[0], 200)

    def test_spot_and_rebalance_notices_are_404_until_served(self):
        t = self.token()
        spot, rebalance = "/latest/meta-data/spot/instance-action", "/latest/meta-data/events/recommendations/rebalance"
        self.assertEqual(self.get(spot, t)[0], 404)
        self.assertEqual(self.get(rebalance, t)[0], 404)
        action = json.dumps({"action": "terminate", "time": "2026-12-06T08:22:00Z"})
        self.sb.configure({"imds": {"spot_instance_action": action,
                                    "rebalance_recommendation": '{"noticeTime": "2026-12-06T08:20:00Z"}'}})
        self.assertEqual(self.get(spot, t), (200, action))
        self.assertEqual(json.loads(self.get(rebalance, t)[1])["noticeTime"], "2026-12-06T08:20:00Z")
        self.assertEqual(self.get(spot)[0], 401)  # IMDSv2 as everywhere else
        self.sb.configure({"imds": {"spot_instance_action": None}})
        self.assertEqual(self.get(spot, t)[0], 404)

    def test_placement_and_identity(self):
        t = self.token()
        self.assertEqual(self.get("/latest/meta-data/placement/region", t), (200, "eu-west-1"))
        self.assertEqual(self.get("/latest/meta-data/placement/availability-zone", t), (200, self.sb.az))
        status, doc = self.get("/latest/dynamic/instance-identity/document", t)
        doc = json.loads(doc)
        self.assertEqual((doc["region"], doc["availabilityZone"], doc["instanceId"]),
                         ("eu-west-1", self.sb.az, self.sb.instance_id))
        self.assertRegex(doc["accountId"], r"^\d{12}$")
        self.assertEqual(self.get("/latest/meta-data/nothing-here", t)[0], 404)

    def test_user_data(self):
        t = self.token()
        self.assertEqual(self.get("/latest/user-data", t)[0], 404)
        self.sb.configure({"imds": {"user_data": '{"role": "solr"}'}})
        self.assertEqual(self.get("/latest/user-data", t), (200, '{"role": "solr"}'))

    def test_503_on_demand(self):
        t = self.token()
        self.sb.configure({"imds": {"fail_503_next": 2}})
        self.assertEqual(self.get("/latest/meta-data/instance-id", t)[0], 503)
        self.assertEqual(self.http("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "5"})[0], 503)
        self.assertEqual(self.get("/latest/meta-data/instance-id", t)[0], 200)

    def role_credentials(self):
        t = self.token()
        status, role = self.get("/latest/meta-data/iam/security-credentials/", t)
        self.assertEqual((status, role), (200, self.sb.env["EBSNAP_SANDBOX_ROLE"]))
        status, body = self.get(f"/latest/meta-data/iam/security-credentials/{role}", t)
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_role_credentials_are_accepted_then_rejected_after_rotation_and_expiry(self):
        c = self.role_credentials()
        self.assertEqual((c["Code"], c["Type"]), ("Success", "AWS-HMAC"))
        self.assertRegex(c["Expiration"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        ec2 = self.sb.boto3(c["AccessKeyId"], c["SecretAccessKey"], c["Token"])
        ec2.describe_volumes()
        # A wrong session token is refused.
        self.assertBotoError("AuthFailure", self.sb.boto3(c["AccessKeyId"], c["SecretAccessKey"], "x" + c["Token"]).describe_volumes)
        # awscli with the role's credentials.
        env = self.sb.client_env(AWS_ACCESS_KEY_ID=c["AccessKeyId"], AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                                 AWS_SESSION_TOKEN=c["Token"])
        self.sb.aws("describe-volumes", env=env)

        # Rotation: the old credentials expire at once; IMDS hands out new ones.
        self.sb.configure({"imds": {"credential_ttl_s": 3, "credential_generation": 1}})
        self.assertBotoError("RequestExpired", ec2.describe_volumes)
        n = self.role_credentials()
        self.assertNotEqual(n["AccessKeyId"], c["AccessKeyId"])
        ec2 = self.sb.boto3(n["AccessKeyId"], n["SecretAccessKey"], n["Token"])
        ec2.describe_volumes()
        # Renewed a third of the lifetime before expiry; the earlier ones stay valid until then.
        time.sleep(2.2)
        renewed = self.role_credentials()
        self.assertNotEqual(renewed["AccessKeyId"], n["AccessKeyId"])
        self.assertGreater(renewed["Expiration"], n["Expiration"])
        # Expiry by TTL.
        time.sleep(1.0)
        self.assertBotoError("RequestExpired", ec2.describe_volumes)
        self.sb.boto3(renewed["AccessKeyId"], renewed["SecretAccessKey"], renewed["Token"]).describe_volumes()
        self.sb.configure({"imds": {"credential_ttl_s": 21600, "credential_generation": 2}})

    def test_with_margin_zero_new_credentials_come_only_after_the_old_expired(self):
        self.sb.configure({"imds": {"credential_ttl_s": 2, "credential_refresh_margin_s": 0,
                                    "credential_generation": 3}})
        first = self.role_credentials()
        ec2 = self.sb.boto3(first["AccessKeyId"], first["SecretAccessKey"], first["Token"])
        ec2.describe_volumes()
        expires = time.time() + 2
        # Up to their expiry IMDS serves the same ones (a client refreshing early gets them again).
        while time.time() < expires - 0.4:
            self.assertEqual(self.role_credentials()["AccessKeyId"], first["AccessKeyId"])
            time.sleep(0.2)
        time.sleep(max(0.0, expires + 0.2 - time.time()))
        self.assertBotoError("RequestExpired", ec2.describe_volumes)
        fresh = self.role_credentials()
        self.assertNotEqual(fresh["AccessKeyId"], first["AccessKeyId"])
        self.sb.boto3(fresh["AccessKeyId"], fresh["SecretAccessKey"], fresh["Token"]).describe_volumes()
        self.sb.configure({"imds": {"credential_ttl_s": 21600, "credential_generation": 4}})

    def test_botocore_finds_the_role_through_imds(self):
        import botocore.session
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        try:
            os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.sb.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
            os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
            session = botocore.session.get_session()
            creds = session.get_credentials()
            self.assertEqual(creds.method, "iam-role")
            client = session.create_client("ec2", region_name=self.sb.region, endpoint_url=self.sb.endpoint)
            client.describe_volumes()
        finally:
            for k in [k for k in os.environ if k.startswith("AWS_")]:
                del os.environ[k]
            os.environ.update(saved)


if __name__ == "__main__":
    unittest.main()
