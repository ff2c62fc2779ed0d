// Snapshot::VisitTrees (include/cowtree/snapshot.h): every index visited exactly once, in
// catalog order (creation order) on a store's snapshot and in the given order on a retained
// checkpoint's; names not visible visited too (Tree then NotFound); the first error stops the
// walk; trees read through it (or looked up one by one) on a reopened store leave memory again;
// an empty snapshot is InvalidArgument.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/internal.h"
#include "cowtree/cowtree.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using testutil::TempDir;

// Trees "t<i>" for i in [0, count), created in the order given (so catalog order != name
// order), tree "t<i>" holding the single key i.
std::vector<std::string> CreateTrees(Store* store, const std::vector<int>& order) {
  WriteBatch b = store->NewBatch();
  std::vector<std::string> names;
  for (int i : order) {
    names.push_back("t" + std::to_string(i));
    b.Add(b.CreateTree<int64_t>(names.back()), i, 1);
  }
  EXPECT_TRUE(store->Commit(b).ok());
  return names;
}

// A closed store in `dir` holding trees t0..t<count-1> (created in that order), with a retained
// checkpoint "cp" if `retain`; returns their names.
std::vector<std::string> ClosedStoreOfTrees(const std::string& dir, int count, bool retain) {
  std::vector<int> creation;
  for (int i = 0; i < count; ++i) creation.push_back(i);
  auto store = Store::Open(dir, Options()).value();
  std::vector<std::string> names = CreateTrees(store.get(), creation);
  if (retain) EXPECT_TRUE(store->Checkpoint("cp").ok());
  EXPECT_TRUE(store->Close().ok());
  return names;
}

// Options under which only the reading thread's own demotion passes run, one per `pass`
// promotions, and every idle tree may go.
Options ReaderPassesOnly(uint64_t pass) {
  Options o;
  o.background_thread = false;
  o.hot_trees_min = 0;
  o.demotion_pass_promotions = pass;
  return o;
}

RuntimeStats StatsOf(Store& store) { return api_internal::Access::Of(store).runtime->GetStats(); }

// The sum over `names` (through snap.VisitTrees) of each tree's key at rank `rank`.
Result<uint64_t> SumOfSelect(const Snapshot& snap, const std::vector<std::string>& names,
                             uint64_t rank) {
  uint64_t sum = 0;
  COWTREE_RETURN_IF_ERROR(snap.VisitTrees(names, [&](size_t i) -> Status {
    COWTREE_ASSIGN_OR_RETURN(TreeReader<int64_t> r, snap.Tree<int64_t>(names[i]));
    COWTREE_ASSIGN_OR_RETURN(std::optional<int64_t> k, r.select(rank));
    sum += static_cast<uint64_t>(*k);
    return Status::OK();
  }));
  return sum;
}

TEST(VisitTrees, EveryIndexOnceInCatalogOrderUnknownNamesToo) {
  TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  std::vector<int> creation;
  for (int i = 0; i < 300; ++i) creation.push_back((i * 7) % 300);  // t0, t7, t14, ...
  CreateTrees(store.get(), creation);
  Snapshot snap = store->GetSnapshot();
  std::vector<std::string> names;  // by name order, plus one that does not exist, plus a twin
  for (int i = 0; i < 300; ++i) names.push_back("t" + std::to_string(i));
  names.push_back("missing");
  names.push_back("t7");
  std::vector<int> visits(names.size(), 0);
  std::vector<size_t> seen;
  ASSERT_TRUE(snap.VisitTrees(names,
                              [&](size_t i) -> Status {
                                ++visits[i];
                                seen.push_back(i);
                                Result<TreeReader<int64_t>> r = snap.Tree<int64_t>(names[i]);
                                if (names[i] == "missing") {
                                  EXPECT_TRUE(r.status().IsNotFound());
                                  return Status::OK();
                                }
                                EXPECT_TRUE(r.ok()) << names[i];
                                EXPECT_EQ(r->count(), 1u);
                                return Status::OK();
                              })
                  .ok());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(visits[i], 1) << names[i];
  // Catalog order: creation order, the twin beside its tree, the unknown name last.
  ASSERT_EQ(seen.size(), names.size());
  EXPECT_EQ(names[seen[0]], "t0");
  EXPECT_EQ(names[seen[1]], "t7");
  EXPECT_EQ(names[seen[2]], "t7");
  EXPECT_EQ(names[seen[3]], "t14");
  EXPECT_EQ(names[seen.back()], "missing");
  ASSERT_TRUE(store->Close().ok());
}

