"""One test per gap between moto 5.2.1 and EC2 (check_moto_gaps.py shows what moto does)."""
import time
import unittest

from tests.support import SandboxTestCase


class StateTiming(SandboxTestCase):
    # Long enough for the checks made during each transitional state, even on a loaded machine.
    sandbox_config = {"timing": {"volume_create_s": 4, "attach_s": 4, "detach_s": 4,
                                 "snapshot_complete_s": 4}}

    def ids(self, **kwargs):
        return {v["VolumeId"] for v in self.ec2.describe_volumes(**kwargs)["Volumes"]}

    def ready_volume(self) -> str:
        vid = self.new_volume()
        self.wait_volume(vid, "available")
        return vid

    def test_volume_creating_then_available_and_status_filter_follows(self):
        vid = self.new_volume()
        self.assertEqual(self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"], "creating")
        self.assertIn(vid, self.ids(Filters=[{"Name": "status", "Values": ["creating"]}]))
        self.assertNotIn(vid, self.ids(Filters=[{"Name": "status", "Values": ["available"]}]))
        self.assertBotoError("IncorrectState", self.ec2.attach_volume, VolumeId=vid,
                             InstanceId=self.sb.instance_id, Device="/dev/sdm")
        self.wait_volume(vid, "available", timeout=20)
        self.assertIn(vid, self.ids(Filters=[{"Name": "status", "Values": ["available"]}]))
        self.assertNotIn(vid, self.ids(Filters=[{"Name": "status", "Values": ["creating"]}]))
        self.ec2.delete_volume(VolumeId=vid)

    def test_attachment_attaching_then_attached_and_filter_follows(self):
        vid = self.ready_volume()
        self.ec2.attach_volume(VolumeId=vid, InstanceId=self.sb.instance_id, Device="/dev/sdf")
        vol = self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        self.assertEqual((vol["State"], vol["Attachments"][0]["State"]), ("in-use", "attaching"))
        self.assertIn(vid, self.ids(Filters=[{"Name": "attachment.status", "Values": ["attaching"]}]))
        deadline = time.time() + 20
        while self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"][0]["State"] != "attached":
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertIn(vid, self.ids(Filters=[{"Name": "attachment.status", "Values": ["attached"]}]))
        self.assertNotIn(vid, self.ids(Filters=[{"Name": "attachment.status", "Values": ["attaching"]}]))

        self.ec2.detach_volume(VolumeId=vid)
        vol = self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        self.assertEqual((vol["State"], vol["Attachments"][0]["State"]), ("in-use", "detaching"))
        self.assertIn(vid, self.ids(Filters=[{"Name": "attachment.status", "Values": ["detaching"]}]))
        # While detaching: still in use, cannot be detached again, deleted, or attached elsewhere.
        self.assertBotoError("IncorrectState", self.ec2.detach_volume, VolumeId=vid)
        self.assertBotoError("VolumeInUse", self.ec2.delete_volume, VolumeId=vid)
        self.assertBotoError("VolumeInUse", self.ec2.attach_volume, VolumeId=vid,
                             InstanceId=self.sb.instance_id, Device="/dev/sdn")
        self.wait_volume(vid, "available", timeout=20)
        self.assertEqual(self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"], [])
        self.ec2.delete_volume(VolumeId=vid)

    def test_snapshot_pending_with_progress_then_completed(self):
        vid = self.ready_volume()
        sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        snap = self.ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
        self.assertEqual(snap["State"], "pending")
        self.assertRegex(snap["Progress"], r"^\d{1,2}%$")
        pending = {s["SnapshotId"] for s in self.ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["pending"]}])["Snapshots"]}
        self.assertIn(sid, pending)
        # A volume cannot be created from a snapshot that is not completed yet.
        self.assertBotoError("IncorrectState", self.ec2.create_volume, SnapshotId=sid, AvailabilityZone=self.sb.az)
        deadline = time.time() + 20
        while (snap := self.ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0])["State"] != "completed":
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertEqual(snap["Progress"], "100%")
        completed = {s["SnapshotId"] for s in self.ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["completed"]}])["Snapshots"]}
        self.assertIn(sid, completed)


