// SnapshotIntervals: which retired objects the pinned snapshots of a Runtime can still read
// (docs/object_table.md "Reclamation"), so that a snapshot held across many checkpoints keeps
// only the objects of its own state, not every object retired since it was taken.
//
// The rule. Objects are written by checkpoints: an object's birth epoch B is the epoch of the
// checkpoint that wrote it, its retire epoch E that of the checkpoint whose state no longer
// references it (B <= E). A snapshot pinned at epoch S reads leaves whose content was made at
// an epoch <= S; such a leaf is either still in memory (dirty) or was written by a checkpoint
// at or before C(S), the first checkpoint published with an epoch >= S (that checkpoint writes
// every leaf dirty at its freeze, and a later checkpoint only writes content made after it).
// This needs every dirty leaf to be made by a commit, which lists its tree for the next
// checkpoint, or to be replaced whole by the next write of its tree: the one leaf of an inline
// tree restored from its catalog entry (tree/order_stat_tree_host.cc LoadInline). A restore that
// made several dirty leaves broke it (a commit changing one left the others to a later
// checkpoint: objects born after C(S) holding content of S).
// It is superseded by content made after S, so it is retired at a checkpoint E > S. Hence a
// snapshot at S can read an object only if
//     B <= C(S)  and  S < E,
// and every object outside every pinned snapshot's interval may be freed. C(S) is unbounded
// (UINT64_MAX) while no checkpoint >= S has been published. The bound is one checkpoint's
// objects looser than the exact need (an object written by C(S) for content made after S is
// kept): the price of not recording a content epoch per object.
//
// What this does not cover, and the caller must keep protecting by an epoch bound instead:
// reads of objects of the *current* published state that are not of the snapshot's own tree
// versions (a cold tree's catalog chunk, read under the epoch-0 pin of Runtime::ColdReadHold),
// and the old slots of relocated objects (a reader may hold the old address: freed only once
// every pin is past the relocation, ObjectStore::Reclaim).
//
// Thread-safety: immutable once built; cheap to copy around one reclamation.
#pragma once

#include <cstdint>
#include <vector>

namespace cowtree {

class SnapshotIntervals {
 public:
  struct Interval {
    uint64_t snapshot_epoch = 0;    // S: a pinned epoch
    uint64_t checkpoint_epoch = 0;  // C(S): the first published checkpoint epoch >= S, or
                                    // UINT64_MAX while there is none
    bool operator==(const Interval&) const = default;
  };

  SnapshotIntervals() = default;
  // `intervals`: strictly increasing snapshot epochs with nondecreasing checkpoint epochs, each
  // checkpoint epoch >= its snapshot epoch (asserted: C(S) is monotone in S by definition).
  // version: changes whenever the intervals change (ObjectStore re-examines what it kept).
  SnapshotIntervals(std::vector<Interval> intervals, uint64_t version);

  // True iff some pinned snapshot can read an object born at birth_epoch and retired at
  // retire_epoch: some interval has S < retire_epoch and birth_epoch <= C(S). O(log pins).
  bool Sees(uint64_t birth_epoch, uint64_t retire_epoch) const;
  // The smallest pinned epoch, UINT64_MAX when none.
  uint64_t oldest_snapshot_epoch() const {
    return intervals_.empty() ? UINT64_MAX : intervals_.front().snapshot_epoch;
  }
  bool empty() const { return intervals_.empty(); }
  uint64_t version() const { return version_; }
  const std::vector<Interval>& intervals() const { return intervals_; }

  // The intervals of `pinned_epochs` (ascending, unique, none 0) given the published
  // checkpoint epochs `checkpoint_epochs` (ascending): C(S) = the first of them >= S.
  static std::vector<Interval> Build(const std::vector<uint64_t>& pinned_epochs,
                                     const std::vector<uint64_t>& checkpoint_epochs);

 private:
  std::vector<Interval> intervals_;
  uint64_t version_ = 0;
};

}  // namespace cowtree
