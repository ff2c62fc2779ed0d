// Shared by the BulkLoader tests (tests/api_bulk_loader_test.cc,
// tests/api_bulk_loader_spill_test.cc): small-tree options, models of the trees' contents, and two
// checks run with and without a spill directory (include/cowtree/bulk_loader.h): a random load
// against a model, and a crash at every mutating operation of a load resumed exactly once from a
// marker.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cowtree/cowtree.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree::loader_test {

inline Options SmallTreeOptions() {
  Options o;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  o.background_thread = false;
  return o;
}

inline std::unique_ptr<Store> OpenOrDie(const std::string& dir, const Options& o) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

// Creates int64 tree `name` in a commit of its own (the loader's commits need it to exist).
inline TreeHandle<int64_t> CommitNewTree(Store& store, const std::string& name) {
  WriteBatch b = store.NewBatch();
  const TreeHandle<int64_t> t = b.CreateTree<int64_t>(name);
  EXPECT_TRUE(store.Commit(b).ok());
  return t;
}

template <TreeKey K>
std::map<K, int64_t> Entries(const Snapshot& snap, const std::string& name) {
  std::map<K, int64_t> out;
  auto r = snap.Tree<K>(name);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  if (!r.ok()) return out;
  for (auto c = r->SeekToFirst(); c.valid(); c.Next()) out[c.key()] = c.weight();
  return out;
}

// Adds w to m[k], erasing a zero sum (the tree's semantics).
template <typename K>
void ModelAdd(std::map<K, int64_t>* m, K k, int64_t w) {
  if (w == 0) return;
  int64_t& v = (*m)[k];
  v += w;
  if (v == 0) m->erase(k);
}

// A double key as the tree stores it: -0.0 is +0.0, every NaN the one NaN.
inline double Canonical(double d) {
  if (std::isnan(d)) return std::numeric_limits<double>::quiet_NaN();
  return d == 0.0 ? 0.0 : d;
}

inline bool SameDoubleMaps(const std::map<double, int64_t>& a, const std::map<double, int64_t>& b) {
  // NaN keys do not compare in a std::map: compare the ordered sequences bitwise.
  if (a.size() != b.size()) return false;
  for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y) {
    const bool both_nan = std::isnan(x->first) && std::isnan(y->first);
    if ((!both_nan && x->first != y->first) || x->second != y->second) return false;
  }
  return true;
}

