// BulkLoader with a spill directory (include/cowtree/bulk_loader.h "Spilling"): full buffers
// become sorted runs and nothing is committed before Flush, which merges them; runs merge in
// tiers; the commit order is (tree id, key); answers equal a model; a crash anywhere resumes
// exactly once; a failed or damaged run is an error value that drops the ops since the last
// flush and leaves no run behind; one loader per spill directory, which loses a crashed one's
// runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"
#include "tests/bulk_loader_model.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using loader_test::CommitNewTree;
using loader_test::Entries;
using loader_test::ModelAdd;
using loader_test::OpenOrDie;
using loader_test::SmallTreeOptions;
using testutil::TempDir;

// Files named like runs in `dir` (of the real file system).
std::vector<std::string> RunFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("cowtree-loader-") && name.ends_with(".run")) out.push_back(e.path());
  }
  return out;
}

TEST(BulkLoaderSpill, AnswersEqualAModelAfterEveryFlush) {
  loader_test::LoadRandomOpsAgainstAModel(/*spill=*/true);
}

TEST(BulkLoaderSpill, AMarkerWrittenByTheCommitHookMakesAResumedLoadExactlyOnce) {
  loader_test::SweepCrashesOfAMarkedLoad("/spill");
}

// 40 buffers of one tree: nothing is committed before Flush, the runs merge in tiers (never
// more than (fan-in - 1) per level wait: fan-in is 2 for a 4 KiB buffer), and the flush
// commits all of them, in key order, once.
TEST(BulkLoaderSpill, NothingIsCommittedBeforeFlushAndRunsMergeInTiers) {
  TempDir dir;
  auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  BulkLoader::Options lo;
  lo.buffer_bytes = 4096;  // 512 compact ops
  lo.commit_ops = 1000;
  lo.spill_dir = dir.path() + "/spill";
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  BulkLoader& l = **loader;
  std::map<int64_t, int64_t> model;
  std::mt19937_64 rng(5);
  constexpr int kOps = 40 * 512;
  uint64_t most_runs = 0;
  for (int i = 0; i < kOps; ++i) {
    const auto k = static_cast<int64_t>(rng() % 5000);
    ASSERT_TRUE(l.Add(t, k, 1).ok());
    ModelAdd(&model, k, int64_t{1});
    most_runs = std::max(most_runs, l.spilled_runs());
    // Levels 0..5 at most for 40 buffers, one run waiting on each.
    ASSERT_LE(l.spilled_runs(), 6u) << "op " << i;
    ASSERT_EQ(RunFiles(lo.spill_dir).size(), l.spilled_runs());
  }
  EXPECT_GE(most_runs, 3u);  // tiers formed
  EXPECT_EQ(l.spilled_ops() + l.buffered_ops(), static_cast<uint64_t>(kOps));
  EXPECT_EQ(l.commits(), 0u);
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
  ASSERT_TRUE(l.Flush().ok());
  EXPECT_EQ(l.spilled_ops(), 0u);
  EXPECT_EQ(l.spilled_runs(), 0u);
  EXPECT_TRUE(RunFiles(lo.spill_dir).empty());
  EXPECT_EQ(l.committed_ops(), static_cast<uint64_t>(kOps));
  EXPECT_EQ(l.commits(), static_cast<uint64_t>(kOps) / 1000 + 1);
  EXPECT_EQ(Entries<int64_t>(store->GetSnapshot(), "t"), model);
}

// Trees created a, then b; ops added to b first. With a spill directory the flush commits a's
// ops first (tree id order); without one, b's (first-Add order).
TEST(BulkLoaderSpill, AFlushCommitsTreesInTheOrderTheStoreCreatedThem) {
  for (const bool spill : {false, true}) {
    TempDir dir;
    auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
    const TreeHandle<int64_t> a = CommitNewTree(*store, "a");
    const TreeHandle<int64_t> b = CommitNewTree(*store, "b");
    std::vector<std::string> first_committed;
    BulkLoader::Options lo;
    lo.commit_ops = 1;
    if (spill) lo.spill_dir = dir.path() + "/spill";
    lo.commit_hook = [&](WriteBatch&, const BulkLoader::FlushProgress& p) {
      EXPECT_EQ(p.order,
                spill ? BulkLoader::FlushOrder::kTreeId : BulkLoader::FlushOrder::kFirstAdd);
      if (p.ops_committed == 2) {  // the second commit: the first is visible
        const Snapshot snap = store->GetSnapshot();
        first_committed.push_back(snap.Tree<int64_t>("a")->count() == 1 ? "a" : "b");
      }
      return Status::OK();
    };
    auto loader = BulkLoader::Create(*store, lo);
    ASSERT_TRUE(loader.ok());
    ASSERT_TRUE((*loader)->Add(b, 1, 1).ok());
    ASSERT_TRUE((*loader)->Add(a, 1, 1).ok());
    ASSERT_TRUE((*loader)->Flush().ok());
    ASSERT_EQ(first_committed.size(), 1u);
    EXPECT_EQ(first_committed[0], spill ? "a" : "b");
  }
}