class ErrorsMotoDoesNotGive(SandboxTestCase):
    def attached_volume(self, device: str) -> str:
        vid = self.new_volume()
        self.ec2.attach_volume(VolumeId=vid, InstanceId=self.sb.instance_id, Device=device)
        self.addCleanup(self.ec2.delete_volume, VolumeId=vid)
        self.addCleanup(self.ec2.detach_volume, VolumeId=vid)
        return vid

    def test_double_attach_is_volume_in_use(self):
        vid = self.attached_volume("/dev/sdf")
        self.assertAwsError("VolumeInUse", "attach-volume", "--volume-id", vid,
                            "--instance-id", self.sb.instance_id, "--device", "/dev/sdg")

    def test_device_name_in_use_is_invalid_parameter_value(self):
        self.attached_volume("/dev/sdh")
        other = self.new_volume()
        self.addCleanup(self.ec2.delete_volume, VolumeId=other)
        err = self.assertAwsError("InvalidParameterValue", "attach-volume", "--volume-id", other,
                                  "--instance-id", self.sb.instance_id, "--device", "/dev/sdh")
        self.assertIn("Attachment point /dev/sdh is already in use", err.stderr)
        # The root device too.
        self.assertBotoError("InvalidParameterValue", self.ec2.attach_volume, VolumeId=other,
                             InstanceId=self.sb.instance_id, Device="/dev/sda1")

    def test_zone_mismatch(self):
        vid = self.ec2.create_volume(Size=1, AvailabilityZone="eu-west-1b")["VolumeId"]
        self.addCleanup(self.ec2.delete_volume, VolumeId=vid)
        self.assertAwsError("InvalidVolume.ZoneMismatch", "attach-volume", "--volume-id", vid,
                            "--instance-id", self.sb.instance_id, "--device", "/dev/sdi")

    def test_detach_of_a_volume_not_attached_is_incorrect_state(self):
        vid = self.new_volume()
        self.addCleanup(self.ec2.delete_volume, VolumeId=vid)
        self.assertAwsError("IncorrectState", "detach-volume", "--volume-id", vid)
        self.assertBotoError("IncorrectState", self.ec2.detach_volume, VolumeId=vid, InstanceId=self.sb.instance_id)

    def test_detach_without_instance_id_works(self):
        vid = self.new_volume()
        self.ec2.attach_volume(VolumeId=vid, InstanceId=self.sb.instance_id, Device="/dev/sdj")
        self.assertEqual(self.ec2.detach_volume(VolumeId=vid)["State"], "detaching")
        self.ec2.delete_volume(VolumeId=vid)

    def test_delete_of_an_attached_volume_is_volume_in_use(self):
        vid = self.attached_volume("/dev/sdk")
        self.assertAwsError("VolumeInUse", "delete-volume", "--volume-id", vid)

    def test_snapshot_rate_per_volume(self):
        self.sb.configure({"timing": {"snapshot_rate_window_s": 1.5}})
        self.addCleanup(self.sb.configure, {"timing": {"snapshot_rate_window_s": 0}})
        vid, other = self.new_volume(), self.new_volume()
        self.ec2.create_snapshot(VolumeId=vid)
        started = time.time()
        self.assertBotoError("SnapshotCreationPerVolumeRateExceeded", self.ec2.create_snapshot, VolumeId=vid)
        self.ec2.create_snapshot(VolumeId=other)  # the limit is per volume
        time.sleep(max(0.0, 1.6 - (time.time() - started)))
        self.ec2.create_snapshot(VolumeId=vid)

    def test_create_volume_client_token_is_idempotent(self):
        first = self.ec2.create_volume(Size=1, AvailabilityZone=self.sb.az, ClientToken="restore-1")["VolumeId"]
        again = self.sb.aws("create-volume", "--size", "1", "--availability-zone", self.sb.az,
                            "--client-token", "restore-1")
        self.assertEqual(again["VolumeId"], first)
        self.assertEqual(len([v for v in self.ec2.describe_volumes()["Volumes"] if v["VolumeId"] == first]), 1)
        self.assertBotoError("IdempotentParameterMismatch", self.ec2.create_volume, Size=2,
                             AvailabilityZone=self.sb.az, ClientToken="restore-1")
        # EC2 keeps the token bound to the volume even after the volume is deleted.
        self.ec2.delete_volume(VolumeId=first)
        after = self.ec2.create_volume(Size=1, AvailabilityZone=self.sb.az, ClientToken="restore-1")
        self.assertEqual(after["VolumeId"], first)
        self.assertEqual(after["State"], "deleted")
        other = self.ec2.create_volume(Size=1, AvailabilityZone=self.sb.az, ClientToken="restore-2")["VolumeId"]
        self.assertNotEqual(other, first)
        self.ec2.delete_volume(VolumeId=other)


