"""Issue 13: CreateVolume's VolumeInitializationRate (100..300 MiB/s, only with a SnapshotId, as
EC2 has it), DescribeVolumeStatus's InitializationStatusDetails (moto 5.2.1 does not implement
DescribeVolumeStatus), and DescribeVolumes' FastRestored. awscli parses every answer strictly
against botocore's model, so the shapes are EC2's."""
import datetime
import unittest

from tests.support import SandboxTestCase

UTC = datetime.timezone.utc


def ago(seconds: int) -> str:
    return (datetime.datetime.now(UTC) - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class VolumeInitialization(SandboxTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        source = cls.ec2.create_volume(Size=100, AvailabilityZone=cls.sb.az)["VolumeId"]
        cls.snapshot_id = cls.sb.bulk_snapshots(source, 1)[0]

    def restore(self, *extra: str) -> dict:
        return self.sb.aws("create-volume", "--snapshot-id", self.snapshot_id, "--availability-zone", self.sb.az,
                           *extra)

    def status(self, volume_id: str) -> dict:
        items = self.sb.aws("describe-volume-status", "--volume-ids", volume_id)["VolumeStatuses"]
        self.assertEqual([i["VolumeId"] for i in items], [volume_id])
        return items[0]

    def test_provisioned_rate_progress_and_time_left_follow_create_time(self):
        vid = self.restore("--volume-initialization-rate", "200")["VolumeId"]
        vol = self.sb.aws("describe-volumes", "--volume-ids", vid)["Volumes"][0]
        self.assertEqual(vol["VolumeInitializationRate"], 200)
        self.assertIs(vol["FastRestored"], False)
        # 100 GiB at 200 MiB/s: 512 s. Half of it ago → about half done.
        self.sb.set_create_times({vid: ago(256)})
        details = self.status(vid)["InitializationStatusDetails"]
        self.assertEqual(details["InitializationType"], "provisioned-rate")
        self.assertTrue(40 <= details["Progress"] <= 60, details)
        self.assertTrue(200 <= details["EstimatedTimeToCompleteInSeconds"] <= 300, details)
        self.sb.set_create_times({vid: ago(3600)})
        details = self.status(vid)["InitializationStatusDetails"]
        self.assertEqual((details["Progress"], details["EstimatedTimeToCompleteInSeconds"]), (100, 0))

    def test_default_rate_has_progress_without_an_estimate(self):
        vid = self.restore()["VolumeId"]
        self.sb.set_create_times({vid: ago(60)})
        details = self.status(vid)["InitializationStatusDetails"]
        self.assertEqual(details["InitializationType"], "default")
        # 100 GiB at the sandbox's default 20 MiB/s: 5120 s; one minute in, about 1%.
        self.assertTrue(0 <= details["Progress"] <= 5, details)
        self.assertNotIn("EstimatedTimeToCompleteInSeconds", details)

    def test_an_empty_volume_has_no_initialization(self):
        vid = self.new_volume()
        item = self.status(vid)
        self.assertNotIn("InitializationStatusDetails", item)
        self.assertEqual(item["VolumeStatus"]["Status"], "ok")
        vol = self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        self.assertNotIn("FastRestored", vol)
        self.assertNotIn("VolumeInitializationRate", vol)

    def test_rate_on_an_empty_volume_or_out_of_range_is_refused_and_creates_nothing(self):
        before = len(self.ec2.describe_volumes()["Volumes"])
        self.assertAwsError("InvalidParameterCombination", "create-volume", "--size", "1",
                            "--availability-zone", self.sb.az, "--volume-initialization-rate", "200")
        for rate in ("99", "301"):
            self.assertAwsError("InvalidParameterValue", "create-volume", "--snapshot-id", self.snapshot_id,
                                "--availability-zone", self.sb.az, "--volume-initialization-rate", rate)
        self.assertEqual(len(self.ec2.describe_volumes()["Volumes"]), before)

    def test_the_call_log_records_the_rate(self):
        self.restore("--volume-initialization-rate", "300")
        created = [c for c in self.sb.calls() if c["action"] == "CreateVolume" and c["status"] == 200]
        self.assertEqual(created[-1]["params"].get("VolumeInitializationRate"), "300")

    def test_fast_restored_next_marks_volumes_restored_without_a_rate(self):
        self.sb.configure({"fast_restored_next": 1})
        with_rate = self.restore("--volume-initialization-rate", "100")["VolumeId"]
        fast = self.restore()["VolumeId"]
        lazy = self.restore()["VolumeId"]
        vols = {v["VolumeId"]: v for v in self.ec2.describe_volumes(VolumeIds=[with_rate, fast, lazy])["Volumes"]}
        self.assertEqual([vols[v]["FastRestored"] for v in (with_rate, fast, lazy)], [False, True, False])
        self.assertEqual(self.status(fast)["InitializationStatusDetails"],
                         {"InitializationType": "default", "Progress": 100})
        found = self.ec2.describe_volumes(Filters=[{"Name": "fast-restored", "Values": ["true"]}])["Volumes"]
        self.assertEqual([v["VolumeId"] for v in found], [fast])

    def test_dry_run_and_permissions(self):
        self.assertAwsError("DryRunOperation", "describe-volume-status", "--dry-run")
        self.sb.configure({"allowed_actions": ["DescribeVolumes"]})
        try:
            self.assertAwsError("UnauthorizedOperation", "describe-volume-status", "--dry-run")
        finally:
            self.sb.configure({"allowed_actions": None})

    def test_ids_with_max_results_and_unknown_ids_are_refused(self):
        vid = self.new_volume()
        self.assertAwsError("InvalidParameterCombination", "describe-volume-status", "--volume-ids", vid,
                            "--max-results", "5")
        self.assertAwsError("InvalidVolume.NotFound", "describe-volume-status", "--volume-ids",
                            "vol-0123456789abcdef0")


if __name__ == "__main__":
    unittest.main()
