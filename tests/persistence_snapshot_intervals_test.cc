// SnapshotIntervals (persistence/snapshot_intervals.h): C(S) from the published checkpoint
// epochs, and Sees() against a brute-force reading of the rule over every small epoch.
#include <gtest/gtest.h>

#include <random>

#include "persistence/snapshot_intervals.h"

namespace cowtree {
namespace {

TEST(SnapshotIntervals, BuildMapsEachPinToTheFirstCheckpointAtOrAfterIt) {
  const auto intervals = SnapshotIntervals::Build({3, 5, 9, 12}, {2, 5, 8, 11});
  ASSERT_EQ(intervals.size(), 4u);
  EXPECT_EQ(intervals[0], (SnapshotIntervals::Interval{3, 5}));
  EXPECT_EQ(intervals[1], (SnapshotIntervals::Interval{5, 5}));  // a snapshot of a checkpoint
  EXPECT_EQ(intervals[2], (SnapshotIntervals::Interval{9, 11}));
  EXPECT_EQ(intervals[3], (SnapshotIntervals::Interval{12, UINT64_MAX}));  // none published yet
}

TEST(SnapshotIntervals, SeesIsTheRuleForEveryPin) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint64_t> checkpoints, pins;
    for (uint64_t e = 1; e < 40; ++e) {
      if (rng() % 4 == 0) checkpoints.push_back(e);
      if (rng() % 6 == 0) pins.push_back(e);
    }
    const auto built = SnapshotIntervals::Build(pins, checkpoints);
    const SnapshotIntervals intervals(built, 1);
    for (uint64_t birth = 0; birth < 42; ++birth) {
      for (uint64_t retire = birth; retire < 42; ++retire) {
        bool expected = false;
        for (const auto& i : built) {
          expected = expected || (birth <= i.checkpoint_epoch && i.snapshot_epoch < retire);
        }
        ASSERT_EQ(intervals.Sees(birth, retire), expected)
            << "trial " << trial << " birth " << birth << " retire " << retire;
      }
    }
    EXPECT_EQ(intervals.oldest_snapshot_epoch(), pins.empty() ? UINT64_MAX : pins.front());
  }
}

TEST(SnapshotIntervals, NoPinSeesNothing) {
  const SnapshotIntervals none;
  EXPECT_FALSE(none.Sees(0, 1));
  EXPECT_FALSE(none.Sees(5, UINT64_MAX));
  EXPECT_EQ(none.oldest_snapshot_epoch(), UINT64_MAX);
}

}  // namespace
}  // namespace cowtree
