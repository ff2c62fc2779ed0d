#include "tree/block_cache.h"

#include <new>
#include <vector>

#include "tree/block_slab.h"

namespace cowtree::tree {
namespace {

constexpr size_t kClassBytes = kSlabClassBytes;
constexpr size_t kClassCount = kBlockBytesMax / kClassBytes + 1;
static_assert(kBlockBytesMax == kSlabBlockBytesMax, "every cached block comes from a slab");

size_t ClassOf(size_t bytes) { return (bytes + kClassBytes - 1) / kClassBytes; }

// Set when this thread's cache is destroyed (thread exit): blocks freed later in the thread's
// teardown (e.g. by static destructors on the main thread) bypass the cache. Trivially
// destructible, so it stays readable through the whole teardown.
thread_local bool t_cache_destroyed = false;

struct ThreadCache {
  std::vector<void*> free[kClassCount];
  size_t cached_bytes = 0;

  ~ThreadCache() {
    t_cache_destroyed = true;
    for (size_t cls = 0; cls < kClassCount; ++cls) {
      for (void* p : free[cls]) SlabFree(p, cls * kClassBytes);
    }
  }
};

// This thread's cache, or null once it has been destroyed.
ThreadCache* Cache() {
  if (t_cache_destroyed) return nullptr;
  thread_local ThreadCache cache;
  return &cache;
}

}  // namespace

void* AllocateBlock(size_t bytes) {
  if (bytes == 0 || bytes > kBlockBytesMax) return ::operator new(bytes);
  const size_t cls = ClassOf(bytes);
  ThreadCache* cache = Cache();
  if (cache == nullptr || cache->free[cls].empty()) {
    void* p = SlabAllocate(cls * kClassBytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  std::vector<void*>& list = cache->free[cls];
  void* p = list.back();
  list.pop_back();
  cache->cached_bytes -= cls * kClassBytes;
  return p;
}

void FreeBlock(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes == 0 || bytes > kBlockBytesMax) {
    ::operator delete(p);
    return;
  }
  const size_t cls = ClassOf(bytes);
  ThreadCache* cache = Cache();
  if (cache == nullptr || cache->cached_bytes + cls * kClassBytes > kThreadCacheBytesMax) {
    SlabFree(p, cls * kClassBytes);
    return;
  }
  cache->free[cls].push_back(p);
  cache->cached_bytes += cls * kClassBytes;
}

size_t ThreadCachedBlockBytes() {
  ThreadCache* cache = Cache();
  return cache == nullptr ? 0 : cache->cached_bytes;
}

}  // namespace cowtree::tree
