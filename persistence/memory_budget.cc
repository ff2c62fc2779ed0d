// MemoryBudget (persistence/memory_budget.h): counters and the CLOCK ring of clean entries.
#include "persistence/memory_budget.h"

#include <algorithm>
#include <chrono>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "persistence/assert.h"

namespace cowtree {

MemoryBudget::MemoryBudget(uint64_t budget_bytes, uint32_t dirty_percent)
    : budget_bytes_(budget_bytes), dirty_share_bytes_(budget_bytes / 100 * dirty_percent) {
  COWTREE_ASSERT(dirty_percent >= 1 && dirty_percent <= 100);
}

void MemoryBudget::Charge(uint64_t bytes, bool dirty) {
  (dirty ? dirty_ : clean_).fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (dirty && OverBudget()) {
    // A commit's new leaves push clean ones out as they are made, not only at its end.
    MutexLock g(&ring_mu_);
    EvictLocked();
  }
}

void MemoryBudget::MoveDirtyToClean(uint64_t bytes) {
  dirty_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  clean_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (!DirtyOverTrigger()) dirty_signalled_.store(false, std::memory_order_relaxed);
}

void MemoryBudget::AddClean(std::weak_ptr<Evictable> entry) {
  if (!limited()) return;  // unlimited: nothing is ever evicted, keep no ring
  {
    MutexLock g(&ring_mu_);
    ring_.push_back(std::move(entry));
    if (ring_.size() >= compact_at_) CompactRingLocked();
    if (OverBudget()) EvictLocked();
  }
  EnforceBudget();
}

void MemoryBudget::EnforceBudget() {
  if (!limited()) return;
  if (OverBudget()) {
    MutexLock g(&ring_mu_);
    EvictLocked();
  }
  ReturnFreedMemory();
  if (DirtyOverTrigger()) {
    // One callback per crossing: cleared when a checkpoint brings dirty bytes under the trigger.
    if (!dirty_signalled_.exchange(true, std::memory_order_relaxed)) {
      dirty_triggers_.fetch_add(1, std::memory_order_relaxed);
      if (dirty_callback_) dirty_callback_();
    }
  } else {
    dirty_signalled_.store(false, std::memory_order_relaxed);
  }
}

// CLOCK with second chance: the hand walks the ring; an expired or non-resident entry leaves
// it, a referenced one loses its bit and stays, any other one is evicted and leaves. Bounded
// to two full turns, so a ring of entries that are all dirty or all being re-referenced
// cannot spin forever (the budget is then exceeded until more entries turn clean).
void MemoryBudget::EvictLocked() {
  size_t steps = 2 * ring_.size() + 2;
  while (OverBudget() && !ring_.empty() && steps-- > 0) {
    if (hand_ >= ring_.size()) hand_ = 0;
    std::shared_ptr<Evictable> e = ring_[hand_].lock();
    bool remove = e == nullptr;
    if (!remove) {
      if (e->TakeReferenced()) {
        ++hand_;
        continue;
      }
      const uint64_t released = e->EvictForBudget();
      if (released != 0) {
        evictions_.fetch_add(1, std::memory_order_relaxed);
        evicted_bytes_.fetch_add(released, std::memory_order_relaxed);
      }
      remove = true;  // evicted now, or not resident / dirty (registered again when it is)
    }
    if (hand_ + 1 != ring_.size()) ring_[hand_] = std::move(ring_.back());
    ring_.pop_back();
    e.reset();  // may destroy the entry (its owner let go meanwhile): Uncharge is lock-free
  }
}

// The hand removes the entries of destroyed boxes only when it passes them, which it does only
// while the budget is exceeded; under the budget, every checkpoint would add an entry per leaf
// written, and an expired weak_ptr keeps its box's memory (allocate_shared: one block) until
// it is dropped. So once the ring grew by half (at least kRingCompactMin entries) since the
// last compaction, the expired entries leave it (order kept; amortized O(1) per AddClean).
void MemoryBudget::CompactRingLocked() {
  size_t out = 0;
  size_t hand = 0;
  for (size_t i = 0; i < ring_.size(); ++i) {
    if (i == hand_) hand = out;
    if (ring_[i].expired()) continue;
    if (out != i) ring_[out] = std::move(ring_[i]);
    ++out;
  }
  ring_.resize(out);
  ring_.shrink_to_fit();
  hand_ = hand;
  compact_at_ = out + std::max<size_t>(kRingCompactMin, out / 2);
}

uint64_t MemoryBudget::NowNs() const {
  if (now_ns_) return now_ns_();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Leaves are a few KiB each and live among long-lived small objects (boxes, internal nodes),
// so the pages glibc keeps after evictions are mostly free but never at the top of the heap:
// without a trim, RSS grows to the budget plus everything ever freed. malloc_trim(0) returns
// every free page (MADV_DONTNEED); it walks the free lists and madvises every free range, so
// it runs once per TrimIntervalBytes() evicted or freed (budget / 8, at least 2 MiB), not per
// eviction.
void MemoryBudget::ReturnFreedMemory() {
  const uint64_t freed = evicted_bytes_.load(std::memory_order_relaxed) +
                         uncharged_bytes_.load(std::memory_order_relaxed);
  const uint64_t last = trimmed_at_bytes_.load(std::memory_order_relaxed);
  if (freed - last < TrimIntervalBytes()) return;
  uint64_t expected = last;
  if (!trimmed_at_bytes_.compare_exchange_strong(expected, freed, std::memory_order_relaxed)) {
    return;  // another thread trims
  }
  trims_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t start_ns = NowNs();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  const uint64_t end_ns = std::max(NowNs(), start_ns);
  trim_ns_.fetch_add(end_ns - start_ns, std::memory_order_relaxed);
}

bool PinMallocMmapThreshold() {
#if defined(__GLIBC__)
  // Setting it also turns off glibc's dynamic adjustment of it (and of the trim threshold).
  return mallopt(M_MMAP_THRESHOLD, kPinnedMmapThresholdBytes) == 1;
#else
  return false;
#endif
}

void* MemoryBudget::Attachment(const std::function<std::shared_ptr<void>()>& make) {
  if (void* a = attachment_raw_.load(std::memory_order_acquire)) return a;
  MutexLock g(&attachment_mu_);
  if (attachment_ == nullptr) {
    attachment_ = make();
    COWTREE_ASSERT(attachment_ != nullptr);
    attachment_raw_.store(attachment_.get(), std::memory_order_release);
  }
  return attachment_.get();
}

MemoryBudgetStats MemoryBudget::stats() const {
  MemoryBudgetStats s;
  s.budget_bytes = budget_bytes_;
  s.fixed_bytes = fixed_.load();
  s.dirty_bytes = dirty_.load();
  s.clean_bytes = clean_.load();
  s.pool_bytes = pool_->load();
  s.node_bytes = nodes_->load();
  {
    MutexLock g(&ring_mu_);
    s.ring_entries = ring_.size();
  }
  s.evictions = evictions_.load();
  s.evicted_bytes = evicted_bytes_.load();
  s.dirty_triggers = dirty_triggers_.load();
  s.trims = trims_.load();
  s.trim_ns = trim_ns_.load();
  return s;
}

}  // namespace cowtree
