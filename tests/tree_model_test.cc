// Random workloads against the reference model: inserts, negative weights, deletes to zero,
// many batches at increasing epochs, small shapes so that trees grow >= 5 levels deep.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::ExpectMatchesModel;
using testing::Model;

struct Workload {
  uint64_t seed;
  TreeShape shape;
  KeyType key_type;
  int batches;
  int max_batch_ops;
  uint64_t key_space;    // distinct keys drawn from [0, key_space) (mapped per key type)
  int delete_percent;    // ops that cancel an existing entry exactly
  int negative_percent;  // ops with a negative weight
};

uint64_t KeyFor(KeyType t, uint64_t x, uint64_t key_space) {
  if (t == KeyType::kInt64) {
    return EncodeInt64Key(static_cast<int64_t>(x) - static_cast<int64_t>(key_space / 2));
  }
  return EncodeDoubleKey((static_cast<double>(x) - key_space / 2.0) / 8.0);
}

// Draws one batch (sorted, unique keys, nonzero weights).
std::vector<KeyWeight> DrawBatch(const Workload& w, const Model& m, std::mt19937_64& rng) {
  const int ops = 1 + static_cast<int>(rng() % w.max_batch_ops);
  std::map<uint64_t, int64_t> batch;
  std::vector<uint64_t> existing;
  if (!m.entries().empty()) {
    for (const auto& e : m.entries()) existing.push_back(e.first);
  }
  for (int i = 0; i < ops; ++i) {
    const int r = static_cast<int>(rng() % 100);
    if (r < w.delete_percent && !existing.empty()) {
      const uint64_t key = existing[rng() % existing.size()];
      if (batch.count(key) == 0) batch[key] = -m.entries().at(key);
      continue;
    }
    const uint64_t key = KeyFor(w.key_type, rng() % w.key_space, w.key_space);
    int64_t weight = 1 + static_cast<int64_t>(rng() % 5);
    if (static_cast<int>(rng() % 100) < w.negative_percent) weight = -weight;
    batch[key] += weight;
  }
  std::vector<KeyWeight> out;
  for (const auto& [k, wt] : batch) {
    if (wt != 0) out.push_back(KeyWeight{k, wt});
  }
  return out;
}

// With a byte limit, every leaf a batch wrote has a body within it (restored leaves aside:
// these trees are built by Apply only).
void ExpectLeavesWithinBytes(const TreeVersion& v, const TreeShape& shape) {
  if (v.root == nullptr) return;
  std::vector<const InternalNode*> stack{v.root.get()};
  while (!stack.empty()) {
    const InternalNode* n = stack.back();
    stack.pop_back();
    if (n->level > 1) {
      for (const auto& c : n->nodes) stack.push_back(c.get());
      continue;
    }
    for (const auto& box : n->leaves) {
      const auto data = box->data();
      ASSERT_NE(data, nullptr);
      ASSERT_LE(EncodedLeafBytes(*data), shape.leaf_capacity_bytes);
    }
  }
}

void RunWorkload(const Workload& w, uint32_t* max_height) {
  SCOPED_TRACE("seed " + std::to_string(w.seed) + " leaf " +
               std::to_string(w.shape.leaf_capacity_entries) + " fanout " +
               std::to_string(w.shape.fanout));
  std::mt19937_64 rng(w.seed);
  OrderStatTree tree(w.key_type, w.shape, nullptr);
  Model model;
  uint64_t epoch = 0;
  for (int b = 0; b < w.batches; ++b) {
    const std::vector<KeyWeight> ops = DrawBatch(w, model, rng);
    ASSERT_TRUE(model.Apply(ops));
    ASSERT_TRUE(tree.Apply(ops, ++epoch).ok());
    const std::shared_ptr<const TreeVersion> v = tree.current();
    ASSERT_EQ(v->epoch, epoch);
    *max_height = std::max(*max_height, v->height);
    if (w.shape.leaf_capacity_bytes != 0) ExpectLeavesWithinBytes(*v, w.shape);
    // Full comparison on a sample of batches, invariants on every batch.
    if (b % 7 == 0 || b == w.batches - 1) {
      ExpectMatchesModel(*v, model, rng, 25);
      if (::testing::Test::HasFatalFailure()) return;
    } else {
      ASSERT_TRUE(CheckInvariants(*v, false).ok()) << CheckInvariants(*v, false).ToString();
      ASSERT_EQ(v->positive_count, model.N());
    }
  }
}

