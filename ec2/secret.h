#pragma once
// A string that holds a secret (secret access key, session token, IMDS token). Its bytes are
// wiped (OPENSSL_cleanse) when it is destroyed, assigned over or moved from, and it never
// prints: operator<< and fmt write "<redacted>". Read it with reveal(), only where it is used.
#include <fmt/format.h>

#include <ostream>
#include <string>
#include <string_view>

namespace ec2 {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  explicit SecretString(std::string_view value) : value_(value) {}
  SecretString(const SecretString& other) = default;
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(const SecretString& other);
  SecretString& operator=(SecretString&& other) noexcept;
  ~SecretString();

  [[nodiscard]] std::string_view reveal() const { return value_; }
  [[nodiscard]] bool empty() const { return value_.empty(); }
  [[nodiscard]] std::size_t size() const { return value_.size(); }
  void clear();  // wipes

  friend bool operator==(const SecretString& a, const SecretString& b) { return a.value_ == b.value_; }
  friend std::ostream& operator<<(std::ostream& os, const SecretString&) { return os << "<redacted>"; }

 private:
  std::string value_;
};

// Wipes a buffer that held a secret (OPENSSL_cleanse, which the optimiser may not drop).
void wipe(void* data, std::size_t size);
void wipe(std::string& s);

}  // namespace ec2

template <>
struct fmt::formatter<ec2::SecretString> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const ec2::SecretString&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("<redacted>", ctx);
  }
};
