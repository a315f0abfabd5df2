// IMDS answers: the token, the identity document, the role name and the role's credentials
// (JSON), the region and the userdata, through ImdsClient over an HttpClient that answers every
// request with the input; and the spot interruption and rebalance notices (parse_notice of
// ebsnap watch). data[0] picks the call and the HTTP status; the rest is the body.
#include "agent/commands/watch.h"
#include "ec2/imds.h"
#include "ec2/testing/manual_clock.h"
#include "tests/fuzz/fuzz_driver.h"

namespace fuzz {
namespace {

class Answering final : public ec2::HttpClient {
 public:
  Answering(long status, std::string_view body) : status_(status), body_(body) {}
  [[nodiscard]] ec2::Result<ec2::HttpResponse> send(const ec2::HttpRequest& request) override {
    // The token request (PUT) succeeds, so that the GET gets the status under test; a 401 on
    // the GET gets a new token and one more try.
    if (request.method == "PUT") return ec2::HttpResponse{.status = 200, .headers = {}, .body = body_};
    return ec2::HttpResponse{.status = status_, .headers = {}, .body = body_};
  }

 private:
  long status_;
  std::string body_;
};

template <class T>
void check(const ec2::Result<T>& r) {
  if (!r) use(r.error().describe());
}

}  // namespace

void fuzz_one(std::span<const std::uint8_t> data) {
  constexpr long k_statuses[] = {200, 200, 200, 404, 401, 403, 503};
  constexpr std::size_t k_calls = 8;
  const auto [choice, body] = split_choice(data, k_calls * std::size(k_statuses));
  const long status = k_statuses[choice / k_calls];
  ec2::ManualClock clock;
  ec2::SequenceRandom random({0.5});
  ec2::ImdsOptions options;
  options.retry_budget = std::chrono::milliseconds{1'000};  // a 503 is retried a few times, on the manual clock
  ec2::ImdsClient imds(options, {.http = std::make_shared<Answering>(status, body),
                                 .clock = &clock,
                                 .sleeper = &clock,
                                 .random = &random});
  switch (choice % k_calls) {
    case 0: {
      auto doc = imds.identity_document();
      check(doc);
      if (doc) use(doc->region);
      break;
    }
    case 1: check(imds.role_name()); break;
    case 2: check(imds.role_credentials("web")); break;
    case 3: check(imds.region()); break;
    case 4: check(imds.user_data()); break;
    case 5: check(imds.instance_id()); break;
    case 6:
      if (auto n = agent::parse_notice(agent::Trigger::Spot, body); !n) use(n.error());
      break;
    default:
      if (auto n = agent::parse_notice(agent::Trigger::Rebalance, body); !n) use(n.error());
      break;
  }
}

}  // namespace fuzz