class SnapshotsDetails(SandboxTestCase):
    def test_create_snapshots_copies_volume_tags_and_reports_state(self):
        vid = self.ec2.create_volume(Size=1, AvailabilityZone=self.sb.az, TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "role", "Value": "db"}, {"Key": "Name", "Value": "v"}]}])["VolumeId"]
        self.ec2.attach_volume(VolumeId=vid, InstanceId=self.sb.instance_id, Device="/dev/sdf")
        out = self.sb.aws("create-snapshots", "--instance-specification",
                          f"InstanceId={self.sb.instance_id},ExcludeBootVolume=true",
                          "--copy-tags-from-source", "volume", "--description", "batch",
                          "--tag-specifications", "ResourceType=snapshot,Tags=[{Key=Name,Value=snap}]")
        [snap] = out["Snapshots"]
        self.assertEqual(snap["VolumeId"], vid)
        self.assertEqual(snap["State"], "pending")
        self.assertIn("Progress", snap)
        self.assertIn("StartTime", snap)
        self.assertEqual(snap["Description"], "batch")
        # The explicit tag wins over the copied one of the same key.
        self.assertEqual({t["Key"]: t["Value"] for t in snap["Tags"]}, {"role": "db", "Name": "snap"})
        # With the boot volume: two snapshots.
        out = self.ec2.create_snapshots(InstanceSpecification={"InstanceId": self.sb.instance_id})
        self.assertEqual(len(out["Snapshots"]), 2)
        self.assertTrue(all(s["State"] == "pending" for s in out["Snapshots"]))
        self.ec2.detach_volume(VolumeId=vid)

    def test_owner_ids_self(self):
        vid = self.new_volume()
        mine = {self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"] for _ in range(3)}
        everything = self.ec2.describe_snapshots()["Snapshots"]
        self.assertGreater(len(everything), len(mine), "moto's public snapshots are visible without an owner")
        self_ids = {s["SnapshotId"] for s in self.sb.aws("describe-snapshots", "--owner-ids", "self")["Snapshots"]}
        self.assertTrue(mine <= self_ids)
        account = mine and self.ec2.describe_snapshots(SnapshotIds=sorted(mine))["Snapshots"][0]["OwnerId"]
        by_account = {s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=[account])["Snapshots"]}
        self.assertEqual(self_ids, by_account)
        self.assertTrue(all(s["OwnerId"] == account for s in
                            self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]))
        by_filter = {s["SnapshotId"] for s in self.ec2.describe_snapshots(
            Filters=[{"Name": "owner-id", "Values": [account]}])["Snapshots"]}
        self.assertEqual(self_ids, by_filter)
        amazon = self.ec2.describe_snapshots(OwnerIds=["amazon"])["Snapshots"]
        self.assertTrue(amazon)
        self.assertFalse({s["SnapshotId"] for s in amazon} & self_ids)
        self.assertEqual({s["OwnerAlias"] for s in amazon}, {"amazon"})
        self.assertEqual(len(everything), len(amazon) + len(self_ids))


