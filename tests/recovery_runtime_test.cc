// Runtime + recovery end to end on the POSIX Env: commits, snapshots, checkpoints, reopen (with
// a different fan-out), redo replay, drop/recreate, log rotation, and the DESIGN.md pitfalls
// "allocator restarts empty after recovery" and "summaries in allocation order".
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "persistence/file_names.h"
#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"
#include "tree/summaries.h"

namespace cowtree {
namespace {

using Model = std::map<std::string, std::map<int64_t, int64_t>>;  // tree -> key -> weight

using testutil::TempDir;

RuntimeOptions SmallShape(uint32_t leaf = 8, uint32_t fanout = 4) {
  RuntimeOptions o;
  o.leaf_capacity_entries = leaf;
  o.fanout = fanout;
  o.background_thread = false;
  return o;
}

// Commits random ops (inserts, negative weights, deletes to zero) to `trees` trees and mirrors
// them in the model.
void RandomCommits(Runtime* rt, Model* model, std::mt19937_64* rng, int commits, int trees,
                   int ops_per_commit, int64_t key_range) {
  for (int c = 0; c < commits; ++c) {
    RuntimeWriteBatch batch(rt);
    RuntimeSnapshot snap = rt->GetSnapshot();
    std::map<std::string, TreeId> ids;
    for (const TreeInfo& t : rt->ListTrees(snap)) ids[t.name] = t.id;
    for (int i = 0; i < ops_per_commit; ++i) {
      const std::string name = "t" + std::to_string((*rng)() % trees);
      auto it = ids.find(name);
      if (it == ids.end()) {
        it = ids.emplace(name, batch.CreateTree(name, tree::kOrderStatTreeTypeId,
                                                tree::OrderStatTreeParams(tree::KeyType::kInt64)))
                 .first;
      }
      const int64_t key = static_cast<int64_t>((*rng)() % key_range) - key_range / 2;
      auto& weights = (*model)[name];
      int64_t w = static_cast<int64_t>((*rng)() % 7) - 2;
      if (w == 0) w = 1;
      if ((*rng)() % 5 == 0 && weights.count(key) != 0) w = -weights[key];  // delete to zero
      tree::AppendOrderStatOp(batch.MutableOps(it->second), tree::EncodeInt64Key(key), w);
      if ((weights[key] += w) == 0) weights.erase(key);
    }
    ASSERT_TRUE(rt->Commit(batch).ok());
  }
}

// Every tree of the model answers N, select, percentiles and iteration exactly.
void ExpectMatches(Runtime* rt, const Model& model) {
  RuntimeSnapshot snap = rt->GetSnapshot();
  for (const auto& [name, weights] : model) {
    auto info = rt->FindTree(name, snap);
    ASSERT_TRUE(info.ok()) << name;
    auto* host = tree::AsOrderStatTree(info->tree.get());
    ASSERT_NE(host, nullptr);
    auto v = host->VersionAt(snap.epoch());
    std::vector<int64_t> items;  // positive multiplicities, ascending
    for (const auto& [k, w] : weights) {
      for (int64_t i = 0; i < w; ++i) items.push_back(k);
    }
    ASSERT_EQ(tree::PositiveCount(*v), items.size()) << name;
    std::vector<std::pair<int64_t, int64_t>> seen;
    ASSERT_TRUE(tree::ForEach(*v, 0, UINT64_MAX, [&](uint64_t key, int64_t w) {
                  seen.emplace_back(tree::DecodeInt64Key(key), w);
                  return true;
                }).ok());
    const std::vector<std::pair<int64_t, int64_t>> want(weights.begin(), weights.end());
    ASSERT_EQ(seen, want) << name;
    for (size_t k = 0; k < items.size(); k += 1 + items.size() / 17) {
      auto s = tree::Select(*v, k, false);
      ASSERT_TRUE(s.ok());
      ASSERT_TRUE(s->has_value());
      EXPECT_EQ(tree::DecodeInt64Key(**s), items[k]) << name << " select " << k;
    }
    if (!items.empty()) {
      auto med = tree::PercentileDisc(*v, 0.5, true);
      ASSERT_TRUE(med.ok());
      const size_t idx =
          std::max<size_t>(1, static_cast<size_t>(std::ceil(0.5 * items.size()))) - 1;
      EXPECT_EQ(tree::DecodeInt64Key(**med), items[items.size() - 1 - idx]) << name;
    }
    EXPECT_TRUE(tree::CheckInvariants(*v, true).ok()) << name;
  }
}

TEST(Runtime, CreateCommitQueryCheckpointReopen) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(1);
  {
    auto rt = recovery::Open(dir.path(), SmallShape());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RandomCommits(rt->get(), &model, &rng, 30, 5, 200, 400);
    ExpectMatches(rt->get(), model);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ExpectMatches(rt->get(), model);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  recovery::OpenReport report;
  auto rt = recovery::Open(dir.path(), SmallShape(), &report);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ(report.commits_replayed, 0u);
  EXPECT_EQ(report.trees_loaded, 5u);
  ExpectMatches(rt->get(), model);
}

TEST(Runtime, ReopenRebuildsInternalNodesWithoutReadingLeavesWithAnyFanout) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(2);
  {
    auto rt = recovery::Open(dir.path(), SmallShape(4, 4));
    ASSERT_TRUE(rt.ok());
    RandomCommits(rt->get(), &model, &rng, 40, 2, 500, 20000);
    RuntimeSnapshot snap = (*rt)->GetSnapshot();
    auto info = (*rt)->FindTree("t0", snap);
    ASSERT_TRUE(info.ok());
    EXPECT_GE(tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch())->height, 5u);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  for (auto [leaf, fanout] : {std::pair{4u, 4u}, {16u, 7u}, {240u, 64u}, {5u, 1024u}}) {
    auto rt = recovery::Open(dir.path(), SmallShape(leaf, fanout));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RuntimeSnapshot snap = (*rt)->GetSnapshot();
    uint64_t loads = 0;
    EXPECT_EQ((*rt)->GetStats().trees_restored, 0u) << "opening must restore no tree";
    for (const TreeInfo& t : (*rt)->ListTrees(snap))
      loads += tree::AsOrderStatTree((*rt)->FindTree(t.name, snap)->tree.get())->leaf_loads();
    EXPECT_EQ(loads, 0u) << "restoring must not read a leaf (fanout " << fanout << ")";
    ExpectMatches(rt->get(), model);
    loads = 0;
    for (const TreeInfo& t : (*rt)->ListTrees(snap))
      loads += tree::AsOrderStatTree((*rt)->FindTree(t.name, snap)->tree.get())->leaf_loads();
    EXPECT_GT(loads, 0u) << "queries load leaves lazily";
    // Keep writing with the new shape, then reopen once more.
    RandomCommits(rt->get(), &model, &rng, 3, 2, 300, 20000);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  ExpectMatches(rt->get(), model);
}

// DESIGN.md pitfall: the allocator must not restart empty after recovery. Write, reopen, write
// more, checkpoint, reopen, ... — every value ever committed must still be correct.
TEST(Runtime, ReopenAndKeepWritingNeverOverwritesLiveObjects) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(3);
  for (int round = 0; round < 8; ++round) {
    RuntimeOptions o = SmallShape(6, 4);
    o.checkpoint_on_close = (round % 2 == 0);  // alternate checkpointed and redo-only closes
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << "round " << round << ": " << rt.status().ToString();
    ExpectMatches(rt->get(), model);
    RandomCommits(rt->get(), &model, &rng, 10, 6, 150, 3000);
    if (round % 3 == 1) ASSERT_TRUE((*rt)->Checkpoint().ok());
    RandomCommits(rt->get(), &model, &rng, 5, 6, 150, 3000);
    ASSERT_TRUE((*rt)->EvictClean() >= 0u);  // force later reads to go to disk
    ExpectMatches(rt->get(), model);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  (*rt)->EvictClean();
  ExpectMatches(rt->get(), model);
}

TEST(Runtime, RedoReplayWithoutCheckpoint) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(4);
  RuntimeOptions o = SmallShape();
  o.checkpoint_on_close = false;
  {
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok());
    RandomCommits(rt->get(), &model, &rng, 25, 3, 100, 500);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  recovery::OpenReport report;
  auto rt = recovery::Open(dir.path(), o, &report);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ(report.commits_replayed, 25u);
  EXPECT_EQ(report.recovered_epoch, 25u);
  ExpectMatches(rt->get(), model);
}

// A redo past RuntimeOptions::recovery_redo_held_bytes_max is not held from the first read of
// the log: Open reads the log again to replay it (recovery/open.h "Memory of the redo"), across
// rotated log files and past commits the checkpoint already holds, with the same result.
RuntimeOptions RedoOptions(Env* env) {
  RuntimeOptions o = SmallShape();
  o.env = env;
  o.checkpoint_on_close = false;
  o.log_file_size_max_bytes = 64 << 10;  // several log files
  return o;
}

// 20 commits, a checkpoint, 40 more (the redo: ~200 KB), then Close without a checkpoint.
void WriteRedo(const std::string& dir, Env* env, Model* model) {
  std::mt19937_64 rng(41);
  auto rt = recovery::Open(dir, RedoOptions(env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  RandomCommits(rt->get(), model, &rng, 20, 3, 100, 500);
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  RandomCommits(rt->get(), model, &rng, 40, 3, 300, 500);
  ASSERT_TRUE((*rt)->Close().ok());
}

TEST(Runtime, RedoPastTheHeldLimitIsReadTwiceWithTheSameResult) {
  TempDir dir;
  Model model;
  WriteRedo(dir.path(), nullptr, &model);
  for (const uint64_t held_max : {uint64_t{16} << 20, uint64_t{1} << 10, uint64_t{0}}) {
    RuntimeOptions o = RedoOptions(nullptr);
    o.read_only = true;
    o.recovery_redo_held_bytes_max = held_max;
    recovery::OpenReport report;
    auto rt = recovery::Open(dir.path(), o, &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_EQ(report.commits_replayed, 40u);
    EXPECT_EQ(report.recovered_epoch, 60u);
    EXPECT_EQ(report.redo_read_twice, held_max < (1u << 20)) << held_max;
    EXPECT_GT(report.replay.last_file_number, 2u);  // the redo spans rotated files
    ExpectMatches(rt->get(), model);
  }
  // A writable open through the second read, then commits and a reopen.
  RuntimeOptions o = RedoOptions(nullptr);
  o.recovery_redo_held_bytes_max = 1 << 10;
  o.checkpoint_on_close = true;
  {
    recovery::OpenReport report;
    auto rt = recovery::Open(dir.path(), o, &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_TRUE(report.redo_read_twice);
    std::mt19937_64 rng(43);
    RandomCommits(rt->get(), &model, &rng, 5, 3, 100, 500);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  ExpectMatches(rt->get(), model);
}

// Every operation of an open that reads the redo twice fails once in turn: the open returns an
// IOError (never another error, never a state that differs from the model) or, when the failed
// operation was not needed, opens with every commit.
TEST(Runtime, EveryIoErrorOfAnOpenThatReadsTheRedoTwiceIsAnError) {
  testutil::FaultInjectionEnv env;
  Model model;
  WriteRedo("/db", &env, &model);
  RuntimeOptions o = RedoOptions(&env);
  o.read_only = true;
  o.recovery_redo_held_bytes_max = 1 << 10;
  const uint64_t first_op = env.op_count() + 1;
  {
    recovery::OpenReport report;
    auto rt = recovery::Open("/db", o, &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    ASSERT_TRUE(report.redo_read_twice);
  }
  const uint64_t ops_of_an_open = env.op_count() + 1 - first_op;
  uint64_t failed_opens = 0;
  for (uint64_t k = 0; k < ops_of_an_open; ++k) {
    env.ClearFaults();
    env.FailOp(env.op_count() + 1 + k, testutil::FailMode::kOnce, EIO);
    auto rt = recovery::Open("/db", o);
    if (!rt.ok()) {
      EXPECT_TRUE(rt.status().IsIOError()) << "op " << k << ": " << rt.status().ToString();
      ++failed_opens;
      continue;
    }
    ExpectMatches(rt->get(), model);
  }
  env.ClearFaults();
  EXPECT_GT(failed_opens, ops_of_an_open / 2);
}

// A snapshot held while commits go on keeps its own version, not every version made since
// (each with its changed leaves: RSS grew by ~180 MiB per million keys rewritten under a 4 MiB
// budget, found by an adversarial run). Two held snapshots keep two; each still reads its
// state; releasing them leaves the newest only.
TEST(Runtime, HeldSnapshotsKeepTheirVersionsNotTheOnesBetween) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  RuntimeWriteBatch b1(rt->get());
  const TreeId id = b1.CreateTree("x", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kInt64));
  tree::AppendOrderStatOp(b1.MutableOps(id), tree::EncodeInt64Key(0), 1);
  ASSERT_TRUE((*rt)->Commit(b1).ok());
  const auto commit = [&](int64_t key) {
    RuntimeWriteBatch b(rt->get());
    tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(key), 1);
    ASSERT_TRUE((*rt)->Commit(b).ok());
  };
  const auto host_and_count = [&](const RuntimeSnapshot& snap) {
    auto info = (*rt)->FindTree("x", snap);
    EXPECT_TRUE(info.ok());
    tree::OrderStatTreeHost* host = tree::AsOrderStatTree(info->tree.get());
    return std::make_pair(host, tree::PositiveCount(*host->VersionAt(snap.epoch())));
  };
  std::optional<RuntimeSnapshot> first((*rt)->GetSnapshot());  // N = 1
  for (int64_t k = 1; k <= 50; ++k) commit(k);
  std::optional<RuntimeSnapshot> second((*rt)->GetSnapshot());  // N = 51
  for (int64_t k = 51; k <= 100; ++k) commit(k);
  tree::OrderStatTreeHost* host = nullptr;
  {
    RuntimeSnapshot now = (*rt)->GetSnapshot();
    host = host_and_count(now).first;
    EXPECT_EQ(host->version_count(), 3u) << "the two held snapshots' versions and the newest";
    EXPECT_EQ(host_and_count(*first).second, 1u);
    EXPECT_EQ(host_and_count(*second).second, 51u);
    EXPECT_EQ(host_and_count(now).second, 101u);
  }
  // Every epoch a snapshot can ask for still finds its version after a checkpoint's trim.
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  EXPECT_EQ(host_and_count(*first).second, 1u);
  EXPECT_EQ(host_and_count(*second).second, 51u);
  first.reset();
  commit(101);
  EXPECT_EQ(host->version_count(), 2u);
  EXPECT_EQ(host_and_count(*second).second, 51u);
  second.reset();
  commit(102);
  EXPECT_EQ(host->version_count(), 1u);
  EXPECT_EQ(host_and_count((*rt)->GetSnapshot()).second, 103u);
}

// A snapshot held across many checkpoints keeps the objects of its own state (and of the first
// checkpoint after it), not every object retired since it was taken: the store's object count
// stops growing while every key is rewritten round after round, and the snapshot still reads its
// exact state from disk after every clean leaf is evicted. Releasing it frees what it kept. (The
// count grew by one tree's worth of leaves per round while reclamation stopped at the oldest
// pinned epoch: an adversarial run's RSS and disk grew ~65 MiB per million keys rewritten.)
TEST(Runtime, AHeldSnapshotKeepsItsObjectsNotTheOnesRetiredSince) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  constexpr int64_t kKeys = 2000;
  RuntimeWriteBatch b1(rt->get());
  const TreeId id = b1.CreateTree("x", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kInt64));
  for (int64_t k = 0; k < kKeys; ++k) {
    tree::AppendOrderStatOp(b1.MutableOps(id), tree::EncodeInt64Key(k), 1);
  }
  ASSERT_TRUE((*rt)->Commit(b1).ok());
  // A commit between the last checkpoint and the snapshot: its leaves are written by C(S), the
  // first checkpoint after the snapshot, and the snapshot reads them from there.
  RuntimeWriteBatch b2(rt->get());
  for (int64_t k = 0; k < kKeys; k += 7) {
    tree::AppendOrderStatOp(b2.MutableOps(id), tree::EncodeInt64Key(k), 2);
  }
  ASSERT_TRUE((*rt)->Commit(b2).ok());
  std::map<int64_t, int64_t> at_snapshot;
  for (int64_t k = 0; k < kKeys; ++k) at_snapshot[k] = k % 7 == 0 ? 3 : 1;
  std::optional<RuntimeSnapshot> snap((*rt)->GetSnapshot());
  const auto expect_snapshot_reads_its_state = [&] {
    auto info = (*rt)->FindTree("x", *snap);
    ASSERT_TRUE(info.ok());
    auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap->epoch());
    // The snapshot's leaves that C(S) wrote (all but those the commit before C(S) replaced,
    // which were never written and stay in memory) are evicted here: reads below come from
    // their objects.
    size_t evicted = 0, leaves = 0;
    for (const tree::LeafSummary& leaf : tree::Summaries(*v)) {
      ++leaves;
      if (!leaf.box->persisted()) continue;
      leaf.box->EvictClean();
      ASSERT_EQ(leaf.box->data(), nullptr);
      ++evicted;
    }
    EXPECT_GT(evicted, leaves * 3 / 4);
    std::map<int64_t, int64_t> seen;
    const Status read = tree::ForEachAll(*v, [&](uint64_t key, int64_t weight) {
      seen[tree::DecodeInt64Key(key)] = weight;
      return true;
    });
    ASSERT_TRUE(read.ok()) << read.ToString();
    EXPECT_EQ(seen, at_snapshot);
  };
  std::vector<uint64_t> live_after_round;
  for (int round = 0; round < 6; ++round) {
    for (int64_t first = 0; first < kKeys; first += 100) {
      RuntimeWriteBatch b(rt->get());
      for (int64_t k = first; k < first + 100; ++k) {
        tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(k), 1);
      }
      ASSERT_TRUE((*rt)->Commit(b).ok());
      ASSERT_TRUE((*rt)->Checkpoint().ok());
    }
    live_after_round.push_back((*rt)->GetStats().live_objects);
    expect_snapshot_reads_its_state();
  }
  const RuntimeStats held = (*rt)->GetStats();
  const uint64_t leaves = held.leaf_count;
  EXPECT_GT(held.snapshot_objects, leaves / 2) << "the snapshot's leaves were all rewritten";
  // What the snapshot keeps: its own leaves and those C(S) wrote, not a round's worth per round.
  EXPECT_LT(held.snapshot_objects, 3 * leaves);
  EXPECT_LT(live_after_round.back(), live_after_round[1] + leaves / 4)
      << "objects grew from " << live_after_round[1] << " to " << live_after_round.back();
  // Released, what it kept goes at the next checkpoint, even one with nothing to write.
  snap.reset();
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  const RuntimeStats released = (*rt)->GetStats();
  EXPECT_EQ(released.checkpoints_written, held.checkpoints_written);
  EXPECT_EQ(released.snapshot_objects, 0u);
  EXPECT_EQ(released.snapshot_bytes, 0u);
  EXPECT_LT(released.live_objects + held.snapshot_objects / 2, held.live_objects);
}

