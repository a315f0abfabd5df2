"""Latency, EC2-like throttling (token buckets), injected 5xx, fail-next and dropped connections."""
import http.client
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from botocore.exceptions import ClientError, ConnectionClosedError

from tests.support import SandboxTestCase


def outcome(fn, **kwargs) -> str:
    try:
        fn(**kwargs)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


class Throttling(SandboxTestCase):
    def tearDown(self):
        from ebsnap_sandbox.config import DEFAULT_BUCKETS
        self.sb.configure({"throttling": {"enabled": False, "buckets": DEFAULT_BUCKETS}})

    def test_defaults_are_ec2s(self):
        buckets = self.sb.config()["throttling"]["buckets"]
        self.assertEqual(buckets["describe"], {"burst": 100, "rate": 20})
        self.assertEqual(buckets["mutating"], {"burst": 50, "rate": 5})
        for action in ("CreateVolume", "DeleteVolume", "CreateSnapshot", "CreateSnapshots", "DeleteSnapshot"):
            self.assertEqual(buckets[action], {"burst": 100, "rate": 5})
        self.assertEqual(buckets["CreateTags"], {"burst": 100, "rate": 10})
        self.assertFalse(self.sb.config()["throttling"]["enabled"])

    def test_burst_is_throttled_then_drains_at_the_configured_rate(self):
        vid = self.new_volume()
        burst, rate = 10, 4
        self.sb.configure({"throttling": {"enabled": True, "buckets": {"CreateTags": {"burst": burst, "rate": rate}}}})
        tag = {"Resources": [vid], "Tags": [{"Key": "k", "Value": "v"}]}
        started = time.monotonic()
        results = [outcome(self.ec2.create_tags, **tag) for _ in range(burst + 10)]
        elapsed = time.monotonic() - started
        ok = results.count("ok")
        self.assertEqual(set(results), {"ok", "RequestLimitExceeded"}, results)
        # The full burst, plus whatever refilled while the calls ran (however slow they were).
        self.assertGreaterEqual(ok, burst)
        self.assertLessEqual(ok, burst + int(rate * elapsed) + 1)

        # The refill, measured on the bucket itself (the control endpoint costs no token), so
        # the measure does not depend on how long calls take on a loaded machine.
        before_first = time.monotonic()
        first = self.sb.tokens()["CreateTags"]
        after_first = time.monotonic()
        time.sleep(1.0)
        before_second = time.monotonic()
        second = self.sb.tokens()["CreateTags"]
        after_second = time.monotonic()
        self.assertLess(second, burst, "the bucket must not be full again after ~1 s")
        gained = second - first
        self.assertGreaterEqual(gained, rate * (before_second - after_first) - 0.01)
        self.assertLessEqual(gained, rate * (after_second - before_first) + 0.01)
        # And the clients see it: the refilled tokens let calls through again.
        self.assertEqual(outcome(self.ec2.create_tags, **tag), "ok")
        # Another category is not affected.
        self.ec2.describe_volumes()

    def test_delete_snapshot_burst_is_ec2s_100_in_its_own_bucket(self):
        # What prune paces against (issue 12): with EC2's defaults, a burst of DeleteSnapshot
        # gets 100 through, plus 5/s refilled while it runs, then RequestLimitExceeded; other
        # mutating actions draw on their own buckets.
        sids = self.sb.bulk_snapshots(self.new_volume(), 400)
        self.sb.configure({"throttling": {"enabled": True}})
        started = time.monotonic()
        ok = 0
        for sid in sids:  # until the first refusal
            result = outcome(self.ec2.delete_snapshot, SnapshotId=sid)
            if result != "ok":
                break
            ok += 1
        elapsed = time.monotonic() - started
        self.assertEqual(result, "RequestLimitExceeded")
        self.assertGreaterEqual(ok, 100)
        self.assertLessEqual(ok, 100 + int(5 * elapsed) + 1, f"{ok} deletions in {elapsed:.2f} s")
        tokens = self.sb.tokens()
        self.assertNotIn("mutating", tokens)
        self.assertLess(tokens["DeleteSnapshot"], 5 * (time.monotonic() - started) + 1)
        # DeleteVolume: its own bucket, still full.
        self.ec2.delete_volume(VolumeId=self.new_volume())
        self.assertGreater(self.sb.tokens()["DeleteVolume"], 98)

    def test_throttled_call_is_503_request_limit_exceeded(self):
        self.sb.configure({"throttling": {"enabled": True, "buckets": {"describe": {"burst": 1, "rate": 0.01}}}})
        self.ec2.describe_volumes()
        err = self.assertBotoError("RequestLimitExceeded", self.ec2.describe_volumes, status=503)
        self.assertIn("Request limit exceeded", err["Error"]["Message"])
        self.assertAwsError("RequestLimitExceeded", "describe-snapshots", "--owner-ids", "self")