// A byte of a run damaged between the spill and the flush: the flush returns Corruption naming
// the run and the block's offset, commits nothing, deletes the runs; the loader goes on.
TEST(BulkLoaderSpill, ADamagedRunIsCorruptionNamingTheFileAndOffset) {
  TempDir dir;
  auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  BulkLoader::Options lo;
  lo.buffer_bytes = 4096;
  lo.spill_dir = dir.path() + "/spill";
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  BulkLoader& l = **loader;
  for (int64_t k = 0; k < 600; ++k) ASSERT_TRUE(l.Add(t, k * 7, 1).ok());
  ASSERT_EQ(l.spilled_runs(), 1u);
  const std::vector<std::string> runs = RunFiles(lo.spill_dir);
  ASSERT_EQ(runs.size(), 1u);
  const uint64_t size = std::filesystem::file_size(runs[0]);
  ASSERT_GT(size, 400u);
  {
    std::fstream f(runs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 3));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size - 3));
    c = static_cast<char>(c ^ 0x10);
    f.write(&c, 1);
  }
  const Status st = l.Flush();
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.ToString().find(runs[0]), std::string::npos) << st.ToString();
  EXPECT_NE(st.ToString().find("at offset "), std::string::npos) << st.ToString();
  EXPECT_NE(st.ToString().find("checksum"), std::string::npos) << st.ToString();
  EXPECT_NE(st.ToString().find("0 of 600 ops committed"), std::string::npos) << st.ToString();
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
  EXPECT_TRUE(RunFiles(lo.spill_dir).empty());
  EXPECT_EQ(l.spilled_ops() + l.buffered_ops(), 0u);
  for (int64_t k = 0; k < 600; ++k) ASSERT_TRUE(l.Add(t, k, 1).ok());
  ASSERT_TRUE(l.Flush().ok());
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 600u);
}

// A run replaced by a sibling run (same op count and size: adversarial round 11 had Flush
// commit the sibling's ops twice), or deleted, is Corruption naming it; nothing is committed
// and the runs are deleted.
TEST(BulkLoaderSpill, AReplacedOrMissingRunIsCorruption) {
  for (const bool replace : {true, false}) {
    TempDir dir;
    auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
    const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
    BulkLoader::Options lo;
    lo.buffer_bytes = 4096;  // 512 compact ops per run
    lo.spill_dir = dir.path() + "/spill";
    auto loader = BulkLoader::Create(*store, lo);
    ASSERT_TRUE(loader.ok());
    BulkLoader& l = **loader;
    // Two spills of 512 keys, merged into one run (fan-in 2), and one op in the buffer.
    for (int64_t k = 0; k < 1024 + 1; ++k) ASSERT_TRUE(l.Add(t, k, 1).ok());
    std::vector<std::string> runs = RunFiles(lo.spill_dir);
    std::sort(runs.begin(), runs.end());
    ASSERT_FALSE(runs.empty());
    if (replace) {
      // A run of the same shape (same ops, count and size) by another loader.
      TempDir other;
      auto store2 = OpenOrDie(other.path() + "/db", SmallTreeOptions());
      const TreeHandle<int64_t> t2 = CommitNewTree(*store2, "t");
      BulkLoader::Options lo2 = lo;
      lo2.spill_dir = other.path() + "/spill";
      auto loader2 = BulkLoader::Create(*store2, lo2);
      ASSERT_TRUE(loader2.ok());
      for (int64_t k = 0; k < 1024 + 1; ++k) ASSERT_TRUE((*loader2)->Add(t2, k, 1).ok());
      std::vector<std::string> theirs = RunFiles(lo2.spill_dir);
      std::sort(theirs.begin(), theirs.end());
      ASSERT_EQ(theirs.size(), runs.size());
      std::filesystem::copy_file(theirs[0], runs[0],
                                 std::filesystem::copy_options::overwrite_existing);
    } else {
      std::filesystem::remove(runs[0]);
    }
    const Status st = l.Flush();
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.ToString().find(runs[0]), std::string::npos) << st.ToString();
    EXPECT_NE(st.ToString().find(replace ? "a run file replaced?" : "is missing"),
              std::string::npos)
        << st.ToString();
    EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
    EXPECT_TRUE(RunFiles(lo.spill_dir).empty());
  }
}

