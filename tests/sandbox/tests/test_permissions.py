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

    def test_dry_run_still_checks_parameters(self):
        status, text = self.sb.raw_call({"Action": "CreateVolume", "Version": "2016-11-15", "DryRun": "true",
                                         "AvailabilityZone": self.sb.az, "Sise": "1"})
        self.assertEqual(status, 400, text)
        self.assertIn("UnknownParameter", text)


if __name__ == "__main__":
    unittest.main()
