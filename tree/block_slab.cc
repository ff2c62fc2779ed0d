#include "tree/block_slab.h"

#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <new>
#include <vector>

#include "persistence/assert.h"
#include "persistence/thread_annotations.h"

#if defined(__SANITIZE_ADDRESS__)
#define COWTREE_SLAB_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COWTREE_SLAB_BYPASS 1
#endif
#endif

namespace cowtree::tree {
namespace {

constexpr uint32_t kSlabMagic = 0x534c4142;  // "SLAB"
constexpr size_t kHeaderBytes = 64;
constexpr size_t kClassCount = kSlabBlockBytesMax / kSlabClassBytes + 1;
// Empty slabs a class keeps (pages resident) before it gives one back.
constexpr uint32_t kEmptySlabsKept = 1;
static_assert(kRegionBytes % kSlabBytes == 0);
static_assert((kSlabBytes & (kSlabBytes - 1)) == 0, "slabs are found by masking an address");

std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_slabs_in_use{0};
std::atomic<uint64_t> g_slabs_released{0};
std::atomic<uint64_t> g_mapped_bytes{0};

// The first kHeaderBytes of a slab; its blocks follow.
struct SlabHeader {
  uint32_t magic;        // kSlabMagic while the slab belongs to a class, else 0
  uint32_t class_bytes;  // block size
  uint32_t capacity;     // blocks that fit
  uint32_t live;         // blocks handed out and not freed
  uint32_t bump;         // blocks [bump, capacity) were never handed out
  bool listed;           // in its class's list of slabs with room
  void* free_head;       // freed blocks, linked through their first word
  SlabHeader* prev;
  SlabHeader* next;

  char* block(uint32_t i) {
    return reinterpret_cast<char*>(this) + kHeaderBytes + size_t{i} * class_bytes;
  }
};
static_assert(sizeof(SlabHeader) <= kHeaderBytes);
static_assert(kHeaderBytes % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0 &&
                  kSlabClassBytes % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0,
              "every block is aligned as ::operator new's would be");

SlabHeader* HeaderOf(void* p) {
  return reinterpret_cast<SlabHeader*>(reinterpret_cast<uintptr_t>(p) &
                                       ~(uintptr_t{kSlabBytes} - 1));
}

// Where slabs come from: released slabs first (their pages were given back), else the current
// region, else a newly mapped one.
class Supply {
 public:
  // A kSlabBytes-aligned slab, or null when no region can be mapped.
  char* Take() COWTREE_EXCLUDES(mu_) {
    MutexLock l(&mu_);
    if (!released_.empty()) {
      char* slab = released_.back();
      released_.pop_back();
      return slab;
    }
    if (region_left_ < kSlabBytes && !MapRegionLocked()) return nullptr;
    char* slab = region_next_;
    region_next_ += kSlabBytes;
    region_left_ -= kSlabBytes;
    return slab;
  }
  // fork(): the parent holds every slab lock while it forks (ForkPrepare), so that the child
  // does not inherit one held by a thread that does not exist there.
  void LockForFork() COWTREE_NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void UnlockAfterFork() COWTREE_NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }
  // Gives an empty slab's pages back (they read as zero when touched again) and keeps its
  // address for the next Take.
  // Never allocates (released_ has room for every slab carved: MapRegionLocked), so that a free
  // cannot throw.
  void Give(char* slab) COWTREE_EXCLUDES(mu_) {
    (void)madvise(slab, kSlabBytes, MADV_DONTNEED);
    MutexLock l(&mu_);
    COWTREE_ASSERT(released_.size() < released_.capacity());
    released_.push_back(slab);
  }

