// RetainedEpochs: the checkpoint epochs whose state must stay readable because a retained
// (named) checkpoint keeps it, or a point-in-time view of one is open
// (docs/retained_checkpoints.md).
//
// An object is written by the checkpoint of its birth epoch B and superseded (retired) by the
// checkpoint of a later epoch E, so the state of checkpoint epoch R references it iff
// B <= R < E.
// Reclamation (ObjectStore::Reclaim), OT checkpoints (WriteOtCheckpoint) and recovery
// (ApplyOtDelta, OtCheckpointContents::LoadInto) keep a retired object exactly when Sees()
// says a retained epoch references it.
//
// - RetainedEpochs is an immutable sorted set with a version (changes when the set changes);
//   cheap to copy around one reclamation.
// - RetainedEpochRegistry is the Runtime's live set: one registration per retained checkpoint
//   listed by the published manifest, plus one per open point-in-time view (a checkpoint deleted
//   while a view reads it stays registered until the view is closed).
// Thread-safety: RetainedEpochs is immutable; RetainedEpochRegistry's methods are thread-safe
// (one mutex, held for O(retained checkpoints); it is a leaf in the runtime's lock order).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace cowtree {

class RetainedEpochs {
 public:
  RetainedEpochs() = default;
  // `epochs`: any order, duplicates allowed (stored sorted and unique).
  RetainedEpochs(std::vector<uint64_t> epochs, uint64_t version);
  // True iff some retained epoch R has birth_epoch <= R < retire_epoch.
  bool Sees(uint64_t birth_epoch, uint64_t retire_epoch) const;
  bool empty() const { return epochs_.empty(); }
  uint64_t version() const { return version_; }
  const std::vector<uint64_t>& epochs() const { return epochs_; }

 private:
  std::vector<uint64_t> epochs_;  // sorted, unique
  uint64_t version_ = 0;
};

class RetainedEpochRegistry {
 public:
  void Add(uint64_t epoch);
  // Removes one registration of `epoch` (asserts there is one).
  void Remove(uint64_t epoch);
  RetainedEpochs Current() const;

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> counts_;  // epoch -> registrations
  uint64_t version_ = 1;
};

// One registration in a RetainedEpochRegistry, released on destruction (a point-in-time view
// holds one). Movable, not copyable.
class RetainedEpochPin {
 public:
  RetainedEpochPin() = default;
  RetainedEpochPin(std::shared_ptr<RetainedEpochRegistry> registry, uint64_t epoch);
  RetainedEpochPin(RetainedEpochPin&& o) noexcept;
  RetainedEpochPin& operator=(RetainedEpochPin&& o) noexcept;
  RetainedEpochPin(const RetainedEpochPin&) = delete;
  RetainedEpochPin& operator=(const RetainedEpochPin&) = delete;
  ~RetainedEpochPin() { Release(); }
  uint64_t epoch() const { return epoch_; }

 private:
  void Release();
  std::shared_ptr<RetainedEpochRegistry> registry_;
  uint64_t epoch_ = 0;
};

}  // namespace cowtree
