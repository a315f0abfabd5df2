#pragma once
// One simulated AWS account in one region, as EC2's Query API over HTTP sees it: the requests
// ebsnap's real Ec2Client sends (SigV4-signed form bodies) are answered with EC2's XML, or with
// EC2's error document. Shared by every simulated instance of the fleet (bench/fleet).
//
// What it models:
//   - EC2's request token buckets per action category, shared by the whole account: Describe*
//     (100 burst, 20/s), CreateVolume / DeleteVolume / CreateSnapshot(s) / DeleteSnapshot (100
//     burst, 5/s each), other mutating calls such as AttachVolume (50 burst, 5/s), CreateTags
//     (100 burst, 10/s). An empty bucket answers 503 RequestLimitExceeded and takes no token.
//   - creating → available after a drawn duration (default 1–4 s, median 1.5 s), attaching →
//     attached likewise; ClientToken idempotency of CreateVolume; tags and the filters ebsnap uses.
//   - snapshots: CreateSnapshots (pending → completed after a drawn duration), DeleteSnapshot,
//     CreateTags, DescribeSnapshots with tag filters.
// Actions served: DescribeVolumes, DescribeSnapshots, DescribeInstances, CreateVolume,
// AttachVolume, DetachVolume, DeleteVolume, ModifyInstanceAttribute (BlockDeviceMapping
// DeleteOnTermination), CreateSnapshot, CreateSnapshots, DeleteSnapshot, CreateTags; any other
// is InvalidAction (400). DryRun=true answers DryRunOperation. Unknown parameters are ignored;
// missing or malformed ones get MissingParameter / InvalidParameterValue.
// Cost: the tag filters, volume-id, snapshot-id and attachment.instance-id are answered from
// indexes (the most selective filter picks the candidates, the others are checked on them), so
// a request costs its answer's size and a few lookups, not a scan of the account. Filters no
// index answers (status, tag-value, ...) alone scan everything, as EC2 would answer everything.
// Time is the clock it is given (the fleet's virtual clock): a request is served at clock.now().
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ec2/clock.h"
#include "ec2/ec2_client.h"
#include "ec2/http.h"
#include "ec2/types.h"

namespace fleet {

struct Bucket {
  double burst = 0;
  double rate = 0;  // tokens per second
};

// A duration drawn as min + (max - min) * u^k, k chosen so that the median is `median`
// (u uniform in [0, 1)): 1–4 s with a median of 1.5 s by default.
struct Spread {
  double min_s = 1.0;
  double median_s = 1.5;
  double max_s = 4.0;
  [[nodiscard]] double draw(double u) const;
};

struct AccountOptions {
  // By category: "describe", "mutating", and by action name ("CreateVolume", "DeleteVolume",
  // "CreateSnapshot", "CreateSnapshots", "DeleteSnapshot", "CreateTags"): EC2's defaults.
  std::map<std::string, Bucket> buckets = default_buckets();
  Spread volume_create;
  Spread attach;
  Spread detach;  // detaching → gone (the volume available again)
  Spread snapshot_complete{.min_s = 30, .median_s = 60, .max_s = 300};
  std::uint64_t seed = 1;
  std::string region = "us-east-1";
  std::string owner_id = "111122223333";

  [[nodiscard]] static std::map<std::string, Bucket> default_buckets();
};

// What the account served, by action.
struct ActionStats {
  std::uint64_t calls = 0;      // every request, throttled or not
  std::uint64_t throttled = 0;  // answered RequestLimitExceeded
  std::uint64_t errors = 0;     // answered another error (4xx/5xx)
};

class Account {
 public:
  Account(AccountOptions options, const ec2::Clock& clock);
  ~Account();
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;

  // One EC2 Query request (POST, form body "Action=...&Version=..."), served now: the XML answer,
  // or EC2's error document with its status. Not thread-safe: the fleet runs one simulated
  // thread at a time.
  [[nodiscard]] ec2::HttpResponse serve(const ec2::HttpRequest& request);

  // Set-up. A running instance in `availability_zone`, with an 8 GiB gp3 root volume attached
  // at /dev/xvda (DeleteOnTermination, as EC2 launches one; counted by volume_count());
  // a completed snapshot with these tags (of volume vol-ffffffff, as EC2 says for copies).
  ec2::InstanceId add_instance(const std::string& availability_zone);
  ec2::SnapshotId add_snapshot(int volume_size_gib, std::vector<ec2::Tag> tags, ec2::TimePoint start_time);
  // An available gp3 volume with these tags, attached (state attached, not DeleteOnTermination) to
  // `instance` at `device` since now, as one restored at an earlier boot is (the snapshot and prune
  // scenarios start from a mounted group). Unknown instance: std::invalid_argument.
  ec2::VolumeId add_attached_volume(const ec2::InstanceId& instance, const std::string& device, int size_gib,
                                    std::vector<ec2::Tag> tags);

  // When the attachment of `volume` to `instance` reaches attached (the device appears then), or
  // nullopt when the volume is not being attached to it.
  [[nodiscard]] std::optional<ec2::TimePoint> attached_at(const std::string& volume_id,
                                                          const ec2::InstanceId& instance) const;

  // EC2's own time on the instance's critical path: of the volumes attached to it from a
  // snapshot, the longest creating → available plus attaching → attached. No restore of that
  // instance can take less (with the requests' own round trips on top).
  [[nodiscard]] std::chrono::milliseconds ec2_path(const ec2::InstanceId& instance) const;

  [[nodiscard]] const std::map<std::string, ActionStats>& stats() const;
  // Volumes and snapshots not deleted.
  [[nodiscard]] std::size_t volume_count() const;
  [[nodiscard]] std::size_t snapshot_count() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ebsnap's real client (SigV4, XML, retries: `max_attempts`, no pacing) whose requests `account`
// serves at once, at `clock`'s time: no network in between. For the tests and the account bench;
// the simulated instances have theirs (bench/fleet/instance.h). Throws when it cannot be made.
[[nodiscard]] std::unique_ptr<ec2::Ec2Client> direct_client(Account& account, const ec2::Clock& clock,
                                                            ec2::Sleeper& sleeper, ec2::RandomSource& random,
                                                            int max_attempts = 3);

}  // namespace fleet
