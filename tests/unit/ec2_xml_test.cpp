// EC2 Query responses as EC2 writes them (shapes from the EC2 API reference), incl. errors,
// empty sets and pagination tokens.
#include "ec2/ec2_xml.h"

#include <gtest/gtest.h>

namespace {

using namespace ec2;

constexpr const char* k_describe_volumes = R"(<?xml version="1.0" encoding="UTF-8"?>
<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <volumeSet>
        <item>
            <volumeId>vol-1234567890abcdef0</volumeId>
            <size>80</size>
            <snapshotId>snap-1234567890abcdef0</snapshotId>
            <availabilityZone>us-east-1a</availabilityZone>
            <status>in-use</status>
            <createTime>2013-12-18T22:35:00.084Z</createTime>
            <attachmentSet>
                <item>
                    <volumeId>vol-1234567890abcdef0</volumeId>
                    <instanceId>i-1234567890abcdef0</instanceId>
                    <device>/dev/sdf</device>
                    <status>attached</status>
                    <attachTime>2013-12-18T22:35:00.000Z</attachTime>
                    <deleteOnTermination>true</deleteOnTermination>
                </item>
            </attachmentSet>
            <tagSet>
                <item><key>ebsnap:group</key><value>solr</value></item>
                <item><key>empty</key><value/></item>
            </tagSet>
            <volumeType>gp3</volumeType>
            <iops>3000</iops>
            <throughput>125</throughput>
            <encrypted>true</encrypted>
            <kmsKeyId>arn:aws:kms:us-east-1:123:key/abc</kmsKeyId>
            <fastRestored>false</fastRestored>
            <volumeInitializationRate>200</volumeInitializationRate>
        </item>
        <item>
            <volumeId>vol-2</volumeId>
            <size>1</size>
            <snapshotId/>
            <availabilityZone>us-east-1a</availabilityZone>
            <status>creating</status>
            <createTime>2013-12-18T22:35:01Z</createTime>
            <attachmentSet/>
            <volumeType>standard</volumeType>
            <encrypted>false</encrypted>
        </item>
    </volumeSet>
    <nextToken>token-2</nextToken>
</DescribeVolumesResponse>)";

TEST(Ec2Xml, DescribeVolumesParsesEveryField) {
  auto page = xml::parse_describe_volumes(k_describe_volumes);
  ASSERT_TRUE(page) << page.error().describe();
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->next_token, "token-2");
  const Volume& v = page->items[0];
  EXPECT_EQ(v.id, VolumeId{"vol-1234567890abcdef0"});
  EXPECT_EQ(v.size_gib, 80);
  EXPECT_EQ(v.state, VolumeState::InUse);
  EXPECT_EQ(v.availability_zone, "us-east-1a");
  EXPECT_EQ(v.volume_type, "gp3");
  EXPECT_EQ(v.iops, 3000);
  EXPECT_EQ(v.throughput, 125);
  EXPECT_TRUE(v.encrypted);
  EXPECT_EQ(v.kms_key_id, "arn:aws:kms:us-east-1:123:key/abc");
  ASSERT_TRUE(v.snapshot_id);
  EXPECT_EQ(v.snapshot_id->value, "snap-1234567890abcdef0");
  EXPECT_EQ(v.create_time, parse_iso8601("2013-12-18T22:35:00.084Z"));
  ASSERT_EQ(v.attachments.size(), 1u);
  EXPECT_EQ(v.attachments[0].instance_id, InstanceId{"i-1234567890abcdef0"});
  EXPECT_EQ(v.attachments[0].device, "/dev/sdf");
  EXPECT_EQ(v.attachments[0].state, AttachmentState::Attached);
  EXPECT_TRUE(v.attachments[0].delete_on_termination);
  EXPECT_EQ(v.tags, (std::vector<Tag>{{"ebsnap:group", "solr"}, {"empty", ""}}));
  EXPECT_EQ(v.fast_restored, false);
  EXPECT_EQ(v.initialization_rate, 200);

  const Volume& w = page->items[1];
  EXPECT_FALSE(w.fast_restored);
  EXPECT_FALSE(w.initialization_rate);
  EXPECT_EQ(w.state, VolumeState::Creating);
  EXPECT_FALSE(w.snapshot_id);
  EXPECT_FALSE(w.iops);
  EXPECT_TRUE(w.attachments.empty());
  EXPECT_TRUE(w.tags.empty());
}