 private:
  // Maps kRegionBytes aligned to kSlabBytes: one slab more, then the unaligned ends unmapped.
  // Also makes room in released_ for every slab carved so far (Give must not allocate).
  bool MapRegionLocked() COWTREE_REQUIRES(mu_) {
    const size_t slabs_after = (regions_ + 1) * (kRegionBytes / kSlabBytes);
    try {
      released_.reserve(slabs_after);
    } catch (const std::bad_alloc&) {
      return false;
    }
    const size_t want = kRegionBytes + kSlabBytes;
    void* m = mmap(nullptr, want, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    const uintptr_t start = reinterpret_cast<uintptr_t>(m);
    const uintptr_t aligned = (start + kSlabBytes - 1) & ~(uintptr_t{kSlabBytes} - 1);
    const uintptr_t end = start + want;
    const uintptr_t aligned_end = aligned + kRegionBytes;
    if (aligned > start) (void)munmap(m, aligned - start);
    if (end > aligned_end) (void)munmap(reinterpret_cast<void*>(aligned_end), end - aligned_end);
    // Small pages only: a 64 KiB MADV_DONTNEED inside a transparent huge page would only split
    // it, and khugepaged could merge it again (hosts with THP "always").
    (void)madvise(reinterpret_cast<void*>(aligned), kRegionBytes, MADV_NOHUGEPAGE);
    region_next_ = reinterpret_cast<char*>(aligned);
    region_left_ = kRegionBytes;
    ++regions_;
    g_mapped_bytes.fetch_add(kRegionBytes, std::memory_order_relaxed);
    return true;
  }

  Mutex mu_;
  std::vector<char*> released_ COWTREE_GUARDED_BY(mu_);
  char* region_next_ COWTREE_GUARDED_BY(mu_) = nullptr;
  size_t region_left_ COWTREE_GUARDED_BY(mu_) = 0;
  size_t regions_ COWTREE_GUARDED_BY(mu_) = 0;  // regions mapped
};

Supply& TheSupply() {
  static Supply* supply = new Supply();  // never destroyed: frees may come at static teardown
  return *supply;
}

// The slabs of one block size. Blocks are taken from the first listed slab (the list holds the
// slabs with room, in the order they got room: a new slab, a full one that had a block freed,
// an empty one, each goes to the back), so a slab keeps being filled until it is full, and a
// slab that got room lately waits behind those that got it earlier.
class SlabClass {
 public:
  void LockForFork() COWTREE_NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void UnlockAfterFork() COWTREE_NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }
  void* Allocate(uint32_t class_bytes) COWTREE_EXCLUDES(mu_) {
    MutexLock l(&mu_);
    SlabHeader* s = head_;
    if (s == nullptr) {
      char* memory = TheSupply().Take();  // lock order: this class's mutex, then the supply's
      if (memory == nullptr) return nullptr;
      s = InitLocked(memory, class_bytes);
    }
    COWTREE_ASSERT(s->magic == kSlabMagic && s->class_bytes == class_bytes && s->listed);
    COWTREE_ASSERT(s->live < s->capacity);
    if (s->live == 0) --empty_;
    void* p;
    if (s->free_head != nullptr) {
      p = s->free_head;
      s->free_head = *static_cast<void**>(p);
      // A write into a freed block (use after free) most likely broke its link.
      COWTREE_ASSERT(s->free_head == nullptr || HeaderOf(s->free_head) == s);
    } else {
      COWTREE_ASSERT(s->bump < s->capacity);
      p = s->block(s->bump++);
    }
    if (++s->live == s->capacity) UnlinkLocked(s);
    g_live_bytes.fetch_add(class_bytes, std::memory_order_relaxed);
    return p;
  }

  void Free(void* p, uint32_t class_bytes) COWTREE_EXCLUDES(mu_) {
    SlabHeader* s = HeaderOf(p);
    char* give_back = nullptr;
    {
      MutexLock l(&mu_);
      COWTREE_ASSERT(s->magic == kSlabMagic && s->class_bytes == class_bytes);
      const size_t offset = static_cast<char*>(p) - s->block(0);
      COWTREE_ASSERT(static_cast<char*>(p) >= s->block(0) && offset % class_bytes == 0 &&
                     offset / class_bytes < s->bump);
      COWTREE_ASSERT(s->live > 0);
      COWTREE_ASSERT(s->free_head != p);  // the block freed last, freed again
      *static_cast<void**>(p) = s->free_head;
      s->free_head = p;
      if (s->live == s->capacity) PushBackLocked(s);
      if (--s->live == 0) {
        if (empty_ >= kEmptySlabsKept) {
          UnlinkLocked(s);
          s->magic = 0;
          give_back = reinterpret_cast<char*>(s);
        } else {
          ++empty_;
          UnlinkLocked(s);  // the empty slab goes last: blocks come from fuller ones first
          PushBackLocked(s);
        }
      }
    }
    g_live_bytes.fetch_sub(class_bytes, std::memory_order_relaxed);
    if (give_back != nullptr) {
      g_slabs_in_use.fetch_sub(1, std::memory_order_relaxed);
      g_slabs_released.fetch_add(1, std::memory_order_relaxed);
      TheSupply().Give(give_back);
    }
  }

