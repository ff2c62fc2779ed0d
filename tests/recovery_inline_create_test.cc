// Trees a commit creates small are built straight into their inline catalog form (docs/
// catalog.md "Trees created inline"): no tree in memory until first accessed. Their answers at
// every snapshot, after later commits that write, cancel, grow or drop them before the next
// checkpoint, through redo replay and checkpoints, and fsck, are those of the ordinary path;
// ops the fast path declines still fail or succeed as Apply decides. (Byte equality with the
// ordinary path: tests/tree_inline_create_test.cc.)
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/int64_trees.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using Entries = testutil::Int64Entries;
using testutil::TempDir;

RuntimeOptions Options() {
  RuntimeOptions o;
  o.background_thread = false;
  o.leaf_capacity_entries = 16;  // small leaves: a tree of more than 16 entries is not inline
  o.fanout = 4;
  return o;
}

TreeId Create(RuntimeWriteBatch* b, const std::string& name, const Entries& e) {
  const TreeId id = testutil::CreateInt64Tree(b, name);
  testutil::AddInt64Ops(b, id, e);
  return id;
}

void Add(RuntimeWriteBatch* b, TreeId id, int64_t key, int64_t w) {
  testutil::AddInt64Ops(b, id, {{key, w}});
}

Entries Small(int i) {
  Entries e;
  for (int k = 0; k <= i % 5; ++k) e[k * 10 - i] = 1 + (k + i) % 3;
  return e;
}

// The tree's entries at `snap`, or nullopt if it has no tree of that name.
std::optional<Entries> Read(Runtime* rt, const std::string& name, const RuntimeSnapshot& snap) {
  Result<TreeInfo> info = rt->FindTree(name, snap);
  if (!info.ok()) {
    EXPECT_TRUE(info.status().IsNotFound()) << name << ": " << info.status().ToString();
    return std::nullopt;
  }
  return testutil::Int64EntriesAt(*info, snap.epoch());
}

void ExpectModel(Runtime* rt, const std::map<std::string, Entries>& model,
                 const RuntimeSnapshot& snap, const char* when) {
  EXPECT_EQ(rt->ListTrees(snap).size(), model.size()) << when;
  for (const auto& [name, e] : model) {
    std::optional<Entries> got = Read(rt, name, snap);
    ASSERT_TRUE(got.has_value()) << when << ": " << name << " missing";
    EXPECT_EQ(*got, e) << when << ": " << name;
  }
}

void ExpectFsckClean(const std::string& dir) {
  auto fsck = recovery::Fsck(dir, recovery::FsckOptions());
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  EXPECT_EQ(fsck->errors(), 0u);
  for (const auto& f : fsck->findings) ADD_FAILURE() << f.message;
}

TEST(InlineCreate, ReadableAtEverySnapshotThroughReplayAndCheckpoints) {
  TempDir dir;
  std::map<std::string, Entries> model;
  RuntimeOptions no_checkpoint_on_close = Options();
  no_checkpoint_on_close.checkpoint_on_close = false;
  {
    auto rt = recovery::Open(dir.path(), no_checkpoint_on_close);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RuntimeSnapshot before = (*rt)->GetSnapshot();
    RuntimeWriteBatch b(rt->get());
    for (int i = 0; i < 200; ++i) model["s" + std::to_string(i)] = Small(i);
    model["empty"] = {};
    Entries big;
    for (int k = 0; k < 40; ++k) big[k] = 1;  // more than a leaf: the ordinary path
    model["big"] = big;
    for (const auto& [name, e] : model) Create(&b, name, e);
    ASSERT_TRUE((*rt)->Commit(b).ok());
    RuntimeStats stats = (*rt)->GetStats();
    EXPECT_EQ(stats.trees_created_inline, 201u);  // the small ones and the empty one
    EXPECT_EQ(stats.trees_restored, 0u);
    EXPECT_EQ(stats.tree_count, 202u);
    EXPECT_EQ(stats.entry_count, 40u + 600u);  // counted from the inline bodies
    EXPECT_FALSE(Read(rt->get(), "s1", before).has_value()) << "visible before its commit";
    ExpectModel(rt->get(), model, (*rt)->GetSnapshot(), "after the commit");
    EXPECT_EQ((*rt)->GetStats().trees_restored, 201u) << "first accesses restore";
    ASSERT_TRUE((*rt)->Close().ok());  // no checkpoint: reopen replays the redo
  }
  for (const char* round : {"after replay", "after the checkpoint"}) {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    if (std::string(round) == "after replay") {
      EXPECT_EQ((*rt)->GetStats().trees_created_inline, 201u) << "replay takes the fast path";
    }
    ExpectModel(rt->get(), model, (*rt)->GetSnapshot(), round);
    ASSERT_TRUE((*rt)->Close().ok());  // checkpoints
    ExpectFsckClean(dir.path());
  }
}

