// Demotion (persistence/runtime.h "Demotion"): after a checkpoint, trees idle for a whole
// checkpoint interval leave memory for the cold index and are read back on their next access.
// Answers stay exact through demotion and promotion; a snapshot older than a tree's last write
// keeps that tree in memory (its old version is still needed); a reader holding a demoted tree
// keeps reading it; handles taken before a demotion still write; drops and re-creates of the
// name work; everything survives reopen and fsck is clean. Under a memory budget whose
// unevictable bytes pass half of it, idle trees go below hot_trees_min too.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/int64_trees.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using Entries = testutil::Int64Entries;
using testutil::TempDir;

constexpr uint64_t kHotTreesMin = 8;

RuntimeOptions Options(uint64_t hot_trees_min = kHotTreesMin) {
  RuntimeOptions o;
  o.background_thread = false;
  o.hot_trees_min = hot_trees_min;
  return o;
}

std::string NameOf(uint64_t i) { return "tree-" + std::to_string(i); }

using testutil::CreateInt64Tree;
using testutil::Int64EntriesAt;

class TreeDemotion : public ::testing::Test {
 protected:
  void SetUp() override { Open(kHotTreesMin); }
  void Open(uint64_t hot_trees_min) { OpenWith(Options(hot_trees_min)); }
  void OpenWith(const RuntimeOptions& options) {
    if (rt_ != nullptr) {
      ASSERT_TRUE(rt_->Close().ok());
    }
    rt_.reset();
    auto rt = recovery::Open(dir_.path(), options);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    rt_ = std::move(rt).value();
  }
  // Creates trees [first, first + n) with entries {i: 1}, 50 per commit.
  void CreateTrees(uint64_t first, uint64_t n) {
    for (uint64_t i = first; i < first + n; i += 50) {
      RuntimeWriteBatch b(rt_.get());
      for (uint64_t j = i; j < std::min(first + n, i + 50); ++j) {
        const TreeId id = CreateInt64Tree(&b, NameOf(j));
        ids_[NameOf(j)] = id;
        Write(&b, j, {{static_cast<int64_t>(j), 1}});
      }
      ASSERT_TRUE(rt_->Commit(b).ok());
    }
  }
  void Write(RuntimeWriteBatch* b, uint64_t i, const Entries& add) {
    testutil::AddInt64Ops(b, ids_.at(NameOf(i)), add);
    for (const auto& [k, w] : add) {
      if ((model_[NameOf(i)][k] += w) == 0) model_[NameOf(i)].erase(k);
    }
  }
  // One commit to tree `i` (so that the next checkpoint has work: a demotion pass follows
  // only a checkpoint that publishes), then a checkpoint.
  void TouchAndCheckpoint(uint64_t i, int64_t key) {
    RuntimeWriteBatch b(rt_.get());
    Write(&b, i, {{key, 1}});
    ASSERT_TRUE(rt_->Commit(b).ok());
    ASSERT_TRUE(rt_->Checkpoint().ok());
  }
  void CheckAll() {
    const RuntimeSnapshot snap = rt_->GetSnapshot();
    for (const auto& [name, entries] : model_) {
      Result<TreeInfo> info = rt_->FindTree(name, snap);
      ASSERT_TRUE(info.ok()) << name << ": " << info.status().ToString();
      ASSERT_EQ(Int64EntriesAt(*info, snap.epoch()), entries) << name;
    }
    EXPECT_EQ(rt_->ListTrees(snap).size(), model_.size());
    EXPECT_EQ(rt_->GetStats().tree_count, model_.size());
  }
  void ReopenAndFsck() {
    ASSERT_TRUE(rt_->Close().ok());
    rt_.reset();
    auto fsck = recovery::Fsck(dir_.path(), recovery::FsckOptions());
    ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
    EXPECT_EQ(fsck->errors(), 0u);
    for (const auto& f : fsck->findings) {
      if (f.severity == recovery::FsckSeverity::kError) ADD_FAILURE() << f.message;
    }
    auto rt = recovery::Open(dir_.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    rt_ = std::move(rt).value();
  }

  TempDir dir_;
  std::unique_ptr<Runtime> rt_;
  std::map<std::string, TreeId> ids_;
  std::map<std::string, Entries> model_;
};

TEST_F(TreeDemotion, IdleTreesLeaveMemoryAndReadBackExactly) {
  constexpr uint64_t kTrees = 300;
  CreateTrees(0, kTrees);
  ASSERT_TRUE(rt_->Checkpoint().ok());  // first pass: every tree was just written
  EXPECT_EQ(rt_->GetStats().trees_demoted, 0u);
  TouchAndCheckpoint(0, 1000);  // second pass: all but tree 0 idle for a whole interval
  RuntimeStats s = rt_->GetStats();
  EXPECT_EQ(s.trees_demoted, kTrees - kHotTreesMin);
  EXPECT_EQ(s.hot_tree_count, kHotTreesMin);
  EXPECT_EQ(s.tree_count, kTrees);
  // Writes through ids taken before the demotion promote the trees again.
  RuntimeWriteBatch b(rt_.get());
  for (uint64_t i = 0; i < kTrees; i += 7) Write(&b, i, {{-static_cast<int64_t>(i), 2}});
  ASSERT_TRUE(rt_->Commit(b).ok());
  CheckAll();
  ASSERT_TRUE(rt_->Checkpoint().ok());
  CheckAll();
  ReopenAndFsck();
  CheckAll();
}

// Under a memory budget, idle trees leave memory while the budget's fixed and node bytes (never
// evictable) pass half of it, however few trees are hot: 8 trees of ~1 000-1 300 leaves each
// (16-entry leaves) pin ~3 MiB of a 4 MiB budget, so some go although hot_trees_min is 1024;
// their answers stay exact after they are read back.
TEST_F(TreeDemotion, ABudgetFilledByTreesThatStayHotDemotesIdleOnesBelowHotTreesMin) {
  RuntimeOptions o = Options(/*hot_trees_min=*/1024);
  o.cache_bytes = uint64_t{4} << 20;
  o.leaf_capacity_entries = 16;
  OpenWith(o);
  constexpr uint64_t kTrees = 8;
  constexpr int64_t kKeys = 16000;
  CreateTrees(0, kTrees);
  for (uint64_t i = 0; i < kTrees; ++i) {
    for (int64_t k = 0; k < kKeys; k += 1000) {
      RuntimeWriteBatch b(rt_.get());
      Entries add;
      for (int64_t j = k; j < k + 1000; ++j) add[j * 7 + 1000000] = 1;
      Write(&b, i, add);
      ASSERT_TRUE(rt_->Commit(b).ok());
    }
  }
  ASSERT_TRUE(rt_->Checkpoint().ok());  // first pass: every tree was just written
  TouchAndCheckpoint(0, 1);             // second pass: trees 1..7 idle for a whole interval
  const RuntimeStats s = rt_->GetStats();
  const MemoryBudgetStats m = s.memory;
  std::printf("demoted %llu, hot %llu; pinned: fixed %lld nodes %lld\n",
              static_cast<unsigned long long>(s.trees_demoted),
              static_cast<unsigned long long>(s.hot_tree_count),
              static_cast<long long>(m.fixed_bytes), static_cast<long long>(m.node_bytes));
  EXPECT_GE(s.trees_demoted, 2u);
  EXPECT_EQ(s.hot_tree_count + s.trees_demoted, kTrees);
  EXPECT_EQ(s.tree_count, kTrees);
  // What stays pinned is within half the budget plus one tree's (the estimate's slack).
  EXPECT_LE(m.fixed_bytes + m.node_bytes, (int64_t{2} << 20) + (int64_t{512} << 10));
  CheckAll();  // reads every tree back (promotion and restore), exactly
  ReopenAndFsck();
  CheckAll();
}

// Without a budget (or when the pinned bytes are within half of it) hot_trees_min holds.
TEST_F(TreeDemotion, WithoutABudgetHotTreesMinHolds) {
  RuntimeOptions o = Options(/*hot_trees_min=*/1024);
  o.leaf_capacity_entries = 16;
  OpenWith(o);
  CreateTrees(0, 8);
  for (uint64_t i = 0; i < 8; ++i) {
    RuntimeWriteBatch b(rt_.get());
    Entries add;
    for (int64_t j = 0; j < 2000; ++j) add[j] = 1;
    Write(&b, i, add);
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  ASSERT_TRUE(rt_->Checkpoint().ok());
  TouchAndCheckpoint(0, -1);
  EXPECT_EQ(rt_->GetStats().trees_demoted, 0u);
  CheckAll();
}

// Options::checkpoint_dirty_trees: the trigger counts distinct trees created or written since
// the freeze (a tree written by many commits once), and the freeze resets it.
TEST_F(TreeDemotion, DirtyTreeCountIsDistinctAndResetByTheCheckpoint) {
  RuntimeOptions o = Options();
  o.checkpoint_dirty_trees = 100;
  OpenWith(o);
  CreateTrees(0, 99);
  EXPECT_FALSE(rt_->DirtyTreesOverLimit());
  for (int round = 0; round < 5; ++round) {  // 495 more writes, the same 99 trees
    RuntimeWriteBatch b(rt_.get());
    for (uint64_t i = 0; i < 99; ++i) Write(&b, i, {{1000 + round, 1}});
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  EXPECT_FALSE(rt_->DirtyTreesOverLimit());
  CreateTrees(99, 1);  // the 100th tree
  EXPECT_TRUE(rt_->DirtyTreesOverLimit());
  ASSERT_TRUE(rt_->Checkpoint().ok());
  EXPECT_FALSE(rt_->DirtyTreesOverLimit());
  for (uint64_t i = 0; i < 100; i += 2) TouchAndCheckpoint(i, 5000);  // one tree per interval
  EXPECT_FALSE(rt_->DirtyTreesOverLimit());
  o.checkpoint_dirty_trees = 0;  // off
  OpenWith(o);
  CreateTrees(100, 300);
  EXPECT_FALSE(rt_->DirtyTreesOverLimit());
  CheckAll();
}

// With the coordinator running, creating many trees checkpoints every checkpoint_dirty_trees
// trees (the log threshold is far away), so that demotion keeps about two intervals of trees
// in memory instead of all of them; everything reads back exactly, also after reopen.
TEST_F(TreeDemotion, CreatingManyTreesCheckpointsByDirtyTreesAndDemotes) {
  RuntimeOptions o = Options();
  o.background_thread = true;
  o.checkpoint_dirty_trees = 200;
  OpenWith(o);
  constexpr uint64_t kTrees = 3000;
  // Waits (bounded; no timing asserted) for the coordinator's checkpoints.
  const auto wait_for_checkpoints = [&](uint64_t n) {
    for (int i = 0; i < 6000 && rt_->GetStats().checkpoints_written < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GE(rt_->GetStats().checkpoints_written, n);
  };
  CreateTrees(0, kTrees);
  wait_for_checkpoints(1);
  // Two more intervals' worth of new trees, each followed by its automatic checkpoint: every
  // tree of the first 3000 has been idle through a whole interval after its checkpoint.
  uint64_t created = kTrees;
  for (int round = 0; round < 2; ++round) {
    const uint64_t before = rt_->GetStats().checkpoints_written;
    CreateTrees(created, 200);
    created += 200;
    wait_for_checkpoints(before + 1);
  }
  const RuntimeStats s = rt_->GetStats();
  // (Where a checkpoint woke in the middle of a round, up to three intervals stay hot.)
  EXPECT_GE(s.trees_demoted, kTrees - 3 * 200);
  EXPECT_LE(s.hot_tree_count, 3 * 200 + kHotTreesMin);
  EXPECT_EQ(s.tree_count, created);
  CheckAll();
  ReopenAndFsck();
  CheckAll();
}

// Options::demotion_pass_promotions: trees that are only read (promoted by first accesses,
// nothing written, so no checkpoint runs) leave memory again: the coordinator runs a pass each
// time that many trees were promoted. Everything reads back exactly afterwards.
TEST_F(TreeDemotion, TreesOnlyReadLeaveMemoryWithoutACheckpoint) {
  constexpr uint64_t kTrees = 3000, kStep = 300;
  CreateTrees(0, kTrees);
  RuntimeOptions o = Options();
  o.background_thread = true;
  o.checkpoint_dirty_trees = 0;  // no checkpoint for this reason: only the passes demote
  o.demotion_pass_promotions = kStep;
  OpenWith(o);  // (closing checkpointed the trees: all of them cold now)
  ASSERT_EQ(rt_->GetStats().hot_tree_count, 0u);
  const uint64_t checkpoints = rt_->GetStats().checkpoints_written;
  const RuntimeSnapshot snap = rt_->GetSnapshot();
  for (uint64_t first = 0; first < kTrees; first += kStep) {
    const uint64_t sweeps = rt_->GetStats().demotion_sweeps;
    for (uint64_t i = first; i < first + kStep; ++i) {
      Result<TreeInfo> info = rt_->FindTree(NameOf(i), snap);
      ASSERT_TRUE(info.ok()) << info.status().ToString();
      ASSERT_EQ(Int64EntriesAt(*info, snap.epoch()), model_.at(NameOf(i))) << i;
    }
    // Waits (bounded; no timing asserted) for the pass these reads trigger.
    for (int w = 0; w < 6000 && rt_->GetStats().demotion_sweeps == sweeps; ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(rt_->GetStats().demotion_sweeps, sweeps) << first;
  }
  const RuntimeStats s = rt_->GetStats();
  EXPECT_EQ(s.checkpoints_written, checkpoints);  // nothing written, nothing checkpointed
  // Each pass demotes the trees read before the previous one: about two steps stay.
  EXPECT_GE(s.trees_demoted, kTrees - 3 * kStep);
  EXPECT_LE(s.hot_tree_count, 3 * kStep);
  CheckAll();  // promoted again, exact
  ReopenAndFsck();
  CheckAll();
}

TEST_F(TreeDemotion, ASnapshotOlderThanATreesLastWriteKeepsItsVersion) {
  Open(/*hot_trees_min=*/0);  // every idle tree goes
  CreateTrees(0, 100);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  const RuntimeSnapshot old = rt_->GetSnapshot();
  const Entries before = model_.at(NameOf(5));
  {
    RuntimeWriteBatch b(rt_.get());
    Write(&b, 5, {{77, 1}});
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  for (int round = 0; round < 4; ++round) TouchAndCheckpoint(1, 2000 + round);
  EXPECT_GE(rt_->GetStats().trees_demoted, 98u);  // all but trees 1 and 5
  EXPECT_EQ(rt_->GetStats().hot_tree_count, 2u);
  // Tree 5 stayed in memory with both versions: the old snapshot reads its old state.
  Result<TreeInfo> at_old = rt_->FindTree(NameOf(5), old);
  ASSERT_TRUE(at_old.ok());
  EXPECT_EQ(Int64EntriesAt(*at_old, old.epoch()), before);
  CheckAll();
}

// A tree demoted while a snapshot older than its checkpoint is held comes back with only its
// checkpoint's version (newer than the snapshot, the same content). A write then adds a
// version; the trim must keep the checkpoint's version for that snapshot — VersionAt answers
// an epoch older than every version with the oldest. Keeping only "the newest version at or
// below each readable epoch" dropped it, and the snapshot read the new write (found by the
// model-checked stress run of an adversarial round).
TEST_F(TreeDemotion, ASnapshotOlderThanARestoredTreeKeepsItsOldestVersion) {
  Open(/*hot_trees_min=*/0);
  CreateTrees(0, 20);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  const RuntimeSnapshot old = rt_->GetSnapshot();
  const Entries before = model_.at(NameOf(7));
  for (int round = 0; round < 3; ++round) TouchAndCheckpoint(1, 4000 + round);
  const uint64_t demoted = rt_->GetStats().trees_demoted;
  EXPECT_GE(demoted, 18u);           // tree 7 among them
  for (int64_t k = 0; k < 3; ++k) {  // restores tree 7, then new versions of it
    RuntimeWriteBatch b(rt_.get());
    Write(&b, 7, {{500 + k, 1}});
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  Result<TreeInfo> at_old = rt_->FindTree(NameOf(7), old);
  ASSERT_TRUE(at_old.ok());
  EXPECT_EQ(Int64EntriesAt(*at_old, old.epoch()), before);
  CheckAll();
}

TEST_F(TreeDemotion, AReaderHoldingADemotedTreeKeepsReadingIt) {
  Open(/*hot_trees_min=*/0);
  CreateTrees(0, 100);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  const RuntimeSnapshot snap = rt_->GetSnapshot();
  Result<TreeInfo> held = rt_->FindTree(NameOf(9), snap);
  ASSERT_TRUE(held.ok());
  const uint64_t demoted = rt_->GetStats().trees_demoted;
  for (int round = 0; round < 3; ++round) TouchAndCheckpoint(1, 3000 + round);
  EXPECT_GT(rt_->GetStats().trees_demoted, demoted);
  EXPECT_EQ(Int64EntriesAt(*held, snap.epoch()), model_.at(NameOf(9)));
  // Promoted again (a second HostedTree while the first is held): the same answers.
  CheckAll();
}

TEST_F(TreeDemotion, DropAndRecreateOfDemotedTrees) {
  CreateTrees(0, 100);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  TouchAndCheckpoint(0, 4000);
  ASSERT_GT(rt_->GetStats().trees_demoted, 50u);
  {
    RuntimeWriteBatch b(rt_.get());
    b.DropTree(ids_.at(NameOf(40)));
    b.DropTree(ids_.at(NameOf(41)));
    model_.erase(NameOf(40));
    model_.erase(NameOf(41));
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  {
    RuntimeWriteBatch b(rt_.get());
    const TreeId id = CreateInt64Tree(&b, NameOf(41));
    ids_[NameOf(41)] = id;
    Write(&b, 41, {{-41, 4}});
    // A demoted tree's name cannot be created twice.
    ASSERT_TRUE(rt_->Commit(b).ok());
    RuntimeWriteBatch dup(rt_.get());
    CreateInt64Tree(&dup, NameOf(42));
    EXPECT_TRUE(rt_->Commit(dup).IsInvalidArgument());
  }
  for (int round = 0; round < 3; ++round) TouchAndCheckpoint(0, 5000 + round);
  CheckAll();
  EXPECT_TRUE(rt_->FindTree(NameOf(40), rt_->GetSnapshot()).status().IsNotFound());
  ReopenAndFsck();
  CheckAll();
}

}  // namespace
}  // namespace cowtree
