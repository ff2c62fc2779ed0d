// BulkLoader (include/cowtree/bulk_loader.h): answers equal a model of every op after each
// flush (automatic and explicit, many trees, both key types, negative and summed weights);
// nothing is visible before its flush; a key's ops are never split over two commits; errors
// (bad handles, overflow, dropped trees, read-only) are values that say what was committed;
// a crash in the middle of a flush leaves a prefix of the sorted order; the buffer is charged
// to the store's memory budget.
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "api/internal.h"
#include "cowtree/cowtree.h"
#include "tests/bulk_loader_model.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {

// Forges a handle of another Store object (store.h: friend struct ApiTestPeer).
struct ApiTestPeer {
  template <TreeKey K>
  static TreeHandle<K> OfOtherStore(const TreeHandle<K>& h) {
    return TreeHandle<K>(h.store_serial_ + 1000, h.tree_id_, h.name_);
  }
};

namespace {

using loader_test::CommitNewTree;
using loader_test::Entries;
using loader_test::LoadRandomOpsAgainstAModel;
using loader_test::ModelAdd;
using loader_test::OpenOrDie;
using loader_test::SmallTreeOptions;
using loader_test::SweepCrashesOfAMarkedLoad;
using testutil::TempDir;

TEST(BulkLoader, AnswersEqualAModelAfterEveryFlush) { LoadRandomOpsAgainstAModel(/*spill=*/false); }

TEST(BulkLoader, NothingIsVisibleBeforeItsFlush) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  auto loader = BulkLoader::Create(*store);
  ASSERT_TRUE(loader.ok());
  for (int64_t k = 0; k < 1000; ++k) ASSERT_TRUE((*loader)->Add(t, k, 1).ok());
  EXPECT_EQ((*loader)->buffered_ops(), 1000u);
  EXPECT_EQ((*loader)->buffered_bytes(), 1000u * 8);  // compact: the key alone
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
  ASSERT_TRUE((*loader)->Flush().ok());
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 1000u);
  EXPECT_EQ((*loader)->commits(), 1u);  // the default commit_ops is 10 000
}

// INT64_MAX, +1 and -1 on one key sum to INT64_MAX. Split over two commits (INT64_MAX, then
// +1) the second would overflow the stored weight: one commit per key, whatever commit_ops.
TEST(BulkLoader, TheOpsOfOneKeyAreNeverSplitOverTwoCommits) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  BulkLoader::Options lo;
  lo.commit_ops = 1;
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  BulkLoader& l = **loader;
  ASSERT_TRUE(l.Add(t, 5, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_TRUE(l.Add(t, 5, 1).ok());
  ASSERT_TRUE(l.Add(t, 5, -1).ok());
  ASSERT_TRUE(l.Add(t, 6, 1).ok());
  ASSERT_TRUE(l.Add(t, 4, 1).ok());
  const Status flushed = l.Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  EXPECT_EQ(l.commits(), 3u);  // keys 4, 5 (three ops), 6
  auto r = store->GetSnapshot().Tree<int64_t>("t");
  EXPECT_EQ(*r->weight(5), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*r->weight(4), 1);
  EXPECT_EQ(*r->weight(6), 1);
}

TEST(BulkLoader, ErrorsAreValuesThatSayWhatWasCommitted) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  WriteBatch b = store->NewBatch();
  auto a = b.CreateTree<int64_t>("a");
  auto z = b.CreateTree<int64_t>("z");
  ASSERT_TRUE(store->Commit(b).ok());
  BulkLoader::Options zero;
  zero.commit_ops = 0;
  EXPECT_TRUE(BulkLoader::Create(*store, zero).status().IsInvalidArgument());
  BulkLoader::Options lo;
  lo.commit_ops = 2;
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  BulkLoader& l = **loader;
  // Bad handles are refused at Add, and nothing is buffered.
  EXPECT_TRUE(l.Add(TreeHandle<int64_t>(), 1, 1).IsInvalidArgument());
  EXPECT_TRUE(l.Add(ApiTestPeer::OfOtherStore(a), 1, 1).IsInvalidArgument());
  EXPECT_EQ(l.buffered_ops(), 0u);
  // A sum past int64 on tree z's key: tree a's ops (first in the order) are committed, the
  // error says how many, and the buffer is empty afterwards.
  for (int64_t k = 0; k < 4; ++k) ASSERT_TRUE(l.Add(a, k, 1).ok());
  ASSERT_TRUE(l.Add(z, 9, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_TRUE(l.Add(z, 9, std::numeric_limits<int64_t>::max()).ok());
  const Status overflow = l.Flush();
  ASSERT_TRUE(overflow.IsInvalidArgument()) << overflow.ToString();
  EXPECT_NE(overflow.ToString().find("4 of 6 ops committed"), std::string::npos)
      << overflow.ToString();
  EXPECT_NE(overflow.ToString().find("key 9"), std::string::npos) << overflow.ToString();
  EXPECT_EQ(l.buffered_ops(), 0u);
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("a")->count(), 4u);
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("z")->count(), 0u);
  // A tree dropped before the flush: its commit is refused (InvalidArgument), the store is
  // still writable.
  ASSERT_TRUE(l.Add(z, 1, 1).ok());
  WriteBatch drop = store->NewBatch();
  drop.DropTree(z);
  ASSERT_TRUE(store->Commit(drop).ok());
  EXPECT_TRUE(l.Flush().IsInvalidArgument());
  ASSERT_TRUE(l.Add(a, 100, 1).ok());
  ASSERT_TRUE(l.Flush().ok());
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("a")->count(), 5u);
  ASSERT_TRUE(store->Close().ok());
  // A read-only store has no loader.
  Options ro = SmallTreeOptions();
  ro.read_only = true;
  auto reader = OpenOrDie(dir.path(), ro);
  EXPECT_TRUE(BulkLoader::Create(*reader).status().IsInvalidArgument());
}