// DescribeVolumeStatus (EC2 API reference: VolumeStatusItem, InitializationStatusDetails): a volume
// restored at a provisioned rate, one at the default rate (no estimate), and an empty volume.
TEST(Ec2Xml, DescribeVolumeStatusParsesInitializationDetails) {
  auto page = xml::parse_describe_volume_status(R"(<?xml version="1.0" encoding="UTF-8"?>
<DescribeVolumeStatusResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>5jkdf074-37ed-4004-8671-a78ee82bf1cbEXAMPLE</requestId>
    <volumeStatusSet>
        <item>
            <volumeId>vol-1</volumeId>
            <availabilityZone>us-east-1a</availabilityZone>
            <volumeStatus>
                <status>ok</status>
                <details><item><name>io-enabled</name><status>passed</status></item></details>
            </volumeStatus>
            <eventsSet/>
            <actionsSet/>
            <initializationStatusDetails>
                <initializationType>provisioned-rate</initializationType>
                <progress>42</progress>
                <estimatedTimeToCompleteInSeconds>5000000000</estimatedTimeToCompleteInSeconds>
            </initializationStatusDetails>
        </item>
        <item>
            <volumeId>vol-2</volumeId>
            <volumeStatus><status>insufficient-data</status></volumeStatus>
            <initializationStatusDetails>
                <initializationType>default</initializationType>
                <progress>100</progress>
            </initializationStatusDetails>
        </item>
        <item>
            <volumeId>vol-3</volumeId>
            <volumeStatus><status>ok</status></volumeStatus>
        </item>
    </volumeStatusSet>
    <nextToken>next</nextToken>
</DescribeVolumeStatusResponse>)");
  ASSERT_TRUE(page) << page.error().describe();
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->next_token, "next");
  const auto& a = page->items[0];
  EXPECT_EQ(a.volume_id, VolumeId{"vol-1"});
  EXPECT_EQ(a.status, "ok");
  ASSERT_TRUE(a.initialization);
  EXPECT_EQ(a.initialization->type, "provisioned-rate");
  EXPECT_EQ(a.initialization->progress, 42);
  EXPECT_EQ(a.initialization->estimated_seconds_left, 5'000'000'000LL);  // a Long in EC2's model
  const auto& b = page->items[1];
  EXPECT_EQ(b.status, "insufficient-data");
  ASSERT_TRUE(b.initialization);
  EXPECT_EQ(b.initialization->type, "default");
  EXPECT_EQ(b.initialization->progress, 100);
  EXPECT_FALSE(b.initialization->estimated_seconds_left);
  EXPECT_FALSE(page->items[2].initialization);

  EXPECT_FALSE(xml::parse_describe_volume_status("<DescribeVolumesResponse/>"));
}

TEST(Ec2Xml, EmptySetsAndLastPage) {
  auto page = xml::parse_describe_snapshots(
      R"(<DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>)"
      R"(<snapshotSet/></DescribeSnapshotsResponse>)");
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->items.empty());
  EXPECT_TRUE(page->next_token.empty());
}

TEST(Ec2Xml, DescribeSnapshots) {
  auto page = xml::parse_describe_snapshots(
      R"(<DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
   <requestId>r</requestId>
   <snapshotSet>
      <item>
         <snapshotId>snap-1234567890abcdef0</snapshotId>
         <volumeId>vol-1234567890abcdef0</volumeId>
         <status>pending</status>
         <statusMessage/>
         <startTime>2016-08-29T10:56:35.000Z</startTime>
         <progress>80%</progress>
         <ownerId>123456789012</ownerId>
         <volumeSize>8</volumeSize>
         <description>Daily Backup</description>
         <encrypted>false</encrypted>
         <tagSet><item><key>Name</key><value>a b</value></item></tagSet>
      </item>
   </snapshotSet>
   <nextToken>abc==</nextToken>
</DescribeSnapshotsResponse>)");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  const Snapshot& s = page->items[0];
  EXPECT_EQ(s.id.value, "snap-1234567890abcdef0");
  EXPECT_EQ(s.volume_id.value, "vol-1234567890abcdef0");
  EXPECT_EQ(s.state, SnapshotState::Pending);
  EXPECT_EQ(s.progress, 80);
  EXPECT_EQ(s.owner_id, "123456789012");
  EXPECT_EQ(s.volume_size_gib, 8);
  EXPECT_EQ(s.description, "Daily Backup");
  EXPECT_EQ(format_iso8601(*s.start_time), "2016-08-29T10:56:35.000Z");
  EXPECT_EQ(find_tag(s.tags, "Name"), "a b");
  EXPECT_EQ(page->next_token, "abc==");
}

