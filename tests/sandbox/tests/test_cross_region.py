"""Two regions (issue 14): the SigV4 credential scope picks the region, each region has its own
moto state and token buckets; CopySnapshot into the DR region with SourceRegion and the
PresignedUrl that botocore generates (verified with botocore); pending copies, the 20-copy limit
(ResourceLimitExceeded), KMS keys, CompletionDurationMinutes; IMDS answering for the DR instance."""
import json
import time
import unittest
import urllib.request

from tests.support import SandboxTestCase


def _text(xml: str, tag: str) -> str | None:
    start, end = xml.find(f"<{tag}>"), xml.find(f"</{tag}>")
    return xml[start + len(tag) + 2:end] if 0 <= start < end else None


class TwoRegions(SandboxTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dr = cls.sb.boto3(region=cls.sb.dr_region)

    def tearDown(self):
        self.sb.configure({"timing": {"copy_complete_s": 0}, "throttling": {"enabled": False},
                           "copy": {"max_pending": 20, "kms_key_ids": ["alias/aws/ebs"]},
                           "imds": {"instance": "home"}})

    # --- helpers --------------------------------------------------------------------------------
    def home_snapshot(self, **volume) -> str:
        vol = self.new_volume(**volume)
        self.addCleanup(self.ec2.delete_volume, VolumeId=vol)
        snap = self.ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
        self.addCleanup(self.ec2.delete_snapshot, SnapshotId=snap)
        return snap

    def dr_snapshot(self, snapshot_id: str) -> dict:
        return self.dr.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]

    def wait_copy(self, snapshot_id: str, timeout=30) -> dict:
        """The copy once it left `pending` (a deadline only against hanging, not a timing check)."""
        deadline = time.time() + timeout
        while True:
            snap = self.dr_snapshot(snapshot_id)
            if snap["State"] != "pending":
                return snap
            if time.time() > deadline:
                self.fail(f"{snapshot_id} stayed pending")
            time.sleep(0.05)

    def forget_copy(self, snapshot_id: str) -> None:
        """Cleanup: deletes the copy unless the test did."""
        from botocore.exceptions import ClientError
        try:
            self.dr.delete_snapshot(SnapshotId=snapshot_id)
        except ClientError as e:
            if e.response["Error"]["Code"] != "InvalidSnapshot.NotFound":
                raise

    def boto3_copy(self, source: str, **kwargs) -> str:
        """CopySnapshot as the AWS SDKs make it: boto3 adds PresignedUrl and DestinationRegion."""
        copy = self.dr.copy_snapshot(SourceRegion=self.sb.region, SourceSnapshotId=source, **kwargs)["SnapshotId"]
        self.addCleanup(self.forget_copy, copy)
        return copy

    def presigned_url(self, source: str, destination: str | None = None, expires=3600, **creds) -> str:
        """A PresignedUrl made as botocore's inject_presigned_url_ec2 makes it: a GET of the same
        CopySnapshot with DestinationRegion, query-signed for the source region."""
        home = self.sb.boto3(**creds)
        return home.generate_presigned_url(
            "copy_snapshot", HttpMethod="GET", ExpiresIn=expires,
            Params={"SourceRegion": self.sb.region, "SourceSnapshotId": source,
                    "DestinationRegion": destination or self.sb.dr_region})

    def raw_copy(self, source: str, presigned_url: str | None, **extra) -> str:
        """CopySnapshot in the DR region with exactly this PresignedUrl (or none)."""
        params = {"Action": "CopySnapshot", "Version": "2016-11-15", "SourceRegion": self.sb.region,
                  "SourceSnapshotId": source, **extra}
        if presigned_url is not None:
            params.update(PresignedUrl=presigned_url, DestinationRegion=self.sb.dr_region)
        status, body = self.sb.raw_call(params, region=self.sb.dr_region)
        self.assertEqual(status, 200, body)
        copy = _text(body, "snapshotId")
        self.addCleanup(self.forget_copy, copy)
        return copy

    # --- regions -------------------------------------------------------------------------------
    def test_the_credential_scope_picks_the_region_and_each_has_its_own_state(self):
        vol = self.dr.create_volume(Size=1, AvailabilityZone=self.sb.dr_az)["VolumeId"]
        self.addCleanup(self.dr.delete_volume, VolumeId=vol)
        self.assertEqual([v["VolumeId"] for v in self.dr.describe_volumes(VolumeIds=[vol])["Volumes"]], [vol])
        self.assertBotoError("InvalidVolume.NotFound", self.ec2.describe_volumes, VolumeIds=[vol])
        # A volume of the DR region cannot be made in the home region's zones, and back.
        self.assertBotoError("InvalidParameterValue", self.dr.create_volume, Size=1, AvailabilityZone=self.sb.az)
        # Each region runs its own instance (moto's DescribeInstances, forwarded, is regional too).
        dr_instances = [i["InstanceId"] for r in self.dr.describe_instances()["Reservations"] for i in r["Instances"]]
        home_instances = [i["InstanceId"] for r in self.ec2.describe_instances()["Reservations"]
                          for i in r["Instances"]]
        self.assertEqual(dr_instances, [self.sb.dr_instance_id])
        self.assertIn(self.sb.instance_id, home_instances)
        self.assertNotIn(self.sb.dr_instance_id, home_instances)
        # The call log names the region of each call.
        calls = [c for c in self.sb.calls() if c["action"] == "CreateVolume"]
        self.assertEqual(calls[-1]["region"], self.sb.dr_region)

    def test_awscli_targets_the_dr_region_with_region(self):
        env = self.sb.client_env(AWS_DEFAULT_REGION=self.sb.dr_region, AWS_REGION=self.sb.dr_region)
        out = self.sb.aws("describe-availability-zones", env=env)
        self.assertIn(self.sb.dr_az, [z["ZoneName"] for z in out["AvailabilityZones"]])

    def test_a_region_the_sandbox_does_not_serve_is_auth_failure(self):
        other = self.sb.boto3(region="ap-south-1")
        self.assertBotoError("AuthFailure", other.describe_volumes, status=401)

    def test_each_region_has_its_own_token_buckets(self):
        self.sb.configure({"throttling": {"enabled": True, "buckets": {"describe": {"burst": 3, "rate": 0.001}}}})
        for _ in range(3):
            self.ec2.describe_volumes()
        self.assertBotoError("RequestLimitExceeded", self.ec2.describe_volumes, status=503)
        self.dr.describe_volumes()  # the DR region's bucket is full still
        self.assertLess(self.sb.tokens(self.sb.region)["describe"], 1)
        self.assertGreaterEqual(self.sb.tokens(self.sb.dr_region)["describe"], 1)
        self.sb.configure({"throttling": {"buckets": {"describe": {"burst": 100, "rate": 20}}}})

    # --- CopySnapshot ----------------------------------------------------------------------------
    def test_boto3_cross_region_copy_is_verified_and_lands_in_the_dr_region(self):
        """The reference: boto3 generates the PresignedUrl itself."""
        source = self.home_snapshot()
        self.sb.set_start_times({source: "2025-01-01T00:00:00Z"})
        before = time.time()
        copy = self.boto3_copy(source, Description="dr copy", TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "ebsnap:source-snapshot", "Value": source},
                                                  {"Key": "ebsnap:source-region", "Value": self.sb.region}]}])
        sent = [c for c in self.sb.calls() if c["action"] == "CopySnapshot"][-1]
        self.assertEqual(sent["region"], self.sb.dr_region)
        self.assertEqual(sent["params"]["DestinationRegion"], self.sb.dr_region)
        self.assertNotIn("PresignedUrl", sent["params"])  # it carries a signature: never logged
        snap = self.wait_copy(copy)
        self.assertEqual(snap["State"], "completed", snap)
        self.assertEqual(snap["Description"], "dr copy")
        self.assertEqual({t["Key"]: t["Value"] for t in snap["Tags"]},
                         {"ebsnap:source-snapshot": source, "ebsnap:source-region": self.sb.region})
        self.assertEqual(snap["VolumeId"], "vol-ffffffff")  # EC2: "an arbitrary volume ID"
        self.assertEqual(snap["TransferType"], "standard")
        # StartTime is when it was copied, not the source's (2025).
        self.assertGreaterEqual(snap["StartTime"].timestamp(), int(before))
        self.assertNotIn(copy, [s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]])
        # A volume can be made from it in the DR region.
        vol = self.dr.create_volume(SnapshotId=copy, AvailabilityZone=self.sb.dr_az)["VolumeId"]
        self.addCleanup(self.dr.delete_volume, VolumeId=vol)
        self.assertEqual(self.dr.describe_volumes(VolumeIds=[vol])["Volumes"][0]["SnapshotId"], copy)

    def test_awscli_copy_snapshot_into_the_dr_region(self):
        source = self.home_snapshot()
        env = self.sb.client_env(AWS_DEFAULT_REGION=self.sb.dr_region, AWS_REGION=self.sb.dr_region)
        out = self.sb.aws("copy-snapshot", "--source-region", self.sb.region, "--source-snapshot-id", source,
                          "--description", "by awscli", env=env)
        self.addCleanup(self.dr.delete_snapshot, SnapshotId=out["SnapshotId"])
        self.assertEqual(self.wait_copy(out["SnapshotId"])["State"], "completed")

    def test_copies_stay_pending_for_copy_complete_s(self):
        self.sb.configure({"timing": {"copy_complete_s": 0.6}})
        source = self.home_snapshot()
        copy = self.boto3_copy(source)
        self.assertEqual(self.dr_snapshot(copy)["State"], "pending")
        self.assertEqual(self.sb.pending_copies()[self.sb.dr_region], 1)
        self.assertBotoError("IncorrectState", self.dr.create_volume, SnapshotId=copy,
                             AvailabilityZone=self.sb.dr_az)
        snap = self.wait_copy(copy)
        self.assertEqual((snap["State"], snap["Progress"]), ("completed", "100%"))
        self.assertIn("CompletionTime", snap)
        self.assertEqual(self.sb.pending_copies()[self.sb.dr_region], 0)

    def test_tampered_presigned_url_makes_the_copy_fail_as_ec2_does(self):
        """EC2: "An invalid or improperly signed PresignedUrl will cause the copy operation to fail
        asynchronously, and the snapshot will move to an error state." """
        source = self.home_snapshot()
        other = self.home_snapshot()
        good = self.presigned_url(source)
        # The untampered URL, sent the same way, works: the failures below are the tampering's.
        self.assertEqual(self.wait_copy(self.raw_copy(source, good))["State"], "completed")
        sig = good.rsplit("X-Amz-Signature=", 1)[1]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        bad_urls = {
            "signature changed": good.replace(sig, flipped),
            "snapshot id changed after signing": good.replace(source, other),
            "for another snapshot": self.presigned_url(other),
            "for another destination": self.presigned_url(source, destination=self.sb.region),
            "unknown secret": self.presigned_url(source, secret_key="x" * 40),
            "unknown key": self.presigned_url(source, access_key="AKIAUNKNOWN000000000"),
            "no signature": good.split("&X-Amz-Signature=")[0],
        }
        for what, url in bad_urls.items():
            with self.subTest(what):
                snap = self.wait_copy(self.raw_copy(source, url))
                self.assertEqual(snap["State"], "error", snap)
                self.assertIn("PresignedUrl", snap.get("StateMessage", ""))
        # A volume cannot be made from a failed copy.
        failed = self.raw_copy(source, bad_urls["signature changed"])
        self.assertBotoError("IncorrectState", self.dr.create_volume, SnapshotId=failed,
                             AvailabilityZone=self.sb.dr_az)

    def test_expired_presigned_url_fails_the_copy(self):
        source = self.home_snapshot()
        url = self.presigned_url(source, expires=1)
        time.sleep(1.5)
        self.assertEqual(self.wait_copy(self.raw_copy(source, url))["State"], "error")

    def test_presigned_url_signed_with_role_credentials_verifies(self):
        source = self.home_snapshot()
        status, body = self._imds_role_credentials()
        self.assertEqual(status, 200)
        creds = json.loads(body)
        url = self.presigned_url(source, access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                                 token=creds["Token"])
        self.assertEqual(self.wait_copy(self.raw_copy(source, url))["State"], "completed")
        # The same URL without its session token does not.
        stripped = "&".join(p for p in url.split("&") if not p.startswith("X-Amz-Security-Token="))
        self.assertEqual(self.wait_copy(self.raw_copy(source, stripped))["State"], "error")

    def _imds_role_credentials(self):
        put = urllib.request.Request(self.sb.imds + "/latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(put, timeout=10) as r:
            token = r.read().decode()
        role = self.sb.env["EBSNAP_SANDBOX_ROLE"]
        get = urllib.request.Request(self.sb.imds + f"/latest/meta-data/iam/security-credentials/{role}",
                                     headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(get, timeout=10) as r:
            return r.status, r.read().decode()

    def test_unencrypted_copy_without_presigned_url_works_an_encrypted_one_fails(self):
        plain = self.home_snapshot()
        self.assertEqual(self.wait_copy(self.raw_copy(plain, None))["State"], "completed")
        encrypted = self.home_snapshot(Encrypted=True)
        snap = self.wait_copy(self.raw_copy(encrypted, None))
        self.assertEqual(snap["State"], "error")
        self.assertTrue(snap["Encrypted"])
        # boto3 signs one, and then it works.
        self.assertEqual(self.wait_copy(self.boto3_copy(encrypted))["State"], "completed")

    def test_above_20_pending_copies_per_destination_is_resource_limit_exceeded(self):
        self.sb.configure({"timing": {"copy_complete_s": 3600}})
        source = self.home_snapshot()
        copies = [self.raw_copy(source, None) for _ in range(20)]
        self.assertEqual(self.sb.pending_copies(), {self.sb.region: 0, self.sb.dr_region: 20})
        err = self.assertBotoError("ResourceLimitExceeded", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                                   SourceSnapshotId=source, status=400)
        self.assertIn("20", err["Error"]["Message"])
        # Per destination: the home region (a copy within it) is not affected.
        local = self.ec2.copy_snapshot(SourceRegion=self.sb.region, SourceSnapshotId=source)["SnapshotId"]
        self.ec2.delete_snapshot(SnapshotId=local)
        # A copy that ends frees its place.
        self.dr.delete_snapshot(SnapshotId=copies[0])
        self.boto3_copy(source)
        self.assertBotoError("ResourceLimitExceeded", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                             SourceSnapshotId=source)
        # The limit is configurable.
        self.sb.configure({"copy": {"max_pending": 25}})
        self.boto3_copy(source)

    def test_kms_key_ids_are_checked_against_the_configured_list(self):
        source = self.home_snapshot()
        snap = self.wait_copy(self.boto3_copy(source, Encrypted=True, KmsKeyId="alias/dr"))
        self.assertEqual(snap["State"], "error")
        self.assertIn("not accessible", snap["StateMessage"])
        arn = f"arn:aws:kms:{self.sb.dr_region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        home_arn = arn.replace(self.sb.dr_region, self.sb.region)
        self.sb.configure({"copy": {"kms_key_ids": ["alias/dr", arn, home_arn]}})
        for key in ("alias/dr", arn):
            snap = self.wait_copy(self.boto3_copy(source, Encrypted=True, KmsKeyId=key))
            self.assertEqual((snap["State"], snap["Encrypted"], snap["KmsKeyId"]), ("completed", True, key))
        # A key of another region cannot encrypt a copy in this one.
        snap = self.wait_copy(self.boto3_copy(source, Encrypted=True, KmsKeyId=home_arn))
        self.assertEqual(snap["State"], "error")

    def test_completion_duration_minutes_makes_a_time_based_copy(self):
        source = self.home_snapshot()
        snap = self.wait_copy(self.boto3_copy(source, CompletionDurationMinutes=120))
        self.assertEqual((snap["TransferType"], snap["CompletionDurationMinutes"]), ("time-based", 120))
        for bad in (20, 2895):
            self.assertBotoError("InvalidParameterValue", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                                 SourceSnapshotId=source, CompletionDurationMinutes=bad)

    def test_copy_errors(self):
        self.assertBotoError("InvalidSnapshot.NotFound", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                             SourceSnapshotId="snap-0123456789abcdef0")
        self.assertBotoError("InvalidParameterValue", self.dr.copy_snapshot, SourceRegion="ap-south-1",
                             SourceSnapshotId="snap-0123456789abcdef0")
        vol = self.new_volume()
        self.addCleanup(self.ec2.delete_volume, VolumeId=vol)
        pending = self.sb.bulk_snapshots(vol, 1, state="pending")[0]
        self.addCleanup(self.ec2.delete_snapshot, SnapshotId=pending)
        self.assertBotoError("IncorrectState", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                             SourceSnapshotId=pending)
        self.assertBotoError("DryRunOperation", self.dr.copy_snapshot, SourceRegion=self.sb.region,
                             SourceSnapshotId=pending, DryRun=True, status=412)

    def test_control_resources_take_a_region(self):
        vol = self.dr.create_volume(Size=1, AvailabilityZone=self.sb.dr_az)["VolumeId"]
        self.addCleanup(self.dr.delete_volume, VolumeId=vol)
        ids = self.sb._control("POST", "/snapshots/bulk", {"volume_id": vol, "count": 2,
                                                           "region": self.sb.dr_region})["snapshot_ids"]
        for sid in ids:
            self.addCleanup(self.dr.delete_snapshot, SnapshotId=sid)
        self.assertEqual(len(self.dr.describe_snapshots(SnapshotIds=ids)["Snapshots"]), 2)
        self.sb._control("POST", "/snapshots/start-time", {"start_times": {ids[0]: "2025-01-01T00:00:00Z"},
                                                          "region": self.sb.dr_region})
        self.assertEqual(self.dr_snapshot(ids[0])["StartTime"].year, 2025)
        status, doc = self.sb.control_error("POST", "/snapshots/start-time",
                                            {"start_times": {ids[0]: "2025-01-01T00:00:00Z"}})
        self.assertEqual(status, 400)  # not a snapshot of the home region
        status, doc = self.sb.control_error("POST", "/snapshots/bulk",
                                            {"volume_id": vol, "count": 1, "region": "ap-south-1"})
        self.assertEqual(status, 400)
        self.assertIn("region", doc["error"])

    # --- IMDS -------------------------------------------------------------------------------------
    def imds(self, path: str) -> str:
        put = urllib.request.Request(self.sb.imds + "/latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(put, timeout=10) as r:
            token = r.read().decode()
        get = urllib.request.Request(self.sb.imds + path, headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(get, timeout=10) as r:
            return r.read().decode()

    def test_imds_answers_for_the_dr_instance_when_switched(self):
        self.assertEqual(self.imds("/latest/meta-data/placement/region"), self.sb.region)
        self.sb.configure({"imds": {"instance": "dr"}})
        self.assertEqual(self.imds("/latest/meta-data/instance-id"), self.sb.dr_instance_id)
        self.assertEqual(self.imds("/latest/meta-data/placement/region"), self.sb.dr_region)
        self.assertEqual(self.imds("/latest/meta-data/placement/availability-zone"), self.sb.dr_az)
        doc = json.loads(self.imds("/latest/dynamic/instance-identity/document"))
        self.assertEqual((doc["region"], doc["instanceId"]), (self.sb.dr_region, self.sb.dr_instance_id))
        status, err = self.sb.control_error("POST", "/config", {"imds": {"instance": "mars"}})
        self.assertEqual(status, 400)
        self.sb.configure({"imds": {"instance": "home"}})
        self.assertEqual(self.imds("/latest/meta-data/instance-id"), self.sb.instance_id)


class StartedAsDrInstance(SandboxTestCase):
    """A sandbox started with IMDS answering for the DR instance (--config)."""
    sandbox_config = {"imds": {"instance": "dr"}, "copy": {"max_pending": 2}}

    def test_imds_and_the_role_credentials_work_in_the_dr_region(self):
        put = urllib.request.Request(self.sb.imds + "/latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(put, timeout=10) as r:
            token = r.read().decode()
        get = urllib.request.Request(self.sb.imds + "/latest/meta-data/placement/region",
                                     headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(get, timeout=10) as r:
            self.assertEqual(r.read().decode(), self.sb.dr_region)
        self.assertEqual(self.sb.config()["copy"]["max_pending"], 2)


if __name__ == "__main__":
    unittest.main()
