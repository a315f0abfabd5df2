#pragma once
// A scripted HttpClient for the unit tests of ec2/: answers from a queue (or a function) and
// records every request.
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "ec2/http.h"

namespace ec2test {

class ScriptedHttp final : public ec2::HttpClient {
 public:
  using Handler = std::function<ec2::Result<ec2::HttpResponse>(const ec2::HttpRequest&)>;

  void push(long status, std::string body) {
    std::lock_guard lock(mutex_);
    queue_.push_back(ec2::HttpResponse{.status = status, .headers = {}, .body = std::move(body)});
  }
  void push_error(ec2::ErrorKind kind, bool maybe_applied) {
    std::lock_guard lock(mutex_);
    ec2::Error e;
    e.kind = kind;
    e.message = "scripted transport failure";
    e.maybe_applied = maybe_applied;
    queue_.push_back(std::unexpected(e));
  }
  void set_handler(Handler h) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(h);
  }

  [[nodiscard]] ec2::Result<ec2::HttpResponse> send(const ec2::HttpRequest& request) override {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    if (!queue_.empty()) {
      auto r = queue_.front();
      queue_.pop_front();
      return r;
    }
    if (handler_) return handler_(request);
    return std::unexpected(
        ec2::Error{.kind = ec2::ErrorKind::Other, .message = "ScriptedHttp: nothing scripted"});
  }

  [[nodiscard]] std::vector<ec2::HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  [[nodiscard]] std::size_t count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::deque<ec2::Result<ec2::HttpResponse>> queue_;
  Handler handler_;
  std::vector<ec2::HttpRequest> requests_;
};

// The value of header `name` in `request` (exact name), or "".
inline std::string header_of(const ec2::HttpRequest& request, std::string_view name) {
  for (const auto& [k, v] : request.headers) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace ec2test