// A crash at every mutating operation of a flush (strict durability): the reopened store holds
// the first P ops of the flush's order — trees in first-Add order, keys ascending — for some P
// no smaller than the ops of the commits that returned OK.
TEST(BulkLoader, ACrashInAFlushLeavesAPrefixOfItsOrder) {
  constexpr int kTrees = 3;
  constexpr int kOps = 120;
  // The ops, fixed: tree t gets keys in a scrambled order, each key once or twice.
  std::vector<std::pair<int, int64_t>> ops;
  std::mt19937_64 rng(11);
  for (int i = 0; i < kOps; ++i) {
    ops.emplace_back(static_cast<int>(rng() % kTrees), static_cast<int64_t>(rng() % 50));
  }
  // Trees' first-Add order, and each tree's model after all ops.
  std::vector<int> tree_order;
  std::vector<std::map<int64_t, int64_t>> full(kTrees);
  for (const auto& [t, k] : ops) {
    if (std::find(tree_order.begin(), tree_order.end(), t) == tree_order.end()) {
      tree_order.push_back(t);
    }
    ModelAdd(&full[t], k, 1);
  }
  uint64_t mutating_ops_of_a_flush = 0;
  uint64_t partial_states = 0;  // crash points that left some of the flush and not all
  for (uint64_t crash_at = 1;; ++crash_at) {
    testutil::FaultInjectionEnv env;
    Options o = SmallTreeOptions();
    o.env = &env;
    o.durability = Durability::kStrict;
    std::vector<TreeHandle<int64_t>> trees;
    uint64_t committed = 0;
    Status flushed;
    {
      auto store = OpenOrDie("/db", o);
      WriteBatch b = store->NewBatch();
      for (int t = 0; t < kTrees; ++t)
        trees.push_back(b.CreateTree<int64_t>("t" + std::to_string(t)));
      ASSERT_TRUE(store->Commit(b).ok());
      BulkLoader::Options lo;
      lo.commit_ops = 9;
      auto loader = BulkLoader::Create(*store, lo);
      ASSERT_TRUE(loader.ok());
      for (const auto& [t, k] : ops) ASSERT_TRUE((*loader)->Add(trees[t], k, 1).ok());
      const uint64_t before = env.mutating_op_count();
      env.CrashAtOp(before + crash_at);
      flushed = (*loader)->Flush();
      committed = (*loader)->committed_ops();
      if (flushed.ok()) {
        mutating_ops_of_a_flush = env.mutating_op_count() - before;
        env.CrashAtOp(0);
      }
      env.SimulateCrash(testutil::CrashModel::kDropUnsynced, crash_at);
    }
    auto store = OpenOrDie("/db", o);
    const Snapshot snap = store->GetSnapshot();
    // Walk the order: trees fully present, then one partly (a key-ordered prefix), then empty.
    uint64_t present_ops = 0;
    bool cut = false;
    for (int t : tree_order) {
      const std::map<int64_t, int64_t> got = Entries<int64_t>(snap, "t" + std::to_string(t));
      if (cut) {
        EXPECT_TRUE(got.empty()) << "tree t" << t << " after the cut, crash at " << crash_at;
        continue;
      }
      auto want = full[t].begin();
      for (const auto& [k, w] : got) {
        ASSERT_NE(want, full[t].end()) << "crash at " << crash_at;
        EXPECT_EQ(k, want->first) << "tree t" << t << " is not a key prefix, crash at " << crash_at;
        EXPECT_EQ(w, want->second) << "crash at " << crash_at;
        present_ops += static_cast<uint64_t>(w);
        ++want;
      }
      if (want != full[t].end()) cut = true;
    }
    EXPECT_GE(present_ops, committed)
        << "an acknowledged strict commit was lost, crash at " << crash_at;
    if (present_ops > 0 && present_ops < static_cast<uint64_t>(kOps)) ++partial_states;
    if (flushed.ok()) {
      EXPECT_EQ(present_ops, static_cast<uint64_t>(kOps));
      break;
    }
    ASSERT_LT(crash_at, 10000u) << "the flush never completed";
  }
  EXPECT_GT(mutating_ops_of_a_flush, 10u);  // the sweep crossed several commits
  EXPECT_GT(partial_states, 5u);
}