 private:
  SlabHeader* InitLocked(char* memory, uint32_t class_bytes) COWTREE_REQUIRES(mu_) {
    auto* s = reinterpret_cast<SlabHeader*>(memory);
    s->magic = kSlabMagic;
    s->class_bytes = class_bytes;
    s->capacity = static_cast<uint32_t>((kSlabBytes - kHeaderBytes) / class_bytes);
    s->live = 0;
    s->bump = 0;
    s->listed = false;
    s->free_head = nullptr;
    s->prev = s->next = nullptr;
    PushBackLocked(s);
    ++empty_;
    g_slabs_in_use.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  void PushBackLocked(SlabHeader* s) COWTREE_REQUIRES(mu_) {
    COWTREE_ASSERT(!s->listed);
    s->listed = true;
    s->next = nullptr;
    s->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = s;
    } else {
      head_ = s;
    }
    tail_ = s;
  }
  void UnlinkLocked(SlabHeader* s) COWTREE_REQUIRES(mu_) {
    COWTREE_ASSERT(s->listed);
    (s->prev != nullptr ? s->prev->next : head_) = s->next;
    (s->next != nullptr ? s->next->prev : tail_) = s->prev;
    s->prev = s->next = nullptr;
    s->listed = false;
  }

  Mutex mu_;
  SlabHeader* head_ COWTREE_GUARDED_BY(mu_) = nullptr;  // slabs with room (see above)
  SlabHeader* tail_ COWTREE_GUARDED_BY(mu_) = nullptr;
  uint32_t empty_ COWTREE_GUARDED_BY(mu_) = 0;  // listed slabs with no live block
};

SlabClass* Classes();

// pthread_atfork handlers: every class's mutex in index order, then the supply's (the lock
// order), released in reverse in the parent and in the child, as glibc does for malloc.
void ForkPrepare() {
  for (size_t i = 0; i < kClassCount; ++i) Classes()[i].LockForFork();
  TheSupply().LockForFork();
}
void ForkRelease() {
  TheSupply().UnlockAfterFork();
  for (size_t i = kClassCount; i-- > 0;) Classes()[i].UnlockAfterFork();
}

SlabClass* Classes() {
  static SlabClass* classes = [] {
    auto* made = new SlabClass[kClassCount];  // never destroyed (see the header)
    COWTREE_ASSERT(pthread_atfork(&ForkPrepare, &ForkRelease, &ForkRelease) == 0);
    return made;
  }();
  return classes;
}

// Made and registered while the program loads, before any thread can fork: a child forked
// while another thread ran a function-local static's initialization would inherit its guard
// held.
[[maybe_unused]] const bool g_made_at_load = (Classes(), TheSupply(), true);

void CheckClass(size_t class_bytes) {
  COWTREE_ASSERT(class_bytes >= kSlabClassBytes && class_bytes <= kSlabBlockBytesMax &&
                 class_bytes % kSlabClassBytes == 0);
}

[[maybe_unused]] SlabClass& ClassFor(size_t class_bytes) {
  CheckClass(class_bytes);
  return Classes()[class_bytes / kSlabClassBytes];
}

}  // namespace

void* SlabAllocate(size_t class_bytes) {
#ifdef COWTREE_SLAB_BYPASS
  CheckClass(class_bytes);
  return ::operator new(class_bytes, std::nothrow);
#else
  return ClassFor(class_bytes).Allocate(static_cast<uint32_t>(class_bytes));
#endif
}

void SlabFree(void* p, size_t class_bytes) {
#ifdef COWTREE_SLAB_BYPASS
  CheckClass(class_bytes);
  ::operator delete(p);
#else
  ClassFor(class_bytes).Free(p, static_cast<uint32_t>(class_bytes));
#endif
}

SlabStats GetSlabStats() {
  SlabStats stats;
  stats.live_bytes = g_live_bytes.load(std::memory_order_relaxed);
  stats.slabs_in_use = g_slabs_in_use.load(std::memory_order_relaxed);
  stats.slabs_released = g_slabs_released.load(std::memory_order_relaxed);
  stats.mapped_bytes = g_mapped_bytes.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace cowtree::tree
