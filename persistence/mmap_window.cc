#include "persistence/mmap_window.h"

#include <algorithm>
#include <bit>

#include "persistence/assert.h"

namespace cowtree {

struct MmapWindowCache::Window {
  Key key;
  uint64_t start_bytes = 0;  // file offset of data()[0]
  std::unique_ptr<MappedRegion> region;
  int pins = 0;
  bool current = true;  // still the mapping windows_ names for key (false: replaced)
  std::list<Window*>::iterator lru_pos;
  bool in_lru = false;
};

MmapWindowCache::Pin& MmapWindowCache::Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    Release();
    cache_ = std::exchange(other.cache_, nullptr);
    window_ = std::exchange(other.window_, nullptr);
    bytes_ = std::exchange(other.bytes_, {});
  }
  return *this;
}

void MmapWindowCache::Pin::Release() {
  if (window_ != nullptr) cache_->Unpin(window_);
  cache_ = nullptr;
  window_ = nullptr;
  bytes_ = {};
}

MmapWindowCache::MmapWindowCache(size_t windows_max) : windows_max_(windows_max) {
  COWTREE_ASSERT(windows_max_ >= 1);
}

MmapWindowCache::~MmapWindowCache() {
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSERT(stats_.windows_pinned == 0);
  COWTREE_ASSERT(stats_.windows_mapped == windows_.size());  // no replaced window left
  for (auto& [key, window] : windows_) delete window;
}

uint32_t MmapWindowCache::AddFile(File* file, uint64_t window_bytes) {
  COWTREE_ASSERT(file != nullptr && window_bytes >= 4096 && std::has_single_bit(window_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  files_.push_back({file, window_bytes});
  return static_cast<uint32_t>(files_.size() - 1);
}

Result<MmapWindowCache::Pin> MmapWindowCache::PinRange(uint32_t file_id, uint64_t file_size_bytes,
                                                       uint64_t offset_bytes, size_t length_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSERT(file_id < files_.size() && length_bytes > 0);
  const FileInfo& info = files_[file_id];
  const uint64_t end_bytes = offset_bytes + length_bytes;
  if (end_bytes > file_size_bytes || end_bytes < offset_bytes) {
    return Status::InvalidArgument(
        info.file->path() + ": range at offset " + std::to_string(offset_bytes) + " length " +
        std::to_string(length_bytes) + " is past the file size " + std::to_string(file_size_bytes));
  }
  const uint64_t index = offset_bytes / info.window_bytes;
  const uint64_t start = index * info.window_bytes;
  if (end_bytes > start + info.window_bytes) {
    return Status::InvalidArgument(info.file->path() + ": range at offset " +
                                   std::to_string(offset_bytes) + " length " +
                                   std::to_string(length_bytes) + " crosses a " +
                                   std::to_string(info.window_bytes) + "-byte window boundary");
  }
  const Key key{file_id, index};
  Window* window = nullptr;
  if (auto it = windows_.find(key); it != windows_.end()) {
    window = it->second;
    if (window->start_bytes + window->region->size() < end_bytes) {
      // Mapped while the file was shorter: replace it (never map or touch past EOF).
      windows_.erase(it);
      window->current = false;
      if (window->in_lru) {
        lru_.erase(window->lru_pos);
        window->in_lru = false;
      }
      if (window->pins == 0) Destroy(window);
      window = nullptr;
    }
  }
  if (window == nullptr) {
    const size_t map_bytes =
        static_cast<size_t>(std::min(info.window_bytes, file_size_bytes - start));
    Result<std::unique_ptr<MappedRegion>> region = info.file->Map(start, map_bytes);
    if (!region.ok()) return region.status();
    ++stats_.map_calls;
    window = new Window;
    window->key = key;
    window->start_bytes = start;
    window->region = std::move(region).value();
    COWTREE_ASSERT(window->region->size() == map_bytes);
    windows_[key] = window;
    ++stats_.windows_mapped;
    stats_.bytes_mapped += map_bytes;
  }
  if (window->in_lru) {
    lru_.erase(window->lru_pos);
    window->in_lru = false;
  }
  if (window->pins++ == 0) ++stats_.windows_pinned;
  EvictLocked();
  Pin pin;
  pin.cache_ = this;
  pin.window_ = window;
  pin.bytes_ = std::string_view(window->region->data() + (offset_bytes - start), length_bytes);
  return pin;
}

void MmapWindowCache::Unpin(Window* window) {
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSERT(window->pins > 0);
  if (--window->pins > 0) return;
  --stats_.windows_pinned;
  if (!window->current) {
    Destroy(window);
    return;
  }
  lru_.push_front(window);
  window->lru_pos = lru_.begin();
  window->in_lru = true;
  EvictLocked();
}

void MmapWindowCache::Destroy(Window* window) {
  COWTREE_ASSERT(window->pins == 0 && !window->in_lru);
  --stats_.windows_mapped;
  stats_.bytes_mapped -= window->region->size();
  ++stats_.unmap_calls;
  delete window;  // unmaps
}

void MmapWindowCache::EvictLocked() {
  while (stats_.windows_mapped > windows_max_ && !lru_.empty()) {
    Window* victim = lru_.back();
    lru_.pop_back();
    victim->in_lru = false;
    windows_.erase(victim->key);
    Destroy(victim);
  }
}

MmapWindowStats MmapWindowCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace cowtree
