// Cold trees (persistence/runtime.h "Lazy trees", docs/catalog.md "Opening a store"): after
// open, a tree is a 16-byte slot of the cold index (tree id + name hash) until its first
// access reads its catalog entry back and promotes it. Lookups of present and absent names,
// forced name-hash collisions (test hook), drop then create of the same name, chunk rewrites
// while trees are cold, listing / describing / stats without promotion, and many trees across
// several reopens.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "persistence/cold_tree_index.h"
#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/cold_tree_hashes.h"
#include "testutil/int64_trees.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using Entries = std::map<int64_t, int64_t>;
using testutil::TempDir;

RuntimeOptions Options() {
  RuntimeOptions o;
  o.background_thread = false;
  return o;
}

std::string NameOf(uint64_t i) { return "tree-" + std::to_string(i); }
Entries EntriesOf(uint64_t i) { return {{static_cast<int64_t>(i), 1}, {-7, 1 + i % 3}}; }

void AddOps(RuntimeWriteBatch* b, TreeId id, const Entries& e) { testutil::AddInt64Ops(b, id, e); }
TreeId Create(RuntimeWriteBatch* b, const std::string& name) {
  return testutil::CreateInt64Tree(b, name);
}

// The entries of `name` at `snap`, or nullopt if FindTree says NotFound.
std::optional<Entries> Read(Runtime* rt, const std::string& name, const RuntimeSnapshot& snap) {
  Result<TreeInfo> info = rt->FindTree(name, snap);
  if (!info.ok()) {
    EXPECT_TRUE(info.status().IsNotFound()) << info.status().ToString();
    return std::nullopt;
  }
  EXPECT_EQ(info->name, name);
  return testutil::Int64EntriesAt(*info, snap.epoch());
}

class ColdTrees : public testutil::ColdTreeHashTest {
 protected:
  // Trees 0..n-1 (model), `per_commit` creations per commit, a checkpoint at the end.
  void CreateTrees(Runtime* rt, uint64_t first, uint64_t n, uint64_t per_commit) {
    for (uint64_t i = first; i < first + n; i += per_commit) {
      RuntimeWriteBatch b(rt);
      for (uint64_t j = i; j < std::min(first + n, i + per_commit); ++j) {
        AddOps(&b, Create(&b, NameOf(j)), EntriesOf(j));
        model_[NameOf(j)] = EntriesOf(j);
      }
      ASSERT_TRUE(rt->Commit(b).ok());
    }
    ASSERT_TRUE(rt->Checkpoint().ok());
  }
  void CheckAll(Runtime* rt) {
    RuntimeSnapshot snap = rt->GetSnapshot();
    for (const auto& [name, e] : model_) ASSERT_EQ(Read(rt, name, snap), e) << name;
  }
  std::map<std::string, Entries> model_;
};

// Present and absent names; listing, describing and stats promote and restore nothing.
TEST_P(ColdTrees, LookupsOfPresentAndAbsentNames) {
  const uint64_t n = GetParam() == 2 ? 300 : 3000;  // constant hash: every lookup probes all
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, n, 250);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  RuntimeSnapshot snap = r->GetSnapshot();
  const std::vector<TreeInfo> listed = r->ListTrees(snap);
  ASSERT_EQ(listed.size(), n);
  RuntimeStats stats = r->GetStats();
  EXPECT_EQ(stats.tree_count, n);
  EXPECT_EQ(stats.entry_count, 2 * n);
  for (const TreeInfo& t : listed) {
    auto d = r->DescribeTree(t.id, snap);
    ASSERT_TRUE(d.has_value()) << t.name;
    EXPECT_EQ(d->name, t.name);
    EXPECT_EQ(d->tree, nullptr);
  }
  EXPECT_FALSE(r->DescribeTree(n + 100, snap).has_value());
  EXPECT_EQ(r->GetStats().trees_restored, 0u);
  // Absent names (with the test hashes: colliding with present ones).
  for (const std::string& absent :
       std::vector<std::string>{"tree-x", "tree-99999", "t", "tree-0000", NameOf(n)}) {
    EXPECT_EQ(Read(r, absent, snap), std::nullopt) << absent;
  }
  for (uint64_t i = 0; i < n; i += 7) ASSERT_EQ(Read(r, NameOf(i), snap), EntriesOf(i)) << i;
  EXPECT_EQ(r->GetStats().trees_restored, (n + 6) / 7);
  EXPECT_EQ(r->GetStats().tree_count, n);
  EXPECT_EQ(r->ListTrees(snap).size(), n);
}

// Dropping a cold tree and creating the same name (in one commit, and in two), then reopening.
TEST_P(ColdTrees, DropThenCreateTheSameName) {
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, 500, 100);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  for (int round = 0; round < 2; ++round) {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    Runtime* r = rt->get();
    RuntimeSnapshot before = r->GetSnapshot();
    std::map<std::string, TreeId> ids;
    for (const TreeInfo& t : r->ListTrees(before)) ids[t.name] = t.id;
    // A cold tree's name cannot be created again while it lives.
    {
      RuntimeWriteBatch b(r);
      Create(&b, NameOf(10 + round));
      EXPECT_TRUE(r->Commit(b).IsInvalidArgument());
    }
    // Replace tree 20+round atomically; drop 30+round, then create it in a later commit.
    {
      RuntimeWriteBatch b(r);
      b.DropTree(ids[NameOf(20 + round)]);
      Entries e{{round * 1000 + 1, 5}};
      AddOps(&b, Create(&b, NameOf(20 + round)), e);
      model_[NameOf(20 + round)] = e;
      b.DropTree(ids[NameOf(30 + round)]);
      model_.erase(NameOf(30 + round));
      ASSERT_TRUE(r->Commit(b).ok());
    }
    RuntimeSnapshot mid = r->GetSnapshot();
    EXPECT_EQ(Read(r, NameOf(30 + round), mid), std::nullopt);
    EXPECT_EQ(Read(r, NameOf(30 + round), before), EntriesOf(30 + round)) << "old snapshot";
    ASSERT_TRUE(r->Checkpoint().ok());
    {
      RuntimeWriteBatch b(r);
      Entries e{{-round, 3}};
      AddOps(&b, Create(&b, NameOf(30 + round)), e);
      model_[NameOf(30 + round)] = e;
      ASSERT_TRUE(r->Commit(b).ok());
    }
    CheckAll(r);
    EXPECT_EQ(r->ListTrees(r->GetSnapshot()).size(), model_.size());
    ASSERT_TRUE(r->Close().ok());
  }
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CheckAll(rt->get());
  }
  auto fsck = recovery::Fsck(dir.path(), recovery::FsckOptions());
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  for (const auto& f : fsck->findings) ADD_FAILURE() << f.message;
}