// A tree stored inline (one leaf in its catalog entry) restored under a smaller leaf capacity
// is one leaf, not several: several would be dirty leaves of the restore that the checkpoint
// after a held snapshot does not write (no commit touched the tree), and a later commit that
// changed one of them would leave the others to a later checkpoint, objects born after the
// snapshot's first checkpoint that the snapshot reads and reclamation freed (NotFound "stale",
// found by an adversarial run; Store::Backup of the snapshot failed the same way).
TEST(Runtime, AnInlineTreeRestoredUnderSmallerLeavesIsOneLeafASnapshotCanReread) {
  TempDir dir;
  RuntimeOptions wide = SmallShape(240, 16);
  constexpr int64_t kKeys = 200;
  {
    auto rt = recovery::Open(dir.path(), wide);
    ASSERT_TRUE(rt.ok());
    RuntimeWriteBatch b(rt->get());
    const TreeId x = b.CreateTree("x", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kInt64));
    const TreeId y = b.CreateTree("y", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kInt64));
    for (int64_t k = 0; k < kKeys; ++k) {
      tree::AppendOrderStatOp(b.MutableOps(x), tree::EncodeInt64Key(k), 1);
    }
    tree::AppendOrderStatOp(b.MutableOps(y), tree::EncodeInt64Key(0), 1);
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), SmallShape(16, 4));
  ASSERT_TRUE(rt.ok());
  std::optional<RuntimeSnapshot> snap((*rt)->GetSnapshot());
  auto info = (*rt)->FindTree("x", *snap);  // restored here, from its inline body
  ASSERT_TRUE(info.ok());
  std::shared_ptr<const tree::TreeVersion> v =
      tree::AsOrderStatTree(info->tree.get())->VersionAt(snap->epoch());
  EXPECT_EQ(v->leaf_count, 1u) << "a leaf over capacity until its next write splits it";
  const TreeId x = info->id;
  const TreeId y = (*rt)->FindTree("y", *snap)->id;
  const auto commit_and_checkpoint = [&](TreeId id, bool drop) {
    RuntimeWriteBatch b(rt->get());
    if (drop) {
      b.DropTree(id);
    } else {
      tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(0), 1);
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Checkpoint().ok());
  };
  commit_and_checkpoint(y, false);  // C(S): x is not written
  commit_and_checkpoint(x, false);  // changes x's first leaf only
  for (const tree::LeafSummary& leaf : tree::Summaries(*v)) leaf.box->EvictClean();
  commit_and_checkpoint(x, true);  // retires every object of x
  uint64_t seen = 0;
  const Status read = tree::ForEachAll(*v, [&](uint64_t key, int64_t weight) {
    EXPECT_EQ(tree::DecodeInt64Key(key), static_cast<int64_t>(seen));
    EXPECT_EQ(weight, 1);
    ++seen;
    return true;
  });
  EXPECT_TRUE(read.ok()) << read.ToString();
  EXPECT_EQ(seen, static_cast<uint64_t>(kKeys));
}

