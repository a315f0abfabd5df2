#include "ec2/secret.h"

#include <openssl/crypto.h>

namespace ec2 {

void wipe(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

void wipe(std::string& s) {
  // The whole buffer, not just size(): a shorter value may have been written over a longer one.
  wipe(s.data(), s.capacity());
  s.clear();
}

SecretString::SecretString(SecretString&& other) noexcept : value_(other.value_) {
  wipe(other.value_);
}

SecretString& SecretString::operator=(const SecretString& other) {
  if (this != &other) {
    wipe(value_);
    value_ = other.value_;
  }
  return *this;
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    wipe(value_);
    value_ = other.value_;
    wipe(other.value_);
  }
  return *this;
}

SecretString::~SecretString() {
  wipe(value_);
}

void SecretString::clear() {
  wipe(value_);
}

}  // namespace ec2
