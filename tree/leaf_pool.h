// LeafDataPool: recycles the LeafData objects the writer creates, with their key and weight
// buffers, so that applying a batch does not go through malloc/free once per touched leaf.
//
// Why. Every commit copies each leaf it touches (copy-on-write), and frees the previous copy
// once the old version is released: with random keys that is one leaf built and one freed per
// key. Leaf buffers (~2 KiB each) are too large for glibc's thread cache, and in a profile of
// the 10 M-key ingest malloc/free of them took ~40 % of the time. The pool keeps freed
// LeafData objects by capacity class and hands them back out with their buffers intact.
//
// Contract
// - Make(entries) returns a new, empty LeafData (keys and weights empty) whose keys have
//   capacity >= entries, so that up to `entries` push_backs do not reallocate. The capacity
//   is `entries` rounded up to a multiple of kClassEntries (so size_bytes() — what the memory
//   budget charges — exceeds the exact size by < kClassEntries * 16 bytes). The weights have
//   capacity 0 (implicit unit weights need none: tree/leaf.h) or that same capacity (an
//   object recycled with its weights buffer, handed out when no keys-only one is cached); a
//   writer that needs weights calls weights.reserve(keys.capacity()) first, so that the object
//   stays in its class, and one whose content stays implicit frees an unused weights buffer
//   before the content goes into a box (SplitLeaf), which would charge it for its life. Requests over kPooledEntriesMax get an exact, unpooled allocation.
// - Ownership: the returned shared_ptr owns the object; its deleter (run by whichever thread
//   drops the last reference, e.g. a reader or the checkpointer) hands the object back to
//   the pool instead of deleting it, unless the vectors' capacities no longer match a class
//   (then it is deleted). Objects with and without a weights buffer are cached apart. When the pool holds kCachedBytesMax already, a cached object of
//   another class is deleted to make room (classes in turn), so that the cache follows the
//   classes freed recently instead of filling up once with rarely requested ones. Content is
//   cleared on reuse, never read: a recycled object is indistinguishable from a new one to its next
//   user.
// - The pool is process-wide (Default()) and never destroyed, so deleters may run at any time,
//   including during static destruction. Clear() frees every cached object (for tests).
// - Memory: a pool caches at most its max_cached_bytes (Default(): kCachedBytesMax). A pool
//   made for a limited MemoryBudget (PoolsFor below) has a share of the budget's
//   pool_limit_bytes() as its maximum and adds / subtracts its cached bytes to the budget's
//   pool counter, so they count in the budget like resident leaves do.
// - Lifetime: a pool owned by a shared_ptr may be given that owner (SetOwner); every object it
//   hands out then keeps the owner alive until the object is recycled. A pool without an owner
//   (Default(), a test's local pool) must outlive its objects. The destructor frees the cache.
//
// NewLeafData(entries, budget): PoolsFor(budget).leaf->Make(entries).
//
// TreePools / PoolsFor(budget): the leaf and node pools the writer of a tree under `budget`
// uses: the process-wide Default() pools when budget is null or unlimited; otherwise pools
// attached to the budget (MemoryBudget::Attachment), created on first use, shared by every
// tree of that budget, together caching at most budget->pool_limit_bytes() (3/4 for leaves,
// 1/4 for internal nodes), counted in the budget.
// Thread-safety: all methods, from any thread (one mutex; no other lock is taken under it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "persistence/thread_annotations.h"
#include "tree/leaf.h"
#include "tree/tree_shape.h"

namespace cowtree::tree {

class LeafDataPool {
 public:
  static constexpr size_t kClassEntries = 16;
  static constexpr size_t kPooledEntriesMax = kLeafCapacityMax + kClassEntries;
  static constexpr uint64_t kCachedBytesMax = uint64_t{48} << 20;

  // The process-wide pool (created on first use, never destroyed).
  static LeafDataPool& Default();

  // max_cached_bytes: the cache bound; pool_counter (may be null): a budget's pool counter
  // that mirrors cached_bytes().
  explicit LeafDataPool(uint64_t max_cached_bytes = kCachedBytesMax,
                        std::shared_ptr<std::atomic<int64_t>> pool_counter = nullptr)
      : max_cached_bytes_(max_cached_bytes), pool_counter_(std::move(pool_counter)) {}
  ~LeafDataPool() { Clear(); }
  // Objects handed out from now on keep `owner` (the shared_ptr owning this pool) alive.
  // Call once, before the pool is shared.
  void SetOwner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }
  uint64_t max_cached_bytes() const { return max_cached_bytes_; }
  LeafDataPool(const LeafDataPool&) = delete;
  LeafDataPool& operator=(const LeafDataPool&) = delete;

