// CollectCheckpointSummaries (tree/checkpoint_summaries.h) against the full walk it replaces:
// Summaries(v) for the summaries and dirty leaves, and "published ids minus the ids v still
// names" for the retired leaves, over random histories of inserts and deletes with checkpoints
// published (and some abandoned) in between; and that a small change visits few boxes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tree/checkpoint_summaries.h"
#include "tree/order_stat_tree.h"
#include "tree/summaries.h"

namespace cowtree::tree {
namespace {

// A published checkpoint as the tree host keeps it: the version's epoch and its chunks.
struct Published {
  uint64_t epoch = 0;
  std::vector<OldChunk> chunks;
};

class CheckpointHarness {
 public:
  explicit CheckpointHarness(TreeShape shape, uint64_t seed)
      : tree_(KeyType::kInt64, shape, nullptr), rng_(seed) {}

  OrderStatTree& tree() { return tree_; }
  std::mt19937_64& rng() { return rng_; }
  const Published& published() const { return published_; }

  // Collects, checks against the full walk, and (if `publish`) writes the dirty leaves under
  // fresh ids and publishes the result in chunks of 1..max_chunk summaries.
  CheckpointSummaries Checkpoint(bool publish, size_t max_chunk) {
    const std::shared_ptr<const TreeVersion> v = tree_.current();
    CheckpointSummaries c = CollectCheckpointSummaries(*v, published_.epoch, published_.chunks);
    ExpectMatchesFullWalk(*v, c);
    if (!publish) return c;
    for (auto& [index, box] : c.dirty) {
      const NodeID id = NodeID::Make(next_id_++, 1);
      c.summaries[index].leaf_id = id;
      LeafBox::MarkPersisted(box, id);
    }
    published_.epoch = v->epoch;
    published_.chunks.clear();
    std::uniform_int_distribution<size_t> size(1, max_chunk);
    for (size_t i = 0; i < c.summaries.size();) {
      const size_t n = std::min(size(rng_), c.summaries.size() - i);
      published_.chunks.push_back(OldChunk{
          NodeID::Make(next_id_++, 1),
          std::vector<PersistedSummary>(c.summaries.begin() + i, c.summaries.begin() + i + n)});
      i += n;
    }
    return c;
  }

 private:
  void ExpectMatchesFullWalk(const TreeVersion& v, const CheckpointSummaries& c) {
    const std::vector<LeafSummary> full = Summaries(v);
    ASSERT_EQ(c.summaries.size(), full.size());
    ASSERT_LE(c.boxes_visited, full.size());
    std::vector<uint64_t> kept;
    size_t d = 0;
    for (size_t i = 0; i < full.size(); ++i) {
      const LeafSummary& s = full[i];
      const PersistedSummary& got = c.summaries[i];
      ASSERT_EQ(got.first_key, s.first_key) << i;
      ASSERT_EQ(got.pos_sum, s.pos_sum) << i;
      ASSERT_EQ(got.entry_count, s.entry_count) << i;
      ASSERT_EQ(got.leaf_id, s.box->persisted_id()) << i;
      if (s.box->persisted()) {
        kept.push_back(s.box->persisted_id().raw());
      } else {
        ASSERT_LT(d, c.dirty.size());
        ASSERT_EQ(c.dirty[d].first, i);
        ASSERT_EQ(c.dirty[d].second, s.box);
        ++d;
      }
    }
    ASSERT_EQ(d, c.dirty.size());
    std::vector<uint64_t> old;
    for (const OldChunk& chunk : published_.chunks) {
      for (const PersistedSummary& s : chunk.summaries) old.push_back(s.leaf_id.raw());
    }
    std::sort(old.begin(), old.end());
    std::sort(kept.begin(), kept.end());
    std::vector<uint64_t> expected;
    std::set_difference(old.begin(), old.end(), kept.begin(), kept.end(),
                        std::back_inserter(expected));
    std::vector<uint64_t> retired;
    for (NodeID id : c.retired_leaves) retired.push_back(id.raw());
    ASSERT_EQ(retired, expected);
  }

