// MemoryBudget: the byte budget of a Runtime's tree memory (RuntimeOptions::cache_bytes;
// docs/memory_budget.md says what is counted and what RSS to expect).
//
// What is counted
// - fixed bytes: memory every loaded tree keeps whatever is read (leaf boxes, internal nodes,
//   leaf summaries, object-table entries), charged per leaf by the tree type (ChargeFixed);
// - dirty bytes: content of leaves not yet written by a checkpoint (never evictable);
// - clean bytes: content of persisted leaves that is resident (evictable);
// - node bytes: internal nodes in use by this budget's trees (memory only, never evictable),
//   charged exactly by the node pool that hands them out (tree/node_pool.h) through
//   node_counter();
// - pool bytes: free objects cached for reuse by the pools serving this budget's trees
//   (tree/leaf_pool.h, tree/node_pool.h), at most pool_limit_bytes() = budget / 16; charged
//   and uncharged by the pools through pool_counter().
// resident_bytes() = fixed + node + dirty + clean + pool. When it passes budget_bytes, clean
// entries are evicted in CLOCK order (second chance: an entry read since the hand last passed it is
// skipped once) until it is back under the budget or nothing clean is left. When dirty bytes
// pass DirtyTriggerBytes() (dirty_share = budget * dirty_percent / 100, or less when the fixed
// and node bytes leave less room) the budget calls the dirty callback (the Runtime wakes its
// coordinator to checkpoint: dirty leaves become clean, then evictable); past
// DirtyOverStallLimit() the committing thread checkpoints itself (a write stall).
//
// Entries
// - An Evictable registers with AddClean after it became resident and clean; the ring holds a
//   weak_ptr, so a destroyed entry simply drops out. An entry may be registered more than once
//   (evicted by someone else, then loaded again): each registration is a ring slot; eviction
//   through any of them is idempotent (EvictForBudget returns 0 when nothing is resident).
// - Accounting is done by the entry at its state changes (Charge / Uncharge / MoveDirtyToClean):
//   the budget never guesses sizes. Counters are signed: a transient negative value during a
//   race between a state change and its accounting is harmless.
//
// Thread-safety: every method is thread-safe. Counters are atomics; the ring is under one mutex
// (ring_mu_), held while EvictForBudget runs; attachment_mu_ only guards the creation of the
// attachment and is never held with ring_mu_. Lock order: ring_mu_ -> the entry's own locks
// (SharedCell stripes); EvictForBudget must not call back into the budget except through the
// lock-free Uncharge.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "persistence/thread_annotations.h"

namespace cowtree {

// Something whose resident bytes the budget may drop (a leaf's content). No data members, so
// that an entry (one per leaf) pays only its vtable pointer for being one.
class Evictable {
 public:
  virtual ~Evictable() = default;
  // Drops the resident content if it is clean; returns the bytes released (0 if it was not
  // resident or is dirty). Must account the release itself (MemoryBudget::Uncharge).
  virtual uint64_t EvictForBudget() = 0;
  // CLOCK reference bit: the entry sets it on every read hit; TakeReferenced returns it and
  // clears it (called by the hand, under the ring mutex).
  virtual bool TakeReferenced() = 0;
};

struct MemoryBudgetStats {
  uint64_t budget_bytes = 0;  // 0 = unlimited (accounting only)
  int64_t fixed_bytes = 0;
  int64_t dirty_bytes = 0;
  int64_t clean_bytes = 0;
  int64_t node_bytes = 0;  // internal nodes in use
  int64_t pool_bytes = 0;  // free objects cached by this budget's pools
  // fixed + node + dirty + clean + pool
  int64_t resident_bytes() const {
    return fixed_bytes + node_bytes + dirty_bytes + clean_bytes + pool_bytes;
  }
  uint64_t ring_entries = 0;
  uint64_t evictions = 0;       // entries evicted by the budget
  uint64_t evicted_bytes = 0;   // bytes they released
  uint64_t dirty_triggers = 0;  // times the dirty share was passed (callback calls)
  uint64_t trims = 0;           // times freed heap pages were returned to the OS
  uint64_t trim_ns = 0;         // time those returns took, in total
};

class MemoryBudget {
 public:
  // budget_bytes 0 = unlimited: accounting only, nothing is evicted, no callback.
  // dirty_percent in [1, 100]: the dirty share that triggers the callback.
  MemoryBudget(uint64_t budget_bytes, uint32_t dirty_percent);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  uint64_t budget_bytes() const { return budget_bytes_; }
  bool limited() const { return budget_bytes_ != 0; }
  // The Runtime's hook, called (from any thread, without budget locks held) when dirty bytes
  // pass the dirty share. Set once, before the budget is shared.
  void SetDirtyCallback(std::function<void()> callback) { dirty_callback_ = std::move(callback); }