  // See the file comment.
  std::shared_ptr<LeafData> Make(size_t entries);
  // Bytes (LeafData::size_bytes) of the objects cached now.
  uint64_t cached_bytes() const;
  // Objects handed out by Make() that came from the cache (a statistic for tests).
  uint64_t reuses() const;
  // Frees every cached object.
  void Clear();

 private:
  struct Recycler {
    LeafDataPool* pool;
    std::shared_ptr<void> keep_alive;  // the pool's owner, if any
    void operator()(LeafData* data) const { pool->Recycle(data); }
  };
  // Adds `bytes` (may be negative) to the budget's pool counter, if any.
  void Account(int64_t bytes) {
    if (pool_counter_ != nullptr) pool_counter_->fetch_add(bytes, std::memory_order_relaxed);
  }
  static constexpr size_t kClassCount = kPooledEntriesMax / kClassEntries + 1;

  // The class of a request for `entries` (capacity class * kClassEntries).
  static size_t ClassOf(size_t entries) { return (entries + kClassEntries - 1) / kClassEntries; }
  // Cached objects hold keys only (kind 0) or keys and weights (kind 1).
  static constexpr size_t kKindCount = 2;
  // LeafData::size_bytes() of a cached object of class cls and kind `kind` (each vector it
  // holds has exactly cls * kClassEntries), computed without touching the (cold) object.
  static uint64_t ClassBytes(size_t kind, size_t cls) {
    return sizeof(LeafData) + (1 + kind) * cls * kClassEntries * sizeof(uint64_t);
  }
  // A cached object of class cls, keys-only preferred; null if none.
  LeafData* Take(size_t cls);
  void Recycle(LeafData* data);
  // Removes one cached object of a class other than keep_cls (the next non-empty list after
  // the cursor, over both kinds), or returns null if there is none. Finds that list in the
  // bitmap of non-empty lists: a full pool (always, under a small budget) evicts on every
  // Recycle, and a scan of the 516 lists took ~6 % of a budgeted run.
  LeafData* EvictOneLocked(size_t keep_cls) COWTREE_REQUIRES(mu_);
  // The (kind, class) lists, numbered kind * kClassCount + cls; nonempty_ has bit i set iff
  // list i holds an object.
  static constexpr size_t kListCount = kKindCount * kClassCount;
  static constexpr size_t kNonEmptyWords = (kListCount + 63) / 64;
  // Appends data to list (kind, cls) and pops its last object, keeping nonempty_ in step.
  void PushLocked(size_t kind, size_t cls, LeafData* data) COWTREE_REQUIRES(mu_);
  LeafData* PopLocked(size_t kind, size_t cls) COWTREE_REQUIRES(mu_);
  // The first non-empty list numbered >= from, or kListCount if none.
  size_t NextNonEmptyLocked(size_t from) const COWTREE_REQUIRES(mu_);

  const uint64_t max_cached_bytes_;
  const std::shared_ptr<std::atomic<int64_t>> pool_counter_;
  std::weak_ptr<void> owner_;
  mutable Mutex mu_;
  std::vector<LeafData*> free_[kKindCount][kClassCount] COWTREE_GUARDED_BY(mu_);
  uint64_t cached_bytes_ COWTREE_GUARDED_BY(mu_) = 0;
  uint64_t reuses_ COWTREE_GUARDED_BY(mu_) = 0;
  size_t evict_cursor_ COWTREE_GUARDED_BY(mu_) = 0;
  uint64_t nonempty_[kNonEmptyWords] COWTREE_GUARDED_BY(mu_) = {};
};

class InternalNodePool;
struct TreePools {
  LeafDataPool* leaf = nullptr;
  InternalNodePool* node = nullptr;
};
TreePools PoolsFor(MemoryBudget* budget);

std::shared_ptr<LeafData> NewLeafData(size_t entries, MemoryBudget* budget);

}  // namespace cowtree::tree
