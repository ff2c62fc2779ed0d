// Leaves of the order-statistics tree: their content (LeafData), one immutable version of a
// leaf with its summary and lazily loaded content (LeafBox), and the host's loader.
//
// LeafData
// - keys: ordered key codes (tree/key_codec.h), strictly increasing; weights: int64, never 0,
//   possibly negative; keys.size() == weights.size() >= 1 for a leaf in a tree. Two arrays
//   (not an array of pairs) so that searches and positive-part sums are tight loops over one
//   array each.
// - Immutable once shared (held as std::shared_ptr<const LeafData>).
//
// LeafBox
// - One version of a leaf. Its summary (first_key, pos_sum = sum of max(weight, 0),
//   entry_count) and birth epoch are fixed at construction; a change to a leaf makes a new box.
// - persisted_id: the NodeID of the object holding this exact content; invalid (0) until the
//   checkpointer calls MarkPersisted() once. A box is "dirty" while it is not persisted.
// - data: resident content, or null when not loaded / evicted. Dirty boxes are always resident
//   (EvictClean() refuses to drop them). Load() returns resident data or calls the LeafLoader;
//   it is idempotent: concurrent loads of one box may both call the loader, the first stored
//   result wins and every caller gets that one.
// - Load() checks that the loaded content matches the box's summary (count, first key,
//   positive sum, key order, no zero weight) and returns Corruption naming the NodeID if not.
// - Memory budget (persistence/memory_budget.h): a box built with a budget charges its resident
//   content there (dirty at construction, clean when loaded), moves it to clean in
//   MarkPersisted, registers clean content with the budget's CLOCK ring (which may then evict
//   it through EvictForBudget) and uncharges on eviction and destruction. A read hit sets the
//   CLOCK reference bit. The budget must outlive the box (as the LeafLoader must).
// - Size: a box is kept for every leaf of every loaded tree, resident or not (the memory
//   budget's fixed bytes per leaf), so it holds only the summary, the id, the content cell,
//   the budget and the reference bit: 72 bytes (static_assert in leaf.cc). The functions that
//   register the box with the budget's ring (Load, MarkPersisted) take its shared_ptr rather
//   than keeping a weak self-reference (enable_shared_from_this) in every box.
// Thread-safety: all const methods and EvictClean are safe to call concurrently from any thread
// (an atomic id, a SharedCell for the content); the summary is immutable. MarkPersisted may run
// concurrently with all of them (it moves the bytes to clean before it publishes the id, so an
// EvictClean that sees the id finds them clean), but not with itself on the same box: one
// checkpointer at a time calls it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "persistence/memory_budget.h"
#include "persistence/node_id.h"
#include "persistence/status.h"
#include "tree/shared_cell.h"

namespace cowtree::tree {

struct LeafData {
  std::vector<uint64_t> keys;
  std::vector<int64_t> weights;

  uint32_t entry_count() const { return static_cast<uint32_t>(keys.size()); }
  // Approximate heap bytes held (for eviction accounting).
  uint64_t size_bytes() const {
    return sizeof(LeafData) + keys.capacity() * sizeof(uint64_t) +
           weights.capacity() * sizeof(int64_t);
  }
};

// Sum of max(weight, 0) over `data`; false if it does not fit in a uint64.
bool LeafPositiveSum(const LeafData& data, uint64_t* pos_sum);

// Validates content read from disk or produced by a loader: sizes equal, >= 1 entry, keys
// strictly increasing, no zero weight, positive sum fits in uint64. Corruption otherwise; the
// message names the entry index and what was expected.
Status ValidateLeafData(const LeafData& data);

// Supplied by the host (the Runtime glue): reads and decodes a persisted leaf. Must be safe to
// call concurrently from many threads. Errors: IOError / Corruption, propagated to the query
// or Apply that needed the leaf. Must outlive every tree version that references it.
class LeafLoader {
 public:
  virtual ~LeafLoader() = default;
  virtual Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID id) = 0;
  // The budget new boxes of this loader's trees charge (null: none). Outlives the boxes.
  virtual MemoryBudget* memory_budget() const { return nullptr; }
};

class LeafBox final : public Evictable {
 public:
  // A dirty, resident box for `data` (non-empty, validated by the caller; asserted).
  // pos_sum must equal LeafPositiveSum(*data) (asserted in debug builds). budget may be null.
  LeafBox(std::shared_ptr<const LeafData> data, uint64_t pos_sum, uint64_t epoch,
          MemoryBudget* budget = nullptr);
  // A persisted, non-resident box (restore): summary from the checkpoint, `id` valid.
  LeafBox(uint64_t first_key, uint64_t pos_sum, uint32_t entry_count, NodeID id, uint64_t epoch,
          MemoryBudget* budget = nullptr);
  ~LeafBox() override;
  LeafBox(const LeafBox&) = delete;
  LeafBox& operator=(const LeafBox&) = delete;

  uint64_t first_key() const { return first_key_; }
  uint64_t pos_sum() const { return pos_sum_; }
  uint32_t entry_count() const { return entry_count_; }
  // The epoch of the Apply (or restore) that created this box.
  uint64_t epoch() const { return epoch_; }

  NodeID persisted_id() const {
    return NodeID::FromRaw(persisted_raw_.load(std::memory_order_acquire));
  }
  bool persisted() const { return persisted_id().valid(); }
  // Records that `box`'s content is stored as object `id` (valid). Called once by the
  // checkpointer after the write; calling it again with the same id is a no-op, with another id
  // is a programming error (asserts). box non-null; not concurrently with itself on one box.
  static void MarkPersisted(const std::shared_ptr<LeafBox>& box, NodeID id);

  // The resident content or null.
  std::shared_ptr<const LeafData> data() const { return data_.Load(); }
  // The content of `box` (non-null), loading it through `loader` if not resident (see the
  // contract above). Errors: the loader's IOError/Corruption (with the NodeID as context);
  // Corruption if the content does not match the summary; InvalidArgument if not resident and
  // loader is null.
  static Result<std::shared_ptr<const LeafData>> Load(const std::shared_ptr<LeafBox>& box,
                                                      LeafLoader* loader);
  // Drops resident content of a persisted box; returns the bytes released (0 if dirty or not
  // resident). Readers holding the content keep it alive.
  uint64_t EvictClean();
  // Evictable: EvictClean, for the budget's CLOCK hand.
  uint64_t EvictForBudget() override { return EvictClean(); }
  bool TakeReferenced() override { return referenced_.exchange(false, std::memory_order_relaxed); }

 private:
  void MarkReferenced() const {
    if (!referenced_.load(std::memory_order_relaxed)) {
      referenced_.store(true, std::memory_order_relaxed);
    }
  }
  Result<std::shared_ptr<const LeafData>> LoadImpl(const std::shared_ptr<LeafBox>& self,
                                                   LeafLoader* loader) const;
  // Registers `box`'s resident clean content with the budget's ring (which may evict it).
  static void RegisterClean(const std::shared_ptr<LeafBox>& box);
  const uint32_t entry_count_;
  mutable std::atomic<bool> referenced_{false};  // CLOCK bit (beside entry_count_: no padding)
  const uint64_t first_key_;
  const uint64_t pos_sum_;
  const uint64_t epoch_;
  std::atomic<uint64_t> persisted_raw_{0};
  MemoryBudget* const budget_;
  mutable SharedCell<const LeafData> data_;
};

}  // namespace cowtree::tree
