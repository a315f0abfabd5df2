"""Snapshot histories of any age for retention tests: POST {CONTROL}/snapshots/start-time sets
StartTime (EC2 itself cannot), POST {CONTROL}/snapshots/bulk makes runs with their tags, state
and start time in one request each."""
import datetime
import unittest
import xml.etree.ElementTree as ET

from tests.support import SandboxTestCase

NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
UTC = datetime.timezone.utc


def start_times(ec2, snapshot_ids) -> dict:
    out = {}
    for page in ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], PaginationConfig={"PageSize": 1000}):
        out.update({s["SnapshotId"]: s["StartTime"] for s in page["Snapshots"] if s["SnapshotId"] in snapshot_ids})
    return out


class StartTimeControl(SandboxTestCase):
    def test_two_years_of_runs_set_in_one_request(self):
        vols = [self.new_volume() for _ in range(3)]
        runs = {}
        for i in range(300):
            runs[f"run-{i:03d}"] = self.sb.bulk_snapshots(vols, 1, {"ebsnap:run-id": f"run-{i:03d}"})
        self.assertTrue(all(len(ids) == 3 for ids in runs.values()))
        # One run every ~58 hours over two years, across a leap day, the members of a run a few
        # seconds apart.
        origin = datetime.datetime(2024, 1, 1, tzinfo=UTC)
        wanted = {}
        for i, ids in enumerate(runs.values()):
            run_start = origin + datetime.timedelta(hours=58.4 * i)
            for k, sid in enumerate(ids):
                wanted[sid] = run_start.replace(microsecond=0) + datetime.timedelta(seconds=k)
        self.assertEqual(self.sb.set_start_times(
            {sid: t.strftime("%Y-%m-%dT%H:%M:%SZ") for sid, t in wanted.items()}), 900)
        self.assertEqual(start_times(self.ec2, set(wanted)), wanted)
        # The tags stayed with their snapshots.
        run = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:ebsnap:run-id", "Values": ["run-150"]}])["Snapshots"]
        self.assertEqual({s["SnapshotId"] for s in run}, set(runs["run-150"]))
        self.assertEqual({s["StartTime"] for s in run}, {wanted[sid] for sid in runs["run-150"]})

    def test_rendering_offsets_filter_and_awscli(self):
        vid = self.new_volume()
        a, b = self.sb.bulk_snapshots(vid, 2)
        self.sb.set_start_times({a: "2024-02-29T23:30:00+02:00", b: "2025-12-31T23:59:59Z"})
        # EC2's form on the wire, the offset turned into UTC.
        status, text = self.sb.raw_call({"Action": "DescribeSnapshots", "Version": "2016-11-15",
                                         "SnapshotId.1": a, "SnapshotId.2": b})
        self.assertEqual(status, 200, text)
        shown = {item.find(f"{NS}snapshotId").text: item.find(f"{NS}startTime").text
                 for item in ET.fromstring(text).iter(f"{NS}item") if item.find(f"{NS}snapshotId") is not None}
        self.assertEqual(shown, {a: "2024-02-29T21:30:00.000Z", b: "2025-12-31T23:59:59.000Z"})
        [snap] = self.sb.aws("describe-snapshots", "--snapshot-ids", b)["Snapshots"]
        self.assertEqual(snap["StartTime"], "2025-12-31T23:59:59.000Z")
        # The start-time filter follows.
        found = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "start-time", "Values": ["2024-02-29T21:30:*"]}])["Snapshots"]
        self.assertEqual([s["SnapshotId"] for s in found], [a])

    def test_only_start_time_changes(self):
        vid = self.new_volume()
        pending = self.sb.bulk_snapshots(vid, 1, {"k": "v"}, state="pending")[0]
        before = self.ec2.describe_snapshots(SnapshotIds=[pending])["Snapshots"][0]
        self.sb.set_start_times({pending: "2024-01-01T00:00:00Z"})
        after = self.ec2.describe_snapshots(SnapshotIds=[pending])["Snapshots"][0]
        self.assertEqual(after["StartTime"], datetime.datetime(2024, 1, 1, tzinfo=UTC))
        self.assertEqual((after["State"], after["Progress"]), ("pending", "0%"))
        self.assertEqual({k: v for k, v in after.items() if k != "StartTime"},
                         {k: v for k, v in before.items() if k != "StartTime"})

    def test_refused_requests_change_nothing(self):
        vid = self.new_volume()
        sid = self.sb.bulk_snapshots(vid, 1)[0]
        self.sb.set_start_times({sid: "2024-06-01T00:00:00Z"})
        missing = "snap-0123456789abcdef0"
        public = self.ec2.describe_snapshots(OwnerIds=["amazon"], MaxResults=5)["Snapshots"][0]["SnapshotId"]
        cases = [
            ({"start_times": {sid: "2025-01-01T00:00:00Z", missing: "2025-01-01T00:00:00Z"}}, missing),
            ({"start_times": {public: "2025-01-01T00:00:00Z"}}, public),
            ({"start_times": {sid: "yesterday"}}, sid),
            ({"start_times": {sid: "2025-01-01T00:00:00"}}, "time zone"),
            ({"start_times": {sid: 1735689600}}, sid),
            ({"start_times": {}}, "start_times"),
            ({"start_times": [sid]}, "start_times"),
            ({"start_time": {sid: "2025-01-01T00:00:00Z"}}, "start_time"),
        ]
        for doc, named in cases:
            with self.subTest(doc=doc):
                status, answer = self.sb.control_error("POST", "/snapshots/start-time", doc)
                self.assertEqual(status, 400, answer)
                self.assertIn(named, answer["error"])
        self.assertEqual(self.ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["StartTime"],
                         datetime.datetime(2024, 6, 1, tzinfo=UTC))


