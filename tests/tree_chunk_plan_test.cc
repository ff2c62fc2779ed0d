// PlanSummaryChunks: reuse of unchanged chunks, grouping, coalescing.
#include <gtest/gtest.h>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::FakeLeafLoader;

std::vector<PersistedSummary> MakeSummaries(size_t n, uint64_t first_handle = 1) {
  std::vector<PersistedSummary> s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(
        {i * 10, i % 5, 1 + static_cast<uint32_t>(i % 4), NodeID::Make(first_handle + i, 1)});
  }
  return s;
}

// "Writes" the planned chunks: new ones get fresh ids. Returns the chunk list to keep.
std::vector<OldChunk> Materialize(const std::vector<PersistedSummary>& s,
                                  const std::vector<ChunkPlan>& plans, uint64_t* next_id) {
  std::vector<OldChunk> out;
  for (const ChunkPlan& p : plans) {
    NodeID id = p.reuse_chunk_id.valid() ? p.reuse_chunk_id : NodeID::Make((*next_id)++, 2);
    out.push_back(OldChunk{
        id, std::vector<PersistedSummary>(s.begin() + p.begin, s.begin() + p.begin + p.count)});
  }
  return out;
}

size_t Reused(const std::vector<ChunkPlan>& plans) {
  size_t n = 0;
  for (const ChunkPlan& p : plans) n += p.reused() ? 1 : 0;
  return n;
}

TEST(TreeChunkPlanTest, FreshPlanSplitsEvenly) {
  const auto s = MakeSummaries(2500);
  const auto plans = PlanSummaryChunks(s, {}, 1000);
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0].count, 834u);
  EXPECT_EQ(plans[1].count, 833u);
  EXPECT_EQ(plans[2].begin + plans[2].count, 2500u);
  EXPECT_EQ(Reused(plans), 0u);
  EXPECT_TRUE(PlanSummaryChunks({}, {}, 10).empty());
  EXPECT_EQ(PlanSummaryChunks(s, {}).size(), 3u);  // default limit 1022
}

TEST(TreeChunkPlanTest, UnchangedListReusesEverything) {
  const auto s = MakeSummaries(300);
  uint64_t next = 1;
  const auto old = Materialize(s, PlanSummaryChunks(s, {}, 64), &next);
  const auto plans = PlanSummaryChunks(s, old, 64);
  ASSERT_EQ(plans.size(), old.size());
  for (size_t i = 0; i < plans.size(); ++i) EXPECT_EQ(plans[i].reuse_chunk_id, old[i].chunk_id);
}

TEST(TreeChunkPlanTest, ChangedSummaryWithSameLeafIdIsNotReused) {
  auto s = MakeSummaries(100);
  uint64_t next = 1;
  const auto old = Materialize(s, PlanSummaryChunks(s, {}, 25), &next);
  ASSERT_EQ(old.size(), 4u);
  s[30].pos_sum += 1;  // same leaf id, different summary
  const auto plans = PlanSummaryChunks(s, old, 25);
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_TRUE(plans[0].reused());
  EXPECT_FALSE(plans[1].reused());
  EXPECT_TRUE(plans[2].reused());
  EXPECT_TRUE(plans[3].reused());
}

TEST(TreeChunkPlanTest, OversizedOldChunkIsNotReused) {
  const auto s = MakeSummaries(100);
  const std::vector<OldChunk> old = {{NodeID::Make(9, 1), s}};
  const auto plans = PlanSummaryChunks(s, old, 50);
  EXPECT_EQ(Reused(plans), 0u);
  EXPECT_EQ(plans.size(), 2u);
}

