"""Data plane (root): attached volumes are loop devices that udev names like Nitro EBS volumes;
snapshots copy the image at call time; volumes from snapshots hold the data byte for byte."""
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


def udev_properties(dev: str) -> dict:
    out = sh("udevadm", "info", "--query=property", dev)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class DataPlane(SandboxTestCase):
    data_plane = True

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the data-plane tests need root (loop devices, udev rules)")
        super().setUpClass()
        cls.mounts = []

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ebsnap-dp-")
        self.addCleanup(os.rmdir, self.tmp)

    def attach_and_wait(self, volume_id: str, device: str) -> str:
        """AttachVolume; returns the device node once the by-id link appears (within a second)."""
        link = BY_ID + volume_id.replace("-", "")
        started = time.monotonic()
        self.ec2.attach_volume(VolumeId=volume_id, InstanceId=self.sb.instance_id, Device=device)
        while not os.path.exists(link):
            self.assertLess(time.monotonic() - started, 1.0, f"{link} did not appear within 1 s")
            time.sleep(0.01)
        dev = os.path.realpath(link)
        props = udev_properties(dev)
        serial = volume_id.replace("-", "")
        self.assertEqual(props.get("ID_SERIAL_SHORT"), serial)
        self.assertEqual(props.get("ID_SERIAL"), f"Amazon Elastic Block Store_{serial}")
        self.assertEqual(props.get("ID_MODEL"), "Amazon Elastic Block Store")
        self.assertIn(link, props.get("DEVLINKS", "").split())
        return dev

    def mount(self, dev: str, where: str, *opts):
        sh("mount", *opts, dev, where)
        self.addCleanup(lambda: subprocess.run(["umount", where], capture_output=True))

    def detach_and_wait(self, volume_id: str):
        link = BY_ID + volume_id.replace("-", "")
        self.ec2.detach_volume(VolumeId=volume_id)
        deadline = time.monotonic() + 5
        while os.path.exists(link):
            self.assertLess(time.monotonic(), deadline, f"{link} still there 5 s after detach")
            time.sleep(0.01)
        self.wait_volume(volume_id, "available")

    def test_snapshot_restores_byte_for_byte(self):
        payload = os.urandom(3 * 1024 * 1024 + 17)
        vid = self.new_volume(size=1)
        dev = self.attach_and_wait(vid, "/dev/sdf")
        sh("mkfs.ext4", "-q", "-F", dev)
        mnt = os.path.join(self.tmp, "a")
        os.mkdir(mnt)
        self.addCleanup(os.rmdir, mnt)
        self.mount(dev, mnt)
        with open(os.path.join(mnt, "data.bin"), "wb") as f:
            f.write(payload)
        # What the agent does: freeze (which flushes), snapshot, thaw.
        sh("fsfreeze", "-f", mnt)
        try:
            sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        finally:
            sh("fsfreeze", "-u", mnt)
        # Written after the call: must not be in the snapshot.
        with open(os.path.join(mnt, "after.bin"), "wb") as f:
            f.write(b"late")
        sh("umount", mnt)
        self.detach_and_wait(vid)
        self.ec2.delete_volume(VolumeId=vid)
        self.assertFalse(os.path.exists(os.path.join(self.sb.state_dir, f"{vid}.img")))

        restored = self.ec2.create_volume(SnapshotId=sid, AvailabilityZone=self.sb.az)["VolumeId"]
        self.wait_volume(restored, "available")
        dev2 = self.attach_and_wait(restored, "/dev/sdg")
        self.mount(dev2, mnt, "-o", "ro")
        with open(os.path.join(mnt, "data.bin"), "rb") as f:
            self.assertEqual(f.read(), payload)
        self.assertFalse(os.path.exists(os.path.join(mnt, "after.bin")))
        sh("umount", mnt)
        self.detach_and_wait(restored)
        self.ec2.delete_volume(VolumeId=restored)
        self.ec2.delete_snapshot(SnapshotId=sid)
        self.assertFalse(os.path.exists(os.path.join(self.sb.state_dir, f"{sid}.img")))
        self.assertNotIn(self.sb.state_dir, sh("losetup", "-a"))

    def test_images_are_sparse_and_sized(self):
        vid = self.new_volume(size=8)
        img = os.path.join(self.sb.state_dir, f"{vid}.img")
        st = os.stat(img)
        self.assertEqual(st.st_size, 8 << 30)
        self.assertLess(st.st_blocks * 512, 1 << 20)
        started = time.monotonic()
        sid = self.ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
        self.assertLess(time.monotonic() - started, 1.0, "copying an empty 8 GiB image must be quick")
        snap_img = os.path.join(self.sb.state_dir, f"{sid}.img")
        self.assertEqual(os.stat(snap_img).st_size, 8 << 30)
        self.assertLess(os.stat(snap_img).st_blocks * 512, 1 << 20)
        self.ec2.delete_snapshot(SnapshotId=sid)
        self.ec2.delete_volume(VolumeId=vid)

    def test_device_goes_at_detach_and_state_follows_the_delay(self):
        self.sb.configure({"timing": {"detach_s": 0.5}})
        self.addCleanup(self.sb.configure, {"timing": {"detach_s": 0}})
        vid = self.new_volume()
        self.attach_and_wait(vid, "/dev/sdh")
        self.ec2.detach_volume(VolumeId=vid)
        vol = self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        self.assertEqual(vol["Attachments"][0]["State"], "detaching")
        self.assertFalse(os.path.exists(BY_ID + vid.replace("-", "")))
        self.wait_volume(vid, "available")
        self.ec2.delete_volume(VolumeId=vid)

    def test_xen_naming(self):
        self.sb.configure({"device_naming": "xen"})
        self.addCleanup(self.sb.configure, {"device_naming": "nitro"})
        vid = self.new_volume()
        started = time.monotonic()
        self.ec2.attach_volume(VolumeId=vid, InstanceId=self.sb.instance_id, Device="/dev/sdp")
        while not os.path.exists("/dev/xvdp"):
            self.assertLess(time.monotonic() - started, 1.0, "/dev/xvdp did not appear within 1 s")
            time.sleep(0.01)
        self.assertEqual(os.path.realpath("/dev/xvdp"), self.sb.devices()[vid])
        self.assertFalse(os.path.exists(BY_ID + vid.replace("-", "")))
        self.ec2.detach_volume(VolumeId=vid)
        deadline = time.monotonic() + 5
        while os.path.exists("/dev/xvdp"):
            self.assertLess(time.monotonic(), deadline, "/dev/xvdp still there 5 s after detach")
            time.sleep(0.01)
        self.ec2.delete_volume(VolumeId=vid)


