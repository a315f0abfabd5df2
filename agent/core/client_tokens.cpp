#include "agent/core/client_tokens.h"

#include <fmt/format.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

#include "agent/core/mount_point_key.h"
#include "platform/run_dir.h"
#include "ebsnap/try.h"

namespace agent {
namespace {

constexpr std::string_view k_token_prefix = "ebsnap-";

std::unexpected<TokenError> token_error(const std::filesystem::path& path, std::string_view what, int err) {
  return std::unexpected(TokenError{fmt::format("{}: {}: {}", path.string(), what, std::strerror(err))});
}

bool valid_token(std::string_view token) {
  if (!token.starts_with(k_token_prefix) || token.size() > 64) return false;
  for (char c : token.substr(k_token_prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return token.size() > k_token_prefix.size();
}


}  // namespace

ParsedAttempt parse_attempt(std::string_view text) {
  std::istringstream in{std::string(text)};
  ParsedAttempt out;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (key == "token") out.attempt.token = std::move(value);
    if (key == "volume_id" && value.starts_with("vol-")) out.attempt.volume_id = std::move(value);
    if (key == "mount_point") out.mount_point = std::move(value);
    if (key == "formatted") out.attempt.formatted = value == "1";
  }
  return out;
}

std::expected<std::vector<RestoreAttempt>, TokenError> live_attempts(const std::filesystem::path& run_dir) {
  std::vector<RestoreAttempt> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(run_dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    return token_error(run_dir, "cannot list", ec.value());
  }
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with("restore-") || !name.ends_with(".token")) continue;
    auto text = platform::read_state_file(entry.path());
    if (!text) {
      if (text.error().kind == platform::ErrorKind::NotFound) continue;  // finished meanwhile
      return std::unexpected(TokenError{text.error().message});
    }
    RestoreAttempt attempt = parse_attempt(*text).attempt;
    // A volume id protects its volume even beside a token that is not ours (a hand-edited file):
    // gc errs on the side of keeping.
    if (!valid_token(attempt.token)) attempt.token.clear();
    if (!attempt.token.empty() || attempt.volume_id) out.push_back(std::move(attempt));
  }
  return out;
}

std::string new_client_token() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // getrandom cannot fail on Linux >= 3.17 once the pool is initialised (it blocks until
      // then); anything else is a broken system, not a condition to handle.
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  std::string out(k_token_prefix);
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::filesystem::path ClientTokens::path_for(std::string_view group, std::string_view mount_point) const {
  return run_dir_ / fmt::format("restore-{}-{}.token", group, mount_point_key(mount_point));
}

std::expected<std::optional<RestoreAttempt>, TokenError> ClientTokens::load(
    std::string_view group, std::string_view mount_point) const {
  auto text = platform::read_state_file(path_for(group, mount_point));
  if (!text) {
    if (text.error().kind == platform::ErrorKind::NotFound) return std::optional<RestoreAttempt>{};
    return std::unexpected(TokenError{text.error().message});
  }
  auto [attempt, recorded_mount_point] = parse_attempt(*text);
  // A hash collision or a hand-edited file must not hand one mount point another's attempt.
  if (!valid_token(attempt.token) || recorded_mount_point != mount_point)
    return std::optional<RestoreAttempt>{};
  return std::optional<RestoreAttempt>(std::move(attempt));
}

std::expected<RestoreAttempt, TokenError> ClientTokens::begin(std::string_view group,
                                                              std::string_view mount_point) const {
  RestoreAttempt attempt{.token = new_client_token(), .volume_id = std::nullopt};
  EBSNAP_TRY(write(group, mount_point, attempt));
  return attempt;
}

std::expected<void, TokenError> ClientTokens::record(std::string_view group, std::string_view mount_point,
                                                     const RestoreAttempt& attempt) const {
  return write(group, mount_point, attempt);
}

std::expected<void, TokenError> ClientTokens::finish(std::string_view group,
                                                     std::string_view mount_point) const {
  const auto path = path_for(group, mount_point);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return token_error(path, "cannot remove", errno);
  return {};
}

std::expected<void, TokenError> ClientTokens::write(std::string_view group, std::string_view mount_point,
                                                    const RestoreAttempt& attempt) const {
  if (auto checked = platform::check_run_directory(run_dir_, true); !checked) {
    return std::unexpected(TokenError{checked.error().message});
  }
  std::string body = fmt::format("token={}\ngroup={}\nmount_point={}\n", attempt.token, group, mount_point);
  if (attempt.volume_id) body += fmt::format("volume_id={}\n", *attempt.volume_id);
  if (attempt.formatted) body += "formatted=1\n";
  // Durable: the token must be on disk before CreateVolume is sent, so that a crash right after
  // the call finds it again.
  if (auto written = platform::write_state_file(path_for(group, mount_point), body, true); !written) {
    return std::unexpected(TokenError{written.error().message});
  }
  return {};
}

}  // namespace agent
