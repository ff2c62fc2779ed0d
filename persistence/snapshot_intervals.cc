#include "persistence/snapshot_intervals.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree {

SnapshotIntervals::SnapshotIntervals(std::vector<Interval> intervals, uint64_t version)
    : intervals_(std::move(intervals)), version_(version) {
  for (size_t i = 0; i < intervals_.size(); ++i) {
    COWTREE_ASSERT(intervals_[i].checkpoint_epoch >= intervals_[i].snapshot_epoch);
    if (i > 0) {
      COWTREE_ASSERT(intervals_[i - 1].snapshot_epoch < intervals_[i].snapshot_epoch);
      COWTREE_ASSERT(intervals_[i - 1].checkpoint_epoch <= intervals_[i].checkpoint_epoch);
    }
  }
}

bool SnapshotIntervals::Sees(uint64_t birth_epoch, uint64_t retire_epoch) const {
  // The interval with the largest S < retire_epoch has the largest C(S) of all those with
  // S < retire_epoch (C is nondecreasing): it alone decides.
  auto it = std::lower_bound(
      intervals_.begin(), intervals_.end(), retire_epoch,
      [](const Interval& interval, uint64_t epoch) { return interval.snapshot_epoch < epoch; });
  if (it == intervals_.begin()) return false;
  --it;
  COWTREE_ASSERT(it->snapshot_epoch < retire_epoch);
  return birth_epoch <= it->checkpoint_epoch;
}

std::vector<SnapshotIntervals::Interval> SnapshotIntervals::Build(
    const std::vector<uint64_t>& pinned_epochs, const std::vector<uint64_t>& checkpoint_epochs) {
  COWTREE_ASSERT(std::is_sorted(checkpoint_epochs.begin(), checkpoint_epochs.end()));
  std::vector<Interval> intervals;
  intervals.reserve(pinned_epochs.size());
  for (uint64_t s : pinned_epochs) {
    COWTREE_ASSERT(s != 0 && (intervals.empty() || intervals.back().snapshot_epoch < s));
    auto c = std::lower_bound(checkpoint_epochs.begin(), checkpoint_epochs.end(), s);
    intervals.push_back({s, c == checkpoint_epochs.end() ? UINT64_MAX : *c});
  }
  return intervals;
}

}  // namespace cowtree
