// The public API under concurrency: committers, a checkpointer and snapshot readers at once.
// Run under TSan by .ci/run (a short round); the `long` label runs many more commits
// (COWTREE_API_STRESS_COMMITS, tests/long.cmake).
//
// Invariants each reader checks on every snapshot it takes:
//  - per committer, its two trees "a<w>" (int64) and "b<w>" (double) get one entry each per
//    commit, so in any snapshot count(a<w>) == count(b<w>) (atomic multi-tree commits);
//  - a cursor over a tree sums to count() and visits keys in strictly increasing order;
//  - select / rank agree: rank(select(k)) <= k < rank(select(k)) + weight(select(k));
//  - "r" (replaced by drop + create in one batch every few commits) is always present and
//    complete: kReplaceEntries entries, all of one generation.
// A retainer thread retains named checkpoints, checks the same invariants on point-in-time
// snapshots of them (also after deleting the checkpoint under an open snapshot) and trims to
// the newest two, racing the committers, the checkpointer and background checkpoints.
// A prober reads and rewrites (net zero) idle trees "i<k>" now and then, so that with
// hot_trees_min = 0 each checkpoint demotes some of them and the prober, the listing it checks
// and its commits promote them again, racing all of the above.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cowtree/cowtree.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

constexpr int kCommitters = 2;
constexpr int kReaders = 3;
constexpr int kReplaceEntries = 20;
constexpr int kIdleTrees = 16;

int CommitsPerCommitter() {
  const char* env = std::getenv("COWTREE_API_STRESS_COMMITS");
  return env != nullptr ? std::atoi(env) : 150;
}

// Returns the number of invariant violations seen in `snap`.
int CheckSnapshot(const Snapshot& snap) {
  int bad = 0;
  for (int w = 0; w < kCommitters; ++w) {
    auto a = snap.Tree<int64_t>("a" + std::to_string(w));
    auto b = snap.Tree<double>("b" + std::to_string(w));
    if (!a.ok() || !b.ok()) return bad + 1;
    if (a->count() != b->count()) ++bad;
    uint64_t sum = 0;
    bool first = true;
    int64_t prev = 0;
    for (Cursor<int64_t> c = a->SeekToFirst(); c.valid(); c.Next()) {
      if (!first && c.key() <= prev) ++bad;
      first = false;
      prev = c.key();
      sum += static_cast<uint64_t>(c.weight());
    }
    if (sum != a->count()) ++bad;
    if (a->count() > 0) {
      const uint64_t k = a->count() / 2;
      auto key = a->select(k);
      if (!key.ok() || !key->has_value()) return bad + 1;
      auto rank = a->rank(**key);
      auto weight = a->weight(**key);
      if (!rank.ok() || !weight.ok()) return bad + 1;
      if (!(*rank <= k && k < *rank + static_cast<uint64_t>(*weight))) ++bad;
      if (!a->median().ok() || !b->percentile_disc(0.9, Order::kDescending).ok()) ++bad;
    }
  }
  auto r = snap.Tree<int64_t>("r");
  if (!r.ok() || r->entry_count() != kReplaceEntries) return bad + 1;
  const int64_t generation = *r->weight(0);
  for (Cursor<int64_t> c = r->SeekToFirst(); c.valid(); c.Next()) {
    if (c.weight() != generation) ++bad;
  }
  return bad;
}