TEST(TreeModelTest, SmallShapesDeepTrees) {
  uint32_t max_height = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Workload w{seed, {4, 4}, KeyType::kInt64, 150, 60, 3000, 10, 20};
    RunWorkload(w, &max_height);
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(max_height, 5u);
}

TEST(TreeModelTest, HeightAtLeastFiveWithLeaf8Fanout4) {
  uint32_t max_height = 0;
  Workload w{42, {8, 4}, KeyType::kInt64, 120, 120, 20000, 5, 15};
  RunWorkload(w, &max_height);
  EXPECT_GE(max_height, 5u);
}

TEST(TreeModelTest, HeavyDeletesShrinkAndRegrow) {
  uint32_t max_height = 0;
  for (uint64_t seed = 10; seed <= 12; ++seed) {
    Workload w{seed, {6, 4}, KeyType::kInt64, 200, 80, 800, 45, 30};
    RunWorkload(w, &max_height);
    if (HasFatalFailure()) return;
  }
}

TEST(TreeModelTest, DoubleKeys) {
  uint32_t max_height = 0;
  Workload w{7, {5, 5}, KeyType::kDouble, 120, 50, 2000, 15, 25};
  RunWorkload(w, &max_height);
}

TEST(TreeModelTest, LargerShapes) {
  uint32_t max_height = 0;
  Workload w{99, {64, 8}, KeyType::kInt64, 60, 2000, 100000, 10, 10};
  RunWorkload(w, &max_height);
}

// Leaves split by encoded bytes (the entry capacity far above what the bytes allow): wide key
// gaps, negative weights and deletes, so that leaves split, underflow and merge by bytes.
TEST(TreeModelTest, LeavesSplitByBytes) {
  uint32_t max_height = 0;
  for (uint64_t seed = 20; seed <= 22; ++seed) {
    Workload w{
        seed, {4096, 4, kLeafCapacityBytesMin}, KeyType::kInt64, 150, 400, uint64_t{1} << 40, 25,
        20};
    RunWorkload(w, &max_height);
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(max_height, 3u);
  Workload d{23, {4096, 6, 1024}, KeyType::kDouble, 120, 300, 50000, 30, 25};
  RunWorkload(d, &max_height);
}

// Deletes everything, then reuses the tree.
TEST(TreeModelTest, DeleteAllThenReinsert) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  Model model;
  std::vector<KeyWeight> ins, del;
  for (int i = 0; i < 500; ++i) {
    ins.push_back({EncodeInt64Key(i), i % 3 == 0 ? -2 : 3});
    del.push_back({EncodeInt64Key(i), i % 3 == 0 ? 2 : -3});
  }
  ASSERT_TRUE(tree.Apply(ins, 1).ok());
  ASSERT_GE(tree.current()->height, 5u);
  ASSERT_TRUE(tree.Apply(del, 2).ok());
  const auto empty = tree.current();
  EXPECT_EQ(empty->root, nullptr);
  EXPECT_EQ(empty->height, 0u);
  EXPECT_EQ(empty->leaf_count, 0u);
  EXPECT_TRUE(CheckInvariants(*empty, true).ok());
  ASSERT_TRUE(tree.Apply(ins, 3).ok());
  ASSERT_TRUE(model.Apply(ins));
  std::mt19937_64 rng(5);
  ExpectMatchesModel(*tree.current(), model, rng);
}

// One huge batch into an empty tree (bulk load through Apply), then single-key batches.
TEST(TreeModelTest, BulkThenTrickle) {
  OrderStatTree tree(KeyType::kInt64, {16, 4}, nullptr);
  Model model;
  std::vector<KeyWeight> bulk;
  for (int i = 0; i < 20000; ++i) bulk.push_back({EncodeInt64Key(i * 2), 1 + i % 4});
  ASSERT_TRUE(tree.Apply(bulk, 1).ok());
  ASSERT_TRUE(model.Apply(bulk));
  std::mt19937_64 rng(3);
  ExpectMatchesModel(*tree.current(), model, rng);
  for (uint64_t e = 2; e < 300; ++e) {
    std::vector<KeyWeight> one{
        {EncodeInt64Key(static_cast<int64_t>(rng() % 40000)), rng() % 2 ? 1 : -1}};
    ASSERT_TRUE(model.Apply(one));
    ASSERT_TRUE(tree.Apply(one, e).ok());
  }
  ExpectMatchesModel(*tree.current(), model, rng);
}

}  // namespace
}  // namespace cowtree::tree