  OrderStatTree tree_;
  std::mt19937_64 rng_;
  Published published_;
  uint64_t next_id_ = 1000;
};

// Random inserts and deletes (keys from a small range, so leaves split, merge and empty and
// the root grows and collapses) with a checkpoint after some batches.
void RunHistory(TreeShape shape, uint64_t seed, int batches, uint64_t key_range) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " leaf " +
               std::to_string(shape.leaf_capacity_entries) + " fanout " +
               std::to_string(shape.fanout));
  CheckpointHarness h(shape, seed);
  std::map<uint64_t, int64_t> model;
  std::mt19937_64& rng = h.rng();
  for (int b = 1; b <= batches; ++b) {
    std::map<uint64_t, int64_t> ops;
    const size_t n = std::uniform_int_distribution<size_t>(1, 40)(rng);
    const bool deleting = rng() % 3 == 0;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t key = rng() % key_range;
      auto it = model.find(key);
      if (deleting && it != model.end() && ops.count(key) == 0) {
        ops[key] = -it->second;  // removes the entry
      } else if (!deleting) {
        ops[key] += 1 + static_cast<int64_t>(rng() % 3);
      }
    }
    std::vector<KeyWeight> sorted;
    for (const auto& [k, w] : ops) {
      if (w == 0) continue;
      sorted.push_back(KeyWeight{k, w});
      if ((model[k] += w) == 0) model.erase(k);
    }
    ASSERT_TRUE(h.tree().Apply(sorted, static_cast<uint64_t>(b)).ok());
    const uint64_t r = rng() % 4;
    if (r == 0) h.Checkpoint(/*publish=*/true, 1 + rng() % 6);
    if (r == 1) h.Checkpoint(/*publish=*/false, 1);  // aborted: nothing published
    if (::testing::Test::HasFatalFailure()) return;
  }
  h.Checkpoint(true, 3);
}

TEST(CheckpointSummariesTest, MatchesTheFullWalkOverRandomHistories) {
  const TreeShape shapes[] = {{4, 4}, {5, 4}, {8, 5}, {16, 8}};
  uint64_t seed = 1;
  for (const TreeShape& shape : shapes) {
    for (int round = 0; round < 6; ++round) {
      RunHistory(shape, seed++, 150, 400);
      RunHistory(shape, seed++, 80, 60);  // mostly deletes and re-inserts of few keys
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(CheckpointSummariesTest, FirstCheckpointVisitsEveryBoxAndAnEmptiedTreeRetiresAll) {
  CheckpointHarness h(TreeShape{4, 4}, 7);
  std::vector<KeyWeight> ops;
  for (uint64_t k = 0; k < 200; ++k) ops.push_back(KeyWeight{k, 1});
  ASSERT_TRUE(h.tree().Apply(ops, 1).ok());
  const CheckpointSummaries first = h.Checkpoint(true, 4);
  EXPECT_EQ(first.boxes_visited, h.tree().current()->leaf_count);
  EXPECT_EQ(first.dirty.size(), first.summaries.size());
  EXPECT_TRUE(first.retired_leaves.empty());
  for (KeyWeight& op : ops) op.weight = -1;
  ASSERT_TRUE(h.tree().Apply(ops, 2).ok());
  const CheckpointSummaries empty = h.Checkpoint(true, 4);
  EXPECT_TRUE(empty.summaries.empty());
  EXPECT_EQ(empty.retired_leaves.size(), first.summaries.size());
}

// The point of the function: one changed key in a tree of thousands of leaves reads the boxes
// of one level-1 node, and retires exactly the leaf it replaced.
TEST(CheckpointSummariesTest, OneChangedLeafVisitsOneLevelOneNode) {
  const TreeShape shape{16, 8};
  CheckpointHarness h(shape, 11);
  std::vector<KeyWeight> ops;
  for (uint64_t k = 0; k < 40000; ++k) ops.push_back(KeyWeight{2 * k, 1});
  ASSERT_TRUE(h.tree().Apply(ops, 1).ok());
  h.Checkpoint(true, 50);
  const uint64_t leaves = h.tree().current()->leaf_count;
  ASSERT_GT(leaves, 2000u);
  const std::vector<KeyWeight> one = {KeyWeight{2 * 20000 + 1, 1}};
  ASSERT_TRUE(h.tree().Apply(one, 2).ok());
  const CheckpointSummaries c = h.Checkpoint(true, 50);
  // The leaf's level-1 node (at most fanout + 1 children after a split) is all that is read.
  EXPECT_LE(c.boxes_visited, shape.fanout + 1u);
  EXPECT_GE(c.dirty.size(), 1u);  // the changed leaf, or the two halves of a full one
  EXPECT_LE(c.dirty.size(), 2u);
  EXPECT_EQ(c.retired_leaves.size(), 1u);
}

}  // namespace
}  // namespace cowtree::tree