// Loads rounds of random ops (five int64 trees and a double tree; weights mostly 1, some
// negative, some large; -0.0 and NaNs) through a loader of a 4 KiB buffer and commit_ops 7,
// flushing after most rounds; after every flush each tree equals its model. With `spill`, the
// loader spills to DIR/spill (include/cowtree/bulk_loader.h "Spilling").
inline void LoadRandomOpsAgainstAModel(bool spill) {
  testutil::TempDir dir;
  Options o = SmallTreeOptions();
  auto store = OpenOrDie(dir.path() + "/db", o);
  constexpr int kInt64Trees = 5;
  std::vector<TreeHandle<int64_t>> ints;
  TreeHandle<double> dbl;
  {
    WriteBatch b = store->NewBatch();
    for (int t = 0; t < kInt64Trees; ++t)
      ints.push_back(b.CreateTree<int64_t>("i" + std::to_string(t)));
    dbl = b.CreateTree<double>("d");
    ASSERT_TRUE(store->Commit(b).ok());
  }
  std::vector<std::map<int64_t, int64_t>> model(kInt64Trees);
  std::map<double, int64_t> dmodel;  // keys canonical, NaN kept out (compared apart)
  int64_t nan_weight = 0;
  BulkLoader::Options lo;
  lo.buffer_bytes = 4096;  // ~200-500 ops: many automatic flushes
  lo.commit_ops = 7;
  if (spill) lo.spill_dir = dir.path() + "/spill";
  auto loader = BulkLoader::Create(*store, lo);
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  BulkLoader& l = **loader;
  EXPECT_EQ(l.buffer_bytes(), 4096u);
  std::mt19937_64 rng(7);
  uint64_t added = 0;
  for (int round = 0; round < 12; ++round) {
    const int n = 300 + static_cast<int>(rng() % 900);
    for (int i = 0; i < n; ++i) {
      const uint64_t pick = rng() % 10;
      // Weights: mostly 1 (compact ops of the first tree), some large, some negative.
      int64_t w = 1;
      if (rng() % 4 == 0) w = static_cast<int64_t>(rng() % 7) - 3;
      if (rng() % 50 == 0) w = static_cast<int64_t>(rng() % 1000000) + 1;
      if (pick < 8) {
        const int t = pick < 4 ? 0 : static_cast<int>(rng() % kInt64Trees);
        const int64_t k = static_cast<int64_t>(rng() % 600) - 300;
        ASSERT_TRUE(l.Add(ints[t], k, w).ok());
        ModelAdd(&model[t], k, w);
      } else {
        const double choices[] = {-0.0,
                                  0.0,
                                  1.5,
                                  -2.25,
                                  std::nan(""),
                                  -std::nan(""),
                                  std::numeric_limits<double>::infinity(),
                                  1e300};
        const double k = choices[rng() % 8];
        ASSERT_TRUE(l.Add(dbl, k, w).ok());
        if (std::isnan(k)) {
          nan_weight += w;
        } else {
          ModelAdd(&dmodel, Canonical(k), w);
        }
      }
      if (w != 0) ++added;
    }
    if (round % 3 != 2) {
      uint64_t seq = 0;
      ASSERT_TRUE(l.Flush(&seq).ok());
      EXPECT_EQ(seq, store->GetSnapshot().sequence());
      EXPECT_EQ(l.buffered_ops(), 0u);
      EXPECT_EQ(l.committed_ops(), added);
    }
    // What is visible equals the model of every op flushed so far (rounds ending in no flush
    // are checked after the next one).
    if (l.buffered_ops() != 0 || l.spilled_ops() != 0) continue;
    const Snapshot snap = store->GetSnapshot();
    for (int t = 0; t < kInt64Trees; ++t) {
      EXPECT_EQ(Entries<int64_t>(snap, ints[t].name()), model[t])
          << "tree " << t << " round " << round;
    }
    std::map<double, int64_t> want = dmodel;
    if (nan_weight != 0) want[std::numeric_limits<double>::quiet_NaN()] = nan_weight;
    EXPECT_TRUE(SameDoubleMaps(Entries<double>(snap, "d"), want)) << "round " << round;
  }
  EXPECT_GT(l.commits(), 100u);  // 7 ops per commit
}

// Exactly-once across a crash, as the header's "Exactly-once" says: a marker tree holds the
// input position where the unfinished flush's ops start (key 0) and the ops of it committed
// (key 1), written by commit_hook into each commit; the last commit of a flush moves it to the
// next flush's start. A crash at every mutating operation of the load (strict durability),
// then a resume from the marker with SkipOps, ends with every op applied exactly once.
struct MarkedLoad {
  static constexpr int kTrees = 3;
  std::vector<std::tuple<int, int64_t, int64_t>> ops;  // tree, key, weight
  std::vector<std::map<int64_t, int64_t>> model = std::vector<std::map<int64_t, int64_t>>(kTrees);

  // Three phases whose ops take different bytes in the buffer (8 B compact ops of one tree,
  // then 24 B weighted ops of every tree, then compact again), so that a buffer that still
  // counted the pages of an earlier flush would flush at other points than a fresh one.
  MarkedLoad() {
    std::mt19937_64 rng(23);
    for (int i = 0; i < kOps; ++i) {
      const bool mixed = i >= 450 && i < 800;
      const int t = mixed ? static_cast<int>(rng() % kTrees) : (i < 450 ? 0 : 1);
      const int64_t k = static_cast<int64_t>(rng() % 400);
      const int64_t w = mixed && rng() % 3 == 0 ? static_cast<int64_t>(rng() % 5) + 2 : 1;
      ops.emplace_back(t, k, w);
      ModelAdd(&model[t], k, w);
    }
  }
  static constexpr int kOps = 1000;
  std::string spill_dir;  // BulkLoader::Options::spill_dir of the loads