TEST(Ec2Xml, DescribeInstancesFlattensReservations) {
  auto page = xml::parse_describe_instances(
      R"(<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <reservationSet>
    <item><reservationId>r-1</reservationId><instancesSet>
      <item>
        <instanceId>i-1</instanceId>
        <instanceState><code>16</code><name>running</name></instanceState>
        <instanceType>m5.large</instanceType>
        <placement><availabilityZone>eu-west-1a</availabilityZone><tenancy>default</tenancy></placement>
        <rootDeviceName>/dev/xvda</rootDeviceName>
        <blockDeviceMapping>
          <item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-root</volumeId><status>attached</status>
            <attachTime>2026-01-01T00:00:00.000Z</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item>
          <item><deviceName>/dev/sdf</deviceName><ebs><volumeId>vol-data</volumeId><status>attaching</status>
            <deleteOnTermination>false</deleteOnTermination></ebs></item>
        </blockDeviceMapping>
        <tagSet><item><key>role</key><value>solr</value></item></tagSet>
      </item>
    </instancesSet></item>
    <item><reservationId>r-2</reservationId><instancesSet><item><instanceId>i-2</instanceId></item></instancesSet></item>
  </reservationSet>
</DescribeInstancesResponse>)");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 2u);
  const Instance& i = page->items[0];
  EXPECT_EQ(i.id.value, "i-1");
  EXPECT_EQ(i.state, "running");
  EXPECT_EQ(i.availability_zone, "eu-west-1a");
  EXPECT_EQ(i.root_device_name, "/dev/xvda");
  ASSERT_EQ(i.block_device_mappings.size(), 2u);
  EXPECT_EQ(i.block_device_mappings[1].device_name, "/dev/sdf");
  EXPECT_EQ(i.block_device_mappings[1].volume_id.value, "vol-data");
  EXPECT_EQ(i.block_device_mappings[1].state, AttachmentState::Attaching);
  EXPECT_TRUE(i.block_device_mappings[0].delete_on_termination);
  EXPECT_EQ(page->items[1].id.value, "i-2");
}

TEST(Ec2Xml, CreateVolumeAttachDetach) {
  auto v = xml::parse_create_volume(R"(<CreateVolumeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId><volumeId>vol-9</volumeId><size>20</size><snapshotId></snapshotId>
  <availabilityZone>us-east-1a</availabilityZone><status>creating</status>
  <createTime>2026-11-23T11:00:00.000Z</createTime><volumeType>gp3</volumeType><iops>3000</iops>
  <encrypted>true</encrypted><tagSet><item><key>k</key><value>v</value></item></tagSet>
</CreateVolumeResponse>)");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->id.value, "vol-9");
  EXPECT_EQ(v->state, VolumeState::Creating);
  EXPECT_EQ(v->tags.size(), 1u);

  auto a = xml::parse_attachment(R"(<AttachVolumeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId><volumeId>vol-9</volumeId><instanceId>i-1</instanceId><device>/dev/sdh</device>
  <status>attaching</status><attachTime>2026-11-23T11:00:00.000Z</attachTime></AttachVolumeResponse>)");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, AttachmentState::Attaching);
  EXPECT_EQ(a->device, "/dev/sdh");
  auto d =
      xml::parse_attachment(R"(<DetachVolumeResponse><volumeId>vol-9</volumeId><instanceId>i-1</instanceId>
  <device>/dev/sdh</device><status>detaching</status></DetachVolumeResponse>)");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, AttachmentState::Detaching);
}

TEST(Ec2Xml, CreateSnapshotsSaysStateNotStatus) {
  auto s = xml::parse_create_snapshots(
      R"(<CreateSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId><snapshotSet>
   <item><description>d</description><encrypted>false</encrypted><ownerId>123</ownerId><progress/>
    <snapshotId>snap-1</snapshotId><startTime>2026-11-23T11:00:00.000Z</startTime><state>pending</state>
    <volumeId>vol-1</volumeId><volumeSize>8</volumeSize><tagSet><item><key>a</key><value>b</value></item></tagSet></item>
   <item><snapshotId>snap-2</snapshotId><state>pending</state><volumeId>vol-2</volumeId></item>
  </snapshotSet></CreateSnapshotsResponse>)");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].state, SnapshotState::Pending);
  EXPECT_EQ((*s)[0].volume_id.value, "vol-1");
  EXPECT_EQ((*s)[1].id.value, "snap-2");
}