TEST(TreeChunkPlanTest, SmallRunsCoalesceWithANeighbor) {
  auto s = MakeSummaries(400);
  uint64_t next = 1;
  const auto old = Materialize(s, PlanSummaryChunks(s, {}, 100), &next);
  ASSERT_EQ(old.size(), 4u);
  // Most leaves of chunk 1 disappear (mass delete): 5 survivors with new ids.
  std::vector<PersistedSummary> t(s.begin(), s.begin() + 100);
  for (int i = 0; i < 5; ++i) {
    PersistedSummary x = s[100 + i * 20];
    x.leaf_id = NodeID::Make(10000 + i, 1);
    t.push_back(x);
  }
  t.insert(t.end(), s.begin() + 200, s.end());
  const auto plans = PlanSummaryChunks(t, old, 100);
  // The 5-summary run is < 100 / 4: it absorbs its left neighbor (105 > 100: re-split 53/52).
  size_t covered = 0;
  for (const ChunkPlan& p : plans) {
    EXPECT_GE(p.count, 25u);
    covered += p.count;
  }
  EXPECT_EQ(covered, t.size());
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_EQ(plans[0].count, 53u);
  EXPECT_FALSE(plans[0].reused());
  EXPECT_FALSE(plans[1].reused());
  EXPECT_EQ(plans[2].reuse_chunk_id, old[2].chunk_id);
  EXPECT_EQ(plans[3].reuse_chunk_id, old[3].chunk_id);
  // With room to spare the small run simply joins its neighbor.
  const auto roomy = PlanSummaryChunks(t, old, 200);
  ASSERT_EQ(roomy.size(), 3u);  // 100 + 5 rewritten as one chunk; chunks 2 and 3 reused
  EXPECT_EQ(roomy[0].count, 105u);
  EXPECT_EQ(Reused(roomy), 2u);
  std::vector<PersistedSummary> u(s.begin(), s.begin() + 100);
  u.push_back(t[100]);
  const auto one = PlanSummaryChunks(u, std::vector<OldChunk>{old[0]}, 128);
  ASSERT_EQ(one.size(), 1u);  // 100 reused + 1 new = 101 <= 128: one rewritten chunk
  EXPECT_EQ(one[0].count, 101u);
  EXPECT_FALSE(one[0].reused());
}

// A real tree: checkpoint, change a narrow key range, checkpoint again: only the chunks
// covering the changed leaves are rewritten.
TEST(TreeChunkPlanTest, LocalizedTreeUpdateRewritesFewChunks) {
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, {8, 4}, &loader);
  std::vector<KeyWeight> ops;
  for (int i = 0; i < 20000; ++i) ops.push_back({EncodeInt64Key(i * 3), 1 + i % 3});
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  std::vector<PersistedSummary> s1 = loader.Checkpoint(*tree.current());
  ASSERT_GT(s1.size(), 2000u);
  uint64_t next = 1;
  const auto old = Materialize(s1, PlanSummaryChunks(s1, {}, 128), &next);
  // Inserts and deletes in [30000, 30300): a handful of leaves change, some split.
  std::vector<KeyWeight> local;
  for (int k = 30000; k < 30300; ++k) {
    if (k % 3 == 0) {
      if (k % 2 == 0) local.push_back({EncodeInt64Key(k), -(1 + (k / 3) % 3)});
    } else {
      local.push_back({EncodeInt64Key(k), 2});
    }
  }
  ASSERT_TRUE(tree.Apply(local, 2).ok());
  std::vector<PersistedSummary> s2 = loader.Checkpoint(*tree.current());
  const auto plans = PlanSummaryChunks(s2, old, 128);
  const size_t rewritten = plans.size() - Reused(plans);
  EXPECT_GE(rewritten, 1u);
  EXPECT_LE(rewritten, 3u);
  EXPECT_GE(Reused(plans), old.size() - 2);
  // Every reused chunk's summaries are exactly the new ones at that position.
  for (const ChunkPlan& p : plans) {
    if (!p.reused()) continue;
    const OldChunk* c = nullptr;
    for (const OldChunk& o : old) {
      if (o.chunk_id == p.reuse_chunk_id) c = &o;
    }
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(std::equal(c->summaries.begin(), c->summaries.end(), s2.begin() + p.begin));
  }
}

}  // namespace
}  // namespace cowtree::tree
