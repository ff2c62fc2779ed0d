// Apply edge cases: overflow handling, copy-on-write sharing, argument checks.
#include <gtest/gtest.h>

#include <set>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::ExpectMatchesModel;
using testing::Model;

KeyWeight KW(int64_t key, int64_t weight) { return {EncodeInt64Key(key), weight}; }

TEST(TreeApplyTest, WeightOverflowIsInvalidArgumentAndChangesNothing) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, INT64_MAX), KW(2, INT64_MIN)}, 1).ok());
  auto v1 = tree.current();
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, 1)}, 2).IsInvalidArgument());
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(2, -1)}, 2).IsInvalidArgument());
  EXPECT_EQ(tree.current(), v1);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, INT64_MIN), KW(2, INT64_MAX)}, 2).ok());
  EXPECT_EQ(WeightOf(*tree.current(), EncodeInt64Key(1)).value(), -1);
  EXPECT_EQ(WeightOf(*tree.current(), EncodeInt64Key(2)).value(), -1);
  EXPECT_EQ(PositiveCount(*tree.current()), 0u);
}

TEST(TreeApplyTest, PositiveTotalOverflowIsInvalidArgument) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(100, INT64_MAX), KW(200, INT64_MAX)}, 1).ok());
  auto v1 = tree.current();
  EXPECT_EQ(PositiveCount(*v1), UINT64_MAX - 1);
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(300, 2)}, 2).IsInvalidArgument());
  EXPECT_EQ(tree.current(), v1);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(300, 1)}, 2).ok());
  EXPECT_EQ(PositiveCount(*tree.current()), UINT64_MAX);
  EXPECT_TRUE(CheckInvariants(*tree.current(), true).ok());
}

// The final state fits even though a prefix of the batch would overflow: accepted.
TEST(TreeApplyTest, OnlyTheFinalTotalMustFit) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  std::vector<KeyWeight> setup;
  for (int k = 51; k < 100; ++k) setup.push_back(KW(k, -1));  // spread keys over many leaves
  setup.push_back(KW(100, INT64_MAX));
  setup.push_back(KW(200, INT64_MAX));
  ASSERT_TRUE(tree.Apply(setup, 1).ok());
  ASSERT_GT(tree.current()->leaf_count, 5u);
  // Key 50 first (+3 would make N = 2^64 + 1), then key 100 loses INT64_MAX.
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(50, 3), KW(100, -INT64_MAX)}, 2).ok());
  EXPECT_EQ(PositiveCount(*tree.current()), static_cast<uint64_t>(INT64_MAX) + 3);
  EXPECT_TRUE(CheckInvariants(*tree.current(), true).ok());
}

TEST(TreeApplyTest, NonCanonicalDoubleKeyIsInvalidArgument) {
  OrderStatTree tree(KeyType::kDouble, {4, 4}, nullptr);
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{{kDoubleNanCode + 1, 1}}, 1).IsInvalidArgument());
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{{~std::bit_cast<uint64_t>(-0.0), 1}}, 1)
                  .IsInvalidArgument());
  EXPECT_EQ(tree.current()->epoch, 0u);
  EXPECT_TRUE(tree.Apply(std::vector<KeyWeight>{{kDoubleNanCode, 1}}, 1).ok());
}

TEST(TreeApplyTest, EmptyBatchPublishesSameContentAtNewEpoch) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, 1)}, 1).ok());
  auto v1 = tree.current();
  ASSERT_TRUE(tree.Apply({}, 5).ok());
  auto v5 = tree.current();
  EXPECT_EQ(v5->epoch, 5u);
  EXPECT_EQ(PositiveCount(*v5), 1u);
  EXPECT_TRUE(CheckInvariants(*v5, true).ok());
}

