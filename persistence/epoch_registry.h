// EpochRegistry: the snapshot epochs pinned by readers of ONE Runtime (never process-global:
// DESIGN.md pitfall "a thread-local reader pin that is global rather than per runtime").
//
// - Pin(epoch) registers a reader at `epoch`; Unpin(epoch) releases one registration.
// - MinPinned() is the smallest pinned epoch, or UINT64_MAX when none is pinned.
// Versions retired at epoch R may be dropped once MinPinned() >= R. Objects retired at R are
// freed by the interval rule of persistence/snapshot_intervals.h (a pin at S keeps only those
// born at or before C(S) and retired after S: ReadableEpochs gives the pins), the old slots of
// relocated objects once MinPinned() >= the relocation, and nothing while epoch 0 is pinned.
// Thread-safety: all methods are thread-safe (one mutex; pins are per query, not per row).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "persistence/assert.h"

namespace cowtree {

class EpochRegistry {
 public:
  void Pin(uint64_t epoch) {
    std::lock_guard<std::mutex> g(mu_);
    ++pins_[epoch];
  }
  void Unpin(uint64_t epoch) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = pins_.find(epoch);
    COWTREE_ASSERT(it != pins_.end() && it->second > 0);
    if (--it->second == 0) pins_.erase(it);
  }
  // Pins the current value of `visible` atomically with respect to SafeEpoch(): a reclaimer
  // can never compute a safe epoch past a snapshot that is being pinned.
  uint64_t PinCurrent(const std::atomic<uint64_t>& visible) {
    std::lock_guard<std::mutex> g(mu_);
    const uint64_t epoch = visible.load(std::memory_order_acquire);
    ++pins_[epoch];
    return epoch;
  }
  // min(smallest pinned epoch, visible): objects retired at or before it may be reclaimed.
  uint64_t SafeEpoch(const std::atomic<uint64_t>& visible) const {
    std::lock_guard<std::mutex> g(mu_);
    const uint64_t v = visible.load(std::memory_order_acquire);
    return pins_.empty() ? v : std::min(v, pins_.begin()->first);
  }
  // The pinned epochs below `visible`, ascending, then visible itself (read under the lock:
  // a pin made after this call is of a visible epoch >= the one returned).
  std::vector<uint64_t> ReadableEpochs(const std::atomic<uint64_t>& visible) const {
    std::lock_guard<std::mutex> g(mu_);
    const uint64_t v = visible.load(std::memory_order_acquire);
    std::vector<uint64_t> epochs;
    for (const auto& [epoch, count] : pins_) {
      if (epoch >= v) break;
      epochs.push_back(epoch);
    }
    epochs.push_back(v);
    return epochs;
  }
  uint64_t MinPinned() const {
    std::lock_guard<std::mutex> g(mu_);
    return pins_.empty() ? UINT64_MAX : pins_.begin()->first;
  }
  size_t pinned_count() const {
    std::lock_guard<std::mutex> g(mu_);
    size_t n = 0;
    for (const auto& [epoch, count] : pins_) n += count;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> pins_;  // epoch -> number of readers pinned there
};

}  // namespace cowtree
