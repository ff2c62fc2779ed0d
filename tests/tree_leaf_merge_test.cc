// MergeLeafOps and SplitLeaf (tree/leaf_merge.h) with implicit unit weights (tree/leaf.h
// LeafData): the merged content is the model's, weights are held only once one differs from 1,
// and the reported unit flag and positive sum match the content.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "tree/leaf.h"
#include "tree/leaf_merge.h"
#include "tree/node_format.h"

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
  const Status s =
      MergeLeafOps(old, old_pos_sum, old_unit, ops, KeyType::kInt64, &m.data, &m.pos_sum, &m.unit);
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
  SplitLeaf(std::make_shared<LeafData>(content), 10, TreeShape{4, 64}, /*epoch=*/1, &boxes, nullptr,
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
  SplitLeaf(std::make_shared<LeafData>(mixed), 8, TreeShape{3, 64}, /*epoch=*/1, &boxes, nullptr,
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
  SplitLeaf(content, 3, TreeShape{8, 64}, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kAllUnit);
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0]->data()->weights.capacity(), 0u);
  EXPECT_EQ(boxes[0]->data()->size_bytes(), sizeof(LeafData) + 3 * sizeof(uint64_t));
  // Held weights keep their buffer.
  auto held = std::make_shared<LeafData>();
  held->keys = {1, 2};
  held->weights = {1, 4};
  boxes.clear();
  SplitLeaf(held, 5, TreeShape{8, 64}, /*epoch=*/1, &boxes, nullptr,
            LeafBox::WeightsHint::kNotAllUnit);
  EXPECT_EQ(boxes[0]->data()->weights, (std::vector<int64_t>{1, 4}));
}

// Leaves split by encoded bytes (TreeShape::leaf_capacity_bytes): every piece's body is within
// the limit, the pieces hold the content in order with its sums, and they are about even.
void ExpectSplitByBytes(const LeafData& content, uint64_t pos_sum, const TreeShape& shape,
                        size_t pieces_min) {
  std::vector<std::shared_ptr<LeafBox>> boxes;
  const size_t body = EncodedLeafBytes(content);
  const size_t one =
      SplitLeaf(std::make_shared<LeafData>(content), pos_sum, shape, /*epoch=*/1, &boxes);
  ASSERT_GE(boxes.size(), pieces_min);
  EXPECT_EQ(one, boxes.size() == 1 ? body : 0u);
  LeafData joined;
  uint64_t sum = 0;
  for (const auto& box : boxes) {
    const LeafData& d = *box->data();
    const size_t bytes = EncodedLeafBytes(d);
    EXPECT_LE(bytes, shape.leaf_capacity_bytes);
    EXPECT_LE(d.keys.size(), shape.leaf_capacity_entries);
    // Even: when the bytes needed several pieces, none is small both by bytes and by entries
    // (each piece costs at least about half of what one may, counting both: leaf_merge.cc).
    if (body > shape.leaf_capacity_bytes) {
      EXPECT_TRUE(bytes >= shape.leaf_capacity_bytes / 5 ||
                  d.keys.size() >= shape.leaf_capacity_entries / 5)
          << "a piece of " << d.keys.size() << " entries, " << bytes << " bytes";
    }
    EXPECT_EQ(box->pos_sum(), [&] {
      uint64_t s = 0;
      EXPECT_TRUE(LeafPositiveSum(d, &s));
      return s;
    }());
    sum += box->pos_sum();
    for (size_t i = 0; i < d.keys.size(); ++i) {
      joined.keys.push_back(d.keys[i]);
      joined.weights.push_back(d.weight(i));
    }
  }
  EXPECT_EQ(sum, pos_sum);
  EXPECT_EQ(ToModel(joined), ToModel(content));
}

