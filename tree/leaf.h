// Leaves of the order-statistics tree: their content (LeafData), one immutable version of a
// leaf with its summary and lazily loaded content (LeafBox), and the host's loader.
//
// LeafData
// - keys: ordered key codes (tree/key_codec.h), strictly increasing, keys.size() >= 1 for a
//   leaf in a tree. weights: int64, never 0, possibly negative, one per key — or empty, which
//   means every weight is 1 (implicit unit weights: the common content of counting inserts,
//   held and copied at half the bytes). weight(i) reads either form. Two arrays (not an array
//   of pairs) so that searches and positive-part sums are tight loops over one array each.
// - Immutable once shared (held as std::shared_ptr<const LeafData>).
//
// LeafBox
// - One version of a leaf. Its summary (first_key, pos_sum = sum of max(weight, 0),
//   entry_count) and birth epoch are fixed at construction; a change to a leaf makes a new box.
// - persisted_id: the NodeID of the object holding this exact content; invalid (0) until the
//   checkpointer calls MarkPersisted() once, and again after DetachFromObject (the object is
//   retired while the box stays in use). A box is "dirty" while it is not persisted.
// - data: resident content, or null when not loaded / evicted. Dirty boxes are always resident
//   (EvictClean() refuses to drop them). Load() returns resident data or calls the LeafLoader;
//   it is idempotent: concurrent loads of one box may both call the loader, the first stored
//   result wins and every caller gets that one.
// - Load() checks that the loaded content matches the box's summary (count, first key,
//   positive sum, key order, no zero weight) and returns Corruption naming the NodeID if not.
//   A load whose object was retired and freed meanwhile because the box was detached from it
//   (DetachFromObject) answers from the content the detach made resident.
// - Memory budget (persistence/memory_budget.h): a box built with a budget charges its resident
//   content there (dirty at construction, clean when loaded), moves it to clean in
//   MarkPersisted, registers clean content with the budget's CLOCK ring (which may then evict
//   it through EvictForBudget) and uncharges on eviction and destruction. A read hit sets the
//   CLOCK reference bit. The budget must outlive the box (as the LeafLoader must).
// - Reader pins (the read path of Rank / Select, tree/query.cc): a ReadPin on a box gives the
//   resident content as a plain pointer, with no shared_ptr copy (no lock, no reference-count
//   traffic on a cold control block), or null when the content is not resident (then use
//   Load). The content stays alive while the pin lives: EvictClean clears the box's pointer,
//   then waits until no pin is held before it drops the content. A pin must be short: no I/O,
//   no lock, no call into user code while it is held (EvictClean, which may run under the
//   budget's ring lock, spins on it). At most kMaxPins pins on one box at a time (beyond it a
//   ReadPin reports "not resident" and the caller takes the Load path).
// - unit_weights(): whether every weight of the content is 1 (then the k-th item is entry k and
//   a key's rank is its index: the fast paths of query.cc). Known from construction for a box
//   built with its content, from the first Load for a restored one (false until then).
// - Size: a box is kept for every leaf of every loaded tree, resident or not (the memory
//   budget's fixed bytes per leaf), so it holds only the summary, the id, the content cell
//   (with its pointer mirror), the budget, the reference bit, the pin count and the weight
//   kind: 88 bytes (static_assert in leaf.cc; 104 with the allocate_shared control block, a
//   112-byte block: 16 bytes per leaf more than before the mirrors). The functions that register
//   the box with the budget's ring (Load, MarkPersisted) take its shared_ptr rather than keeping a
//   weak self-reference (enable_shared_from_this) in every box.
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

#include "persistence/assert.h"
#include "persistence/memory_budget.h"
#include "persistence/node_id.h"
#include "persistence/status.h"
#include "tree/shared_cell.h"  // SharedCellLock

namespace cowtree::tree {

struct LeafData {
  std::vector<uint64_t> keys;
  std::vector<int64_t> weights;

