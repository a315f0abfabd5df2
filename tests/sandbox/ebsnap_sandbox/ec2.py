"""EC2 semantics: moto's backend plus what moto 5.2.1 lacks (see ../README.md, "Moto gaps").

moto (server mode, in this process) owns the resources. The actions ebsnap depends on are
served here, against moto's backend objects, with EC2's behaviour added on top: state timing
(creating, attaching, detaching, pending) kept in our own records beside moto's objects,
EC2's error cases, pagination, owner filter, ClientToken idempotency, CreateSnapshots details,
and the data plane (image files and loop devices). Every other action is forwarded to moto's
HTTP server unchanged.

All access to moto's backend happens under self.lock: moto's models are not thread-safe.
"""
import base64
import binascii
import datetime
import http.client
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field

from moto.core.exceptions import ServiceException
from moto.core.serialize import EC2Serializer, SerializationContext, XFormedAttributePicker
from moto.core.utils import get_service_model as moto_service_model
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.utils import random_ami_id

from .config import Config
from .dataplane import DataPlane
from .errors import Ec2Error, incorrect_state, invalid_value
from .scheduler import Scheduler

ACCOUNT_ID = "123456789012"  # moto's default account: every key the sandbox issues maps to it
NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
_MOTO_NAMESPACE = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"'

# EC2's bounds for MaxResults (a larger value is clamped; a smaller one is an error).
MAX_RESULTS = {"DescribeVolumes": (5, 500), "DescribeSnapshots": (5, 1000), "DescribeVolumeStatus": (5, 1000)}
# VolumeInitializationRate bounds (MiB/s), as botocore's EC2 model documents them.
INITIALIZATION_RATE = (100, 300)
# The rate a volume created from a snapshot without VolumeInitializationRate is initialized at.
# EC2 publishes none (its "default" rate varies); 20 MiB/s is a plausible figure for blocks loaded
# lazily from S3, and it only shapes the progress DescribeVolumeStatus reports.
DEFAULT_INITIALIZATION_MIBPS = 20
_DEVICE_RE = re.compile(r"^(/dev/(sd[a-z]|xvd[a-z]{1,2})|xvd[a-z]{1,2})$")


def _utc(dt: datetime.datetime) -> datetime.datetime:
    return dt.replace(tzinfo=datetime.timezone.utc) if dt.tzinfo is None else dt


