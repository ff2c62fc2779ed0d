// MergeLeafOps and SplitLeaf (tree/leaf_merge.h) with implicit unit weights (tree/leaf.h
// LeafData): the merged content is the model's, weights are held only once one differs from 1,
// and the reported unit flag and positive sum match the content.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "tree/leaf.h"
#include "tree/leaf_merge.h"

namespace cowtree::tree {
namespace {

using Model = std::map<uint64_t, int64_t>;

LeafData FromModel(const Model& m, bool implicit_when_unit) {
  LeafData d;
  bool unit = true;
  for (const auto& [k, w] : m) {
    d.keys.push_back(k);
    d.weights.push_back(w);
    unit &= w == 1;
  }
  if (unit && implicit_when_unit) d.weights.clear();
  return d;
}

Model ToModel(const LeafData& d) {
  Model m;
  for (size_t i = 0; i < d.keys.size(); ++i) m[d.keys[i]] = d.weight(i);
  return m;
}

struct Merged {
  LeafData data;
  uint64_t pos_sum = 0;
  bool unit = false;
};

Merged Merge(const LeafData* old, bool old_unit, const std::vector<KeyWeight>& ops) {
  uint64_t old_pos_sum = 0;
  if (old != nullptr) EXPECT_TRUE(LeafPositiveSum(*old, &old_pos_sum));
  Merged m;
  const Status s = MergeLeafOps(old, old_pos_sum, old_unit, ops, &m.data, &m.pos_sum, &m.unit);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return m;
}

void ExpectConsistent(const Merged& m) {
  ASSERT_TRUE(ValidateLeafData(m.data).ok() || m.data.keys.empty());
  uint64_t sum = 0;
  EXPECT_TRUE(LeafPositiveSum(m.data, &sum));
  EXPECT_EQ(sum, m.pos_sum);
  bool all_unit = true;
  for (size_t i = 0; i < m.data.keys.size(); ++i) all_unit &= m.data.weight(i) == 1;
  EXPECT_EQ(m.unit, all_unit);
  // Weights are held exactly when one of them is not 1.
  EXPECT_EQ(m.data.implicit_unit_weights(), all_unit);
}

TEST(LeafMerge, InsertsOfWeightOneStayImplicit) {
  const Merged first = Merge(nullptr, true, {{10, 1}, {20, 1}, {30, 1}});
  ExpectConsistent(first);
  EXPECT_TRUE(first.data.implicit_unit_weights());
  EXPECT_EQ(first.data.keys, (std::vector<uint64_t>{10, 20, 30}));
  const Merged second = Merge(&first.data, first.unit, {{15, 1}, {40, 1}});
  ExpectConsistent(second);
  EXPECT_TRUE(second.data.implicit_unit_weights());
  EXPECT_EQ(second.data.keys, (std::vector<uint64_t>{10, 15, 20, 30, 40}));
  EXPECT_EQ(second.pos_sum, 5u);
}

TEST(LeafMerge, FirstOtherWeightMaterializesTheWeights) {
  const LeafData old = FromModel({{10, 1}, {20, 1}, {30, 1}}, true);
  // +2 on an existing key (weight 3), then an insert of weight 1 after it, and a copied tail.
  const Merged m = Merge(&old, true, {{20, 2}, {25, 1}});
  ExpectConsistent(m);
  EXPECT_EQ(ToModel(m.data), (Model{{10, 1}, {20, 3}, {25, 1}, {30, 1}}));
  EXPECT_EQ(m.data.weights, (std::vector<int64_t>{1, 3, 1, 1}));
  // A negative insert before every old key.
  const Merged n = Merge(&old, true, {{5, -4}});
  ExpectConsistent(n);
  EXPECT_EQ(n.data.weights, (std::vector<int64_t>{-4, 1, 1, 1}));
  EXPECT_EQ(n.pos_sum, 3u);
}

TEST(LeafMerge, DeletesToZeroKeepWeightsImplicit) {
  const LeafData old = FromModel({{10, 1}, {20, 1}, {30, 1}}, true);
  const Merged m = Merge(&old, true, {{10, -1}, {30, -1}});
  ExpectConsistent(m);
  EXPECT_EQ(m.data.keys, (std::vector<uint64_t>{20}));
  EXPECT_TRUE(m.data.implicit_unit_weights());
}

TEST(LeafMerge, HeldWeightsThatBecomeAllOneStayHeld) {
  // Old content holds a 2; the op brings it to 1: every weight is now 1, but the output was
  // written with weights from the start (only an old leaf known to be unit is read as such).
  const LeafData old = FromModel({{10, 1}, {20, 2}}, true);
  ASSERT_FALSE(old.implicit_unit_weights());
  const Merged m = Merge(&old, false, {{20, -1}});
  EXPECT_EQ(ToModel(m.data), (Model{{10, 1}, {20, 1}}));
  EXPECT_TRUE(ValidateLeafData(m.data).ok());
  EXPECT_EQ(m.pos_sum, 2u);
  EXPECT_FALSE(m.unit);  // unknown: the box scans (LeafBox::WeightsHint::kUnknown)
}

TEST(LeafMerge, OldHeldUnitWeightsAreReadAsImplicit) {
  // A leaf decoded by an older build holds weights of 1 explicitly; its box knows they are 1.
  const LeafData old = FromModel({{10, 1}, {20, 1}}, /*implicit_when_unit=*/false);
  ASSERT_FALSE(old.implicit_unit_weights());
  const Merged m = Merge(&old, true, {{15, 1}});
  ExpectConsistent(m);
  EXPECT_TRUE(m.data.implicit_unit_weights());
}

TEST(LeafMerge, RandomBatchesMatchTheModel) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    Model model;
    LeafData current;
    bool unit = true;
    for (int batch = 0; batch < 8; ++batch) {
      Model ops_model;
      const int n = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        const uint64_t key = rng() % 40;
        // Mostly weight 1 (the common case), sometimes a delete or another weight.
        const int r = static_cast<int>(rng() % 10);
        int64_t w = r < 6 ? 1 : (r < 8 ? -1 : static_cast<int64_t>(rng() % 5) + 2);
        if (r == 9 && model.count(key) != 0) w = -model[key];
        ops_model[key] = w;
      }
      std::vector<KeyWeight> ops;
      for (const auto& [k, w] : ops_model) {
        if (w == 0) continue;
        ops.push_back({k, w});
        if ((model[k] += w) == 0) model.erase(k);
      }
      const Merged m = Merge(current.keys.empty() ? nullptr : &current, unit, ops);
      ExpectConsistent(m);
      ASSERT_EQ(ToModel(m.data), model) << "round " << round << " batch " << batch;
      current = m.data;
      unit = m.unit;
    }
  }
}