// A tree that shrinks to one unchanged, clean leaf is checkpointed inline and every object of
// its previous state is retired, that leaf's among them, while the live version keeps the
// leaf: it must stay in memory for good (as the leaf of an inline tree restored from its entry).
// Before, an eviction let the next read reload it from the freed object: every read and commit
// of the tree failed with NotFound "stale" until reopen (found by an adversarial run).
TEST(Runtime, ATreeThatShrinksToInlineKeepsItsCleanLeafInMemory) {
  TempDir dir;
  RuntimeOptions o = SmallShape(16, 4);
  o.cache_bytes = 1 << 20;
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok());
  const auto commit = [&](TreeId* id, int64_t from, int64_t to, int64_t weight) {
    RuntimeWriteBatch b(rt->get());
    if (*id == 0) {
      *id = b.CreateTree("t", tree::kOrderStatTreeTypeId,
                         tree::OrderStatTreeParams(tree::KeyType::kInt64));
    }
    for (int64_t k = from; k < to; ++k) {
      tree::AppendOrderStatOp(b.MutableOps(*id), tree::EncodeInt64Key(k), weight);
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Checkpoint().ok());
  };
  TreeId id = 0;
  commit(&id, 0, 16, 1);   // one full leaf
  commit(&id, 16, 20, 1);  // split evenly: [0, 10) and [10, 20), both written
  const uint64_t objects_with_two_leaves = (*rt)->GetStats().live_objects;
  commit(&id, 10, 20, -1);  // the second leaf is emptied: the tree is one clean leaf, inline
  EXPECT_LT((*rt)->GetStats().live_objects, objects_with_two_leaves) << "its objects are freed";
  const auto host = [&] {
    auto info = (*rt)->FindTree("t", (*rt)->GetSnapshot());
    EXPECT_TRUE(info.ok());
    return tree::AsOrderStatTree(info->tree.get());
  };
  std::shared_ptr<const tree::TreeVersion> v = host()->VersionAt((*rt)->visible_epoch());
  ASSERT_EQ(v->leaf_count, 1u);
  const std::shared_ptr<tree::LeafBox> leaf = tree::Summaries(*v)[0].box;
  EXPECT_FALSE(leaf->persisted()) << "its object is gone: the leaf is dirty, resident for good";
  EXPECT_EQ(leaf->EvictClean(), 0u);
  EXPECT_EQ((*rt)->EvictClean(), 0u);
  ASSERT_NE(leaf->data(), nullptr);
  const auto expect_keys = [&](int64_t count) {
    std::shared_ptr<const tree::TreeVersion> now = host()->VersionAt((*rt)->visible_epoch());
    int64_t next = 0;
    const Status read = tree::ForEachAll(*now, [&](uint64_t key, int64_t weight) {
      EXPECT_EQ(tree::DecodeInt64Key(key), next++);
      EXPECT_EQ(weight, 1);
      return true;
    });
    EXPECT_TRUE(read.ok()) << read.ToString();
    EXPECT_EQ(next, count);
  };
  expect_keys(10);
  commit(&id, 10, 12, 1);  // writes go on
  expect_keys(12);
  ASSERT_TRUE((*rt)->Close().ok());
  rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok());
  expect_keys(12);
}