  // Loads ops from the marker's position on; returns the first error (the crash).
  Status Run(Store& store) {
    std::vector<TreeHandle<int64_t>> trees;
    for (int t = 0; t < kTrees; ++t) {
      auto h = store.Tree<int64_t>("t" + std::to_string(t));
      if (!h.ok()) return h.status();
      trees.push_back(*h);
    }
    auto marker = store.Tree<int64_t>("marker");
    if (!marker.ok()) return marker.status();
    auto read = store.GetSnapshot().Tree<int64_t>("marker");
    if (!read.ok()) return read.status();
    int64_t start = *read->weight(0), done = *read->weight(1);  // as stored
    size_t i = static_cast<size_t>(start);
    int64_t flush_start = start;
    BulkLoader::Options lo;
    lo.buffer_bytes = 4096;
    lo.commit_ops = 9;
    lo.spill_dir = spill_dir;
    lo.commit_hook = [&](WriteBatch& batch, const BulkLoader::FlushProgress& p) {
      // The marker after this commit: (flush start, ops committed), or the next flush's start.
      const int64_t new_start = p.last ? static_cast<int64_t>(i) : flush_start;
      const int64_t new_done = p.last ? 0 : static_cast<int64_t>(p.ops_committed);
      batch.Add(*marker, 0, new_start - start);
      batch.Add(*marker, 1, new_done - done);
      start = new_start;  // (a failed commit ends the run: no rollback needed)
      done = new_done;
      if (p.last) flush_start = new_start;
      return Status::OK();
    };
    auto loader = BulkLoader::Create(store, lo);
    if (!loader.ok()) return loader.status();
    (*loader)->SkipOps(static_cast<uint64_t>(done));
    for (; i < ops.size(); ++i) {
      const auto& [t, k, w] = ops[i];
      COWTREE_RETURN_IF_ERROR((*loader)->Add(trees[t], k, w));
    }
    return (*loader)->Flush();
  }
};

// The sweep of the comment above; with `spill_dir`, the loads spill there (in the same Env).
inline void SweepCrashesOfAMarkedLoad(const std::string& spill_dir) {
  MarkedLoad load;
  load.spill_dir = spill_dir;
  uint64_t resumed_mid_flush = 0;  // crashes after which the resume skipped ops
  for (uint64_t crash_at = 1;; ++crash_at) {
    testutil::FaultInjectionEnv env;
    Options o = SmallTreeOptions();
    o.env = &env;
    o.durability = Durability::kStrict;
    Status first;
    {
      auto store = OpenOrDie("/db", o);
      WriteBatch b = store->NewBatch();
      for (int t = 0; t < MarkedLoad::kTrees; ++t) b.CreateTree<int64_t>("t" + std::to_string(t));
      b.CreateTree<int64_t>("marker");
      ASSERT_TRUE(store->Commit(b).ok());
      env.CrashAtOp(env.mutating_op_count() + crash_at);
      first = load.Run(*store);
      if (first.ok()) env.CrashAtOp(0);
      env.SimulateCrash(testutil::CrashModel::kDropUnsynced, crash_at);
    }
    auto store = OpenOrDie("/db", o);
    if (!first.ok()) {
      resumed_mid_flush += *store->GetSnapshot().Tree<int64_t>("marker")->weight(1) > 0;
      const Status resumed = load.Run(*store);
      ASSERT_TRUE(resumed.ok()) << "crash at " << crash_at << ": " << resumed.ToString();
    }
    const Snapshot snap = store->GetSnapshot();
    for (int t = 0; t < MarkedLoad::kTrees; ++t) {
      ASSERT_EQ(Entries<int64_t>(snap, "t" + std::to_string(t)), load.model[t])
          << "tree t" << t << ", crash at " << crash_at;
    }
    EXPECT_EQ(*snap.Tree<int64_t>("marker")->weight(0), MarkedLoad::kOps);
    EXPECT_EQ(*snap.Tree<int64_t>("marker")->weight(1), 0);
    if (first.ok()) break;
    ASSERT_LT(crash_at, 20000u) << "the load never completed";
  }
  EXPECT_GT(resumed_mid_flush, 20u);
}

}  // namespace cowtree::loader_test