  uint32_t entry_count() const { return static_cast<uint32_t>(keys.size()); }
  // True when weights is empty: every weight is 1.
  bool implicit_unit_weights() const { return weights.empty(); }
  int64_t weight(size_t i) const { return weights.empty() ? 1 : weights[i]; }
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
  // Whether the content's weights are all 1, when the caller knows it (the writer does: it
  // built the content); kUnknown makes the constructor scan the weights.
  enum class WeightsHint : uint8_t { kUnknown, kAllUnit, kNotAllUnit };
  // A dirty, resident box for `data` (non-empty, validated by the caller; asserted).
  // pos_sum must equal LeafPositiveSum(*data) (asserted in debug builds). budget may be null.
  // weights: see WeightsHint; a known hint must be right (asserted in debug builds).
  LeafBox(std::shared_ptr<const LeafData> data, uint64_t pos_sum, uint64_t epoch,
          MemoryBudget* budget = nullptr, WeightsHint weights = WeightsHint::kUnknown);
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
  // The object holding `box`'s content is being retired while the box stays in use: a tree
  // checkpointed inline keeps its one leaf in memory (its state is the catalog entry's bytes,
  // docs/catalog.md "Inline trees"), and that leaf may be a clean leaf of the objects the inline
  // checkpoint retires. The box becomes dirty again, with its content resident for good, as the
  // leaf of an inline tree restored from its entry is: EvictClean refuses it from then on, so
  // no reader ever reloads it from the freed object. `data` (non-null) must equal the box's
  // content (the caller loaded it; asserted against the summary); kept if the content is not
  // resident. No-op for a dirty box. Budget: the bytes move from clean to dirty (or are charged
  // dirty). Called by the checkpointer (as MarkPersisted, never concurrently with it), after the
  // checkpoint that retires the object is published and before its reclamation.
  static void DetachFromObject(const std::shared_ptr<LeafBox>& box,
                               std::shared_ptr<const LeafData> data);

  // The resident content or null.
  std::shared_ptr<const LeafData> data() const { return data_.Load(); }
  // The content of a dirty box (!persisted(), asserted) as a plain pointer, with no shared_ptr
  // copy under the cell's lock. A dirty box is always resident and its content never changes,
  // so the pointer is valid while the caller holds the box and it stays dirty: for the
  // checkpointer, the one caller of MarkPersisted (from that call on, EvictClean may drop it).
  const LeafData* DirtyContent() const {
    COWTREE_ASSERT(!persisted());
    const LeafData* data = data_.RawData();
    COWTREE_ASSERT(data != nullptr);
    return data;
  }
  // The content of `box` (non-null), loading it through `loader` if not resident (see the
  // contract above). Errors: the loader's IOError/Corruption (with the NodeID as context);
  // Corruption if the content does not match the summary; InvalidArgument if not resident and
  // loader is null.
  static Result<std::shared_ptr<const LeafData>> Load(const std::shared_ptr<LeafBox>& box,
                                                      LeafLoader* loader);
  // Drops resident content of a persisted box; returns the bytes released (0 if dirty or not
  // resident). Readers holding the content keep it alive; waits for every ReadPin held on the
  // box at the time it clears the content pointer to be released.
  uint64_t EvictClean();

  // True only if the content's weights are all 1 (see the contract above).
  bool unit_weights() const { return weight_kind_.load(std::memory_order_acquire) == kUnitWeights; }

  static constexpr uint16_t kMaxPins = 0x8000;
  // A short read of the resident content (see "Reader pins" above). data() is null when the
  // content is not resident (or the box has kMaxPins pins). Not copyable or movable.
  // keys() is data()->keys.data() (entry_count() of them) read from the box itself, so that a
  // reader that needs only the keys touches no LeafData object.
  class ReadPin {
   public:
    explicit ReadPin(const LeafBox& box) : box_(box) {
      if (box_.pins_.fetch_add(1, std::memory_order_seq_cst) >= kMaxPins) return;
      data_ = box_.data_.RawData();
      keys_ = box_.data_.RawKeys();
      if (data_ == nullptr || keys_ == nullptr) {  // not resident, or evicted in between
        data_ = nullptr;
        keys_ = nullptr;
        return;
      }
      box_.MarkReferenced();
    }
    ~ReadPin() { box_.pins_.fetch_sub(1, std::memory_order_release); }
    ReadPin(const ReadPin&) = delete;
    ReadPin& operator=(const ReadPin&) = delete;
    // Null when not resident. Otherwise keys() may belong to an equal copy of data() (the
    // content evicted and loaded again between the two reads: a box's content never changes);
    // both stay alive while the pin lives.
    const LeafData* data() const { return data_; }
    const uint64_t* keys() const { return keys_; }