TEST(Runtime, SnapshotsSeeTheirEpochOnly) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  RuntimeWriteBatch b1(rt->get());
  TreeId id = b1.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  for (int k = 0; k < 100; ++k) tree::AppendOrderStatOp(b1.MutableOps(id), tree::EncodeInt64Key(k), 1);
  ASSERT_TRUE((*rt)->Commit(b1).ok());
  {
    RuntimeSnapshot old_snap = (*rt)->GetSnapshot();
    RuntimeWriteBatch b2(rt->get());
    for (int k = 0; k < 100; ++k) tree::AppendOrderStatOp(b2.MutableOps(id), tree::EncodeInt64Key(k), 2);
    b2.DropTree(id);  // dropped in the same commit: invisible to new snapshots
    ASSERT_TRUE((*rt)->Commit(b2).ok());
    RuntimeSnapshot new_snap = (*rt)->GetSnapshot();
    EXPECT_TRUE((*rt)->FindTree("x", new_snap).status().IsNotFound());
    auto info = (*rt)->FindTree("x", old_snap);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(tree::PositiveCount(*tree::AsOrderStatTree(info->tree.get())->VersionAt(old_snap.epoch())),
              100u);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
  }  // snapshots must not outlive their runtime
  // The name can be reused once dropped.
  RuntimeWriteBatch b3(rt->get());
  TreeId id2 = b3.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kDouble));
  tree::AppendOrderStatOp(b3.MutableOps(id2), tree::EncodeDoubleKey(1.5), 3);
  ASSERT_TRUE((*rt)->Commit(b3).ok());
  ASSERT_TRUE((*rt)->Close().ok());
  rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  RuntimeSnapshot s = (*rt)->GetSnapshot();
  auto again = (*rt)->FindTree("x", s);
  ASSERT_TRUE(again.ok());
  auto v = tree::AsOrderStatTree(again->tree.get())->VersionAt(s.epoch());
  EXPECT_EQ(tree::PositiveCount(*v), 3u);
  auto p = tree::PercentileCont(*v, 0.5, false);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(**p, 1.5);
}