class Faults(SandboxTestCase):
    def tearDown(self):
        self.sb.configure({"error_5xx_fraction": 0, "drop_fraction": 0, "throttle_fraction": 0, "reset_fraction": 0, "reset_next": 0,
                           "fault_actions": None, "latency_ms": {"default": 0, "DescribeVolumes": 0},
                           "fail_next": {"count": 0}})

    def test_latency_per_action(self):
        self.sb.configure({"latency_ms": {"DescribeVolumes": 800}})
        started = time.monotonic()
        self.ec2.describe_volumes()
        self.assertGreaterEqual(time.monotonic() - started, 0.8)
        entry = [c for c in self.sb.calls() if c["action"] == "DescribeVolumes"][-1]
        self.assertGreaterEqual(entry["latency_ms"], 800)
        self.ec2.describe_snapshots(OwnerIds=["self"])
        entry = [c for c in self.sb.calls() if c["action"] == "DescribeSnapshots"][-1]
        self.assertLess(entry["latency_ms"], 800)

    def test_a_request_is_counted_received_on_arrival_before_its_latency(self):
        # The kill matrix tells a call in flight (received, not yet answered) from one not sent.
        self.sb.configure({"latency_ms": {"DescribeVolumes": 800}})
        before = self.sb.received().get("DescribeVolumes", 0)
        logged = len([c for c in self.sb.calls() if c["action"] == "DescribeVolumes"])
        call = threading.Thread(target=self.ec2.describe_volumes)
        call.start()
        for _ in range(400):
            if self.sb.received().get("DescribeVolumes", 0) > before:
                break
            time.sleep(0.005)
        self.assertEqual(self.sb.received().get("DescribeVolumes", 0), before + 1)
        self.assertEqual(len([c for c in self.sb.calls() if c["action"] == "DescribeVolumes"]), logged,
                         "in flight: not in the call log yet")
        call.join()
        self.assertEqual(len([c for c in self.sb.calls() if c["action"] == "DescribeVolumes"]), logged + 1)

    def test_5xx_fraction_is_visible_and_reproducible_with_a_seed(self):
        def pattern():
            self.sb.configure({"seed": 42, "error_5xx_fraction": 0.5, "fault_actions": ["DescribeVolumes"]})
            return [outcome(self.ec2.describe_volumes) for _ in range(16)]
        first = pattern()
        self.assertTrue({"InternalError", "Unavailable"} & set(first), first)
        self.assertIn("ok", first)
        self.assertEqual(pattern(), first)
        # Only the listed actions are affected.
        self.ec2.describe_snapshots(OwnerIds=["self"])
        statuses = {c["status"] for c in self.sb.calls() if c["error"] in ("InternalError", "Unavailable")}
        self.assertTrue(statuses <= {500, 503} and statuses)

    def test_fail_next(self):
        self.sb.configure({"fail_next": {"count": 2, "status": 500, "code": "InternalError"}})
        self.assertBotoError("InternalError", self.ec2.describe_volumes, status=500)
        self.assertBotoError("InternalError", self.ec2.describe_volumes, status=500)
        self.ec2.describe_volumes()
        self.assertEqual(self.sb.config()["fail_next"]["count"], 0)

    def test_throttle_fraction(self):
        self.sb.configure({"throttle_fraction": 1.0})
        self.assertBotoError("RequestLimitExceeded", self.ec2.describe_volumes, status=503)

    def test_dropped_connection(self):
        self.sb.configure({"drop_fraction": 1.0, "fault_actions": ["DescribeVolumes"]})
        with self.assertRaises(ConnectionClosedError):
            self.ec2.describe_volumes()
        self.assertEqual(self.sb.calls()[-1]["error"], "DroppedConnection")
        # The gateway keeps serving.
        self.ec2.describe_snapshots(OwnerIds=["self"])

    def test_reset_mid_response_serves_the_call_then_cuts_its_answer(self):
        before = {v["VolumeId"] for v in self.ec2.describe_volumes()["Volumes"]}
        self.sb.configure({"reset_fraction": 1.0, "fault_actions": ["CreateVolume"]})
        # Raw HTTP, to see what the client gets: a status line, headers, part of the body, a reset.
        request = self.sb.signed_request({"Action": "CreateVolume", "Version": "2016-11-15",
                                          "AvailabilityZone": self.sb.az, "Size": "1"})
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(self.sb.endpoint).netloc, timeout=10)
        conn.request("POST", "/", body=request["body"], headers=request["headers"])
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        length = int(response.getheader("Content-Length"))
        with self.assertRaises((ConnectionResetError, http.client.IncompleteRead)):
            response.read()
        conn.close()
        entry = [c for c in self.sb.calls() if c["action"] == "CreateVolume"][-1]
        self.assertEqual((entry["status"], entry.get("reset")), (200, True))
        self.assertEqual(entry["access_key_id"], self.sb.env["AWS_ACCESS_KEY_ID"])
        self.assertGreater(length, 0)
        # The call was served: the volume exists although its answer never arrived whole.
        self.sb.configure({"reset_fraction": 0, "fault_actions": None})
        after = {v["VolumeId"] for v in self.ec2.describe_volumes()["Volumes"]}
        created = after - before
        self.assertEqual(len(created), 1)
        # Other actions are not cut; the gateway keeps serving.
        self.ec2.delete_volume(VolumeId=created.pop())
        # reset_next: the next N calls, whatever the fraction.
        self.sb.configure({"reset_next": 1})
        with self.assertRaises(Exception):
            self.ec2.describe_volumes()
        self.assertTrue(self.sb.calls()[-1].get("reset"))
        self.assertEqual(self.sb.config()["reset_next"], 0)
        self.ec2.describe_volumes()

    def test_retrying_client_gets_through_injected_faults(self):
        self.sb.configure({"fail_next": {"count": 2, "status": 503, "code": "Unavailable"}})
        self.sb.boto3(retries=3).describe_volumes()

    def test_volumes_and_snapshots_that_end_in_error(self):
        self.sb.configure({"volume_error_next": 1, "snapshot_error_next": 1})
        broken = self.new_volume()
        fine = self.new_volume()
        self.assertEqual(self.ec2.describe_volumes(VolumeIds=[broken])["Volumes"][0]["State"], "error")
        self.assertBotoError("IncorrectState", self.ec2.attach_volume, VolumeId=broken,
                             InstanceId=self.sb.instance_id, Device="/dev/sdz")
        failed = self.ec2.create_snapshot(VolumeId=fine)["SnapshotId"]
        good = self.ec2.create_snapshot(VolumeId=fine)["SnapshotId"]
        states = {s["SnapshotId"]: s["State"] for s in self.ec2.describe_snapshots(SnapshotIds=[failed, good])["Snapshots"]}
        self.assertEqual(states, {failed: "error", good: "completed"})
        errored = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["error"]}])
        self.assertEqual([s["SnapshotId"] for s in errored["Snapshots"]], [failed])
        self.assertBotoError("IncorrectState", self.ec2.create_volume, SnapshotId=failed, AvailabilityZone=self.sb.az)
        self.assertEqual(self.sb.config()["volume_error_next"], 0)
        for sid in (failed, good):
            self.ec2.delete_snapshot(SnapshotId=sid)
        for vid in (broken, fine):
            self.ec2.delete_volume(VolumeId=vid)

    def test_bad_configuration_is_refused(self):
        req = urllib.request.Request(self.sb.control + "/config", data=b'{"latency": 5}', method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 400)
        self.assertIn("unknown key 'latency'", cm.exception.read().decode())
        for bad in (b'{"drop_fraction": 2}', b'{"fail_next": {"count": 1.5}}', b'{"timing": {"attach_s": "1"}}',
                    b'{"allowed_actions": "DescribeVolumes"}'):
            req = urllib.request.Request(self.sb.control + "/config", data=bad, method="POST")
            with self.assertRaises(urllib.error.HTTPError, msg=bad):
                urllib.request.urlopen(req, timeout=10)

    def test_garbage_request_does_not_kill_the_gateway(self):
        url = urllib.parse.urlsplit(self.sb.endpoint)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("POST", "/", body=b"\xff\xfe%%%==&&", headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(conn.getresponse().status, 401)
        conn.close()
        self.ec2.describe_volumes()


if __name__ == "__main__":
    unittest.main()