// Every later change before the checkpoint that first lists the tree: written (restored, then
// applied), ops that cancel out (restored, unchanged), only read, dropped, grown past a leaf,
// and created inline again under a dropped tree's name; old snapshots keep the created state.
TEST(InlineCreate, ChangedBeforeItsFirstCheckpoint) {
  TempDir dir;
  std::map<std::string, Entries> model;
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  std::map<std::string, TreeId> ids;
  {
    RuntimeWriteBatch b(rt->get());
    for (const char* name : {"written", "cancelled", "read", "dropped", "grown", "kept"}) {
      model[name] = Small(static_cast<int>(std::string(name).size()));
      ids[name] = Create(&b, name, model[name]);
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
  }
  ASSERT_EQ((*rt)->GetStats().trees_created_inline, 6u);
  RuntimeSnapshot created = (*rt)->GetSnapshot();
  const std::map<std::string, Entries> at_create = model;
  ASSERT_EQ(Read(rt->get(), "read", created), model["read"]);
  {
    RuntimeWriteBatch b(rt->get());
    Add(&b, ids["written"], 500, 2);
    model["written"][500] += 2;
    Add(&b, ids["cancelled"], 77, 1);
    Add(&b, ids["cancelled"], 77, -1);
    b.DropTree(ids["dropped"]);
    model.erase("dropped");
    for (int k = 0; k < 30; ++k) {
      Add(&b, ids["grown"], 1000 + k, 1);
      model["grown"][1000 + k] += 1;
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
  }
  {
    RuntimeWriteBatch b(rt->get());
    model["dropped"] = {{42, 3}};
    Create(&b, "dropped", model["dropped"]);  // a new tree under the dropped one's name
    ASSERT_TRUE((*rt)->Commit(b).ok());
  }
  EXPECT_EQ((*rt)->GetStats().trees_created_inline, 7u);
  ExpectModel(rt->get(), model, (*rt)->GetSnapshot(), "before the checkpoint");
  ExpectModel(rt->get(), at_create, created, "the created snapshot");
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  ExpectModel(rt->get(), model, (*rt)->GetSnapshot(), "after the checkpoint");
  ExpectModel(rt->get(), at_create, created, "the created snapshot, after the checkpoint");
  created = RuntimeSnapshot();
  ASSERT_TRUE((*rt)->Close().ok());
  ExpectFsckClean(dir.path());
  auto again = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ExpectModel(again->get(), model, (*again)->GetSnapshot(), "after reopen");
}

// A checkpoint whose only change is trees created inline lists them (their catalog chunk is
// rebuilt, not reused), and the redo before it is not replayed.
TEST(InlineCreate, AloneInACheckpointAreListed) {
  TempDir dir;
  RuntimeOptions o = Options();
  o.checkpoint_on_close = false;
  std::map<std::string, Entries> model;
  {
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    for (const char* name : {"first", "second"}) {
      RuntimeWriteBatch b(rt->get());
      model[name] = Small(static_cast<int>(model.size()));
      Create(&b, name, model[name]);
      ASSERT_TRUE((*rt)->Commit(b).ok());
      ASSERT_TRUE((*rt)->Checkpoint().ok());
    }
    EXPECT_EQ((*rt)->GetStats().trees_restored, 0u);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  ExpectFsckClean(dir.path());
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ((*rt)->GetStats().trees_created_inline, 0u) << "nothing replayed";
  ExpectModel(rt->get(), model, (*rt)->GetSnapshot(), "after reopen");
}

// Ops the fast path declines fail exactly as before: nothing of the commit is created, and the
// runtime stays writable.
TEST(InlineCreate, RefusedOpsCreateNothing) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  {
    RuntimeWriteBatch b(rt->get());
    Create(&b, "fine", {{1, 1}});
    const TreeId d = b.CreateTree("nan", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kDouble));
    tree::AppendOrderStatOp(b.MutableOps(d), ~uint64_t{0}, 1);  // not a canonical double code
    Status st = (*rt)->Commit(b);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  }
  {
    RuntimeWriteBatch b(rt->get());
    Create(&b, "overflow", {{1, INT64_MAX}, {2, INT64_MAX}, {3, INT64_MAX}});  // N > 2^64 - 1
    Status st = (*rt)->Commit(b);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  }
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  EXPECT_EQ((*rt)->ListTrees(snap).size(), 0u);
  EXPECT_EQ((*rt)->GetStats().trees_created_inline, 0u);
  RuntimeWriteBatch b(rt->get());
  Create(&b, "fine", {{1, 1}});
  ASSERT_TRUE((*rt)->Commit(b).ok());
  EXPECT_EQ(Read(rt->get(), "fine", (*rt)->GetSnapshot()), Entries({{1, 1}}));
}

// First accesses of trees created inline race the writer that created them, writes them (a
// commit restores them first) and checkpoints them: every reader sees exactly its snapshot's
// state (run under TSan by .ci/run).
TEST(InlineCreate, FirstAccessRacesWriterAndCheckpoints) {
  TempDir dir;
  auto opened = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Runtime* rt = opened->get();
  constexpr uint64_t kCommits = 300, kPerCommit = 10;
  // Commit c (1-based) creates trees [kPerCommit (c - 1), kPerCommit c) and, from the second
  // on, adds key 10^6 + c to tree Target(c) of an earlier commit.
  const auto target = [](uint64_t c) { return (c * 13) % (kPerCommit * (c - 1)); };
  std::vector<std::atomic<uint64_t>> epochs(kCommits + 1);  // 0: not known yet
  std::atomic<uint64_t> done{0};                            // commits 1..done have epochs
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0}, reads{0};
  std::thread writer([&] {
    std::vector<TreeId> ids;
    for (uint64_t c = 1; c <= kCommits; ++c) {
      RuntimeWriteBatch b(rt);
      for (uint64_t i = kPerCommit * (c - 1); i < kPerCommit * c; ++i) {
        ids.push_back(Create(&b, "t" + std::to_string(i), Small(static_cast<int>(i))));
      }
      if (c > 1) Add(&b, ids[target(c)], 1000000 + static_cast<int64_t>(c), 1);
      uint64_t epoch = 0;
      if (!rt->Commit(b, &epoch).ok()) failures.fetch_add(1);
      epochs[c].store(epoch);
      done.store(c);
      if (c % 40 == 0 && !rt->Checkpoint().ok()) failures.fetch_add(1);
    }
    stop.store(true);
  });
  std::vector<std::thread> readers;
  for (uint64_t t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      uint64_t s = 77 + t;
      while (!stop.load()) {
        const uint64_t known = done.load();
        if (known == 0) continue;
        RuntimeSnapshot snap = rt->GetSnapshot();  // sees commits 1..known at least
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t i = (s >> 33) % (kPerCommit * known);
        std::optional<Entries> got = Read(rt, "t" + std::to_string(i), snap);
        if (!got.has_value()) {
          failures.fetch_add(1);
          continue;
        }
        Entries expected = Small(static_cast<int>(i));
        for (uint64_t c = 2; c <= kCommits; ++c) {
          if (target(c) != i) continue;
          const uint64_t e = epochs[c].load();
          const bool visible = c <= known || (e != 0 && e <= snap.epoch());
          const bool unknown = c > known && e == 0;  // committed or not at snap: either
          const int64_t key = 1000000 + static_cast<int64_t>(c);
          if (unknown && got->count(key) != 0) expected[key] = 1;
          if (visible) expected[key] = 1;
        }
        if (*got != expected) failures.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(rt->GetStats().trees_created_inline, kCommits * kPerCommit);
  ASSERT_TRUE(rt->Close().ok());
  ExpectFsckClean(dir.path());
}

}  // namespace
}  // namespace cowtree