TEST(VisitTrees, FirstErrorStopsTheWalkAndEmptySnapshotIsInvalid) {
  TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  const std::vector<std::string> names = CreateTrees(store.get(), {0, 1, 2, 3, 4});
  int calls = 0;
  Status st = store->GetSnapshot().VisitTrees(names, [&](size_t) -> Status {
    return ++calls == 3 ? Status::Corruption("stop here") : Status::OK();
  });
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(
      Snapshot().VisitTrees(names, [](size_t) { return Status::OK(); }).IsInvalidArgument());
  ASSERT_TRUE(store->Close().ok());
}

// A retained checkpoint's snapshot visits in the order given; a store's snapshot on a reopened
// store (every tree cold) lets the trees visited leave memory between slices.
TEST(VisitTrees, RetainedCheckpointAndColdTreesLeavingMemory) {
  TempDir dir;
  const std::vector<std::string> names = ClosedStoreOfTrees(dir.path(), 2000, /*retain=*/true);
  auto store = Store::Open(dir.path(), ReaderPassesOnly(100)).value();
  Result<Snapshot> retained = store->GetCheckpointSnapshot("cp");
  ASSERT_TRUE(retained.ok()) << retained.status().ToString();
  std::vector<size_t> seen;
  ASSERT_TRUE(retained
                  ->VisitTrees(names,
                               [&](size_t i) -> Status {
                                 seen.push_back(i);
                                 return retained->Tree<int64_t>(names[i]).status();
                               })
                  .ok());
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i);  // catalog order
  // The view indexes its catalog in 16-32 bytes per tree, not every entry (~550 B per small
  // tree, adversarial round 16), and the walk in catalog order read each chunk about once.
  const recovery::CheckpointView* view = api_internal::Access::ViewOf(*retained);
  ASSERT_NE(view, nullptr);
  EXPECT_LE(view->catalog_index_bytes(), 32u * 2000 + 4096);
  const uint64_t chunk_reads = view->chunk_reads();
  EXPECT_GE(chunk_reads, 1u);
  EXPECT_LE(chunk_reads, 2 + 2000 / 64);  // a chunk holds at least 64 such entries
  // In reverse (name) order: a lookup's chunk is read when it is not the one in hand.
  for (size_t i = names.size(); i-- > names.size() - 10;) {
    Result<TreeReader<int64_t>> r = retained->Tree<int64_t>(names[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->select(0).value(), std::optional<int64_t>(static_cast<int64_t>(i)));
  }
  EXPECT_TRUE(retained->Tree<int64_t>("t-none").status().IsNotFound());
  // The view keeps the trees it loaded last, not all 2 000 (it kept every one: ~1.8 KB each,
  // 196 MB over 80 000 groups; adversarial round 15), and reloads one it dropped.
  EXPECT_EQ(view->loaded_tree_count(), recovery::CheckpointView::kLoadedTreesMax);
  Result<TreeReader<int64_t>> first = retained->Tree<int64_t>(names[0]);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->select(0).value(), std::optional<int64_t>(0));
  EXPECT_EQ(SumOfSelect(store->GetSnapshot(), names, 0).value(), 2000u * 1999u / 2);
  const RuntimeStats s = StatsOf(*store);
  EXPECT_LE(s.hot_tree_count, 300u);  // ~two passes of 100 plus a slice of 25, not 2000
  EXPECT_GE(s.trees_demoted, 1700u);
  ASSERT_TRUE(store->Close().ok());
}

// Lookups one by one (Snapshot::Tree, no VisitTrees, no background thread) also let the trees
// looked up leave memory: every demotion_pass_promotions promotions the lookup runs a pass.
TEST(VisitTrees, LookupsOneByOneLeaveMemoryToo) {
  TempDir dir;
  const std::vector<std::string> names = ClosedStoreOfTrees(dir.path(), 2000, /*retain=*/false);
  Options o = ReaderPassesOnly(100);
  o.read_only = true;
  auto store = Store::Open(dir.path(), o).value();
  Snapshot snap = store->GetSnapshot();
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < names.size(); ++i) {
      Result<TreeReader<int64_t>> r = snap.Tree<int64_t>(names[i]);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->select(0).value(), std::optional<int64_t>(static_cast<int64_t>(i)));
    }
  }
  const RuntimeStats s = StatsOf(*store);
  EXPECT_LE(s.hot_tree_count, 300u);  // about two passes' worth, not 2000
  EXPECT_GE(s.trees_demoted, 3000u);  // both rounds
  ASSERT_TRUE(store->Close().ok());
}