// Exactly-once across a crash (tests/bulk_loader_model.h, SweepCrashesOfAMarkedLoad).
TEST(BulkLoader, AMarkerWrittenByTheCommitHookMakesAResumedLoadExactlyOnce) {
  SweepCrashesOfAMarkedLoad(/*spill_dir=*/"");
}

// SkipOps past the flush's ops: not the same ops; nothing is committed.
TEST(BulkLoader, SkippingMoreOpsThanTheFlushHoldsCommitsNothing) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  auto loader = BulkLoader::Create(*store);
  ASSERT_TRUE(loader.ok());
  for (int64_t k = 0; k < 5; ++k) ASSERT_TRUE((*loader)->Add(t, k, 1).ok());
  (*loader)->SkipOps(6);
  EXPECT_TRUE((*loader)->Flush().IsInvalidArgument());
  EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u);
  // The skip applied to that flush only.
  for (int64_t k = 0; k < 5; ++k) ASSERT_TRUE((*loader)->Add(t, k, 1).ok());
  (*loader)->SkipOps(2);
  ASSERT_TRUE((*loader)->Flush().ok());
  EXPECT_EQ(Entries<int64_t>(store->GetSnapshot(), "t"),
            (std::map<int64_t, int64_t>{{2, 1}, {3, 1}, {4, 1}}));
}

// The trees of a buffer count in its bytes (their names are copied): 1 000 trees with 500-byte
// names and one op each take ~585 KB of names against 16 KB of ops, so a 64 KiB buffer flushes
// about ten times (before, once: 200 000 such trees grew the RSS by 189 MB past a 16 MiB
// budget; found by an adversarial run).
TEST(BulkLoader, TheTreesOfABufferCountInItsBytes) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  std::vector<TreeHandle<int64_t>> trees;
  WriteBatch b = store->NewBatch();
  for (int t = 0; t < 1000; ++t) {
    std::string name(500, 'x');
    name += std::to_string(t);
    trees.push_back(b.CreateTree<int64_t>(name));
  }
  ASSERT_TRUE(store->Commit(b).ok());
  BulkLoader::Options lo;
  lo.buffer_bytes = 64 << 10;
  lo.commit_ops = 1000000;  // one commit per flush
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  for (const TreeHandle<int64_t>& t : trees) {
    ASSERT_TRUE((*loader)->Add(t, 7, 1).ok());
    EXPECT_LE((*loader)->buffered_ops() * 600, lo.buffer_bytes);
  }
  ASSERT_TRUE((*loader)->Flush().ok());
  EXPECT_GE((*loader)->commits(), 9u);
  EXPECT_EQ((*loader)->committed_ops(), 1000u);
  EXPECT_EQ(*store->GetSnapshot().Tree<int64_t>(trees[999].name())->weight(7), 1);
}

// A double key in an error is printed as the tree prints it (shortest round trip).
TEST(BulkLoader, AnOverflowNamesADoubleKeyReadably) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  WriteBatch b = store->NewBatch();
  const TreeHandle<double> d = b.CreateTree<double>("d");
  ASSERT_TRUE(store->Commit(b).ok());
  auto loader = BulkLoader::Create(*store);
  ASSERT_TRUE(loader.ok());
  ASSERT_TRUE((*loader)->Add(d, 2.5e-7, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_TRUE((*loader)->Add(d, 2.5e-7, 1).ok());
  const Status st = (*loader)->Flush();
  ASSERT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.ToString().find("key 2.5e-07"), std::string::npos) << st.ToString();
}

