"""Loop-device data plane: volume images, snapshot copies, losetup, and a udev rule that makes
each attached image look like a Nitro EBS volume (NVMe serial vol0123..., by-id link)."""
import concurrent.futures
import errno
import fcntl
import hashlib
import os
import struct
import subprocess
import sys
import threading
import time

GIB = 1 << 30
FICLONE = 0x40049409  # reflink: instant copy on XFS/btrfs; ext4 refuses it
RULES_DIR = "/run/udev/rules.d"
UDEVD = "/lib/systemd/systemd-udevd"


def _run(*argv, check=True, timeout=30) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def _reflink(sfd: int, dfd: int) -> bool:
    try:
        fcntl.ioctl(dfd, FICLONE, sfd)
        return True
    except OSError:
        return False


def sparse_copy(src: str, dst: str) -> None:
    """Copies src to dst keeping holes, quickly: a reflink where the filesystem has them, else
    only the data extents, so a mostly-empty multi-GiB image copies in milliseconds. Reads go
    through the page cache, so what a loop device wrote is seen even before it reaches the disk."""
    tmp = dst + ".tmp"
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        sfd, dfd = fin.fileno(), fout.fileno()
        if not _reflink(sfd, dfd):
            _copy_extents(sfd, dfd)
    os.replace(tmp, dst)


_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