class StopCleansUp(unittest.TestCase):
    def test_sigterm_detaches_loop_devices_and_removes_rule_and_state(self):
        if os.geteuid() != 0:
            raise AssertionError("the data-plane tests need root (loop devices, udev rules)")
        from tests.support import Sandbox
        sb = Sandbox(data_plane=True)
        try:
            ec2 = sb.boto3()
            vid = ec2.create_volume(Size=1, AvailabilityZone=sb.az)["VolumeId"]
            ec2.attach_volume(VolumeId=vid, InstanceId=sb.instance_id, Device="/dev/sdf")
            dev = sb.devices()[vid]
            self.assertIn(sb.state_dir, sh("losetup", "-a"))
            digest = hashlib.sha256(os.path.realpath(sb.state_dir).encode()).hexdigest()[:12]
            rule = f"/run/udev/rules.d/61-ebsnap-sandbox-{digest}.rules"
            self.assertTrue(os.path.exists(rule))
        finally:
            state_dir = sb.state_dir
            self.assertEqual(sb.stop(), 0)
        self.assertNotIn(state_dir, sh("losetup", "-a"))
        self.assertFalse(os.path.exists(state_dir))
        self.assertFalse(os.path.exists(BY_ID + vid.replace("-", "")))
        self.assertFalse(os.path.exists(rule))
        self.assertNotIn(state_dir, sh("losetup", "--list", "--noheadings", "-O", "BACK-FILE", dev))

    def test_cleanup_after_a_killed_sandbox(self):
        if os.geteuid() != 0:
            raise AssertionError("the data-plane tests need root (loop devices, udev rules)")
        from tests.support import PYTHON, HERE, Sandbox
        sb = Sandbox(data_plane=True)
        state_dir = sb.state_dir
        try:
            ec2 = sb.boto3()
            vid = ec2.create_volume(Size=1, AvailabilityZone=sb.az)["VolumeId"]
            ec2.attach_volume(VolumeId=vid, InstanceId=sb.instance_id, Device="/dev/sdf")
            self.assertIn(state_dir, sh("losetup", "-a"))
            sb.proc.kill()
            sb.proc.wait()
            self.assertIn(state_dir, sh("losetup", "-a"), "SIGKILL leaves the loop device behind")
            sh(PYTHON, os.path.join(HERE, "sandbox.py"), "cleanup", "--state-dir", state_dir)
            self.assertNotIn(state_dir, sh("losetup", "-a"))
            self.assertFalse(os.path.exists(state_dir))
            digest = hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:12]
            self.assertFalse(os.path.exists(f"/run/udev/rules.d/61-ebsnap-sandbox-{digest}.rules"))
        finally:
            sb.stop()
            subprocess.run([PYTHON, os.path.join(HERE, "sandbox.py"), "cleanup", "--state-dir", state_dir],
                           capture_output=True)


if __name__ == "__main__":
    unittest.main()