// Under a small budget the default passes (every 16 384 promotions) come too late for a store
// of a few thousand trees: every restored inline tree holds its leaf, which eviction cannot
// drop. Past half the budget in such bytes, a pass is due every 256 promotions and the slices
// are 256 trees (adversarial round 15: `cowtree query --cache-mib 2` over 20 000 small groups
// peaked at 85 MB, none demoted). 6 000 trees of 200 keys (one leaf each), read under 1 MiB.
TEST(VisitTrees, UnderASmallBudgetTreesLeaveMemoryLongBeforeTheDefaultPass) {
  TempDir dir;
  constexpr int kTrees = 6000;
  std::vector<std::string> names;
  {
    auto store = Store::Open(dir.path(), Options()).value();
    WriteBatch b = store->NewBatch();
    for (int t = 0; t < kTrees; ++t) {
      names.push_back("t" + std::to_string(t));
      TreeHandle<int64_t> h = b.CreateTree<int64_t>(names.back());
      for (int k = 0; k < 200; ++k) b.Add(h, int64_t{t} * 1000 + k, 1);
    }
    ASSERT_TRUE(store->Commit(b).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  Options o;
  o.background_thread = false;
  o.read_only = true;
  o.cache_bytes = 1 << 20;
  ASSERT_GT(o.demotion_pass_promotions, static_cast<uint64_t>(kTrees));  // the default: 16 384
  auto store = Store::Open(dir.path(), o).value();
  EXPECT_EQ(SumOfSelect(store->GetSnapshot(), names, 199).value(),
            uint64_t{1000} * kTrees * (kTrees - 1) / 2 + uint64_t{199} * kTrees);
  const RuntimeStats s = StatsOf(*store);
  EXPECT_GE(s.demotion_sweeps, 10u);
  EXPECT_LE(s.hot_tree_count, 1024u + 3 * 256u);  // hot_trees_min and a few slices, not 6 000
  EXPECT_LE(static_cast<uint64_t>(s.memory.fixed_bytes + s.memory.node_bytes), uint64_t{3} << 20);
  ASSERT_TRUE(store->Close().ok());
}

// Trees changed by commits that only the log holds (no checkpoint since) are not demoted back
// to their checkpointed state: a read-only store whose open replayed them answers every visit,
// twice over, with the replayed values while its passes demote the other trees.
TEST(VisitTrees, TreesOnlyTheLogChangedKeepTheirChanges) {
  TempDir dir;
  std::vector<int> creation;
  for (int i = 0; i < 1000; ++i) creation.push_back(i);
  std::vector<std::string> names;
  {
    Options o;
    o.checkpoint_on_close = false;
    o.background_thread = false;
    auto store = Store::Open(dir.path(), o).value();
    names = CreateTrees(store.get(), creation);
    ASSERT_TRUE(store->Checkpoint().ok());
    WriteBatch b = store->NewBatch();  // every third tree gets key 5000 + i, in the log only
    for (int i = 0; i < 1000; i += 3) b.Add(store->Tree<int64_t>(names[i]).value(), 5000 + i, 1);
    ASSERT_TRUE(store->Commit(b).ok());
    ASSERT_TRUE(store->Sync().ok());
    ASSERT_TRUE(store->Close().ok());
  }
  Options o = ReaderPassesOnly(64);
  o.read_only = true;
  auto store = Store::Open(dir.path(), o).value();
  Snapshot snap = store->GetSnapshot();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    ASSERT_TRUE(snap.VisitTrees(names,
                                [&](size_t i) -> Status {
                                  COWTREE_ASSIGN_OR_RETURN(TreeReader<int64_t> r,
                                                           snap.Tree<int64_t>(names[i]));
                                  EXPECT_EQ(r.count(), i % 3 == 0 ? 2u : 1u) << names[i];
                                  COWTREE_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                                                           r.select(0, Order::kDescending));
                                  EXPECT_EQ(*last, i % 3 == 0 ? 5000 + static_cast<int64_t>(i)
                                                              : static_cast<int64_t>(i));
                                  return Status::OK();
                                })
                    .ok());
  }
  const RuntimeStats s = StatsOf(*store);
  EXPECT_GE(s.trees_demoted, 500u);   // the untouched two thirds, at least once
  EXPECT_GE(s.hot_tree_count, 334u);  // the replayed third stays
  ASSERT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace cowtree
