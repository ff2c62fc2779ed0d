#include "tools/temp_store.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace cowtree::tools {

Result<TempStoreDir> TempStoreDir::Create(const std::string& prefix) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = (tmpdir != nullptr && tmpdir[0] != '\0') ? tmpdir : "/tmp";
  pattern += "/" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return Status::FromErrno("mkdtemp " + pattern, errno);
  return TempStoreDir(std::string(buf.data()));
}

TempStoreDir::TempStoreDir(TempStoreDir&& other) noexcept
    : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

TempStoreDir::~TempStoreDir() {
  if (path_.empty() || keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace cowtree::tools