// Atomic replace: a commit that drops tree "x" and creates a new "x" (another key type even)
// is accepted; older snapshots see the old tree, newer ones the new one; the record replays
// from the log (no checkpoint at close) to the same state, twice in a row, and a checkpoint
// after the replay lists only the new tree. Creating a live name without dropping it, or
// creating it twice in the replacing commit, is still refused.
TEST(Runtime, DropAndCreateOfOneNameInOneCommitReplays) {
  TempDir dir;
  RuntimeOptions o = SmallShape();
  o.checkpoint_on_close = false;
  o.recovery_checkpoint_log_bytes = 0;
  {
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok());
    RuntimeWriteBatch b1(rt->get());
    TreeId old_id =
        b1.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    for (int k = 0; k < 50; ++k) {
      tree::AppendOrderStatOp(b1.MutableOps(old_id), tree::EncodeInt64Key(k), 1);
    }
    ASSERT_TRUE((*rt)->Commit(b1).ok());
    RuntimeSnapshot before = (*rt)->GetSnapshot();
    RuntimeWriteBatch twice(rt->get());
    twice.DropTree(old_id);
    twice.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    twice.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    EXPECT_TRUE((*rt)->Commit(twice).IsInvalidArgument());
    RuntimeWriteBatch replace(rt->get());
    replace.DropTree(old_id);
    TreeId new_id =
        replace.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kDouble));
    tree::AppendOrderStatOp(replace.MutableOps(new_id), tree::EncodeDoubleKey(2.5), 7);
    ASSERT_TRUE((*rt)->Commit(replace).ok());
    RuntimeSnapshot after = (*rt)->GetSnapshot();
    auto old_info = (*rt)->FindTree("x", before);
    auto new_info = (*rt)->FindTree("x", after);
    ASSERT_TRUE(old_info.ok() && new_info.ok());
    EXPECT_EQ(old_info->id, old_id);
    EXPECT_EQ(new_info->id, new_id);
    EXPECT_EQ((*rt)->ListTrees(after).size(), 1u);
    RuntimeWriteBatch dup(rt->get());
    dup.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    EXPECT_TRUE((*rt)->Commit(dup).IsInvalidArgument());
    before = RuntimeSnapshot();
    after = RuntimeSnapshot();
    ASSERT_TRUE((*rt)->Close().ok());
  }
  for (int round = 0; round < 3; ++round) {  // replay, replay again, then from a checkpoint
    recovery::OpenReport report;
    auto rt = recovery::Open(dir.path(), o, &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    if (round < 2) EXPECT_EQ(report.commits_replayed, 2u);
    RuntimeSnapshot s = (*rt)->GetSnapshot();
    auto trees = (*rt)->ListTrees(s);
    ASSERT_EQ(trees.size(), 1u);
    auto found = (*rt)->FindTree(trees[0].name, s);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    auto* host = tree::AsOrderStatTree(found->tree.get());
    ASSERT_NE(host, nullptr);
    EXPECT_EQ(host->key_type(), tree::KeyType::kDouble);
    auto v = host->VersionAt(s.epoch());
    EXPECT_EQ(tree::PositiveCount(*v), 7u);
    EXPECT_EQ(**tree::PercentileCont(*v, 0.5, false), 2.5);
    if (round == 1) ASSERT_TRUE((*rt)->Checkpoint().ok());
    s = RuntimeSnapshot();
    ASSERT_TRUE((*rt)->Close().ok());
  }
}