   private:
    const LeafBox& box_;
    const LeafData* data_ = nullptr;
    const uint64_t* keys_ = nullptr;
  };
  // A hint for a writer about to read this box's content: requests the cache lines of the
  // LeafData object and of the start of its keys, if resident. Reads no content (safe at any
  // time, from any thread; the pointers may be stale, which only wastes the prefetch).
  void PrefetchContent() const {
    const LeafData* data = data_.RawData();
    const uint64_t* keys = data_.RawKeys();
    if (data != nullptr) __builtin_prefetch(data);
    if (keys != nullptr) __builtin_prefetch(keys);
  }
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
  // The resident content if the box is no longer persisted (DetachFromObject ran), else null.
  std::shared_ptr<const LeafData> ResidentIfDetached() const;
  // Registers `box`'s resident clean content with the budget's ring (which may evict it).
  static void RegisterClean(const std::shared_ptr<LeafBox>& box);
  static constexpr uint8_t kWeightsUnknown = 0;
  static constexpr uint8_t kUnitWeights = 1;
  static constexpr uint8_t kOtherWeights = 2;
  // Records the weight kind of `data` (this box's content) if not known yet.
  void NoteWeightKind(const LeafData& data) const;
  const uint32_t entry_count_;
  // The CLOCK bit, the weight kind and the pin count fill the padding after entry_count_.
  mutable std::atomic<bool> referenced_{false};
  mutable std::atomic<uint8_t> weight_kind_{kWeightsUnknown};
  mutable std::atomic<uint16_t> pins_{0};
  const uint64_t first_key_;
  const uint64_t pos_sum_;
  const uint64_t epoch_;
  std::atomic<uint64_t> persisted_raw_{0};
  MemoryBudget* const budget_;
  // The content: a SharedCell's shared_ptr plus plain-pointer mirrors of the LeafData and of
  // its keys array for ReadPin, updated under the same lock as the shared_ptr. Clear() and
  // Exchange() clear the mirrors with seq_cst stores, so that EvictClean's seq_cst read of
  // pins_ that follows cannot miss a pin that might have read the old pointers.
  class ContentCell {
   public:
    std::shared_ptr<const LeafData> Load() const {
      std::lock_guard<std::mutex> g(SharedCellLock(this));
      return value_;
    }
    const LeafData* RawData() const { return data_raw_.load(std::memory_order_seq_cst); }
    const uint64_t* RawKeys() const { return keys_raw_.load(std::memory_order_seq_cst); }
    std::shared_ptr<const LeafData> Exchange(std::shared_ptr<const LeafData> v) {
      {
        std::lock_guard<std::mutex> g(SharedCellLock(this));
        value_.swap(v);
        Mirror();
      }
      return v;
    }
    std::shared_ptr<const LeafData> StoreIfEmpty(std::shared_ptr<const LeafData> v) {
      std::lock_guard<std::mutex> g(SharedCellLock(this));
      if (value_ == nullptr) {
        value_ = std::move(v);
        Mirror();
      }
      return value_;
    }
    // Exchange(nullptr) if keep_going() holds, under the lock (else null): EvictClean's check
    // that the box is persisted and its clearing are one step against DetachFromObject.
    template <typename Predicate>
    std::shared_ptr<const LeafData> ClearIf(Predicate keep_going) {
      std::shared_ptr<const LeafData> old;
      {
        std::lock_guard<std::mutex> g(SharedCellLock(this));
        if (!keep_going()) return nullptr;
        value_.swap(old);
        Mirror();
      }
      return old;
    }
    // Under the lock: stores v if empty, then runs fn(stored_v) — true if v was stored.
    template <typename Fn>
    void StoreIfEmptyThen(std::shared_ptr<const LeafData> v, Fn fn) {
      std::lock_guard<std::mutex> g(SharedCellLock(this));
      const bool stored = value_ == nullptr;
      if (stored) {
        value_ = std::move(v);
        Mirror();
      }
      fn(stored, *value_);
    }

   private:
    void Mirror() {  // under the lock
      keys_raw_.store(value_ != nullptr ? value_->keys.data() : nullptr, std::memory_order_seq_cst);
      data_raw_.store(value_.get(), std::memory_order_seq_cst);
    }
    std::shared_ptr<const LeafData> value_;
    std::atomic<const LeafData*> data_raw_{nullptr};
    std::atomic<const uint64_t*> keys_raw_{nullptr};
  };
  mutable ContentCell data_;
};

}  // namespace cowtree::tree
