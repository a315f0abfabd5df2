"""Data plane (root) across regions (issue 14): a snapshot copied into the DR region by boto3's
CopySnapshot restores there, on the DR instance's loop device, byte for byte; the source's
later writes and its deletion do not reach the copy."""
import hashlib
import os
import subprocess
import tempfile
import time
import unittest

from tests.support import SandboxTestCase

BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


class CopyDataPlane(SandboxTestCase):
    data_plane = True
    sandbox_config = {"timing": {"copy_complete_s": 0.3}}

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the data-plane tests need root (loop devices, udev rules)")
        super().setUpClass()
        cls.dr = cls.sb.boto3(region=cls.sb.dr_region)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ebsnap-dp-copy-")
        self.addCleanup(os.rmdir, self.tmp)

    def attach(self, client, volume_id: str, instance_id: str, device: str) -> str:
        link = BY_ID + volume_id.replace("-", "")
        client.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
        deadline = time.monotonic() + 30  # against a hang only
        while not os.path.exists(link):
            self.assertLess(time.monotonic(), deadline, f"{link} did not appear")
            time.sleep(0.01)
        return os.path.realpath(link)

    def detach(self, client, volume_id: str):
        link = BY_ID + volume_id.replace("-", "")
        client.detach_volume(VolumeId=volume_id)
        deadline = time.monotonic() + 30
        while os.path.exists(link) or client.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] != "available":
            self.assertLess(time.monotonic(), deadline, f"{volume_id} did not detach")
            time.sleep(0.02)

    def wait_state(self, client, snapshot_id: str, state: str):
        deadline = time.monotonic() + 30
        while client.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] != state:
            self.assertLess(time.monotonic(), deadline, f"{snapshot_id} did not become {state}")
            time.sleep(0.05)

    def wait_available(self, client, volume_id: str):
        deadline = time.monotonic() + 30
        while client.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] != "available":
            self.assertLess(time.monotonic(), deadline, f"{volume_id} did not become available")
            time.sleep(0.05)

    def test_copy_restores_byte_for_byte_in_the_dr_region(self):
        payload = os.urandom(3 * 1024 * 1024 + 17)
        vid = self.new_volume(size=1)
        self.wait_available(self.ec2, vid)
        dev = self.attach(self.ec2, vid, self.sb.instance_id, "/dev/sdf")
        sh("mkfs.ext4", "-q", "-F", dev)
        mnt = os.path.join(self.tmp, "m")
        os.mkdir(mnt)
        self.addCleanup(os.rmdir, mnt)
        sh("mount", dev, mnt)
        try:
            with open(os.path.join(mnt, "data.bin"), "wb") as f:
                f.write(payload)
            sh("fsfreeze", "-f", mnt)
            try:
                sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
            finally:
                sh("fsfreeze", "-u", mnt)
            with open(os.path.join(mnt, "after.bin"), "wb") as f:
                f.write(b"late")
        finally:
            sh("umount", mnt)
        self.detach(self.ec2, vid)
        self.wait_state(self.ec2, sid, "completed")

        copy = self.dr.copy_snapshot(SourceRegion=self.sb.region, SourceSnapshotId=sid)["SnapshotId"]
        self.wait_state(self.dr, copy, "completed")
        # The home region's volume and snapshot go: the copy holds its own image.
        self.ec2.delete_volume(VolumeId=vid)
        self.ec2.delete_snapshot(SnapshotId=sid)
        self.assertTrue(os.path.exists(os.path.join(self.sb.state_dir, f"{copy}.img")))

        restored = self.dr.create_volume(SnapshotId=copy, AvailabilityZone=self.sb.dr_az)["VolumeId"]
        self.wait_available(self.dr, restored)
        dev2 = self.attach(self.dr, restored, self.sb.dr_instance_id, "/dev/sdg")
        sh("mount", "-o", "ro", dev2, mnt)
        try:
            with open(os.path.join(mnt, "data.bin"), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(payload).hexdigest())
            self.assertFalse(os.path.exists(os.path.join(mnt, "after.bin")))
        finally:
            sh("umount", mnt)
        self.detach(self.dr, restored)
        self.dr.delete_volume(VolumeId=restored)
        self.dr.delete_snapshot(SnapshotId=copy)
        self.assertFalse(os.path.exists(os.path.join(self.sb.state_dir, f"{copy}.img")))
        self.assertNotIn(self.sb.state_dir, sh("losetup", "-a"))

    def test_a_failed_copy_has_no_image(self):
        vid = self.new_volume(size=1)
        self.addCleanup(self.ec2.delete_volume, VolumeId=vid)
        sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        self.addCleanup(self.ec2.delete_snapshot, SnapshotId=sid)
        copy = self.dr.copy_snapshot(SourceRegion=self.sb.region, SourceSnapshotId=sid,
                                     Encrypted=True, KmsKeyId="alias/not-configured")["SnapshotId"]
        self.addCleanup(self.dr.delete_snapshot, SnapshotId=copy)
        self.wait_state(self.dr, copy, "error")
        self.assertFalse(os.path.exists(os.path.join(self.sb.state_dir, f"{copy}.img")))


if __name__ == "__main__":
    unittest.main()