TEST(Runtime, InvalidCommitsChangeNothing) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok());
  RuntimeWriteBatch b(rt->get());
  TreeId id = b.CreateTree("a", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(1), INT64_MAX);
  ASSERT_TRUE((*rt)->Commit(b).ok());
  const uint64_t epoch = (*rt)->visible_epoch();
  // Second tree fine, first overflows: the whole commit is refused, nothing applied.
  RuntimeWriteBatch bad(rt->get());
  TreeId id2 = bad.CreateTree("b", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  tree::AppendOrderStatOp(bad.MutableOps(id2), tree::EncodeInt64Key(5), 1);
  tree::AppendOrderStatOp(bad.MutableOps(id), tree::EncodeInt64Key(1), 1);
  EXPECT_TRUE((*rt)->Commit(bad).IsInvalidArgument());
  RuntimeWriteBatch dup(rt->get());
  dup.CreateTree("a", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  EXPECT_TRUE((*rt)->Commit(dup).IsInvalidArgument());
  EXPECT_EQ((*rt)->visible_epoch(), epoch);
  {
    RuntimeSnapshot s = (*rt)->GetSnapshot();
    EXPECT_TRUE((*rt)->FindTree("b", s).status().IsNotFound());
  }
  ASSERT_TRUE((*rt)->Close().ok());
  rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  RuntimeSnapshot s2 = (*rt)->GetSnapshot();
  EXPECT_EQ((*rt)->ListTrees(s2).size(), 1u);
}

TEST(Runtime, NotAStoreAndLocked) {
  TempDir dir;
  {
    FILE* f = std::fopen((dir.path() + "/notes.txt").c_str(), "w");
    std::fputs("hello", f);
    std::fclose(f);
  }
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_FALSE(rt.ok());
  EXPECT_NE(rt.status().message().find("not a cowtree store"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/notes.txt"));
  TempDir dir2;
  auto a = recovery::Open(dir2.path(), SmallShape());
  ASSERT_TRUE(a.ok());
  auto b = recovery::Open(dir2.path(), SmallShape());
  EXPECT_TRUE(b.status().IsBusy()) << b.status().ToString();
  RuntimeOptions no_create = SmallShape();
  no_create.create_if_missing = false;
  EXPECT_TRUE(recovery::Open(dir2.path() + "/missing", no_create).status().IsNotFound());
}

TEST(Runtime, EveryDurabilityModeRecoversEverythingAfterClose) {
  for (Durability d : {Durability::kStrict, Durability::kBalanced, Durability::kEventual}) {
    TempDir dir;
    Model model;
    std::mt19937_64 rng(5);
    RuntimeOptions o = SmallShape();
    o.durability = d;
    o.background_thread = true;
    o.checkpoint_on_close = false;
    {
      auto rt = recovery::Open(dir.path(), o);
      ASSERT_TRUE(rt.ok());
      RandomCommits(rt->get(), &model, &rng, 20, 3, 50, 200);
      ASSERT_TRUE((*rt)->Close().ok());
    }
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << DurabilityName(d);
    ExpectMatches(rt->get(), model);
  }
}

TEST(Runtime, LogRotationOtCheckpointsAndObsoleteFilesAreDeleted) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(6);
  RuntimeOptions o = SmallShape(8, 8);
  o.log_file_size_max_bytes = 64 << 10;
  for (int round = 0; round < 4; ++round) {
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    for (int i = 0; i < 6; ++i) {
      RandomCommits(rt->get(), &model, &rng, 10, 4, 300, 5000);
      ASSERT_TRUE((*rt)->Checkpoint().ok());
    }
    ASSERT_TRUE((*rt)->Close().ok());
  }
  size_t logs = 0, otcs = 0, manifests = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    FileKind kind;
    uint64_t number;
    ASSERT_TRUE(ParseFileName(e.path().filename().string(), &kind, &number))
        << "unknown file " << e.path();
    logs += kind == FileKind::kLog;
    otcs += kind == FileKind::kOtCheckpoint;
    manifests += kind == FileKind::kManifest;
  }
  EXPECT_LE(logs, 2u);
  EXPECT_LE(otcs, 1u);
  EXPECT_EQ(manifests, 1u);
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok());
  (*rt)->EvictClean();
  ExpectMatches(rt->get(), model);
}

}  // namespace
}  // namespace cowtree