def _copy_extents(sfd: int, dfd: int) -> None:
    """The data extents (SEEK_DATA/SEEK_HOLE), leaving a hole for each whole chunk of zeros as
    well: mkfs.xfs writes a 64 MiB log that is almost all zeros, which copied as it is cost
    ~130 ms a volume inside CreateSnapshots, and read and skipped ~25 ms."""
    size = os.fstat(sfd).st_size
    os.ftruncate(dfd, size)
    pos = 0
    while pos < size:
        try:
            data = os.lseek(sfd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no data after pos
                break
            raise
        hole = os.lseek(sfd, data, os.SEEK_HOLE)
        off = data
        while off < hole:
            chunk = os.pread(sfd, min(_CHUNK, hole - off), off)
            if not chunk:
                break
            if chunk != (_ZEROS if len(chunk) == _CHUNK else bytes(len(chunk))):
                view = memoryview(chunk)
                while view:
                    view = view[os.pwrite(dfd, view, off + len(chunk) - len(view)):]
            off += len(chunk)
        pos = hole


# <linux/loop.h>: attach an image with two ioctls, not a losetup process per volume (spawned
# from this large process it took 5-17 ms, under a lock, so 16 attachments due at once
# completed over ~120 ms where EC2 completes them together).
LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
_LO_NAME_SIZE = 64


def _loop_config(fd: int, path: str) -> bytes:
    """struct loop_config: fd, block_size, struct loop_info64 (lo_file_name at 56), reserved."""
    info = bytearray(232)
    name = os.fsencode(path)[:_LO_NAME_SIZE - 1]
    info[56:56 + len(name)] = name
    return struct.pack("II", fd, 0) + bytes(info) + bytes(64)


def _losetup(image: str) -> str:
    """The first free loop device, bound to image; retried when another process takes it first."""
    fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(16):
                n = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                dev = f"/dev/loop{n}"
                lfd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.ioctl(lfd, LOOP_CONFIGURE, _loop_config(fd, image))
                    return dev
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise RuntimeError(f"LOOP_CONFIGURE {dev} {image}: {e.strerror}") from e
                finally:
                    os.close(lfd)
            raise RuntimeError(f"no free loop device for {image} (always taken first)")
        finally:
            os.close(ctl)
    finally:
        os.close(fd)


def _udevd_running() -> bool:
    return subprocess.run(["udevadm", "control", "--ping", "--timeout=2"],
                          capture_output=True).returncode == 0


class DataPlane:
    def __init__(self, state_dir: str):
        self.state_dir = os.path.realpath(state_dir)
        digest = hashlib.sha256(self.state_dir.encode()).hexdigest()[:12]
        self.rule_path = os.path.join(RULES_DIR, f"61-ebsnap-sandbox-{digest}.rules")
        self._lock = threading.Lock()
        self._loops: dict[str, str] = {}  # volume id -> /dev/loopN
        # Volume images being written (from a snapshot) by a thread of their own, so that
        # CreateVolume answers at once and N of them do not queue behind each other's copies.
        self._writing: dict[str, threading.Thread] = {}
        self._writing_lock = threading.Lock()

    # --- files -------------------------------------------------------------------------------
    def image(self, resource_id: str) -> str:
        return os.path.join(self.state_dir, f"{resource_id}.img")

    def create_volume_image(self, volume_id: str, size_gib: int, snapshot_id: str | None) -> None:
        """Starts writing the volume's image; whatever uses it later waits for it (_written)."""
        src = self.image(snapshot_id) if snapshot_id else None
        dst = self.image(volume_id)

        def write():
            try:
                if src and os.path.exists(src):
                    sparse_copy(src, dst)
                    # A volume may be larger than its snapshot.
                    if os.path.getsize(dst) < size_gib * GIB:
                        os.truncate(dst, size_gib * GIB)
                else:
                    with open(dst, "wb") as f:
                        f.truncate(size_gib * GIB)
            except OSError as e:
                print(f"sandbox: writing the image of {volume_id} failed: {e}", file=sys.stderr, flush=True)

        t = threading.Thread(target=write, name=f"image-{volume_id}", daemon=True)
        with self._writing_lock:
            self._writing[volume_id] = t
        t.start()

    def _written(self, resource_id: str) -> None:
        """Waits until the image of a volume created just now is complete."""
        with self._writing_lock:
            t = self._writing.pop(resource_id, None)
        if t is not None:
            t.join()

    def snapshot_images(self, pairs: list[tuple[str, str]]) -> None:
        """Copies the images of (volume id, snapshot id) pairs now, side by side (copy_file_range
        runs without the GIL; one after the other, 16 volumes with an XFS log of 64 MiB each took
        ~1 s inside a CreateSnapshots call): each snapshot holds what was written before the call.
        Volumes without an image (the instance's root volume) are skipped."""
        def one(pair):
            volume_id, snapshot_id = pair
            self._written(volume_id)
            if os.path.exists(self.image(volume_id)):
                sparse_copy(self.image(volume_id), self.image(snapshot_id))
        if len(pairs) == 1:
            return one(pairs[0])
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(pairs), 8)) as pool:
            for _ in pool.map(one, pairs):  # re-raises the first failure
                pass

    def copy_snapshot_image(self, source_id: str, snapshot_id: str) -> None:
        if os.path.exists(self.image(source_id)):
            sparse_copy(self.image(source_id), self.image(snapshot_id))

    def delete_image(self, resource_id: str) -> None:
        self._written(resource_id)
        try:
            os.unlink(self.image(resource_id))
        except FileNotFoundError:
            pass

    # --- udev --------------------------------------------------------------------------------
    def start(self) -> None:
        """Starts udevd when none runs (shared by what follows in the run; scripts/test, demo
        and bench/run stop it at the end: scripts/udevd-scope) and installs
        our one rule. The rule never changes: what a volume looks like is in a file beside its
        image, written before its losetup, so attaching needs no rule reload and no replay of
        events, and N attachments do not queue behind each other's udev round trips."""
        self._ensure_udevd()
        os.makedirs(RULES_DIR, exist_ok=True)
        match = (f'ACTION=="add|change", SUBSYSTEM=="block", KERNEL=="loop[0-9]*", '
                 f'ATTR{{loop/backing_file}}=="{self.state_dir}/vol-*.img"')
        body = (f"# ebsnap sandbox, state dir {self.state_dir}: a loop device backed by one of its\n"
                "# volume images gets the properties of the image's .udev file (Nitro NVMe serial or\n"
                "# Xen device name), written when the volume is attached.\n"
                f'{match}, IMPORT{{file}}="$attr{{loop/backing_file}}.udev"\n'
                f'{match}, ENV{{EBSNAP_SANDBOX_LINK}}=="?*", SYMLINK+="$env{{EBSNAP_SANDBOX_LINK}}"\n')
        tmp = self.rule_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(body)
        os.replace(tmp, self.rule_path)
        _run("udevadm", "control", "--reload")

    def _ensure_udevd(self) -> None:
        if _udevd_running():
            return
        if not os.path.exists(UDEVD):
            raise RuntimeError(f"no udevd running and {UDEVD} is missing")
        subprocess.run([UDEVD, "--daemon"], check=True, capture_output=True, timeout=30)
        deadline = time.time() + 10
        while not _udevd_running():
            if time.time() > deadline:
                raise RuntimeError("udevd did not answer within 10 s of starting it")
            time.sleep(0.05)
        print(f"sandbox: started {UDEVD} --daemon", file=sys.stderr, flush=True)

    @staticmethod
    def _properties(volume_id: str, device: str, naming: str) -> dict[str, str]:
        if naming == "xen":
            # Xen guests see the device under the requested name, sdX becoming xvdX. udev cannot
            # rename a block device, so /dev/xvdX is a link to the loop device.
            name = device.removeprefix("/dev/")
            if name.startswith("sd"):
                name = "xv" + name[1:]  # sdf -> xvdf
            return {"EBSNAP_SANDBOX_LINK": name}
        serial = volume_id.replace("-", "")  # Nitro: the NVMe serial is the volume id without '-'
        return {"ID_SERIAL_SHORT": serial,
                "ID_SERIAL": f"Amazon Elastic Block Store_{serial}",
                "ID_MODEL": "Amazon Elastic Block Store",
                "ID_BUS": "nvme",
                "EBSNAP_SANDBOX_LINK": f"disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"}

    # --- loop devices ------------------------------------------------------------------------
    def attach(self, volume_id: str, device: str, naming: str = "nitro") -> str:
        """losetup the image; returns when udev has named it (its link points at the device).
        naming: "nitro" (NVMe serial + by-id link) or "xen" (/dev/xvdX link)."""
        self._written(volume_id)
        props = self._properties(volume_id, device, naming)
        udev_file = self.image(volume_id) + ".udev"
        with open(udev_file + ".tmp", "w") as f:
            f.write("".join(f'{k}="{v}"\n' for k, v in props.items()))
        os.replace(udev_file + ".tmp", udev_file)
        dev = _losetup(self.image(volume_id))
        with self._lock:
            self._loops[volume_id] = dev
        link = "/dev/" + props["EBSNAP_SANDBOX_LINK"]
        for replay in (False, True):
            if replay:  # not seen in time (udevd busy, an event lost): replay the change event
                _run("udevadm", "trigger", "--action=change", "--settle", dev)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if os.path.realpath(link) == dev:
                    return dev
                time.sleep(0.005)
        raise RuntimeError(f"udev did not link {link} to {dev}")

    def detach(self, volume_id: str) -> None:
        with self._lock:
            dev = self._loops.pop(volume_id, None)
            if dev:
                # On a busy device (still mounted) this only sets autoclear, as a forced detach
                # that the kernel completes at unmount.
                _run("losetup", "-d", dev, check=False)
        try:
            os.unlink(self.image(volume_id) + ".udev")
        except FileNotFoundError:
            pass

    def device_of(self, volume_id: str) -> str | None:
        with self._lock:
            return self._loops.get(volume_id)

    def _our_loop_devices(self) -> list[str]:
        """Every loop device backed by an image in our state dir (also ones a killed run left)."""
        out = _run("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE", check=False)
        devs = []
        for line in out.splitlines():
            name, _, back = line.partition(" ")
            if back.startswith(self.state_dir + "/"):
                devs.append(name)
        return devs

    def shutdown(self) -> None:
        """Detaches our loop devices and removes our rule; also what a killed run left behind."""
        with self._writing_lock:
            writing = list(self._writing.values())
            self._writing.clear()
        for t in writing:
            t.join()
        with self._lock:
            for dev in set(self._loops.values()) | set(self._our_loop_devices()):
                _run("losetup", "-d", dev, check=False)
            self._loops.clear()
            try:
                os.unlink(self.rule_path)
                _run("udevadm", "control", "--reload", check=False)
            except FileNotFoundError:
                pass
