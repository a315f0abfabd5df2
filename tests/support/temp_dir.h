#pragma once
#include <filesystem>
#include <string>

namespace testsupport {

// A directory under $TMPDIR (default /tmp) removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ebsnap-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace testsupport
