"""Every action ebsnap uses round-trips through awscli (which parses responses strictly)."""
import threading
import unittest

from tests.support import SandboxTestCase


class ActionsRoundTrip(SandboxTestCase):
    def test_volume_lifecycle_with_awscli(self):
        sb = self.sb
        vol = sb.aws("create-volume", "--size", "2", "--availability-zone", sb.az, "--volume-type", "gp3",
                     "--tag-specifications", "ResourceType=volume,Tags=[{Key=role,Value=solr},{Key=Name,Value=v1}]")
        vid = vol["VolumeId"]
        self.assertEqual(vol["State"], "creating")
        self.assertEqual(vol["Size"], 2)
        self.assertEqual(vol["Iops"], 3000)
        self.assertEqual({t["Key"]: t["Value"] for t in vol["Tags"]}, {"role": "solr", "Name": "v1"})

        att = sb.aws("attach-volume", "--volume-id", vid, "--instance-id", sb.instance_id, "--device", "/dev/sdf")
        self.assertEqual((att["State"], att["Device"], att["InstanceId"]), ("attaching", "/dev/sdf", sb.instance_id))

        got = sb.aws("describe-volumes", "--filters", f"Name=attachment.instance-id,Values={sb.instance_id}",
                     "Name=attachment.device,Values=/dev/sdf")["Volumes"]
        self.assertEqual([v["VolumeId"] for v in got], [vid])
        self.assertEqual(got[0]["State"], "in-use")
        self.assertEqual(got[0]["Attachments"][0]["State"], "attached")

        inst = sb.aws("describe-instances", "--instance-ids", sb.instance_id)
        devices = {m["DeviceName"]: m["Ebs"]["VolumeId"]
                   for m in inst["Reservations"][0]["Instances"][0]["BlockDeviceMappings"]}
        self.assertEqual(devices.get("/dev/sdf"), vid)

        snap = sb.aws("create-snapshot", "--volume-id", vid, "--description", "one",
                      "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=role,Value=solr}]")
        self.assertEqual(snap["State"], "pending")
        self.assertEqual(snap["VolumeId"], vid)

        snaps = sb.aws("create-snapshots", "--instance-specification",
                       f"InstanceId={sb.instance_id},ExcludeBootVolume=true",
                       "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=batch,Value=b1}]")["Snapshots"]
        self.assertEqual([s["VolumeId"] for s in snaps], [vid])

        copy = sb.aws("copy-snapshot", "--source-snapshot-id", snap["SnapshotId"], "--source-region", sb.region,
                      "--description", "copied")
        self.assertTrue(copy["SnapshotId"].startswith("snap-"))

        sb.aws("create-tags", "--resources", vid, snap["SnapshotId"], "--tags", "Key=stage,Value=test")
        sb.aws("delete-tags", "--resources", vid, "--tags", "Key=Name")
        tags = {t["Key"]: t["Value"] for t in sb.aws("describe-volumes", "--volume-ids", vid)["Volumes"][0]["Tags"]}
        self.assertEqual(tags, {"role": "solr", "stage": "test"})

        found = sb.aws("describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:stage,Values=test")
        self.assertEqual([s["SnapshotId"] for s in found["Snapshots"]], [snap["SnapshotId"]])

        det = sb.aws("detach-volume", "--volume-id", vid)
        self.assertEqual(det["State"], "detaching")
        self.assertEqual(sb.aws("describe-volumes", "--volume-ids", vid)["Volumes"][0]["State"], "available")

        for s in [snap["SnapshotId"], copy["SnapshotId"]] + [s["SnapshotId"] for s in snaps]:
            sb.aws("delete-snapshot", "--snapshot-id", s)
        sb.aws("delete-volume", "--volume-id", vid)
        self.assertAwsError("InvalidVolume.NotFound", "describe-volumes", "--volume-ids", vid)
        self.assertAwsError("InvalidSnapshot.NotFound", "describe-snapshots", "--snapshot-ids", snap["SnapshotId"])

    def test_create_volume_from_snapshot(self):
        vid = self.new_volume(size=3)
        sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        restored = self.sb.aws("create-volume", "--snapshot-id", sid, "--availability-zone", self.sb.az)
        self.assertEqual((restored["SnapshotId"], restored["Size"]), (sid, 3))
        self.assertAwsError("InvalidParameterValue", "create-volume", "--snapshot-id", sid, "--size", "1",
                            "--availability-zone", self.sb.az)

    def test_every_call_is_logged_without_secrets(self):
        self.ec2.describe_volumes()
        calls = self.sb.calls()
        self.assertTrue(calls)
        last = calls[-1]
        self.assertEqual(last["action"], "DescribeVolumes")
        self.assertEqual(last["status"], 200)
        self.assertIsNone(last["error"])
        self.assertIn("latency_ms", last)
        self.assertIn("time", last)
        with open(self.sb.env["EBSNAP_SANDBOX_CALL_LOG"]) as f:
            raw = f.read()
        self.assertNotIn(self.sb.env["AWS_SECRET_ACCESS_KEY"], raw)
        self.assertNotIn("Signature", raw)
        self.assertNotIn(self.sb.env["AWS_SECRET_ACCESS_KEY"], self.sb.stderr())

    def test_concurrent_clients(self):
        before = len(self.sb.calls())
        errors, created = [], []

        def worker(n):
            try:
                ec2 = self.sb.boto3()
                for i in range(3):
                    vid = ec2.create_volume(Size=1, AvailabilityZone=self.sb.az, TagSpecifications=[
                        {"ResourceType": "volume", "Tags": [{"Key": "worker", "Value": str(n)}]}])["VolumeId"]
                    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
                    got = ec2.describe_volumes(Filters=[{"Name": "tag:worker", "Values": [str(n)]}])["Volumes"]
                    if vid not in {v["VolumeId"] for v in got}:
                        errors.append(f"worker {n} does not see {vid}")
                    ec2.delete_snapshot(SnapshotId=sid)
                    created.append(vid)
            except Exception as e:  # collected, asserted below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        self.assertEqual(errors, [])
        self.assertEqual(len(set(created)), 18)
        existing = {v["VolumeId"] for v in self.ec2.describe_volumes(VolumeIds=created)["Volumes"]}
        self.assertEqual(existing, set(created))
        self.assertEqual(len(self.sb.calls()) - before, 6 * 3 * 4 + 1)
        for vid in created:
            self.ec2.delete_volume(VolumeId=vid)


if __name__ == "__main__":
    unittest.main()
