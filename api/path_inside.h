// Whether a path lies inside a directory, for the places that must not put their files inside
// a store's directory (Store::Backup's target, a spill directory: fsck would report them as
// unknown files, and they would go wherever the store goes).
// Thread-safety: reentrant (reads the file system's links only).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

namespace cowtree::api_internal {

// Whether `path` is `dir` or below it, symbolic links resolved as far as the paths exist
// (std::filesystem::weakly_canonical; a part that does not exist yet is normalized lexically).
// False if either cannot be resolved.
inline bool PathIsInside(const std::string& path, const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  const std::filesystem::path d = std::filesystem::weakly_canonical(dir, ec);
  if (ec) return false;
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++pi) {
    if (di->empty()) continue;  // a trailing separator
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

}  // namespace cowtree::api_internal