// Many trees across reopens: each round writes a few trees spread over every chunk (so that
// each chunk is rewritten while most of its trees are cold), creates new ones, replays redo
// at the next open (no checkpoint at close in odd rounds), and everything reads back.
TEST_P(ColdTrees, ManyTreesAcrossReopens) {
  const uint64_t n = GetParam() == 2 ? 400 : 4000;
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, n, 1000);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  uint64_t created = n;
  for (int round = 0; round < 4; ++round) {
    RuntimeOptions o = Options();
    o.checkpoint_on_close = round % 2 == 0;
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    Runtime* r = rt->get();
    {
      RuntimeSnapshot snap = r->GetSnapshot();
      RuntimeWriteBatch b(r);
      for (uint64_t i = round; i < created; i += 97) {
        Result<TreeInfo> t = r->FindTree(NameOf(i), snap);
        ASSERT_TRUE(t.ok()) << NameOf(i);
        const Entries add{{1000000 + round, 1}};
        AddOps(&b, t->id, add);
        model_[NameOf(i)][1000000 + round] += 1;
      }
      ASSERT_TRUE(r->Commit(b).ok());
    }
    if (round == 1) {
      ASSERT_TRUE(r->Checkpoint().ok());
    }
    CreateTrees(r, created, 300, 100);
    created += 300;
    EXPECT_EQ(r->GetStats().tree_count, created);
    ASSERT_TRUE(r->Close().ok());
  }
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_EQ(rt->get()->ListTrees(rt->get()->GetSnapshot()).size(), created);
    CheckAll(rt->get());
  }
  auto fsck = recovery::Fsck(dir.path(), recovery::FsckOptions());
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  for (const auto& f : fsck->findings) ADD_FAILURE() << f.message;
}

// Promotions from readers race a writer (which promotes the trees it writes), checkpoints that
// rewrite the chunks of cold trees and demote the trees idle since the previous one
// (hot_trees_min = 0), listings and stats: every tree is listed and counted once, every lookup
// finds its tree (run under TSan: COWTREE_SANITIZE=thread).
TEST_P(ColdTrees, PromotionsRaceListingsWritesAndCheckpoints) {
  const uint64_t n = GetParam() == 2 ? 200 : 2000;
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, n, 500);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  RuntimeOptions demoting = Options();
  demoting.hot_trees_min = 0;
  auto rt = recovery::Open(dir.path(), demoting);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  std::map<std::string, TreeId> ids;
  for (const TreeInfo& t : r->ListTrees(r->GetSnapshot())) ids[t.name] = t.id;
  ASSERT_EQ(ids.size(), n);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0};
  std::thread writer([&] {
    for (uint64_t c = 1; c <= 200; ++c) {
      RuntimeWriteBatch b(r);
      const Entries add{{2000000 + static_cast<int64_t>(c), 1}};
      AddOps(&b, ids.at(NameOf((c * 37) % n)), add);
      if (!r->Commit(b).ok()) failures.fetch_add(1);
      if (c % 20 == 0 && !r->Checkpoint().ok()) failures.fetch_add(1);
    }
    stop.store(true);
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      uint64_t i = t;
      while (!stop.load()) {
        RuntimeSnapshot snap = r->GetSnapshot();
        if (t == 0) {
          if (r->ListTrees(snap).size() != n) failures.fetch_add(1);
          if (r->GetStats().tree_count != n) failures.fetch_add(1);
          continue;
        }
        i = (i + 7919) % n;
        Result<TreeInfo> info = r->FindTree(NameOf(i), snap);
        if (!info.ok() || info->id != ids.at(NameOf(i))) failures.fetch_add(1);
        if (!r->FindTree(NameOf(n + i), snap).status().IsNotFound()) failures.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0u);
  // Whether a tree stayed idle for a whole interval during the race depends on the scheduling
  // (a descheduled writer lets the readers find every tree in every interval): two more
  // checkpoints with no reader between them demote for sure the trees the readers promoted.
  for (int k = 0; k < 2; ++k) {
    RuntimeWriteBatch b(r);
    AddOps(&b, ids.at(NameOf(0)), Entries{{3000000 + k, 1}});
    ASSERT_TRUE(r->Commit(b).ok());
    model_[NameOf(0)][3000000 + k] = 1;
    ASSERT_TRUE(r->Checkpoint().ok());
  }
  EXPECT_GT(r->GetStats().trees_demoted, 0u);
  for (uint64_t c = 1; c <= 200; ++c) model_[NameOf((c * 37) % n)][2000000 + c] = 1;
  CheckAll(r);
}

INSTANTIATE_TEST_SUITE_P(Hashes, ColdTrees, ::testing::Values(0, 1, 2), testutil::ColdTreeHashName);

}  // namespace
}  // namespace cowtree
