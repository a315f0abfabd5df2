"""DryRun and the permission set: DryRunOperation (412) when allowed, UnauthorizedOperation (403)
when not, for dry runs and real calls alike."""
import unittest

from tests.support import SandboxTestCase


class DryRunAndPermissions(SandboxTestCase):
    def tearDown(self):
        self.sb.configure({"allowed_actions": None})

    def test_dry_run_when_allowed(self):
        for fn, kwargs in [(self.ec2.describe_volumes, {}), (self.ec2.describe_snapshots, {"OwnerIds": ["self"]}),
                           (self.ec2.create_volume, {"Size": 1, "AvailabilityZone": self.sb.az}),
                           (self.ec2.create_snapshots, {"InstanceSpecification": {"InstanceId": self.sb.instance_id}})]:
            self.assertBotoError("DryRunOperation", fn, DryRun=True, status=412, **kwargs)
        self.assertAwsError("DryRunOperation", "describe-instances", "--dry-run")
        # A dry run changes nothing.
        before = len(self.ec2.describe_volumes()["Volumes"])
        self.assertBotoError("DryRunOperation", self.ec2.create_volume, DryRun=True, Size=1, AvailabilityZone=self.sb.az)
        self.assertEqual(len(self.ec2.describe_volumes()["Volumes"]), before)

    def test_actions_outside_the_permission_set(self):
        self.sb.configure({"allowed_actions": ["DescribeVolumes", "DescribeInstances"]})
        self.assertBotoError("DryRunOperation", self.ec2.describe_volumes, DryRun=True, status=412)
        self.assertBotoError("UnauthorizedOperation", self.ec2.create_volume, DryRun=True, Size=1,
                             AvailabilityZone=self.sb.az, status=403)
        self.assertBotoError("UnauthorizedOperation", self.ec2.create_volume, Size=1,
                             AvailabilityZone=self.sb.az, status=403)
        self.assertAwsError("UnauthorizedOperation", "describe-snapshots", "--dry-run", "--owner-ids", "self")
        self.assertAwsError("UnauthorizedOperation", "describe-snapshots", "--owner-ids", "self")
        self.ec2.describe_volumes()
        self.sb.configure({"allowed_actions": None})
        self.ec2.describe_snapshots(OwnerIds=["self"])

    def test_register_image_is_permissioned_dry_run_and_logged(self):
        sid = self.ec2.create_snapshot(VolumeId=self.new_volume())["SnapshotId"]
        kwargs = {"Name": "permissioned", "RootDeviceName": "/dev/sda1",
                  "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": sid}}]}
        images = {i["ImageId"] for i in self.ec2.describe_images(Owners=["self"])["Images"]}
        self.assertBotoError("DryRunOperation", self.ec2.register_image, DryRun=True, status=412, **kwargs)
        self.sb.configure({"allowed_actions": ["DescribeImages", "DeleteSnapshot"]})
        self.assertBotoError("UnauthorizedOperation", self.ec2.register_image, DryRun=True, status=403, **kwargs)
        self.assertBotoError("UnauthorizedOperation", self.ec2.register_image, status=403, **kwargs)
        self.assertEqual({i["ImageId"] for i in self.ec2.describe_images(Owners=["self"])["Images"]}, images)
        self.sb.configure({"allowed_actions": None})
        ami = self.ec2.register_image(**kwargs)["ImageId"]
        self.addCleanup(self.ec2.deregister_image, ImageId=ami)
        logged = [c for c in self.sb.calls() if c["action"] == "RegisterImage"]
        self.assertEqual([(c["status"], c["error"]) for c in logged],
                         [(412, "DryRunOperation"), (403, "UnauthorizedOperation"),
                          (403, "UnauthorizedOperation"), (200, None)])
        self.assertEqual(logged[-1]["params"]["BlockDeviceMapping.1.Ebs.SnapshotId"], sid)
        self.sb.configure({"allowed_actions": ["DeleteSnapshot"]})
        self.assertBotoError("InvalidSnapshot.InUse", self.ec2.delete_snapshot, SnapshotId=sid)
        self.assertEqual(self.sb.calls()[-1]["error"], "InvalidSnapshot.InUse")

    def test_dry_run_still_checks_parameters(self):
        status, text = self.sb.raw_call({"Action": "CreateVolume", "Version": "2016-11-15", "DryRun": "true",
                                         "AvailabilityZone": self.sb.az, "Sise": "1"})
        self.assertEqual(status, 400, text)
        self.assertIn("UnknownParameter", text)


if __name__ == "__main__":
    unittest.main()