// Copy-on-write: a batch touching k leaves creates exactly k new leaf boxes (no splits here);
// every other leaf box is shared with the previous version, and the old version is intact.
TEST(TreeApplyTest, UntouchedLeavesAreShared) {
  OrderStatTree tree(KeyType::kInt64, {64, 8}, nullptr);
  std::vector<KeyWeight> ops;
  for (int i = 0; i < 6400; ++i) ops.push_back(KW(i * 10, 1));
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  auto v1 = tree.current();
  std::vector<LeafSummary> before = Summaries(*v1);
  std::vector<std::shared_ptr<const LeafData>> before_data;
  for (const auto& s : before) before_data.push_back(s.box->data());
  // Update existing keys in 10 different leaves (weights change, no insert: no split).
  std::vector<KeyWeight> upd;
  std::set<size_t> touched;
  for (size_t j = 0; j < 10; ++j) {
    const size_t leaf = j * (before.size() / 10);
    touched.insert(leaf);
    upd.push_back({before[leaf].first_key, 5});
  }
  ASSERT_TRUE(tree.Apply(upd, 2).ok());
  std::vector<LeafSummary> after = Summaries(*tree.current());
  ASSERT_EQ(after.size(), before.size());
  size_t new_boxes = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    if (touched.count(i)) {
      EXPECT_NE(after[i].box, before[i].box);
      EXPECT_EQ(after[i].box->epoch(), 2u);
      ++new_boxes;
    } else {
      EXPECT_EQ(after[i].box, before[i].box);
    }
    EXPECT_EQ(before[i].box->data(), before_data[i]);  // old content untouched
  }
  EXPECT_EQ(new_boxes, 10u);
  EXPECT_EQ(PositiveCount(*v1), 6400u);
  EXPECT_EQ(PositiveCount(*tree.current()), 6450u);
  EXPECT_TRUE(CheckInvariants(*v1, true).ok());
}

TEST(TreeApplyTest, AlternatingInsertDeleteAtBoundaryStaysValid) {
  OrderStatTree tree(KeyType::kInt64, {8, 4}, nullptr);
  Model model;
  std::vector<KeyWeight> base;
  for (int i = 0; i < 64; ++i) base.push_back(KW(i * 2, 1));
  ASSERT_TRUE(tree.Apply(base, 1).ok());
  ASSERT_TRUE(model.Apply(base));
  std::mt19937_64 rng(8);
  for (uint64_t e = 2; e < 200; ++e) {
    std::vector<KeyWeight> ops;
    for (int i = 0; i < 6; ++i) {
      const int64_t k = 2 * static_cast<int64_t>(rng() % 64) + 1;  // odd keys: toggled
      if (!ops.empty() && ops.back().key >= EncodeInt64Key(k)) continue;
      const bool present = model.entries().count(EncodeInt64Key(k)) > 0;
      ops.push_back(KW(k, present ? -model.entries().at(EncodeInt64Key(k)) : 1));
    }
    ASSERT_TRUE(model.Apply(ops));
    ASSERT_TRUE(tree.Apply(ops, e).ok());
  }
  ExpectMatchesModel(*tree.current(), model, rng);
}

TEST(TreeApplyDeathTest, UnsortedOrZeroOpsAssert) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  EXPECT_DEATH((void)tree.Apply(std::vector<KeyWeight>{KW(2, 1), KW(1, 1)}, 1),
               "ops\\[i - 1\\].key < ops\\[i\\].key");
  EXPECT_DEATH((void)tree.Apply(std::vector<KeyWeight>{KW(1, 1), KW(1, 1)}, 1),
               "ops\\[i - 1\\].key < ops\\[i\\].key");
  EXPECT_DEATH((void)tree.Apply(std::vector<KeyWeight>{KW(1, 0)}, 1), "weight != 0");
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, 1)}, 3).ok());
  EXPECT_DEATH((void)tree.Apply(std::vector<KeyWeight>{KW(1, 1)}, 3), "epoch > ");
}

}  // namespace
}  // namespace cowtree::tree
