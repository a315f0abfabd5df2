"""POST {CONTROL}/volumes/create-time sets CreateTime (EC2 itself cannot), so that gc's
--older-than can be tested without waiting a day."""
import datetime
import unittest

from tests.support import SandboxTestCase

UTC = datetime.timezone.utc


class CreateTimeControl(SandboxTestCase):
    def test_sets_create_time_and_the_filter_follows(self):
        a, b = self.new_volume(), self.new_volume()
        before = self.ec2.describe_volumes(VolumeIds=[a])["Volumes"][0]
        self.assertEqual(self.sb.set_create_times({a: "2024-02-29T23:30:00+02:00", b: "2025-12-31T23:59:59Z"}), 2)
        after = {v["VolumeId"]: v for v in self.ec2.describe_volumes(VolumeIds=[a, b])["Volumes"]}
        self.assertEqual(after[a]["CreateTime"], datetime.datetime(2024, 2, 29, 21, 30, tzinfo=UTC))
        self.assertEqual(after[b]["CreateTime"], datetime.datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
        self.assertEqual({k: v for k, v in after[a].items() if k != "CreateTime"},
                         {k: v for k, v in before.items() if k != "CreateTime"})
        found = self.ec2.describe_volumes(Filters=[{"Name": "create-time", "Values": ["2024-02-29T21:30:*"]}])
        self.assertEqual([v["VolumeId"] for v in found["Volumes"]], [a])

    def test_refused_requests_change_nothing(self):
        vid = self.new_volume()
        self.sb.set_create_times({vid: "2024-06-01T00:00:00Z"})
        missing = "vol-0123456789abcdef0"
        for doc, named in [({"create_times": {vid: "2025-01-01T00:00:00Z", missing: "2025-01-01T00:00:00Z"}}, missing),
                           ({"create_times": {vid: "yesterday"}}, vid),
                           ({"create_times": {}}, "create_times"),
                           ({"create_times": {vid: "2025-01-01T00:00:00Z"}, "other": 1}, "other")]:
            status, answer = self.sb.control_error("POST", "/volumes/create-time", doc)
            self.assertEqual(status, 400, answer)
            self.assertIn(named, answer["error"])
        vol = self.ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
        self.assertEqual(vol["CreateTime"], datetime.datetime(2024, 6, 1, tzinfo=UTC))


if __name__ == "__main__":
    unittest.main()
