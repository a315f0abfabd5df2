#!/usr/bin/env python3
"""Shows what plain moto (no sandbox gateway) does for each gap the sandbox closes.

    $(scripts/find-python) tests/sandbox/check_moto_gaps.py

Each line: gap name, then what moto answered. README.md ("Moto gaps") records the output for
moto 5.2.1; rerun it after a moto upgrade to see which workarounds may have become redundant.
"""
import os

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402
import moto  # noqa: E402
from moto import mock_aws  # noqa: E402

AZ = "eu-west-1a"


def outcome(fn):
    try:
        return f"ok: {fn()}"
    except botocore.exceptions.ClientError as e:
        return f"{e.response['Error']['Code']} (HTTP {e.response['ResponseMetadata']['HTTPStatusCode']})"
    except Exception as e:  # moto's server would answer 500
        return f"crash: {type(e).__name__}: {e}"


def main():
    print(f"moto {moto.__version__}")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        iid = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                Placement={"AvailabilityZone": AZ})["Instances"][0]["InstanceId"]

        def vol(az=AZ, **kw):
            return ec2.create_volume(Size=1, AvailabilityZone=az, **kw)["VolumeId"]

        def state(v):
            return ec2.describe_volumes(VolumeIds=[v])["Volumes"][0]

        def check(item):
            name, fn = item
            print(f"gap: {name}\n     moto: {outcome(fn)}")

        v = vol()
        check(("volume state right after CreateVolume (EC2: creating)", lambda: state(v)["State"]))
        ec2.attach_volume(VolumeId=v, InstanceId=iid, Device="/dev/sdf")
        check(("attachment state right after AttachVolume (EC2: attaching)",
                       lambda: state(v)["Attachments"][0]["State"]))
        s = ec2.create_snapshot(VolumeId=v)["SnapshotId"]
        check(("snapshot state right after CreateSnapshot (EC2: pending)",
                       lambda: ec2.describe_snapshots(SnapshotIds=[s])["Snapshots"][0]["State"]))
        check(("second CreateSnapshot of a volume at once (EC2: SnapshotCreationPerVolumeRateExceeded)",
                       lambda: ec2.create_snapshot(VolumeId=v)["State"]))
        check(("double attach (EC2: VolumeInUse)",
                       lambda: ec2.attach_volume(VolumeId=v, InstanceId=iid, Device="/dev/sdg")["State"]))
        v2 = vol()
        check(("attach at a device name in use (EC2: InvalidParameterValue)",
                       lambda: ec2.attach_volume(VolumeId=v2, InstanceId=iid, Device="/dev/sdg")["State"]))
        v3 = vol("eu-west-1b")
        check(("attach across zones (EC2: InvalidVolume.ZoneMismatch)",
                       lambda: ec2.attach_volume(VolumeId=v3, InstanceId=iid, Device="/dev/sdh")["State"]))
        v4 = vol()
        check(("detach of a volume never attached, no InstanceId (EC2: IncorrectState)",
                       lambda: ec2.detach_volume(VolumeId=v4)["State"]))
        check(("detach of a volume never attached, with InstanceId (EC2: IncorrectState)",
                       lambda: ec2.detach_volume(VolumeId=v4, InstanceId=iid)["State"]))
        check(("detach of an attached volume without InstanceId (EC2: detaching)",
                       lambda: ec2.detach_volume(VolumeId=v2)["State"]))
        check(("delete of an in-use volume (EC2: VolumeInUse)",
                       lambda: ec2.delete_volume(VolumeId=v2)))
        for _ in range(12):
            ec2.create_snapshot(VolumeId=v4)
            vol()
        check(("DescribeSnapshots MaxResults=5 (EC2: 5 items + NextToken)",
                       lambda: (lambda r: (len(r["Snapshots"]), "NextToken" in r))(ec2.describe_snapshots(MaxResults=5))))
        check(("DescribeVolumes MaxResults=5 (EC2: 5 items + NextToken)",
                       lambda: (lambda r: (len(r["Volumes"]), "NextToken" in r))(ec2.describe_volumes(MaxResults=5))))
        check(("DescribeVolumes MaxResults=2 (EC2: InvalidParameterValue, 5..500)",
                       lambda: len(ec2.describe_volumes(MaxResults=2)["Volumes"])))
        check(("DescribeVolumes MaxResults with VolumeIds (EC2: InvalidParameterCombination)",
                       lambda: len(ec2.describe_volumes(MaxResults=5, VolumeIds=[v])["Volumes"])))
        check(("DescribeSnapshots OwnerIds=self: count (EC2: only ours, 15 here)",
                       lambda: len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])))
        ec2.create_tags(Resources=[v], Tags=[{"Key": "k", "Value": "from-volume"}])
        check(("CreateSnapshots CopyTagsFromSource=volume: tags (EC2: the volume's)",
                       lambda: [x["Tags"] for x in ec2.create_snapshots(
                           InstanceSpecification={"InstanceId": iid, "ExcludeBootVolume": True},
                           CopyTagsFromSource="volume")["Snapshots"]]))
        check(("CreateSnapshots per-snapshot State (EC2: pending)",
                       lambda: [x.get("State") for x in ec2.create_snapshots(
                           InstanceSpecification={"InstanceId": iid, "ExcludeBootVolume": True})["Snapshots"]]))
        t1 = ec2.create_volume(Size=1, AvailabilityZone=AZ, ClientToken="tok")["VolumeId"]
        check(("CreateVolume same ClientToken twice (EC2: the same volume)",
                       lambda: ec2.create_volume(Size=1, AvailabilityZone=AZ, ClientToken="tok")["VolumeId"] == t1))
        check(("CreateVolume same ClientToken, other size (EC2: IdempotentParameterMismatch)",
                       lambda: ec2.create_volume(Size=2, AvailabilityZone=AZ, ClientToken="tok")["VolumeId"]))
        check(("DescribeVolumes DryRun=true (EC2: DryRunOperation)",
                       lambda: len(ec2.describe_volumes(DryRun=True)["Volumes"])))
        check(("CreateTags on a volume that does not exist (EC2: InvalidVolume.NotFound)",
                       lambda: ec2.create_tags(Resources=["vol-0123456789abcdef0"],
                                               Tags=[{"Key": "a", "Value": "b"}])["ResponseMetadata"]["HTTPStatusCode"]))
        v5 = vol()
        ec2.attach_volume(VolumeId=v5, InstanceId=iid, Device="/dev/sdm")
        ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
            {"DeviceName": "/dev/sdm", "Ebs": {"DeleteOnTermination": True}}])
        check(("DescribeVolumes after ModifyInstanceAttribute DeleteOnTermination=true (EC2: true on the attachment)",
                       lambda: state(v5)["Attachments"][0].get("DeleteOnTermination")))
        check(("ModifyInstanceAttribute on a device not mapped (EC2: InvalidInstanceAttributeValue)",
                       lambda: ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
                           {"DeviceName": "/dev/sdz", "Ebs": {"DeleteOnTermination": True}}])["ResponseMetadata"]["HTTPStatusCode"]))
        s_ami = ec2.create_snapshot(VolumeId=v4)["SnapshotId"]
        ami = ec2.register_image(Name="from-snapshot", RootDeviceName="/dev/sda1", BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": s_ami}}])["ImageId"]
        check(("DescribeImages of an AMI registered from a snapshot: its snapshot (EC2: that snapshot)",
                       lambda: [m["Ebs"].get("SnapshotId") for m in ec2.describe_images(
                           ImageIds=[ami])["Images"][0]["BlockDeviceMappings"]] + [s_ami]))
        check(("DeleteSnapshot of a snapshot a registered AMI uses (EC2: InvalidSnapshot.InUse)",
                       lambda: ec2.delete_snapshot(SnapshotId=s_ami)["ResponseMetadata"]["HTTPStatusCode"]))
        created = ec2.create_image(InstanceId=iid, Name="from-instance")["ImageId"]
        created_snap = ec2.describe_images(ImageIds=[created])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        check(("DeleteSnapshot of the snapshot CreateImage made (EC2: InvalidSnapshot.InUse)",
                       lambda: ec2.delete_snapshot(SnapshotId=created_snap)["ResponseMetadata"]["HTTPStatusCode"]))
    print("gap: parameters are not checked against the model (EC2: UnknownParameter) -- moto reads the "
          "parameters it knows and ignores the rest; see tests/test_params.py")
    print("gap: signatures are not verified (EC2: AuthFailure) -- moto's server accepts any Authorization")


if __name__ == "__main__":
    main()