TEST(Ec2Xml, CreateAndCopySnapshotAndReturn) {
  auto s = xml::parse_create_snapshot(
      R"(<CreateSnapshotResponse><requestId>r</requestId><snapshotId>snap-7</snapshotId>
  <volumeId>vol-1</volumeId><status>pending</status><startTime>2026-11-23T11:00:00.000Z</startTime>
  <progress>60%</progress><ownerId>1</ownerId><volumeSize>8</volumeSize><description>x</description>
  <encrypted>false</encrypted></CreateSnapshotResponse>)");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->progress, 60);
  auto c = xml::parse_copy_snapshot(
      "<CopySnapshotResponse><requestId>r</requestId><snapshotId>snap-8</snapshotId></CopySnapshotResponse>");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value, "snap-8");
  EXPECT_TRUE(xml::parse_return(
      "<DeleteVolumeResponse><requestId>r</requestId><return>true</return></DeleteVolumeResponse>"));
  EXPECT_FALSE(xml::parse_return("<DeleteVolumeResponse><return>false</return></DeleteVolumeResponse>"));
  EXPECT_TRUE(
      xml::parse_return("<ModifyInstanceAttributeResponse><requestId>r</requestId><return>true</return></"
                        "ModifyInstanceAttributeResponse>"));
  EXPECT_EQ(xml::request_id("<X><requestId>abc</requestId></X>"), "abc");
}

TEST(Ec2Xml, ErrorDocumentBecomesOneMappedError) {
  const Error e = xml::parse_error(R"(<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidVolume.NotFound</Code><Message>The volume 'vol-1' does not exist.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>)",
                                   400);
  EXPECT_EQ(e.kind, ErrorKind::NotFound);
  EXPECT_EQ(e.aws_code, "InvalidVolume.NotFound");
  EXPECT_EQ(e.message, "The volume 'vol-1' does not exist.");
  EXPECT_EQ(e.request_id, "ea966190-f9aa-478e-9ede-example");
  EXPECT_EQ(e.http_status, 400);
}

TEST(Ec2Xml, ErrorKindsForDryRunThrottleAndDeviceInUse) {
  auto err = [](const char* code, const char* message, long status) {
    return xml::parse_error(std::string("<Response><Errors><Error><Code>") + code + "</Code><Message>" +
                                message + "</Message></Error></Errors><RequestID>x</RequestID></Response>",
                            status);
  };
  EXPECT_EQ(err("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412).kind,
            ErrorKind::DryRunOk);
  EXPECT_EQ(err("RequestLimitExceeded", "Request limit exceeded.", 503).kind, ErrorKind::Throttled);
  EXPECT_EQ(err("InvalidParameterValue",
                "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use", 400)
                .kind,
            ErrorKind::InUse);
  EXPECT_EQ(err("InvalidParameterValue", "Value (x) for parameter device is invalid.", 400).kind,
            ErrorKind::InvalidParameter);
  EXPECT_EQ(err("AuthFailure", "AWS was not able to validate the provided access credentials", 401).kind,
            ErrorKind::Auth);
}

TEST(Ec2Xml, ErrorWithoutDocumentUsesStatus) {
  EXPECT_EQ(xml::parse_error("<html>bad gateway</html>", 502).kind, ErrorKind::ServerError);
  EXPECT_EQ(xml::parse_error("", 429).kind, ErrorKind::Throttled);
  EXPECT_EQ(xml::parse_error("", 403).kind, ErrorKind::Auth);
}

TEST(Ec2Xml, MalformedOrUnexpectedDocumentIsAParseError) {
  auto a = xml::parse_describe_volumes("<DescribeVolumesResponse><volumeSet>");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().kind, ErrorKind::Parse);
  auto b = xml::parse_describe_volumes("<DescribeSnapshotsResponse/>");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, ErrorKind::Parse);
  auto c = xml::parse_create_volume("<CreateVolumeResponse><requestId>r</requestId></CreateVolumeResponse>");
  ASSERT_FALSE(c);
}

}  // namespace
