// MmapWindowCache: read-only mmap windows over data files, with pin/unpin reference counts and
// recycling. Reads of objects go through here; writes never do (they use File::WriteAt so that
// durability order stays explicit; docs/data_files.md).
//
// Contract
// - A file is registered once (AddFile) with its window size: a power of two >= 4096 bytes.
//   Window i of a file covers [i * window_bytes, (i + 1) * window_bytes); a pinned range must
//   lie inside one window (the allocator guarantees it: window_bytes >= the file's size class
//   and both are powers of two, so an aligned slot never straddles two windows).
// - One File (one descriptor) per data file, shared by every window of that file; the cache
//   does not own the File, which must outlive the cache (or at least every use of its id).
// - A window never maps past the file size the caller passes (mapping beyond EOF and touching
//   it raises SIGBUS): if a window was mapped when the file was shorter and a pin needs bytes
//   past its end, a new, longer mapping replaces it (the old one is unmapped when its last pin
//   goes). The caller passes the size it knows is allocated. A file shrinks while open only
//   by compaction (docs/compaction.md), after a grace period in which no reader can hold an
//   address past the new end: pages of a window past that end are then never touched.
// - Recycling: when more than windows_max windows are mapped, unpinned windows are unmapped in
//   least-recently-used order. Pinned windows are never unmapped, so the limit is soft while
//   every window is pinned.
// - The Env's Map must have MAP_SHARED semantics: bytes written with File::WriteAt after a
//   window was mapped are visible through it (true for the POSIX Env). An Env whose Map returns
//   a copy must be used with SegmentAllocatorOptions::read_via_mmap = false.
// - Errors: Pin returns IOError from the Env's Map, InvalidArgument for a range that crosses a
//   window or lies past file_size_bytes. I/O errors while touching mapped pages surface as
//   SIGBUS (inherent to mmap).
// - Thread-safety: all methods are thread-safe (one internal mutex, held briefly; the mmap call
//   runs under it). A Pin may be released on any thread; it must not outlive the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "persistence/env.h"
#include "persistence/status.h"

namespace cowtree {

struct MmapWindowStats {
  size_t windows_mapped = 0;  // live mappings, including replaced ones still pinned
  uint64_t bytes_mapped = 0;  // sum of their lengths
  size_t windows_pinned = 0;  // mappings with at least one pin
  uint64_t map_calls = 0;     // File::Map calls so far
  uint64_t unmap_calls = 0;   // mappings released so far
};

class MmapWindowCache {
  struct Window;

 public:
  // A pinned byte range. Movable; unpins on destruction.
  class Pin {
   public:
    Pin() = default;
    Pin(Pin&& other) noexcept { *this = std::move(other); }
    Pin& operator=(Pin&& other) noexcept;
    ~Pin() { Release(); }
    std::string_view bytes() const { return bytes_; }
    bool empty() const { return window_ == nullptr; }
    void Release();

   private:
    friend class MmapWindowCache;
    MmapWindowCache* cache_ = nullptr;
    Window* window_ = nullptr;
    std::string_view bytes_;
  };

  // windows_max >= 1.
  explicit MmapWindowCache(size_t windows_max);
  // Asserts that no Pin is outstanding.
  ~MmapWindowCache();
  MmapWindowCache(const MmapWindowCache&) = delete;
  MmapWindowCache& operator=(const MmapWindowCache&) = delete;

  // Registers file with windows of window_bytes (power of two >= 4096). Returns its id.
  uint32_t AddFile(File* file, uint64_t window_bytes);

  // Pins [offset_bytes, offset_bytes + length_bytes) of file `file_id`, whose allocated size is
  // file_size_bytes. length_bytes > 0.
  Result<Pin> PinRange(uint32_t file_id, uint64_t file_size_bytes, uint64_t offset_bytes,
                       size_t length_bytes);

  MmapWindowStats stats() const;

 private:
  struct FileInfo {
    File* file;
    uint64_t window_bytes;
  };
  using Key = std::pair<uint32_t, uint64_t>;  // (file id, window index)

  void Unpin(Window* window);
  void Destroy(Window* window);  // caller holds mu_
  void EvictLocked();            // caller holds mu_

  const size_t windows_max_;
  mutable std::mutex mu_;
  std::vector<FileInfo> files_;
  std::map<Key, Window*> windows_;  // current mapping of each window
  std::list<Window*> lru_;          // unpinned current windows, most recent first
  MmapWindowStats stats_;
};

}  // namespace cowtree