  // Fixed (non-evictable) bytes: +bytes when a tree grows, -bytes when it shrinks or goes.
  void ChargeFixed(int64_t bytes) { fixed_.fetch_add(bytes, std::memory_order_relaxed); }
  // Content became resident (dirty: a new leaf; clean: a leaf read from disk). A clean charge
  // should be followed by AddClean. A dirty charge evicts clean entries while the budget is
  // exceeded (AddClean does it for clean charges).
  void Charge(uint64_t bytes, bool dirty);
  // Content left memory (evicted, or its owner was destroyed).
  void Uncharge(uint64_t bytes, bool dirty) {
    (dirty ? dirty_ : clean_).fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
    uncharged_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  // A dirty leaf was written by a checkpoint: its bytes are clean now (AddClean follows).
  void MoveDirtyToClean(uint64_t bytes);
  // A clean leaf's object was retired while the leaf stays in use (LeafBox::DetachFromObject):
  // its bytes are dirty (unevictable) now. The total does not change.
  void MoveCleanToDirty(uint64_t bytes) {
    clean_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
    dirty_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }
  // Registers a clean, resident entry with the CLOCK ring, then enforces the budget.
  void AddClean(std::weak_ptr<Evictable> entry);
  // Evicts clean entries while resident bytes exceed the budget; calls the dirty callback if
  // dirty bytes exceed the dirty share. Cheap (two atomic loads) when under budget.
  void EnforceBudget();

  int64_t resident_bytes() const {
    return fixed_.load(std::memory_order_relaxed) + dirty_.load(std::memory_order_relaxed) +
           clean_.load(std::memory_order_relaxed) + pool_->load(std::memory_order_relaxed) +
           nodes_->load(std::memory_order_relaxed);
  }

  // The pool counter: bytes of free objects cached by the pools of this budget's trees. The
  // pools hold the shared_ptr (they may outlive the budget: objects return to them late).
  const std::shared_ptr<std::atomic<int64_t>>& pool_counter() const { return pool_; }
  // The node counter: bytes of the internal nodes the pools of this budget's trees handed out
  // and that are still in use (shared_ptr: nodes may outlive the budget, as pooled objects).
  const std::shared_ptr<std::atomic<int64_t>>& node_counter() const { return nodes_; }
  // The most bytes those pools may cache together: budget / 16 (0 when unlimited).
  uint64_t pool_limit_bytes() const { return budget_bytes_ / 16; }

  // An object the layer above attaches to this budget once (the tree layer: its pools), so
  // that every tree of the runtime finds the same one. The first call creates it with `make`;
  // every call returns it. It lives as long as the budget (and whoever else shares it); it
  // must not hold the budget (a cycle). Thread-safe; cheap after the first call (one atomic
  // load).
  void* Attachment(const std::function<std::shared_ptr<void>()>& make);
  int64_t dirty_bytes() const { return dirty_.load(std::memory_order_relaxed); }
  uint64_t dirty_share_bytes() const { return dirty_share_bytes_; }
  // The room eviction cannot make for dirty leaves: budget - dirty share - fixed - node bytes
  // (fixed, node and dirty bytes are what eviction cannot free; the share left over is room
  // for the next commit's new dirty leaves and copied nodes). Negative when the fixed and node
  // bytes alone pass budget - share. Meaningful only when limited().
  int64_t DirtyRoomBytes() const {
    return static_cast<int64_t>(budget_bytes_) - static_cast<int64_t>(dirty_share_bytes_) -
           fixed_.load(std::memory_order_relaxed) - nodes_->load(std::memory_order_relaxed);
  }
  // Dirty bytes past which a checkpoint is due (the dirty callback fires, the coordinator
  // checkpoints): the dirty share, or half the room when that is less (at least share / 8),
  // so that the background checkpoint starts well before commits reach the stall limit.
  int64_t DirtyTriggerBytes() const {
    const int64_t share = static_cast<int64_t>(dirty_share_bytes_);
    return std::min(share, std::max(DirtyRoomBytes() / 2, share / 8));
  }
  bool DirtyOverTrigger() const { return limited() && dirty_bytes() > DirtyTriggerBytes(); }
  // The write stall (a commit that finds it true checkpoints before returning): dirty bytes
  // past twice the share (at most the budget), or past the room (at least share / 4, so that
  // a tree whose fixed and node bytes alone fill the budget checkpoints every few commits
  // rather than after every one). Always above DirtyTriggerBytes().
  bool DirtyOverStallLimit() const {
    if (!limited()) return false;
    const int64_t share = static_cast<int64_t>(dirty_share_bytes_);
    const int64_t limit = std::min(std::min(static_cast<int64_t>(budget_bytes_), 2 * share),
                                   std::max(DirtyRoomBytes(), share / 4));
    return dirty_bytes() > limit;
  }
  MemoryBudgetStats stats() const;

  // Freed memory is returned to the OS (malloc_trim) each time this many bytes were freed since
  // the last return: budget / 8, at least kTrimIntervalMinBytes. A trim costs with the heap's
  // size (glibc walks every free chunk and madvises every free page range again), so under a
  // small budget a trim per budget / 8 freed took ~17 % of the time (1 M entries, 4 MiB);
  // the floor keeps the heap freed between trims within what a 16 MiB budget already allows.
  static constexpr uint64_t kTrimIntervalMinBytes = uint64_t{2} << 20;
  uint64_t TrimIntervalBytes() const {
    return std::max<uint64_t>(budget_bytes_ / 8, kTrimIntervalMinBytes);
  }
  // The clock trims are timed with (MemoryBudgetStats::trim_ns; nanoseconds, monotonic);
  // default steady_clock. Tests substitute their own. Set before the budget is shared.
  void SetClockForTesting(std::function<uint64_t()> now_ns) { now_ns_ = std::move(now_ns); }

 private:
  bool OverBudget() const {
    return limited() && resident_bytes() > static_cast<int64_t>(budget_bytes_);
  }
  void EvictLocked() COWTREE_REQUIRES(ring_mu_);
  // Drops the ring's expired entries; the next compaction is when the ring holds 1.5 times the
  // entries left (at least kRingCompactMin more).
  void CompactRingLocked() COWTREE_REQUIRES(ring_mu_);
  static constexpr size_t kRingCompactMin = 1024;
  // Returns free heap pages to the OS once enough bytes were freed since the last time
  // (TrimIntervalBytes()), and times it.
  void ReturnFreedMemory();
  uint64_t NowNs() const;

  const uint64_t budget_bytes_;
  const uint64_t dirty_share_bytes_;
  std::atomic<int64_t> fixed_{0};
  std::atomic<int64_t> dirty_{0};
  std::atomic<int64_t> clean_{0};
  const std::shared_ptr<std::atomic<int64_t>> pool_ = std::make_shared<std::atomic<int64_t>>(0);
  const std::shared_ptr<std::atomic<int64_t>> nodes_ = std::make_shared<std::atomic<int64_t>>(0);
  std::atomic<void*> attachment_raw_{nullptr};
  Mutex attachment_mu_;
  std::shared_ptr<void> attachment_ COWTREE_GUARDED_BY(attachment_mu_);
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> evicted_bytes_{0};
  std::atomic<uint64_t> dirty_triggers_{0};
  std::atomic<uint64_t> uncharged_bytes_{0};  // every Uncharge, evictions included
  std::atomic<uint64_t> trimmed_at_bytes_{0};
  std::atomic<uint64_t> trims_{0};
  std::atomic<uint64_t> trim_ns_{0};
  std::function<uint64_t()> now_ns_;          // null: steady_clock
  std::atomic<bool> dirty_signalled_{false};  // callback called, dirty not yet under the share
  std::function<void()> dirty_callback_;

  mutable Mutex ring_mu_;
  std::vector<std::weak_ptr<Evictable>> ring_ COWTREE_GUARDED_BY(ring_mu_);
  size_t hand_ COWTREE_GUARDED_BY(ring_mu_) = 0;
  size_t compact_at_ COWTREE_GUARDED_BY(ring_mu_) = kRingCompactMin;
};

// Pins glibc malloc's mmap threshold at kPinnedMmapThresholdBytes. Public: declared and
// documented in include/cowtree/options.h (process-wide; the library never calls it, the
// `cowtree` command does); defined here, beside the trim above, so that tests of the budget
// below the API layer call the same function.
inline constexpr int kPinnedMmapThresholdBytes = 128 * 1024;
bool PinMallocMmapThreshold();

}  // namespace cowtree
