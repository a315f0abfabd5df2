"""Parameters are checked against botocore's EC2 model, with EC2's Query flattening."""
import re
import unittest

from tests.support import SandboxTestCase

V = {"Version": "2016-11-15"}


def code(text: str) -> str | None:
    m = re.search(r"<Code>([^<]+)</Code>", text)
    return m.group(1) if m else None


class Parameters(SandboxTestCase):
    def call(self, **params):
        return self.sb.raw_call({**V, **params})

    def assertError(self, expected_code, status, params):
        got_status, text = self.sb.raw_call({**V, **params})
        self.assertEqual((got_status, code(text)), (status, expected_code), text)
        return text

    def test_unknown_action(self):
        self.assertError("InvalidAction", 400, {"Action": "DescribeVolumez"})

    def test_unknown_or_misspelled_parameter(self):
        text = self.assertError("UnknownParameter", 400, {"Action": "DescribeVolumes", "VolumeIdz.1": "vol-1"})
        self.assertIn("The parameter VolumeIdz is not recognized", text)
        self.assertError("UnknownParameter", 400, {"Action": "DescribeVolumes", "Filter.1.Nme": "status"})
        # The model's member name is not the wire name: Owner.N, not OwnerIds.N / OwnerId.N.
        self.assertError("UnknownParameter", 400, {"Action": "DescribeSnapshots", "OwnerId.1": "self"})
        self.assertError("UnknownParameter", 400, {"Action": "DescribeSnapshots", "OwnerIds.1": "self"})
        self.assertError("UnknownParameter", 400, {"Action": "DescribeVolumes", "VolumeId": "vol-1"})
        self.assertError("UnknownParameter", 400, {"Action": "CreateSnapshots", "InstanceSpecification.InstanceId": "i-1",
                                                   "InstanceSpecification.ExcludeBoot": "true"})

    def test_wrong_types(self):
        self.assertError("InvalidParameterValue", 400, {"Action": "DescribeSnapshots", "MaxResults": "ten"})
        self.assertError("InvalidParameterValue", 400, {"Action": "DescribeVolumes", "DryRun": "maybe"})
        self.assertError("InvalidParameterValue", 400, {"Action": "CreateVolume", "AvailabilityZone": self.sb.az,
                                                        "Size": "1.5"})
        self.assertError("InvalidParameterValue", 400, {"Action": "CreateVolume", "AvailabilityZone": self.sb.az,
                                                        "Size": "1", "VolumeType": "gp9"})

    def test_missing_required_parameter(self):
        self.assertError("MissingParameter", 400, {"Action": "CreateSnapshot"})
        self.assertError("MissingParameter", 400, {"Action": "AttachVolume", "VolumeId": "vol-1", "Device": "/dev/sdf"})

    def test_flattened_parameters_are_understood(self):
        status, text = self.call(**{
            "Action": "CreateVolume", "AvailabilityZone": self.sb.az, "Size": "1",
            "TagSpecification.1.ResourceType": "volume",
            "TagSpecification.1.Tag.1.Key": "team", "TagSpecification.1.Tag.1.Value": "search",
            "TagSpecification.1.Tag.2.Key": "Name", "TagSpecification.1.Tag.2.Value": "flat"})
        self.assertEqual(status, 200, text)
        vid = re.search(r"<volumeId>(vol-[0-9a-f]+)</volumeId>", text).group(1)
        status, text = self.call(**{"Action": "DescribeVolumes", "Filter.1.Name": "tag:team",
                                    "Filter.1.Value.1": "other", "Filter.1.Value.2": "search",
                                    "Filter.2.Name": "volume-id", "Filter.2.Value.1": vid})
        self.assertEqual(status, 200, text)
        self.assertIn(vid, text)
        self.assertIn('xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"', text)
        status, text = self.call(**{"Action": "DescribeVolumes", "VolumeId.1": vid})
        self.assertEqual(status, 200, text)
        status, text = self.call(**{"Action": "DescribeSnapshots", "Owner.1": "self", "MaxResults": "5"})
        self.assertEqual(status, 200, text)

    def test_an_action_moto_cannot_serve_is_internal_error(self):
        # moto 5.2.1 raises NotImplementedError for DescribeVolumeAttribute (and did for
        # DescribeVolumeStatus, which the gateway now serves itself).
        vid = self.new_volume()
        self.assertBotoError("InternalError", self.ec2.describe_volume_attribute, VolumeId=vid,
                             Attribute="autoEnableIO", status=500)
        self.assertEqual(self.call(Action="DescribeVolumes")[0], 200)

    def test_missing_version(self):
        status, text = self.sb.raw_call({"Action": "DescribeVolumes"})
        self.assertEqual((status, code(text)), (400, "MissingParameter"), text)

    def test_gateway_survives_bad_requests(self):
        for body in ({"Action": ""}, {"Action": "DescribeVolumes", "Version": "2016-11-15", "Filter.x.Name": "a"},
                     {"Action": "DescribeVolumes", "Version": "2016-11-15", "Filter.1": "a"}):
            status, _ = self.sb.raw_call(body)
            self.assertEqual(status, 400)
        self.assertEqual(self.call(Action="DescribeVolumes")[0], 200)


class Filters(SandboxTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()

        def vol(az, **tags):
            return cls.ec2.create_volume(Size=1, AvailabilityZone=az, TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["VolumeId"]
        cls.a = vol(cls.sb.az, role="solr", env="prod")
        cls.b = vol(cls.sb.az, role="pg", env="prod")
        cls.c = vol("eu-west-1b", role="queue")
        cls.d = vol(cls.sb.az, other="x")
        cls.ec2.attach_volume(VolumeId=cls.a, InstanceId=cls.sb.instance_id, Device="/dev/sdf")

    def ids(self, *filters):
        out = self.ec2.describe_volumes(Filters=[{"Name": n, "Values": v} for n, v in filters])["Volumes"]
        return {v["VolumeId"] for v in out}

    def test_tag_filter_with_several_values(self):
        self.assertEqual(self.ids(("tag:role", ["solr", "pg"])), {self.a, self.b})
        got = self.sb.aws("describe-volumes", "--filters", "Name=tag:role,Values=solr,queue")["Volumes"]
        self.assertEqual({v["VolumeId"] for v in got}, {self.a, self.c})

    def test_filters_are_anded(self):
        self.assertEqual(self.ids(("tag:role", ["solr", "pg"]), ("tag:env", ["prod"]), ("volume-id", [self.b])), {self.b})

    def test_tag_key(self):
        self.assertEqual(self.ids(("tag-key", ["role"])), {self.a, self.b, self.c})
        self.assertEqual(self.ids(("tag-key", ["other", "env"])), {self.a, self.b, self.d})

    def test_wildcards(self):
        self.assertEqual(self.ids(("tag:role", ["s*"])), {self.a})
        self.assertEqual(self.ids(("tag:role", ["p?"])), {self.b})

    def test_attachment_and_zone_filters(self):
        self.assertEqual(self.ids(("attachment.instance-id", [self.sb.instance_id]), ("attachment.device", ["/dev/sdf"])),
                         {self.a})
        self.assertEqual(self.ids(("availability-zone", ["eu-west-1b"])), {self.c})
        self.assertIn(self.d, self.ids(("status", ["available"])))
        self.assertNotIn(self.a, self.ids(("status", ["available"])))

    def test_unknown_filter_is_refused(self):
        self.assertBotoError("InvalidParameterValue", self.ec2.describe_volumes,
                             Filters=[{"Name": "colour", "Values": ["red"]}])


if __name__ == "__main__":
    unittest.main()