class DeleteOnTermination(SandboxTestCase):
    """ModifyInstanceAttribute with a BlockDeviceMapping: moto sets the flag on the instance's
    mapping, but DescribeVolumes (served by the gateway) must show it on the attachment too, and a
    device without a mapping crashed moto (check_moto_gaps.py)."""

    def attachment(self, vid: str) -> dict:
        return self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"][0]

    def mapping(self, device: str) -> dict:
        [inst] = self.ec2.describe_instances(InstanceIds=[self.sb.instance_id])["Reservations"][0]["Instances"]
        return next(m for m in inst["BlockDeviceMappings"] if m["DeviceName"] == device)

    def set_flag(self, device: str, value: bool):
        return self.ec2.modify_instance_attribute(
            InstanceId=self.sb.instance_id,
            BlockDeviceMappings=[{"DeviceName": device, "Ebs": {"DeleteOnTermination": value}}])

    def test_flag_shows_in_describe_volumes_and_describe_instances(self):
        vid, other = self.new_volume(), self.new_volume()
        for v, device in ((vid, "/dev/sdf"), (other, "/dev/sdg")):
            self.ec2.attach_volume(VolumeId=v, InstanceId=self.sb.instance_id, Device=device)
            self.addCleanup(self.ec2.delete_volume, VolumeId=v)
            self.addCleanup(self.ec2.detach_volume, VolumeId=v)
        self.assertFalse(self.attachment(vid)["DeleteOnTermination"])
        logged = len(self.sb.calls())
        self.sb.aws("modify-instance-attribute", "--instance-id", self.sb.instance_id, "--block-device-mappings",
                    "DeviceName=/dev/sdf,Ebs={DeleteOnTermination=true}")
        self.assertTrue(self.attachment(vid)["DeleteOnTermination"])
        self.assertTrue(self.mapping("/dev/sdf")["Ebs"]["DeleteOnTermination"])
        self.assertFalse(self.attachment(other)["DeleteOnTermination"])
        self.assertFalse(self.mapping("/dev/sdg")["Ebs"]["DeleteOnTermination"])
        flagged = {v["VolumeId"] for v in self.ec2.describe_volumes(
            Filters=[{"Name": "attachment.delete-on-termination", "Values": ["true"]}])["Volumes"]}
        self.assertIn(vid, flagged)
        self.assertNotIn(other, flagged)
        self.set_flag("/dev/sdf", False)
        self.assertFalse(self.attachment(vid)["DeleteOnTermination"])
        self.assertFalse(self.mapping("/dev/sdf")["Ebs"]["DeleteOnTermination"])
        # In the call log like every call: the awscli one and boto3's.
        calls = [c for c in self.sb.calls()[logged:] if c["action"] == "ModifyInstanceAttribute"]
        self.assertEqual([(c["params"]["BlockDeviceMapping.1.DeviceName"],
                           c["params"]["BlockDeviceMapping.1.Ebs.DeleteOnTermination"], c["status"]) for c in calls],
                         [("/dev/sdf", "true", 200), ("/dev/sdf", "false", 200)])

    def test_device_without_mapping_is_invalid_instance_attribute_value(self):
        err = self.assertBotoError("InvalidInstanceAttributeValue", self.set_flag, "/dev/sdz", True, status=400)
        self.assertEqual(err["Error"]["Message"], "No device is currently mapped at /dev/sdz")
        self.assertBotoError("InvalidInstanceID.NotFound", self.ec2.modify_instance_attribute,
                             InstanceId="i-0123456789abcdef0",
                             BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": True}}])
        self.assertBotoError("DryRunOperation", self.ec2.modify_instance_attribute, DryRun=True,
                             InstanceId=self.sb.instance_id,
                             BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"DeleteOnTermination": True}}])