// The commit hook: its error stops the flush before that commit (what came before stays), and
// calling the loader's Add or Flush from it is refused (before, an Add from the hook was
// silently dropped and a Flush recursed until the stack overflowed; found in review).
TEST(BulkLoader, TheCommitHookCanStopAFlushButNotReenterTheLoader) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  const TreeHandle<int64_t> t = CommitNewTree(*store, "t");
  BulkLoader* self = nullptr;
  int calls = 0;
  BulkLoader::Options lo;
  lo.commit_ops = 2;
  lo.commit_hook = [&](WriteBatch&, const BulkLoader::FlushProgress&) -> Status {
    ++calls;
    EXPECT_TRUE(self->Add(t, 100, 1).IsInvalidArgument());
    EXPECT_TRUE(self->Flush().IsInvalidArgument());
    return calls == 2 ? Status::IOError("the hook's own error") : Status::OK();
  };
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  self = loader->get();
  for (int64_t k = 0; k < 6; ++k) ASSERT_TRUE((*loader)->Add(t, k, 1).ok());
  const Status st = (*loader)->Flush();
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_NE(st.ToString().find("2 of 6 ops committed"), std::string::npos) << st.ToString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Entries<int64_t>(store->GetSnapshot(), "t"),
            (std::map<int64_t, int64_t>{{0, 1}, {1, 1}}));
  // The loader works again afterwards.
  ASSERT_TRUE((*loader)->Add(t, 9, 1).ok());
  calls = 10;
  ASSERT_TRUE((*loader)->Flush().ok());
  EXPECT_EQ(*store->GetSnapshot().Tree<int64_t>("t")->weight(9), 1);
}

// An automatic flush comes when the ops held would pass buffer_bytes, whatever earlier buffers
// held: 90 000 compact ops (720 000 B of 1 MiB), a flush, then one op of another tree (so tree
// a's ops are 16-byte full ops) flushed at 31 % of the buffer while the pages of the first
// buffer still counted (found by an adversarial run); now at the end of the buffer.
TEST(BulkLoader, AnAutomaticFlushComesWhenTheOpsHeldFillTheBuffer) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), SmallTreeOptions());
  const TreeHandle<int64_t> a = CommitNewTree(*store, "a");
  const TreeHandle<int64_t> b = CommitNewTree(*store, "b");
  BulkLoader::Options lo;
  lo.buffer_bytes = 1 << 20;
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok());
  BulkLoader& l = **loader;
  for (int64_t k = 0; k < 90000; ++k) ASSERT_TRUE(l.Add(a, k, 1).ok());
  ASSERT_TRUE(l.Flush().ok());
  ASSERT_TRUE(l.Add(b, 0, 1).ok());
  uint64_t bytes_at_flush = 0;
  for (int64_t k = 0; k < 200000 && bytes_at_flush == 0; ++k) {
    const uint64_t ops = l.buffered_ops(), bytes = l.buffered_bytes();
    ASSERT_TRUE(l.Add(a, k, 1).ok());
    if (l.buffered_ops() != ops + 1) bytes_at_flush = bytes;
  }
  EXPECT_GT(bytes_at_flush, lo.buffer_bytes * 9 / 10);
  EXPECT_LE(bytes_at_flush, lo.buffer_bytes);
}

// The buffer counts against Options::cache_bytes as fixed bytes while the loader lives.
TEST(BulkLoader, TheBufferIsChargedToTheStoresBudget) {
  TempDir dir;
  Options o = SmallTreeOptions();
  o.cache_bytes = 8 << 20;
  auto store = OpenOrDie(dir.path(), o);
  Runtime& runtime = *api_internal::Access::Of(*store).runtime;
  const auto fixed = [&] { return runtime.memory_budget()->stats().fixed_bytes; };
  const int64_t before = fixed();
  {
    auto loader = BulkLoader::Create(*store);
    ASSERT_TRUE(loader.ok());
    EXPECT_EQ((*loader)->buffer_bytes(), 2u << 20);  // a quarter of the budget
    EXPECT_EQ(fixed(), before + (int64_t{2} << 20));
  }
  EXPECT_EQ(fixed(), before);
}

}  // namespace
}  // namespace cowtree