TEST(ApiConcurrency, CommittersCheckpointsAndReadersAgree) {
  testutil::TempDir dir;
  Options o;
  o.leaf_capacity_entries = 8;  // small nodes: many splits and copies per commit
  o.fanout = 4;
  o.checkpoint_log_bytes = 64 << 10;  // background checkpoints while committing
  o.hot_trees_min = 0;                // every checkpoint demotes the trees idle since the last
  auto opened = Store::Open(dir.path(), o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();

  WriteBatch init = store->NewBatch();
  std::vector<TreeHandle<int64_t>> as;
  std::vector<TreeHandle<double>> bs;
  for (int w = 0; w < kCommitters; ++w) {
    as.push_back(init.CreateTree<int64_t>("a" + std::to_string(w)));
    bs.push_back(init.CreateTree<double>("b" + std::to_string(w)));
  }
  TreeHandle<int64_t> replaced = init.CreateTree<int64_t>("r");
  for (int k = 0; k < kReplaceEntries; ++k) init.Add(replaced, k, 1);
  std::vector<TreeHandle<int64_t>> idle;
  for (int k = 0; k < kIdleTrees; ++k) {
    idle.push_back(init.CreateTree<int64_t>("i" + std::to_string(k)));
    init.Add(idle.back(), k, k + 1);
  }
  ASSERT_TRUE(store->Commit(init).ok());

  const int commits = CommitsPerCommitter();
  std::atomic<int> committers_done{0};
  std::atomic<int> bad{0};
  std::atomic<int64_t> snapshots_checked{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kCommitters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w + 1);
      for (int i = 0; i < commits; ++i) {
        WriteBatch batch = store->NewBatch();
        const int64_t key = static_cast<int64_t>(rng() % 1000);
        batch.Add(as[w], key, 1);
        batch.Add(bs[w], static_cast<double>(key) / 7.0, 1);
        if (!store->Commit(batch, WriteOptions{.sync = (i % 50 == 0)}).ok()) ++bad;
      }
      ++committers_done;
    });
  }
  threads.emplace_back([&] {  // the replacer: drop + create "r" in one batch
    for (int64_t gen = 2; committers_done.load() < kCommitters; ++gen) {
      WriteBatch batch = store->NewBatch();
      batch.DropTree(replaced);
      TreeHandle<int64_t> next = batch.CreateTree<int64_t>("r");
      for (int k = 0; k < kReplaceEntries; ++k) batch.Add(next, k, gen);
      if (!store->Commit(batch).ok()) ++bad;
      replaced = next;
      std::this_thread::yield();
    }
  });
  threads.emplace_back([&] {  // explicit checkpoints racing the committers
    while (committers_done.load() < kCommitters) {
      if (!store->Checkpoint().ok()) ++bad;
      std::this_thread::yield();
    }
  });
  std::atomic<int> probes{0};
  threads.emplace_back([&] {  // the prober of idle trees (demoted and promoted again)
    std::mt19937_64 rng(99);
    while (committers_done.load() < kCommitters) {
      const int k = static_cast<int>(rng() % kIdleTrees);
      const Snapshot snap = store->GetSnapshot();
      auto t = snap.Tree<int64_t>("i" + std::to_string(k));
      if (!t.ok() || t->count() != static_cast<uint64_t>(k + 1) || *t->weight(k) != k + 1) ++bad;
      auto listed = snap.ListTrees();
      if (!listed.ok() || listed->size() != 2 * kCommitters + 1 + kIdleTrees) ++bad;
      if (rng() % 4 == 0) {  // a write through a handle taken before any demotion
        WriteBatch batch = store->NewBatch();
        batch.Add(idle[k], 1000, 1);
        batch.Add(idle[k], 1000, -1);
        if (!store->Commit(batch).ok()) ++bad;
      }
      ++probes;
      for (int i = 0; i < 50; ++i) std::this_thread::yield();
    }
  });
  std::atomic<int> retained_checked{0};
  threads.emplace_back([&] {  // retained checkpoints: retain, read at that point, delete, trim
    for (int i = 0; committers_done.load() < kCommitters; ++i) {
      const std::string name = "c" + std::to_string(i);
      if (!store->Checkpoint(name).ok()) {
        ++bad;
        continue;
      }
      auto snap = store->GetCheckpointSnapshot(name);
      if (!snap.ok()) {
        ++bad;
        continue;
      }
      bad += CheckSnapshot(*snap);
      if (i % 3 == 0) {  // deleted while its snapshot is open: still readable
        if (!store->DeleteCheckpoint(name).ok()) ++bad;
        bad += CheckSnapshot(*snap);
      }
      if (!store->KeepLastCheckpoints(2).ok()) ++bad;
      ++retained_checked;
    }
  });
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      while (committers_done.load() < kCommitters) {
        bad += CheckSnapshot(store->GetSnapshot());
        ++snapshots_checked;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(snapshots_checked.load(), 0);
  EXPECT_GT(retained_checked.load(), 0);
  EXPECT_GT(probes.load(), 0);
  EXPECT_LE(store->ListCheckpoints().size(), 2u);
  const Snapshot last = store->GetSnapshot();
  for (int w = 0; w < kCommitters; ++w) {
    EXPECT_EQ(last.Tree<int64_t>("a" + std::to_string(w))->count(), static_cast<uint64_t>(commits));
  }
  ASSERT_TRUE(store->Close().ok());

  // Everything acknowledged is there after reopen, and the invariants still hold.
  auto reopened = Store::Open(dir.path(), o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  const Snapshot after = (*reopened)->GetSnapshot();
  EXPECT_EQ(CheckSnapshot(after), 0);
  for (const Store::CheckpointInfo& c : (*reopened)->ListCheckpoints()) {
    EXPECT_EQ(CheckSnapshot((*reopened)->GetCheckpointSnapshot(c.name).value()), 0) << c.name;
  }
  for (int w = 0; w < kCommitters; ++w) {
    EXPECT_EQ(after.Tree<double>("b" + std::to_string(w))->count(), static_cast<uint64_t>(commits));
  }
}

}  // namespace
}  // namespace cowtree