class ImagesFromSnapshots(SandboxTestCase):
    """RegisterImage from a snapshot: moto ignores BlockDeviceMappings, so it neither shows the
    snapshot in the AMI nor refuses to delete it (check_moto_gaps.py)."""

    def register(self, snapshot_id: str, name: str) -> str:
        return self.ec2.register_image(
            Name=name, RootDeviceName="/dev/sda1", VirtualizationType="hvm", Architecture="x86_64",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot_id}}])["ImageId"]

    def test_delete_snapshot_used_by_a_registered_ami_is_in_use(self):
        vid = self.new_volume()
        sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        other = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        before = {s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        ami = self.sb.aws("register-image", "--name", "restore-test", "--root-device-name", "/dev/sda1",
                          "--block-device-mappings", f"DeviceName=/dev/sda1,Ebs={{SnapshotId={sid}}}")["ImageId"]
        # The AMI maps the snapshot it was registered from, and EC2 makes no snapshot of its own.
        [image] = self.ec2.describe_images(ImageIds=[ami])["Images"]
        self.assertEqual([(m["DeviceName"], m["Ebs"]["SnapshotId"]) for m in image["BlockDeviceMappings"]],
                         [("/dev/sda1", sid)])
        self.assertEqual(image["RootDeviceName"], "/dev/sda1")
        after = {s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        self.assertEqual(after, before)

        err = self.assertAwsError("InvalidSnapshot.InUse", "delete-snapshot", "--snapshot-id", sid)
        self.assertIn(f"The snapshot {sid} is currently in use by {ami}", err.stderr)
        err = self.assertBotoError("InvalidSnapshot.InUse", self.ec2.delete_snapshot, SnapshotId=sid, status=400)
        self.assertEqual(err["Error"]["Message"], f"The snapshot {sid} is currently in use by {ami}")
        self.assertIn(sid, {s["SnapshotId"] for s in self.ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"]})
        self.ec2.delete_snapshot(SnapshotId=other)  # a snapshot no AMI uses goes

        # Once the AMI is deregistered, the snapshot can be deleted.
        self.ec2.deregister_image(ImageId=ami)
        self.ec2.delete_snapshot(SnapshotId=sid)
        self.assertBotoError("InvalidSnapshot.NotFound", self.ec2.describe_snapshots, SnapshotIds=[sid])

    def test_every_ami_using_the_snapshot_holds_it(self):
        sid = self.ec2.create_snapshot(VolumeId=self.new_volume())["SnapshotId"]
        first, second = self.register(sid, "holder-1"), self.register(sid, "holder-2")
        self.ec2.deregister_image(ImageId=first)
        err = self.assertBotoError("InvalidSnapshot.InUse", self.ec2.delete_snapshot, SnapshotId=sid)
        self.assertIn(second, err["Error"]["Message"])
        self.ec2.deregister_image(ImageId=second)
        self.ec2.delete_snapshot(SnapshotId=sid)

    def test_register_image_errors(self):
        sid = self.ec2.create_snapshot(VolumeId=self.new_volume())["SnapshotId"]
        ami = self.register(sid, "taken")
        self.addCleanup(self.ec2.deregister_image, ImageId=ami)
        self.assertBotoError("InvalidAMIName.Duplicate", self.register, sid, "taken")
        self.assertBotoError("InvalidSnapshot.NotFound", self.register, "snap-0123456789abcdef0", "missing")
        pending = self.sb.bulk_snapshots(self.new_volume(), 1, state="pending")[0]
        self.assertBotoError("IncorrectState", self.register, pending, "pending")

    def test_create_image_snapshot_is_in_use_too(self):
        # Not a gap: moto refuses the snapshot CreateImage made; the gateway keeps that.
        ami = self.ec2.create_image(InstanceId=self.sb.instance_id, Name="from-instance")["ImageId"]
        sid = self.ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        self.assertBotoError("InvalidSnapshot.InUse", self.ec2.delete_snapshot, SnapshotId=sid)
        self.ec2.deregister_image(ImageId=ami)
        self.ec2.delete_snapshot(SnapshotId=sid)


if __name__ == "__main__":
    unittest.main()