TEST(LeafMerge, SplitByBytesKeepsEveryPieceWithinTheLimit) {
  std::mt19937_64 rng(5);
  const TreeShape shape{4096, 64, 512};
  // Wide gaps (8 varint bytes each): ~58 entries per 512-byte body, 3.2 KB in all.
  LeafData wide;
  uint64_t k = 0;
  for (int i = 0; i < 400; ++i) wide.keys.push_back(k += (uint64_t{1} << 62) / 512 + rng() % 999);
  ExpectSplitByBytes(wide, 400, shape, 7);
  // One-byte gaps: the entry capacity decides, not the bytes.
  LeafData dense;
  for (uint64_t i = 0; i < 300; ++i) dense.keys.push_back(1000 + i);
  ExpectSplitByBytes(dense, 300, TreeShape{100, 64, 4064}, 3);
  // Mixed spacing and weights (held, some negative): dense half, then a sparse half.
  LeafData mixed;
  uint64_t pos = 0;
  k = 0;
  for (int i = 0; i < 600; ++i) {
    k += i < 300 ? 1 : (uint64_t{1} << 50) + rng() % 77;
    const int64_t w = (i % 7 == 0) ? -3 : 1 + static_cast<int64_t>(rng() % 1000);
    mixed.keys.push_back(k);
    mixed.weights.push_back(w);
    pos += w > 0 ? static_cast<uint64_t>(w) : 0;
  }
  ExpectSplitByBytes(mixed, pos, shape, 3);
  // Within both limits: one box, and its body size is returned.
  LeafData small;
  for (uint64_t i = 0; i < 40; ++i) small.keys.push_back(i * 1000);
  ExpectSplitByBytes(small, 40, shape, 1);
}

// A content that passes the entry capacity in its dense part and the byte limit in its sparse
// part: the pieces are even by a cost counting both limits, so no piece of one entry is left
// between a piece cut at the capacity and a byte boundary (found in review: the first plan
// made 240, 1, 179 and 180 entries).
TEST(LeafMerge, SplitByBytesLeavesNoTinyPieceBesideTheEntryCapacity) {
  LeafData c;
  uint64_t k = 0;
  c.keys.push_back(k);
  for (int i = 1; i < 240; ++i) c.keys.push_back(k += i <= 225 ? uint64_t{1} << 35 : 1u << 28);
  for (int i = 240; i < 600; ++i) c.keys.push_back(k += uint64_t{1} << 49);
  ExpectSplitByBytes(c, 600, TreeShape{240, 64, 4064}, 3);
  // Random spacings under a small entry capacity: every piece within both limits, none tiny.
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    LeafData r;
    uint64_t key = 0;
    const int n = 100 + static_cast<int>(rng() % 900);
    for (int i = 0; i < n; ++i) {
      r.keys.push_back(key);
      key += 1 + (rng() >> (rng() % 64 | 8));  // gaps of 1 to 8 varint bytes, in runs
    }
    ExpectSplitByBytes(r, static_cast<uint64_t>(n),
                       TreeShape{64 + static_cast<uint32_t>(rng() % 200), 64, 1024}, 1);
    if (HasFatalFailure()) return;
  }
}

// Weights held but all 1 cost bytes in the plan, none in the body: the plan stays within
// the limit (it counts more than the body holds).
TEST(LeafMerge, SplitByBytesCountsHeldUnitWeightsConservatively) {
  LeafData held;
  uint64_t k = 0;
  for (int i = 0; i < 500; ++i) {
    held.keys.push_back(k += 100000 + static_cast<uint64_t>(i));
    held.weights.push_back(1);
  }
  ExpectSplitByBytes(held, 500, TreeShape{4096, 64, 600}, 2);
}

TEST(LeafMerge, UnderflowNeedsFewEntriesAndFewBytes) {
  const TreeShape entries_only{240, 64};
  EXPECT_TRUE(entries_only.LeafUnderflows(59, 4000));
  EXPECT_FALSE(entries_only.LeafUnderflows(60, 10));
  const TreeShape by_bytes{4096, 64, 4064};
  EXPECT_FALSE(by_bytes.LeafUnderflows(600, 3900));  // full by bytes, few entries
  EXPECT_TRUE(by_bytes.LeafUnderflows(100, 1015));
  EXPECT_FALSE(by_bytes.LeafUnderflows(100, 1016));
  EXPECT_FALSE(by_bytes.LeafUnderflows(1024, 100));
}

TEST(LeafMerge, ShapeValidatesTheByteLimit) {
  EXPECT_TRUE((TreeShape{240, 64, 0}.Validate().ok()));
  EXPECT_TRUE((TreeShape{240, 64, kLeafCapacityBytesMin}.Validate().ok()));
  EXPECT_TRUE((TreeShape{240, 64, kLeafCapacityBytesMax}.Validate().ok()));
  const Status low = TreeShape{240, 64, kLeafCapacityBytesMin - 1}.Validate();
  EXPECT_TRUE(low.IsInvalidArgument());
  EXPECT_NE(low.message().find("leaf_capacity_bytes 511"), std::string::npos) << low.ToString();
  EXPECT_TRUE((TreeShape{240, 64, kLeafCapacityBytesMax + 1}.Validate().IsInvalidArgument()));
}

}  // namespace
}  // namespace cowtree::tree
