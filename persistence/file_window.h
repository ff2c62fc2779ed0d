// FileWindow: sequential reads of a file through one bounded buffer, for readers that walk a
// file front to back and look only a bounded distance ahead (log replay: a frame at a time).
// ReplayLog used to read each log file whole (64 MiB by default, plus one record), which every
// open with redo added to its peak RSS whatever the memory budget (issue 8, docs/log_format.md
// "Reading").
//
// Contract
// - View(offset, length) returns the file's bytes [offset, min(offset + length, size)), read
//   through the Env when the window does not hold them: the window then restarts at offset and
//   holds max(length, kWindowBytes) bytes (clipped to the file's end). A view is valid until
//   the next View/AllZeroFrom call; its size is less than `length` only at the end of the file
//   (or if the file shrank while being read).
// - AllZeroFrom(offset): whether every byte from offset to the end is zero, read a window at a
//   time (a preallocated log tail can be tens of MiB of zeros).
// - Memory: one buffer of max(kWindowBytes, the largest length asked).
// - Errors: the Env's (IOError); an offset past the end gives an empty view, not an error.
// - Thread-safety: none (one reader).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/env.h"
#include "persistence/status.h"

namespace cowtree {

class FileWindow {
 public:
  static constexpr size_t kWindowBytes = size_t{1} << 20;

  // file: borrowed, must outlive the window. size_bytes: the file's size when opened.
  FileWindow(File* file, uint64_t size_bytes) : file_(file), size_bytes_(size_bytes) {}

  uint64_t size_bytes() const { return size_bytes_; }
  // The largest buffer this window has held (bytes).
  size_t buffer_bytes_max() const { return buffer_bytes_max_; }
  Result<std::string_view> View(uint64_t offset_bytes, size_t length_bytes);
  Result<bool> AllZeroFrom(uint64_t offset_bytes);

 private:
  File* file_;
  uint64_t size_bytes_;
  uint64_t start_ = 0;  // file offset of buffer_[0]
  std::string buffer_;
  size_t buffer_bytes_max_ = 0;
};

}  // namespace cowtree
