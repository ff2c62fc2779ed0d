#include "persistence/file_window.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree {

Result<std::string_view> FileWindow::View(uint64_t offset_bytes, size_t length_bytes) {
  if (offset_bytes >= size_bytes_) return std::string_view();
  const uint64_t end = offset_bytes + std::min<uint64_t>(length_bytes, size_bytes_ - offset_bytes);
  if (offset_bytes < start_ || end > start_ + buffer_.size()) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(std::max(length_bytes, kWindowBytes), size_bytes_ - offset_bytes));
    buffer_.resize(want);
    buffer_bytes_max_ = std::max(buffer_bytes_max_, want);
    size_t got = 0;
    Status st = file_->ReadAt(offset_bytes, want, buffer_.data(), &got);
    if (!st.ok()) {
      buffer_.clear();
      start_ = 0;
      return st;
    }
    buffer_.resize(got);  // short only if the file shrank
    start_ = offset_bytes;
  }
  COWTREE_DASSERT(offset_bytes >= start_);
  const std::string_view held(buffer_);
  return held.substr(static_cast<size_t>(offset_bytes - start_),
                     static_cast<size_t>(end - offset_bytes));
}

Result<bool> FileWindow::AllZeroFrom(uint64_t offset_bytes) {
  for (uint64_t at = offset_bytes; at < size_bytes_;) {
    COWTREE_ASSIGN_OR_RETURN(std::string_view bytes, View(at, kWindowBytes));
    if (bytes.empty()) break;  // the file shrank
    if (!std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) return false;
    at += bytes.size();
  }
  return true;
}

}  // namespace cowtree