class BulkSnapshots(SandboxTestCase):
    def test_a_run_per_request_with_state_and_start_time(self):
        vols = [self.new_volume(), self.new_volume()]
        ids = self.sb.bulk_snapshots(vols, 2, {"ebsnap:run-id": "r1"}, description="run r1",
                                     start_time="2025-03-01T12:00:00Z")
        self.assertEqual(len(ids), 4)
        snaps = {s["SnapshotId"]: s for s in self.ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]}
        # count rounds of one snapshot per volume, in that order.
        self.assertEqual([snaps[i]["VolumeId"] for i in ids], vols + vols)
        for s in snaps.values():
            self.assertEqual((s["State"], s["Progress"], s["Description"]), ("completed", "100%", "run r1"))
            self.assertEqual(s["StartTime"], datetime.datetime(2025, 3, 1, 12, tzinfo=UTC))
            self.assertEqual(s["Tags"], [{"Key": "ebsnap:run-id", "Value": "r1"}])

        [pending] = self.sb.bulk_snapshots(vols[0], 1, state="pending")
        [error] = self.sb.bulk_snapshots(vols[0], 1, state="error")
        states = {s["SnapshotId"]: (s["State"], s["Progress"])
                  for s in self.ec2.describe_snapshots(SnapshotIds=[pending, error])["Snapshots"]}
        self.assertEqual(states, {pending: ("pending", "0%"), error: ("error", "0%")})
        by_status = {s["SnapshotId"] for s in self.ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["pending", "error"]}])["Snapshots"]}
        self.assertEqual(by_status, {pending, error})
        self.ec2.delete_snapshot(SnapshotId=error)

    def test_refused_requests_create_nothing(self):
        vid = self.new_volume()
        before = len(self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
        cases = [
            ({"volume_id": vid, "count": 1, "state": "deleting"}, "state"),
            ({"volume_id": vid, "count": 1, "start_time": "2025-13-01T00:00:00Z"}, "start_time"),
            ({"volume_id": vid, "volume_ids": [vid], "count": 1}, "volume_id"),
            ({"volume_ids": [], "count": 1}, "volume_ids"),
            ({"volume_ids": [vid, vid], "count": 50001}, "count"),
            ({"volume_id": vid, "count": 0}, "count"),
            ({"volume_id": vid, "count": 1, "tags": {"k": 1}}, "tags"),
            ({"volume_id": vid, "count": 1, "tag": {"k": "v"}}, "tag"),
            ({"volume_ids": [vid, "vol-0123456789abcdef0"], "count": 1}, "InvalidVolume.NotFound"),
        ]
        for doc, named in cases:
            with self.subTest(doc=doc):
                status, answer = self.sb.control_error("POST", "/snapshots/bulk", doc)
                self.assertEqual(status, 400, answer)
                self.assertIn(named, answer["error"])
        self.assertEqual(len(self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]), before)


if __name__ == "__main__":
    unittest.main()