def _from_epoch(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def _iso(dt: datetime.datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _wildcard(pattern: str) -> re.Pattern:
    # EC2 filter values: '*' any run of characters, '?' one character, '\' escapes them.
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _matches(values: list, patterns: list[str]) -> bool:
    return any(_wildcard(p).fullmatch(str(v)) for v in values if v is not None for p in patterns)


def parse_time(value) -> datetime.datetime:
    """An ISO 8601 time with its zone ("2025-01-01T00:00:00Z", "...+02:00") as a naive UTC
    datetime, the form moto keeps; ValueError names what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r}: expected an ISO 8601 time string")
    try:
        dt = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r}: not an ISO 8601 time") from None
    if dt.tzinfo is None:
        raise ValueError(f"{value!r}: no time zone (end it with Z)")
    return dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)


class _AmiFromSnapshots(Ami):
    """An AMI registered from snapshots. moto's Ami shows one 15 GiB snapshot that it created
    itself; this one shows the block device mappings it was registered with."""
    registered_mappings: list = []

    @property
    def block_device_mappings(self) -> list[dict]:
        return self.registered_mappings


@dataclass
class VolumeRecord:
    available_at: float
    final_state: str = "available"  # or "error" (injected with volume_error_next)
    initialization_rate: int | None = None  # VolumeInitializationRate, MiB/s
    fast_restored: bool = False  # injected with fast_restored_next


@dataclass
class AttachmentRecord:
    instance_id: str
    device: str
    attach_time: datetime.datetime
    phase: str  # attaching | attached | detaching


@dataclass
class SnapshotRecord:
    start: float
    complete_at: float
    final_state: str = "completed"  # or "error" (injected with snapshot_error_next)
    # CopySnapshot: (source region, source snapshot id), what makes it count against the
    # destination's pending copies; why it ends in error (StateMessage); its time-based duration.
    copy_of: tuple[str, str] | None = None
    state_message: str = ""
    completion_duration_minutes: int | None = None


@dataclass
class TokenRecord:
    fingerprint: str
    volume_id: str
    response: dict = field(default_factory=dict)


# EC2's "arbitrary volume ID" of a snapshot made by CopySnapshot.
COPY_VOLUME_ID = "vol-ffffffff"
# CompletionDurationMinutes (time-based copy): 15..2880 minutes, in steps of 15.
COMPLETION_DURATION = (15, 2880, 15)


class Ec2Engine:
    """One region's EC2. The engines of the regions the sandbox serves share one lock (a copy
    reads the source region's snapshots) and know each other (peers)."""

    def __init__(self, config: Config, region: str, moto_port: int, dataplane: DataPlane | None,
                 lock=None, creds=None):
        self.config = config
        self.region = region
        self.moto_port = moto_port
        self.dataplane = dataplane
        self.lock = lock if lock is not None else threading.RLock()
        self.creds = creds  # CredentialStore: verifies CopySnapshot's PresignedUrl
        self.peers: dict[str, "Ec2Engine"] = {region: self}
        self.scheduler = Scheduler()
        self.volumes: dict[str, VolumeRecord] = {}
        self.attachments: dict[str, AttachmentRecord] = {}
        self.snapshots: dict[str, SnapshotRecord] = {}
        self.last_snapshot_at: dict[str, float] = {}
        self.client_tokens: dict[str, TokenRecord] = {}
        # snapshot id -> AMIs registered from it (RegisterImage); an AMI counts while moto has it.
        self.image_snapshots: dict[str, set[str]] = {}
        self._moto_conn: http.client.HTTPConnection | None = None
        self._model = moto_service_model("ec2")

    @property
    def backend(self):
        return ec2_backends[ACCOUNT_ID][self.region]

    def timing(self) -> dict:
        return self.config.view()["timing"]

    def shutdown(self) -> None:
        self.scheduler.stop()

    # --- rendering -----------------------------------------------------------------------------
    def render(self, action: str, result: dict, request_id: str) -> bytes:
        op = self._model.operation_model(action)
        if op.output_shape is None:
            # EC2 answers these with <return>true</return>.
            return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{NAMESPACE}">'
                    f"<requestId>{request_id}</requestId><return>true</return></{action}Response>").encode()
        out = EC2Serializer(op, context=SerializationContext(request_id),
                            value_picker=XFormedAttributePicker()).serialize(result)
        return out["body"].replace(_MOTO_NAMESPACE, f'xmlns="{NAMESPACE}"', 1).encode()

    # --- views of moto's objects with our states -------------------------------------------------
    def _tags(self, resource_id: str) -> list[dict]:
        return [{"Key": k, "Value": v} for k, v in self.backend.tags.get(resource_id, {}).items()]

    def volume_state(self, vol) -> str:
        rec = self.volumes.get(vol.id)
        if rec is not None and time.time() < rec.available_at:
            return "creating"
        if rec is not None and rec.final_state == "error":
            return "error"
        return "in-use" if vol.attachment is not None else "available"

    def volume_view(self, vol) -> dict:
        att = vol.attachment
        attachments = []
        if att is not None:
            rec = self.attachments.get(vol.id)
            attachments.append({
                "VolumeId": vol.id, "InstanceId": att.instance.id, "Device": att.device,
                "State": rec.phase if rec else "attached",
                "AttachTime": _utc(rec.attach_time if rec else att.attach_time),
                "DeleteOnTermination": self._delete_on_termination(att)})
        view = {
            "VolumeId": vol.id, "Size": vol.size, "SnapshotId": vol.snapshot_id or "",
            "AvailabilityZone": vol.zone.name if vol.zone else "", "State": self.volume_state(vol),
            "CreateTime": _utc(vol.create_time), "Attachments": attachments,
            "VolumeType": vol.volume_type, "Encrypted": bool(vol.encrypted),
            "MultiAttachEnabled": bool(vol.multi_attach_enabled), "Tags": self._tags(vol.id),
        }
        if vol.iops:
            view["Iops"] = vol.iops
        if vol.throughput:
            view["Throughput"] = vol.throughput
        if vol.kms_key_id:
            view["KmsKeyId"] = vol.kms_key_id
        rec = self.volumes.get(vol.id)
        if vol.snapshot_id:
            view["FastRestored"] = bool(rec and rec.fast_restored)
        if rec is not None and rec.initialization_rate is not None:
            view["VolumeInitializationRate"] = rec.initialization_rate
        return view

    @staticmethod
    def _delete_on_termination(att) -> bool:
        """The flag as ModifyInstanceAttribute set it: moto keeps it on the instance's mapping (which
        DescribeInstances shows) and leaves it out of its own DescribeVolumes."""
        mapping = att.instance.block_device_mapping.get(att.device)
        return bool(mapping is not None and mapping.delete_on_termination)

    def initialization(self, vol) -> dict | None:
        """InitializationStatusDetails of a volume created from a snapshot: its size loaded at its
        rate since its CreateTime (so the create-time control moves it too). EC2 estimates the time
        left only for a provisioned rate; a fast-restored volume is initialized at creation."""
        if not vol.snapshot_id:
            return None
        rec = self.volumes.get(vol.id)
        rate = rec.initialization_rate if rec is not None else None
        if rate is None and rec is not None and rec.fast_restored:
            return {"InitializationType": "default", "Progress": 100}
        total_s = max(1.0, vol.size * 1024 / (rate or DEFAULT_INITIALIZATION_MIBPS))
        elapsed_s = max(0.0, time.time() - _utc(vol.create_time).timestamp())
        out = {"InitializationType": "provisioned-rate" if rate is not None else "default",
               "Progress": min(100, int(elapsed_s * 100 / total_s))}
        if rate is not None:
            out["EstimatedTimeToCompleteInSeconds"] = max(0, math.ceil(total_s - elapsed_s))
        return out

    def snapshot_state(self, snap) -> tuple[str, str]:
        rec = self.snapshots.get(snap.id)
        if rec is None:
            return snap.status, "100%"
        now = time.time()
        if now >= rec.complete_at:
            return rec.final_state, "100%" if rec.final_state == "completed" else "0%"
        done = (now - rec.start) / max(rec.complete_at - rec.start, 1e-9)
        return "pending", f"{min(99, int(done * 100))}%"

    def snapshot_view(self, snap) -> dict:
        state, progress = self.snapshot_state(snap)
        rec = self.snapshots.get(snap.id)
        copied = rec is not None and rec.copy_of is not None
        view = {
            "SnapshotId": snap.id, "VolumeId": COPY_VOLUME_ID if copied else snap.volume.id,
            "State": state, "Progress": progress,
            # moto's start_time: set at creation, or by the control (set_start_times).
            "StartTime": _utc(snap.start_time),
            "OwnerId": snap.owner_id, "Description": snap.description or "",
            "VolumeSize": snap.volume.size, "Encrypted": bool(snap.encrypted),
            "StorageTier": "standard", "Tags": self._tags(snap.id),
        }
        if snap.owner_id != ACCOUNT_ID:
            view["OwnerAlias"] = "amazon"  # moto's preloaded public snapshots are all Amazon's
        if snap.kms_key_id:
            view["KmsKeyId"] = snap.kms_key_id
        if copied:
            view["TransferType"] = "time-based" if rec.completion_duration_minutes else "standard"
            if rec.completion_duration_minutes:
                view["CompletionDurationMinutes"] = rec.completion_duration_minutes
            if state == "completed":
                view["CompletionTime"] = _from_epoch(rec.complete_at)
            if state == "error" and rec.state_message:
                view["StateMessage"] = rec.state_message
        return view

    # --- filters and pagination ------------------------------------------------------------------
    @staticmethod
    def _filter_values(view: dict, name: str, kind: str):
        tags = {t["Key"]: t["Value"] for t in view["Tags"]}
        if name.startswith("tag:"):
            key = name[4:]
            return [tags[key]] if key in tags else []
        if name == "tag-key":
            return list(tags)
        if name == "tag-value":
            return list(tags.values())
        if kind == "volume":
            att = view["Attachments"]
            per_attachment = {
                "attachment.attach-time": lambda a: _iso(a["AttachTime"]),
                "attachment.delete-on-termination": lambda a: str(a["DeleteOnTermination"]).lower(),
                "attachment.device": lambda a: a["Device"],
                "attachment.instance-id": lambda a: a["InstanceId"],
                "attachment.status": lambda a: a["State"],
            }
            if name in per_attachment:
                return [per_attachment[name](a) for a in att]
            simple = {
                "availability-zone": view["AvailabilityZone"], "create-time": _iso(view["CreateTime"]),
                "encrypted": str(view["Encrypted"]).lower(),
                "multi-attach-enabled": str(view["MultiAttachEnabled"]).lower(),
                "fast-restored": str(view.get("FastRestored", False)).lower(), "size": str(view["Size"]),
                "snapshot-id": view["SnapshotId"], "status": view["State"],
                "volume-id": view["VolumeId"], "volume-type": view["VolumeType"],
            }
        else:
            simple = {
                "description": view["Description"], "encrypted": str(view["Encrypted"]).lower(),
                "owner-alias": view.get("OwnerAlias"), "owner-id": view["OwnerId"], "progress": view["Progress"],
                "snapshot-id": view["SnapshotId"], "start-time": _iso(view["StartTime"]),
                "status": view["State"], "storage-tier": view["StorageTier"],
                "volume-id": view["VolumeId"], "volume-size": str(view["VolumeSize"]),
            }
        if name not in simple:
            raise invalid_value(f"The filter '{name}' is invalid")
        return [simple[name]]

    def _apply_filters(self, views: list[dict], filters: list[dict], kind: str) -> list[dict]:
        for f in filters:
            if "Name" not in f:
                raise invalid_value("The filter 'null' is invalid")
            # Validate the name even when nothing is left to filter.
            self._filter_values({"Tags": [], "Attachments": [], **_EMPTY_VIEW[kind]}, f["Name"], kind)
            values = f.get("Values", [])
            views = [v for v in views if _matches(self._filter_values(v, f["Name"], kind), values)]
        return views

    @staticmethod
    def _paginate(action: str, items: list[tuple[str, object]], params: dict):
        """items: (id, obj). Pages are in id order; the token names the last id served, so pages
        are complete and disjoint even when resources come and go between calls."""
        max_results = params.get("MaxResults")
        token = params.get("NextToken")
        lo, hi = MAX_RESULTS[action]
        if max_results is not None and max_results < lo:
            raise invalid_value(f"Value ( {max_results} ) for parameter maxResults is invalid. "
                                f"Expecting a value greater than {lo}.")
        items = sorted(items, key=lambda it: it[0])
        if token is not None:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                after = decoded["after"]
                if decoded["action"] != action:
                    raise ValueError(action)
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise Ec2Error("InvalidPaginationToken", f"Invalid pagination token: {token}", 400)
            items = [it for it in items if it[0] > after]
        if max_results is None and token is None:
            return [obj for _, obj in items], None
        limit = min(max_results or hi, hi)
        page = items[:limit]
        next_token = None
        if len(items) > limit:
            next_token = base64.urlsafe_b64encode(
                json.dumps({"action": action, "after": page[-1][0]}).encode()).decode()
        return [obj for _, obj in page], next_token

    # --- moto access ---------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        """A moto backend call; moto's errors become EC2's."""
        try:
            return fn(*args, **kwargs)
        except ServiceException as e:
            raise Ec2Error(e.code, e.message, getattr(e, "status_code", 400) or 400)

    def get_volume(self, volume_id: str):
        vol = self.backend.volumes.get(volume_id)
        if vol is None:
            raise Ec2Error("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.", 400)
        return vol

    def get_snapshot(self, snapshot_id: str, backend=None):
        snap = (backend or self.backend).snapshots.get(snapshot_id)
        if snap is None:
            raise Ec2Error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.", 400)
        return snap

    def get_instance(self, instance_id: str):
        for reservation in self.backend.reservations.values():
            for inst in reservation.instances:
                if inst.id == instance_id:
                    return inst
        raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist", 400)

    def forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, str, bytes]:
        """Sends the request to moto's server as it came; returns (status, content type, body)."""
        fwd = {"Content-Type": headers.get("Content-Type", "application/x-www-form-urlencoded"),
               "Authorization": headers.get("Authorization", ""),
               "X-Amz-Date": headers.get("X-Amz-Date", ""),
               "Content-Length": str(len(body))}
        for attempt in range(2):
            try:
                if self._moto_conn is None:
                    self._moto_conn = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
                self._moto_conn.request(method, path, body=body, headers=fwd)
                resp = self._moto_conn.getresponse()
                data = resp.read()
                text = data.decode("utf-8", "replace").replace(_MOTO_NAMESPACE, f'xmlns="{NAMESPACE}"', 1)
                return resp.status, resp.getheader("Content-Type", "text/xml"), text.encode()
            except (http.client.HTTPException, OSError):
                self._moto_conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    # --- tag specifications ----------------------------------------------------------------------
    @staticmethod
    def _spec_tags(params: dict, resource_type: str) -> dict:
        tags = {}
        for spec in params.get("TagSpecifications", []):
            if spec.get("ResourceType") != resource_type:
                raise invalid_value(f"'{spec.get('ResourceType')}' is not a valid taggable resource type "
                                    f"for this operation.")
            for t in spec.get("Tags", []):
                key = t.get("Key", "")
                if key.startswith("aws:"):
                    raise invalid_value("Tag keys starting with 'aws:' are reserved for internal use")
                tags[key] = t.get("Value", "")
        return tags

    # --- volumes -------------------------------------------------------------------------------
    def create_volume(self, p: dict) -> dict:
        token = p.get("ClientToken")
        fingerprint = json.dumps({k: v for k, v in p.items() if k not in ("ClientToken", "DryRun")},
                                 sort_keys=True, default=str)
        if token is not None and token in self.client_tokens:
            rec = self.client_tokens[token]
            if rec.fingerprint != fingerprint:
                raise Ec2Error("IdempotentParameterMismatch",
                               "The client token you have provided is associated with a resource that "
                               "was created with different parameters.", 400)
            # EC2 keeps the token bound to its volume, even once that volume is deleted.
            vol = self.backend.volumes.get(rec.volume_id)
            return self.volume_view(vol) if vol is not None else {**rec.response, "State": "deleted"}

        zone = p.get("AvailabilityZone")
        if zone is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter AvailabilityZone", 400)
        if zone not in {z.name for z in self.backend.describe_availability_zones()}:
            raise invalid_value(f"Invalid availability zone: [{zone}]")
        size = p.get("Size")
        snapshot_id = p.get("SnapshotId")
        if size is None and snapshot_id is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId", 400)
        if snapshot_id is not None:
            snap = self.get_snapshot(snapshot_id)
            if self.snapshot_state(snap)[0] != "completed":
                raise incorrect_state(f"Snapshot '{snapshot_id}' is not in the 'completed' state.")
            if size is not None and size < snap.volume.size:
                raise invalid_value(f"Volume of size {size}GB is smaller than snapshot '{snapshot_id}', "
                                    f"expect size >= {snap.volume.size}GB")
        if size is not None and not 1 <= size <= 16384:
            raise invalid_value(f"Volume of {size}GiB is outside the valid range of 1 to 16384 GiB.")
        rate = p.get("VolumeInitializationRate")
        if rate is not None:
            # EC2 refuses it for an empty volume (aws-ebs-csi-driver issue #2691: HTTP 400).
            if snapshot_id is None:
                raise Ec2Error("InvalidParameterCombination",
                               "The parameter VolumeInitializationRate is only supported for volumes "
                               "created from snapshots.", 400)
            lo, hi = INITIALIZATION_RATE
            if not lo <= rate <= hi:
                raise invalid_value(f"Value ({rate}) for parameter volumeInitializationRate is invalid. "
                                    f"Expected a value between {lo} and {hi} MiB/s.")
        tags = self._spec_tags(p, "volume")
        vol = self._call(self.backend.create_volume, size=size, zone_name=zone, snapshot_id=snapshot_id,
                         encrypted=p.get("Encrypted", False), kms_key_id=p.get("KmsKeyId"),
                         volume_type=p.get("VolumeType"), iops=p.get("Iops"),
                         throughput=p.get("Throughput"), multi_attach_enabled=p.get("MultiAttachEnabled"))
        if tags:
            self.backend.create_tags([vol.id], tags)
        final = "error" if self.config.take_counter("volume_error_next") else "available"
        fast = snapshot_id is not None and rate is None and self.config.take_counter("fast_restored_next")
        self.volumes[vol.id] = VolumeRecord(time.time() + self.timing()["volume_create_s"], final, rate, fast)
        if self.dataplane is not None:
            self.dataplane.create_volume_image(vol.id, vol.size, snapshot_id)
        view = {**self.volume_view(vol), "State": "creating"}  # EC2 always answers "creating"
        if token is not None:
            self.client_tokens[token] = TokenRecord(fingerprint, vol.id, view)
        return view

    def delete_volume(self, p: dict) -> dict:
        vol = self.get_volume(p["VolumeId"])
        if vol.attachment is not None:
            raise Ec2Error("VolumeInUse", f"Volume {vol.id} is currently attached to {vol.attachment.instance.id}", 400)
        self._call(self.backend.delete_volume, vol.id)
        self.volumes.pop(vol.id, None)
        self.last_snapshot_at.pop(vol.id, None)
        if self.dataplane is not None:
            self.dataplane.delete_image(vol.id)
        return {}

    def attach_volume(self, p: dict) -> dict:
        vol = self.get_volume(p["VolumeId"])
        inst = self.get_instance(p["InstanceId"])
        device = p["Device"]
        if vol.attachment is not None:
            raise Ec2Error("VolumeInUse", f"{vol.id} is already attached to an instance", 400)
        if self.volume_state(vol) != "available":
            raise incorrect_state(f"{vol.id} is not 'available'.")
        if vol.zone.name != inst.placement.zone:
            raise Ec2Error("InvalidVolume.ZoneMismatch",
                           f"The volume '{vol.id}' is not in the same availability zone as instance '{inst.id}'", 400)
        if not _DEVICE_RE.match(device):
            raise invalid_value(f"Value ({device}) for parameter device is invalid. "
                                f"{device} is not a valid EBS device name.")
        if device in inst.block_device_mapping:
            raise invalid_value(f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use")
        if inst.state != "running" and inst.state != "stopped":
            raise incorrect_state(f"Instance '{inst.id}' is not 'running'.")
        att = self._call(self.backend.attach_volume, vol.id, inst.id, device)
        rec = AttachmentRecord(inst.id, device, _utc(att.attach_time), "attaching")
        self.attachments[vol.id] = rec

        def still_attaching() -> bool:
            with self.lock:
                return self.attachments.get(vol.id) is rec and rec.phase == "attaching"

        def complete():
            if not still_attaching():
                return  # detached meanwhile
            if self.dataplane is not None:
                try:
                    self.dataplane.attach(vol.id, device, self.config.view()["device_naming"])
                except Exception as e:
                    # Like a real attachment that never completes: it stays "attaching".
                    print(f"sandbox: attaching {vol.id} failed, it stays 'attaching': {e}",
                          file=sys.stderr, flush=True)
                    return
            with self.lock:
                if still_attaching():
                    rec.phase = "attached"
                    return
            # Detached while its loop device was being set up (outside the lock): undo that.
            if self.dataplane is not None:
                self.dataplane.detach(vol.id)

        delay = self.timing()["attach_s"]
        if delay > 0:
            self.scheduler.at(time.time() + delay, complete)
        else:
            complete()
        return {"VolumeId": vol.id, "InstanceId": inst.id, "Device": device,
                "State": "attaching", "AttachTime": rec.attach_time}

    def detach_volume(self, p: dict) -> dict:
        vol = self.get_volume(p["VolumeId"])
        att = vol.attachment
        if att is None:
            raise incorrect_state(f"Volume '{vol.id}' is in the 'available' state.")
        rec = self.attachments.get(vol.id)
        if rec is not None and rec.phase == "detaching":
            raise incorrect_state(f"Volume '{vol.id}' is in the 'detaching' state.")
        inst = att.instance
        if "InstanceId" in p and p["InstanceId"] != inst.id:
            raise Ec2Error("InvalidAttachment.NotFound",
                           f"Volume '{vol.id}' is not attached to instance '{p['InstanceId']}'", 400)
        if "Device" in p and p["Device"] != att.device:
            raise Ec2Error("InvalidAttachment.NotFound",
                           f"Volume '{vol.id}' is not attached at '{p['Device']}'", 400)
        if att.device == getattr(inst, "root_device_name", None) and inst.state == "running":
            raise incorrect_state(f"Unable to detach root volume '{vol.id}' from instance '{inst.id}'")
        if rec is None:
            rec = self.attachments[vol.id] = AttachmentRecord(inst.id, att.device, _utc(att.attach_time), "attached")
        rec.phase = "detaching"
        # The device goes away first (as the NVMe device does), EC2 says "detached" afterwards.
        if self.dataplane is not None:
            self.dataplane.detach(vol.id)

        def complete():
            with self.lock:
                if self.attachments.get(vol.id) is not rec:
                    return
                self._call(self.backend.detach_volume, vol.id, inst.id, att.device)
                del self.attachments[vol.id]

        delay = self.timing()["detach_s"]
        if delay > 0:
            self.scheduler.at(time.time() + delay, complete)
        else:
            complete()
        return {"VolumeId": vol.id, "InstanceId": inst.id, "Device": att.device,
                "State": "detaching", "AttachTime": rec.attach_time}

    def describe_volumes(self, p: dict) -> dict:
        ids = p.get("VolumeIds", [])
        if ids and p.get("MaxResults") is not None:
            raise Ec2Error("InvalidParameterCombination",
                           "The parameter volumeSet cannot be used with the parameter maxResults", 400)
        if ids:
            missing = [i for i in ids if i not in self.backend.volumes]
            if missing:
                raise Ec2Error("InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.", 400)
            vols = [self.backend.volumes[i] for i in dict.fromkeys(ids)]
        else:
            vols = list(self.backend.volumes.values())
        views = self._apply_filters([self.volume_view(v) for v in vols], p.get("Filters", []), "volume")
        page, token = self._paginate("DescribeVolumes", [(v["VolumeId"], v) for v in views], p)
        out = {"Volumes": page}
        if token:
            out["NextToken"] = token
        return out

    def describe_volume_status(self, p: dict) -> dict:
        ids = p.get("VolumeIds", [])
        if ids and p.get("MaxResults") is not None:
            raise Ec2Error("InvalidParameterCombination",
                           "The parameter volumeSet cannot be used with the parameter maxResults", 400)
        for f in p.get("Filters", []):
            raise invalid_value(f"sandbox: the DescribeVolumeStatus filter '{f.get('Name')}' is not modelled")
        if ids:
            missing = [i for i in ids if i not in self.backend.volumes]
            if missing:
                raise Ec2Error("InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.", 400)
            vols = [self.backend.volumes[i] for i in dict.fromkeys(ids)]
        else:
            vols = list(self.backend.volumes.values())
        items = []
        for vol in vols:
            item = {"VolumeId": vol.id, "AvailabilityZone": vol.zone.name if vol.zone else "",
                    "VolumeStatus": {"Status": "ok", "Details": [{"Name": "io-enabled", "Status": "passed"},
                                                                 {"Name": "io-performance", "Status": "not-applicable"}]},
                    "Events": [], "Actions": []}
            init = self.initialization(vol)
            if init is not None:
                item["InitializationStatusDetails"] = init
            items.append((vol.id, item))
        page, token = self._paginate("DescribeVolumeStatus", items, p)
        out = {"VolumeStatuses": page}
        if token:
            out["NextToken"] = token
        return out

    # --- snapshots -----------------------------------------------------------------------------
    def _check_snapshot_rate(self, volume_ids: list[str]) -> None:
        window = self.timing()["snapshot_rate_window_s"]
        now = time.time()
        for vid in volume_ids:
            last = self.last_snapshot_at.get(vid)
            if window > 0 and last is not None and now - last < window:
                raise Ec2Error("SnapshotCreationPerVolumeRateExceeded",
                               "The maximum per volume CreateSnapshot request rate has been exceeded. "
                               "Use an increasing or variable sleep interval between requests.", 400)

    def _snapshot(self, vol, description: str, tags: dict):
        """The snapshot without its image: the caller copies the images (snapshot_images)."""
        if self.volume_state(vol) == "creating":
            raise incorrect_state(f"Volume '{vol.id}' is in the 'creating' state.")
        snap = self._call(self.backend.create_snapshot, vol.id, description)
        if tags:
            self.backend.create_tags([snap.id], tags)
        now = time.time()
        self.snapshots[snap.id] = self._new_snapshot_record(now)
        self.last_snapshot_at[vol.id] = now
        return snap

    def _new_snapshot_record(self, now: float, duration_s: float | None = None) -> SnapshotRecord:
        final = "error" if self.config.take_counter("snapshot_error_next") else "completed"
        if duration_s is None:
            duration_s = self.timing()["snapshot_complete_s"]
        return SnapshotRecord(now, now + duration_s, final)

    def _as_created(self, snap) -> dict:
        # EC2 answers "pending" to CreateSnapshot(s), whatever the timing.
        return {**self.snapshot_view(snap), "State": "pending", "Progress": "0%"}

    def create_snapshot(self, p: dict) -> dict:
        vol = self.get_volume(p["VolumeId"])
        tags = self._spec_tags(p, "snapshot")
        self._check_snapshot_rate([vol.id])
        snap = self._snapshot(vol, p.get("Description", ""), tags)
        self._snapshot_images([(vol, snap)])
        return self._as_created(snap)

    def create_snapshots(self, p: dict) -> dict:
        spec = p["InstanceSpecification"]
        inst = self.get_instance(spec["InstanceId"])
        excluded = set(spec.get("ExcludeDataVolumeIds", []))
        vols = []
        for device, bdm in sorted(inst.block_device_mapping.items()):
            if spec.get("ExcludeBootVolume") and device == inst.root_device_name:
                continue
            rec = self.attachments.get(bdm.volume_id)
            if bdm.volume_id in excluded or (rec is not None and rec.phase == "detaching"):
                continue
            vols.append(self.get_volume(bdm.volume_id))
        tags = self._spec_tags(p, "snapshot")
        copy_tags = p.get("CopyTagsFromSource") == "volume"
        self._check_snapshot_rate([v.id for v in vols])
        snaps = []
        for vol in vols:
            snap_tags = {}
            if copy_tags:
                snap_tags.update({k: v for k, v in self.backend.tags.get(vol.id, {}).items()
                                  if not k.startswith("aws:")})
            snap_tags.update(tags)
            snaps.append(self._snapshot(vol, p.get("Description", ""), snap_tags))
        self._snapshot_images(list(zip(vols, snaps)))
        return {"Snapshots": [self._as_created(s) for s in snaps]}

    def _snapshot_images(self, pairs: list) -> None:
        """The point in time: the images are copied before EC2 answers "pending"."""
        if self.dataplane is not None:
            self.dataplane.snapshot_images([(vol.id, snap.id) for vol, snap in pairs])

    def delete_snapshot(self, p: dict) -> dict:
        snap = self.get_snapshot(p["SnapshotId"])
        # moto refuses only the snapshots it made itself for CreateImage, not those a
        # RegisterImage names (it ignores BlockDeviceMappings); EC2 refuses both.
        users = sorted(self.image_snapshots.get(snap.id, set()) & set(self.backend.amis))
        if users:
            raise Ec2Error("InvalidSnapshot.InUse", f"The snapshot {snap.id} is currently in use by {users[0]}", 400)
        self._call(self.backend.delete_snapshot, snap.id)
        self.snapshots.pop(snap.id, None)
        self.image_snapshots.pop(snap.id, None)
        if self.dataplane is not None:
            self.dataplane.delete_image(snap.id)
        return {}

    def pending_copies(self) -> int:
        """Copies into this region still pending (EC2 allows 20 per destination region)."""
        now = time.time()
        return sum(1 for r in self.snapshots.values() if r.copy_of is not None and now < r.complete_at)

    def _kms_key_problem(self, key_id: str) -> str | None:
        """Why this region cannot encrypt with key_id, or None (copy.kms_key_ids)."""
        allowed = self.config.view()["copy"]["kms_key_ids"]
        if key_id.startswith("arn:"):
            parts = key_id.split(":")
            if len(parts) < 6 or parts[2] != "kms" or parts[3] != self.region:
                return f"The KMS key {key_id} is not in region {self.region}."
        if key_id not in allowed:
            return "Given key ID is not accessible."
        return None

    def copy_snapshot(self, p: dict) -> dict:
        """CopySnapshot, called in the destination region (this engine) with SourceRegion. As EC2:
        the copy answers at once; a PresignedUrl that does not verify, an encrypted source from
        another region without one, or a KMS key the region cannot use make it end in state
        error (EC2: "An invalid or improperly signed PresignedUrl will cause the copy operation
        to fail asynchronously, and the snapshot will move to an error state")."""
        source_region = p["SourceRegion"]
        source = self.peers.get(source_region)
        if source is None:
            raise invalid_value(f"Invalid source region: {source_region}")
        src = source.get_snapshot(p["SourceSnapshotId"])
        if src.owner_id != ACCOUNT_ID:
            raise Ec2Error("InvalidSnapshot.NotFound", f"The snapshot '{src.id}' does not exist.", 400)
        if source.snapshot_state(src)[0] != "completed":
            raise incorrect_state(f"Snapshot '{src.id}' is not in the 'completed' state.")
        destination = p.get("DestinationRegion")
        if destination is not None and destination != self.region:
            raise invalid_value(f"Value ({destination}) for parameter destinationRegion is invalid. "
                                f"The request was sent to {self.region}.")
        minutes = p.get("CompletionDurationMinutes")
        if minutes is not None:
            lo, hi, step = COMPLETION_DURATION
            if not lo <= minutes <= hi or minutes % step:
                raise invalid_value(f"Value ({minutes}) for parameter completionDurationMinutes is invalid. "
                                    f"Expected a multiple of {step} between {lo} and {hi}.")
        tags = self._spec_tags(p, "snapshot")
        limit = self.config.view()["copy"]["max_pending"]
        if self.pending_copies() >= limit:
            raise Ec2Error("ResourceLimitExceeded",
                           f"You have exceeded the maximum number of concurrent snapshot copies "
                           f"({limit}) to region {self.region}.", 400)

        failure = None
        url = p.get("PresignedUrl")
        if url is not None:
            from . import sigv4
            try:
                sigv4.check_presigned_url(url, self.creds, time.time(), source_region, src.id, self.region)
            except sigv4.PresignedUrlInvalid as e:
                print(f"sandbox: CopySnapshot of {src.id}: PresignedUrl rejected: {e}", file=sys.stderr, flush=True)
                failure = "The PresignedUrl is invalid or improperly signed."
        elif src.encrypted and source_region != self.region:
            failure = "Copying an encrypted snapshot from another region needs a PresignedUrl."
        kms_key_id = p.get("KmsKeyId")
        if kms_key_id is not None and failure is None:
            failure = self._kms_key_problem(kms_key_id)

        snap = self._call(self.backend.copy_snapshot, source_snapshot_id=src.id, source_region=source_region,
                          description=p.get("Description", ""), kms_key_id=kms_key_id)
        if p.get("Encrypted"):
            snap.encrypted = True
        if tags:
            self.backend.create_tags([snap.id], tags)
        now = time.time()  # StartTime: the time of the copy (moto's start_time), not the source's
        rec = self._new_snapshot_record(now, self.timing()["copy_complete_s"])
        rec.copy_of = (source_region, src.id)
        rec.completion_duration_minutes = minutes
        if failure is not None:
            rec.final_state, rec.state_message = "error", failure
        self.snapshots[snap.id] = rec
        if self.dataplane is not None and failure is None:
            self.dataplane.copy_snapshot_image(src.id, snap.id)
        return {"SnapshotId": snap.id, "Tags": self._tags(snap.id)}

    def describe_snapshots(self, p: dict) -> dict:
        ids = p.get("SnapshotIds", [])
        if ids and p.get("MaxResults") is not None:
            raise Ec2Error("InvalidParameterCombination",
                           "The parameter snapshotSet cannot be used with the parameter maxResults", 400)
        if ids:
            missing = [i for i in ids if i not in self.backend.snapshots]
            if missing:
                raise Ec2Error("InvalidSnapshot.NotFound", f"The snapshot '{missing[0]}' does not exist.", 400)
            snaps = [self.backend.snapshots[i] for i in dict.fromkeys(ids)]
        else:
            snaps = list(self.backend.snapshots.values())
        owners = p.get("OwnerIds")
        if owners:
            # Account ids, "self", or an owner alias ("amazon").
            wanted = {ACCOUNT_ID if o == "self" else o for o in owners}
            amazon = "amazon" in wanted
            snaps = [s for s in snaps if s.owner_id in wanted or (amazon and s.owner_id != ACCOUNT_ID)]
        views = self._apply_filters([self.snapshot_view(s) for s in snaps], p.get("Filters", []), "snapshot")
        page, token = self._paginate("DescribeSnapshots", [(v["SnapshotId"], v) for v in views], p)
        out = {"Snapshots": page}
        if token:
            out["NextToken"] = token
        return out

    # --- images -------------------------------------------------------------------------------
    def register_image(self, p: dict) -> dict:
        """RegisterImage from EBS snapshots, as EC2 does it: the AMI maps the snapshots it names
        (moto ignores BlockDeviceMappings and makes a snapshot of its own), and those snapshots
        cannot be deleted while the AMI is registered."""
        name = p["Name"]
        for ami in self.backend.amis.values():
            if ami.owner_id == ACCOUNT_ID and ami.name == name:
                raise Ec2Error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}", 400)
        tags = self._spec_tags(p, "image")
        mappings, used = [], []
        for bdm in p.get("BlockDeviceMappings", []):
            if "DeviceName" not in bdm:
                raise Ec2Error("MissingParameter", "The request must contain the parameter DeviceName", 400)
            ebs = bdm.get("Ebs")
            if ebs is None or "SnapshotId" not in ebs:
                mappings.append({k: v for k, v in bdm.items() if k != "Ebs"})
                continue
            snap = self.get_snapshot(ebs["SnapshotId"])
            if self.snapshot_state(snap)[0] != "completed":
                raise incorrect_state(f"Snapshot '{snap.id}' is not in the 'completed' state.")
            size = ebs.get("VolumeSize", snap.volume.size)
            if size < snap.volume.size:
                raise invalid_value(f"Volume of size {size}GB is smaller than snapshot '{snap.id}', "
                                    f"expect size >= {snap.volume.size}GB")
            mappings.append({"DeviceName": bdm["DeviceName"], "Ebs": {
                "SnapshotId": snap.id, "VolumeSize": size,
                "DeleteOnTermination": ebs.get("DeleteOnTermination", True),
                "VolumeType": ebs.get("VolumeType", "gp2"), "Encrypted": bool(snap.encrypted)}})
            used.append(snap.id)
        if not used:
            # No EBS snapshot named (e.g. an instance-store ImageLocation): moto's own behaviour.
            ami = self._call(self.backend.register_image, name, p.get("Description", ""))
        else:
            root = p.get("RootDeviceName", mappings[0]["DeviceName"])
            ami = _AmiFromSnapshots(self.backend, random_ami_id(), name=name,
                                    description=p.get("Description", ""),
                                    architecture=p.get("Architecture", "x86_64"),
                                    virtualization_type=p.get("VirtualizationType", "hvm"),
                                    root_device_type="ebs", root_device_name=root,
                                    boot_mode=p.get("BootMode", "uefi"))
            # moto's constructor made a snapshot for the AMI; EC2 makes none.
            self.backend.snapshots.pop(ami.ebs_snapshot.id, None)
            ami.registered_mappings = mappings
            self.backend.amis[ami.id] = ami
            for sid in used:
                self.image_snapshots.setdefault(sid, set()).add(ami.id)
        if tags:
            self.backend.create_tags([ami.id], tags)
        return {"ImageId": ami.id}

    # --- existence checks moto skips on tagging --------------------------------------------------
    def check_resources_exist(self, resource_ids: list[str]) -> None:
        for rid in resource_ids:
            if rid.startswith("vol-"):
                self.get_volume(rid)
            elif rid.startswith("snap-"):
                self.get_snapshot(rid)
            elif rid.startswith("i-"):
                self.get_instance(rid)

    def check_block_device_mappings(self, p: dict) -> None:
        """ModifyInstanceAttribute's BlockDeviceMapping form, before moto serves it: moto fails with a
        KeyError (HTTP 500) on a device the instance has no mapping for; EC2 answers
        InvalidInstanceAttributeValue."""
        mappings = p.get("BlockDeviceMappings", [])
        if not mappings:
            return
        inst = self.get_instance(p["InstanceId"])
        for m in mappings:
            device = m.get("DeviceName", "")
            if device not in inst.block_device_mapping:
                raise Ec2Error("InvalidInstanceAttributeValue", f"No device is currently mapped at {device}", 400)

    # --- fast paths for tests and benchmarks ------------------------------------------------------
    BULK_STATES = ("completed", "pending", "error")

    def bulk_snapshots(self, volume_ids: list[str], count: int, tags: dict, description: str,
                       state: str = "completed", start_time: datetime.datetime | None = None) -> list[str]:
        """Creates snapshots straight in moto's backend (no image files): `count` rounds of one
        snapshot per volume, in that order. "pending" ones stay pending (Progress 0%)."""
        if state not in self.BULK_STATES:
            raise ValueError(f"state: expected one of {', '.join(self.BULK_STATES)}")
        vols = [self.get_volume(v) for v in volume_ids]
        ids = []
        now = time.time()
        for _ in range(count):
            for vol in vols:
                snap = self.backend.create_snapshot(vol.id, description)
                if tags:
                    self.backend.create_tags([snap.id], tags)
                if start_time is not None:
                    snap.start_time = start_time
                if state == "pending":
                    self.snapshots[snap.id] = SnapshotRecord(now, float("inf"))
                else:
                    self.snapshots[snap.id] = SnapshotRecord(now, now, state)
                ids.append(snap.id)
        return ids

    def set_start_times(self, start_times) -> int:
        """Sets StartTime of the account's snapshots ({snapshot id: ISO 8601 time}), all or none.
        Only what DescribeSnapshots reports (and its start-time filter) changes: state and
        progress keep their own clock."""
        if not isinstance(start_times, dict) or not start_times:
            raise ValueError("start_times: expected an object {snapshot id: ISO 8601 time}, not empty")
        unknown = sorted(sid for sid in start_times
                         if sid not in self.backend.snapshots or self.backend.snapshots[sid].owner_id != ACCOUNT_ID)
        if unknown:
            more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise ValueError(f"start_times: not a snapshot of this account: {', '.join(unknown[:5])}{more}")
        parsed = {}
        for sid, value in start_times.items():
            try:
                parsed[sid] = parse_time(value)
            except ValueError as e:
                raise ValueError(f"start_times.{sid}: {e}") from None
        for sid, dt in parsed.items():
            self.backend.snapshots[sid].start_time = dt
        return len(parsed)

    def set_create_times(self, create_times) -> int:
        """Sets CreateTime of volumes ({volume id: ISO 8601 time}), all or none, so that an age
        (gc's --older-than) can be tested without waiting. Only what DescribeVolumes reports (and
        its create-time filter) changes: state and attachments keep their own clock."""
        if not isinstance(create_times, dict) or not create_times:
            raise ValueError("create_times: expected an object {volume id: ISO 8601 time}, not empty")
        unknown = sorted(vid for vid in create_times if vid not in self.backend.volumes)
        if unknown:
            more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise ValueError(f"create_times: not a volume of this account: {', '.join(unknown[:5])}{more}")
        parsed = {}
        for vid, value in create_times.items():
            try:
                parsed[vid] = parse_time(value)
            except ValueError as e:
                raise ValueError(f"create_times.{vid}: {e}") from None
        for vid, dt in parsed.items():
            self.backend.volumes[vid].create_time = dt
        return len(parsed)

    HANDLERS = {
        "CreateVolume": create_volume, "DeleteVolume": delete_volume,
        "AttachVolume": attach_volume, "DetachVolume": detach_volume,
        "DescribeVolumes": describe_volumes, "DescribeVolumeStatus": describe_volume_status,
        "CreateSnapshot": create_snapshot,
        "CreateSnapshots": create_snapshots, "DeleteSnapshot": delete_snapshot,
        "CopySnapshot": copy_snapshot, "DescribeSnapshots": describe_snapshots,
        "RegisterImage": register_image,
    }


# Views with every filterable field, used to validate a filter name on an empty result.
_EMPTY_VIEW = {
    "volume": {"AvailabilityZone": "", "CreateTime": _from_epoch(0), "Encrypted": False,
               "MultiAttachEnabled": False, "Size": 0, "SnapshotId": "", "State": "",
               "VolumeId": "", "VolumeType": ""},
    "snapshot": {"Description": "", "Encrypted": False, "OwnerId": "", "Progress": "",
                 "SnapshotId": "", "StartTime": _from_epoch(0), "State": "", "StorageTier": "",
                 "VolumeId": "", "VolumeSize": 0},
}