// A handle whose CreateTree commit was refused (an empty name, or one past 1024 bytes) is
// refused at Add, spilling or not (adversarial round 11: a spill asserted on it).
TEST(BulkLoaderSpill, AHandleOfARefusedTreeNameIsRefusedAtAdd) {
  TempDir dir;
  auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
  for (const bool spill : {false, true}) {
    for (const size_t bytes : {size_t{0}, size_t{1500}}) {
      WriteBatch b = store->NewBatch();
      const TreeHandle<int64_t> bad = b.CreateTree<int64_t>(std::string(bytes, 'x'));
      EXPECT_FALSE(store->Commit(b).ok());
      BulkLoader::Options lo;
      lo.buffer_bytes = 4096;
      if (spill) lo.spill_dir = dir.path() + "/spill";
      auto loader = BulkLoader::Create(*store, lo);
      ASSERT_TRUE(loader.ok());
      const Status st = (*loader)->Add(bad, 1, 1);
      EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
      EXPECT_EQ((*loader)->buffered_ops(), 0u);
    }
  }
}

// One loader per spill directory; a new one deletes the runs a crashed one left (and nothing
// else); the directory of an open store is refused; the destructor deletes its runs.
TEST(BulkLoaderSpill, ASpillDirectoryServesOneLoaderAndLosesTheRunsOfACrash) {
  TempDir dir;
  const std::string spill = dir.path() + "/spill";
  std::filesystem::create_directories(spill);
  std::ofstream(spill + "/cowtree-loader-7.run") << "left by a crash";
  std::ofstream(spill + "/keep.txt") << "not a run";
  auto store = OpenOrDie(dir.path() + "/db", SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  BulkLoader::Options lo;
  lo.buffer_bytes = 4096;
  lo.spill_dir = spill;
  {
    auto first = BulkLoader::Create(*store, lo);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_TRUE(RunFiles(spill).empty());
    EXPECT_TRUE(std::filesystem::exists(spill + "/keep.txt"));
    const Status busy = BulkLoader::Create(*store, lo).status();
    EXPECT_TRUE(busy.IsBusy()) << busy.ToString();
    EXPECT_NE(busy.ToString().find(spill), std::string::npos) << busy.ToString();
    for (int64_t k = 0; k < 2000; ++k) ASSERT_TRUE((*first)->Add(t, k, 1).ok());
    EXPECT_FALSE(RunFiles(spill).empty());
  }
  EXPECT_TRUE(RunFiles(spill).empty());  // the destructor deleted them, and committed nothing
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
  EXPECT_TRUE(BulkLoader::Create(*store, lo).ok());  // free again
  BulkLoader::Options in_store = lo;
  in_store.spill_dir = dir.path() + "/db";
  EXPECT_TRUE(BulkLoader::Create(*store, in_store).status().IsInvalidArgument());
  // Nor below it (its runs would be unknown files to fsck there): refused, nothing created.
  in_store.spill_dir = dir.path() + "/db/spill";
  const Status inside = BulkLoader::Create(*store, in_store).status();
  EXPECT_TRUE(inside.IsInvalidArgument()) << inside.ToString();
  EXPECT_FALSE(std::filesystem::exists(in_store.spill_dir));
}

// Each operation of a spilling load failed in turn (EIO, once): the load returns an IOError
// (or Poisoned, when a commit's write failed), or succeeds when the failed operation was one
// whose error is ignored (deleting a merged run). What the store holds afterwards is what
// the committed ops made (nothing of a load whose spill failed); no run is left behind.
TEST(BulkLoaderSpill, EveryFailedOperationOfASpillingLoadIsAnErrorValue) {
  std::vector<std::pair<int, int64_t>> ops;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1500; ++i) {
    ops.emplace_back(static_cast<int>(rng() % 2), static_cast<int64_t>(rng() % 700));
  }
  uint64_t spill_failures = 0;  // failures returned by an Add (a spill or a merge)
  uint64_t flush_failures = 0;
  for (uint64_t k = 1;; ++k) {
    testutil::FaultInjectionEnv env;
    Options o = SmallTreeOptions();
    o.env = &env;
    auto store = OpenOrDie("/db", o);
    WriteBatch b = store->NewBatch();
    const TreeHandle<int64_t> trees[2] = {b.CreateTree<int64_t>("t0"), b.CreateTree<int64_t>("t1")};
    ASSERT_TRUE(store->Commit(b).ok());
    std::map<int64_t, int64_t> model[2];
    BulkLoader::Options lo;
    lo.buffer_bytes = 4096;
    lo.commit_ops = 50;
    lo.spill_dir = "/spill";
    env.FailOp(env.op_count() + k, testutil::FailMode::kOnce, EIO);
    Status st;
    uint64_t committed = 0;
    {
      auto loader = BulkLoader::Create(*store, lo);
      if (!loader.ok()) {
        st = loader.status();
      } else {
        for (const auto& [t, key] : ops) {
          st = (*loader)->Add(trees[t], key, 1);
          if (!st.ok()) {
            ++spill_failures;
            EXPECT_NE(st.ToString().find("ops added since the last flush were dropped"),
                      std::string::npos)
                << st.ToString();
            break;
          }
        }
        if (st.ok()) {
          st = (*loader)->Flush();
          flush_failures += !st.ok();
        }
        committed = (*loader)->committed_ops();
        if (!st.ok()) {
          EXPECT_EQ((*loader)->spilled_ops() + (*loader)->buffered_ops(), 0u);
        }
      }
    }
    const bool hit = env.fault_count() > 0;
    const std::string fault = env.LastFault();
    env.ClearFaults();
    // No run is left, unless the failed operation was the deletion of that run (deleting is
    // best effort: the next loader of the directory deletes it).
    std::vector<std::string> left;
    if (env.FileExists("/spill")) ASSERT_TRUE(env.ListDir("/spill", &left).ok());
    for (const std::string& name : left) {
      const bool its_delete_failed =
          fault.find("DeleteFile") != std::string::npos && fault.find(name) != std::string::npos;
      EXPECT_TRUE(!name.ends_with(".run") || its_delete_failed)
          << name << " left, failure " << k << ": " << fault;
    }
    if (!st.ok()) {
      EXPECT_TRUE(st.IsIOError() || st.IsPoisoned()) << "failure " << k << ": " << st.ToString();
    }
    // The store holds the first `committed` ops of the flush's order (tree id, then key).
    for (const auto& [t, key] : ops) ModelAdd(&model[t], key, int64_t{1});
    if (st.ok()) {
      ASSERT_EQ(committed, ops.size());
    }
    // Exactly the first `committed` ops of the order: t0's keys ascending, then t1's (t0 was
    // created first: the lower tree id). A commit never splits a key, so a prefix of keys.
    std::map<int64_t, int64_t> want[2];
    uint64_t taken = 0;
    for (int t = 0; t < 2 && taken < committed; ++t) {
      for (const auto& [key, w] : model[t]) {
        if (taken >= committed) break;
        want[t][key] = w;
        taken += static_cast<uint64_t>(w);
      }
    }
    EXPECT_EQ(taken, committed) << "failure " << k;
    const Snapshot snap = store->GetSnapshot();
    for (int t = 0; t < 2; ++t) {
      EXPECT_EQ(Entries<int64_t>(snap, "t" + std::to_string(t)), want[t])
          << "tree t" << t << ", failure " << k << ": " << st.ToString();
    }
    if (!hit) break;  // the failure point lies past the whole load
    ASSERT_LT(k, 20000u);
  }
  EXPECT_GT(spill_failures, 10u);
  EXPECT_GT(flush_failures, 10u);
}

}  // namespace
}  // namespace cowtree