TEST(LeafMerge, SplitKeepsImplicitWeightsAndSums) {
  LeafData content;
  for (uint64_t k = 0; k < 10; ++k) content.keys.push_back(k * 3);
  std::vector<std::shared_ptr<LeafBox>> boxes;
  SplitLeaf(std::make_shared<LeafData>(content), 10, /*capacity=*/4, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kAllUnit);
  ASSERT_EQ(boxes.size(), 3u);
  uint64_t entries = 0;
  for (const auto& box : boxes) {
    const auto data = box->data();
    ASSERT_NE(data, nullptr);
    EXPECT_TRUE(data->implicit_unit_weights());
    EXPECT_TRUE(box->unit_weights());
    EXPECT_EQ(box->pos_sum(), data->keys.size());
    entries += data->keys.size();
  }
  EXPECT_EQ(entries, 10u);
  // Held weights split with their keys; each piece's box learns its own kind.
  LeafData mixed = FromModel({{1, 1}, {2, 1}, {3, 5}, {4, -2}, {5, 1}}, true);
  boxes.clear();
  SplitLeaf(std::make_shared<LeafData>(mixed), 8, /*capacity=*/3, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kNotAllUnit);
  ASSERT_EQ(boxes.size(), 2u);
  EXPECT_TRUE(boxes[0]->unit_weights() == false);  // {1, 1, 5}
  EXPECT_EQ(boxes[0]->pos_sum(), 7u);
  EXPECT_EQ(boxes[1]->pos_sum(), 1u);  // {-2, 1}
  EXPECT_EQ(boxes[1]->data()->weights, (std::vector<int64_t>{-2, 1}));
}

// Content that stays implicit but came with a weights buffer (a pooled object recycled with
// one) goes into its box without it: the box would charge the unused buffer for its life.
TEST(LeafMerge, SplitFreesAnUnusedWeightsBuffer) {
  auto content = std::make_shared<LeafData>();
  content->keys = {1, 2, 3};
  content->weights.reserve(64);
  std::vector<std::shared_ptr<LeafBox>> boxes;
  SplitLeaf(content, 3, /*capacity=*/8, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kAllUnit);
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0]->data()->weights.capacity(), 0u);
  EXPECT_EQ(boxes[0]->data()->size_bytes(), sizeof(LeafData) + 3 * sizeof(uint64_t));
  // Held weights keep their buffer.
  auto held = std::make_shared<LeafData>();
  held->keys = {1, 2};
  held->weights = {1, 4};
  boxes.clear();
  SplitLeaf(held, 5, /*capacity=*/8, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kNotAllUnit);
  EXPECT_EQ(boxes[0]->data()->weights, (std::vector<int64_t>{1, 4}));
}

}  // namespace
}  // namespace cowtree::tree
