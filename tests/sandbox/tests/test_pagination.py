"""MaxResults/NextToken on DescribeSnapshots and DescribeVolumes, over 2,500 snapshots."""
import unittest

from tests.support import SandboxTestCase

COUNT = 2500


class Pagination(SandboxTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vol = cls.ec2.create_volume(Size=1, AvailabilityZone=cls.sb.az)["VolumeId"]
        # Created straight in moto's backend (fast path); paged through over HTTP below.
        cls.snapshots = set(cls.sb.bulk_snapshots(cls.vol, COUNT, {"lineage": "bulk"}))
        assert len(cls.snapshots) == COUNT

    def page_all(self, page_size, **kwargs):
        pages, token = [], None
        while True:
            args = dict(kwargs, MaxResults=page_size)
            if token:
                args["NextToken"] = token
            out = self.ec2.describe_snapshots(**args)
            pages.append([s["SnapshotId"] for s in out["Snapshots"]])
            token = out.get("NextToken")
            if not token:
                return pages

    def assertCompleteAndDisjoint(self, pages, page_size):
        flat = [s for p in pages for s in p]
        self.assertEqual(len(flat), len(set(flat)), "pages overlap")
        self.assertEqual(set(flat), self.snapshots)
        self.assertTrue(all(len(p) <= page_size for p in pages))
        self.assertTrue(all(len(p) == page_size for p in pages[:-1]))

    def test_boto3_pages_of_1000_and_137(self):
        for size in (1000, 137):
            pages = self.page_all(size, OwnerIds=["self"], Filters=[{"Name": "tag:lineage", "Values": ["bulk"]}])
            self.assertEqual(len(pages), -(-COUNT // size))
            self.assertCompleteAndDisjoint(pages, size)

    def test_awscli_pages_with_next_token(self):
        pages, token = [], None
        while True:
            args = ["describe-snapshots", "--owner-ids", "self", "--filters", "Name=volume-id,Values=" + self.vol,
                    "--max-results", "1000", "--no-paginate"]
            if token:
                args += ["--next-token", token]
            out = self.sb.aws(*args)
            pages.append([s["SnapshotId"] for s in out["Snapshots"]])
            token = out.get("NextToken")
            if not token:
                break
        self.assertEqual(len(pages), 3)
        self.assertCompleteAndDisjoint(pages, 1000)

    def test_awscli_auto_pagination_collects_everything(self):
        out = self.sb.aws("describe-snapshots", "--owner-ids", "self", "--page-size", "700",
                          "--filters", "Name=tag:lineage,Values=bulk")
        got = [s["SnapshotId"] for s in out["Snapshots"]]
        self.assertEqual(len(got), COUNT)
        self.assertEqual(set(got), self.snapshots)

    def test_max_results_bounds(self):
        self.assertBotoError("InvalidParameterValue", self.ec2.describe_snapshots, OwnerIds=["self"], MaxResults=4)
        # Above the bound EC2 clamps: 1000 for DescribeSnapshots.
        out = self.ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5000)
        self.assertEqual(len(out["Snapshots"]), 1000)
        self.assertIn("NextToken", out)
        self.assertEqual(len(self.ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5)["Snapshots"]), 5)

    def test_max_results_with_ids_is_refused(self):
        some = sorted(self.snapshots)[:2]
        self.assertBotoError("InvalidParameterCombination", self.ec2.describe_snapshots,
                             SnapshotIds=some, MaxResults=5)
        self.assertBotoError("InvalidParameterCombination", self.ec2.describe_volumes,
                             VolumeIds=[self.vol], MaxResults=5)

    def test_deleting_between_pages_keeps_pages_disjoint(self):
        first = self.ec2.describe_snapshots(OwnerIds=["self"], MaxResults=100,
                                            Filters=[{"Name": "tag:lineage", "Values": ["bulk"]}])
        served = [s["SnapshotId"] for s in first["Snapshots"]]
        victim = served[-1]
        self.ec2.delete_snapshot(SnapshotId=victim)
        self.snapshots.discard(victim)
        rest = self.page_all(1000, OwnerIds=["self"], Filters=[{"Name": "tag:lineage", "Values": ["bulk"]}])
        again = self.ec2.describe_snapshots(OwnerIds=["self"], MaxResults=1000, NextToken=first["NextToken"],
                                            Filters=[{"Name": "tag:lineage", "Values": ["bulk"]}])
        self.assertFalse(set(served) & {s["SnapshotId"] for s in again["Snapshots"]})
        self.assertEqual(sum(len(p) for p in rest), len(self.snapshots))

    def test_invalid_token(self):
        self.assertBotoError("InvalidPaginationToken", self.ec2.describe_snapshots, OwnerIds=["self"],
                             MaxResults=5, NextToken="garbage")

    def test_describe_volumes_pages(self):
        extra = [self.ec2.create_volume(Size=1, AvailabilityZone=self.sb.az,
                                        TagSpecifications=[{"ResourceType": "volume", "Tags": [
                                            {"Key": "pager", "Value": "yes"}]}])["VolumeId"] for _ in range(12)]
        self.assertBotoError("InvalidParameterValue", self.ec2.describe_volumes, MaxResults=4)
        seen, token, pages = [], None, 0
        while True:
            args = {"MaxResults": 5, "Filters": [{"Name": "tag:pager", "Values": ["yes"]}]}
            if token:
                args["NextToken"] = token
            out = self.ec2.describe_volumes(**args)
            pages += 1
            self.assertLessEqual(len(out["Volumes"]), 5)
            seen += [v["VolumeId"] for v in out["Volumes"]]
            token = out.get("NextToken")
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), sorted(extra))
        # boto3's paginator over the same call
        paginator = self.ec2.get_paginator("describe_volumes")
        got = [v["VolumeId"] for page in paginator.paginate(
            Filters=[{"Name": "tag:pager", "Values": ["yes"]}], PaginationConfig={"PageSize": 5}) for v in page["Volumes"]]
        self.assertEqual(sorted(got), sorted(extra))
        for v in extra:
            self.ec2.delete_volume(VolumeId=v)


if __name__ == "__main__":
    unittest.main()
