// The memory budget (RuntimeOptions::cache_bytes, docs/memory_budget.md):
// - RSS: a forked child ingests N random int64 keys (10 k per commit) under a 16 MiB budget,
//   then reads every leaf with random selects; its peak RSS (VmHWM from /proc/self/status)
//   stays within budget + kRssConstantBytes, and every answer matches the closed-form model.
//   The child pins glibc's mmap threshold first (PinMallocMmapThreshold, as the `cowtree`
//   command does): the bound is documented for that configuration.
//   N defaults to 1 M in the unit label (10 M do not fit: their ~59 k leaves need ~19 MiB of
//   fixed and node bytes, docs/memory_budget.md); COWTREE_BUDGET_ENTRIES,
//   COWTREE_BUDGET_CACHE_MIB and COWTREE_BUDGET_ORDER=sorted (keys inserted in ascending
//   order) override it; tests/long.cmake
//   runs 10 M random under 64 MiB, 30 M random under 128 MiB, 100 M sorted under 512 MiB and
//   10^9 sorted under 2 GiB; CACHE_MIB=0 measures unlimited.
// - eviction under concurrent readers: a pinned snapshot keeps answering for its epoch while
//   its leaves are evicted and read back from disk, and the current version likewise;
// - eviction with the fault-injecting Env: a failed re-read is an IOError value, never a
//   crash and never a wrong value; reads succeed again once the faults are cleared.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "persistence/memory_budget.h"
#include "recovery/open.h"
#include "testutil/env_number.h"
#include "testutil/fault_injection_env.h"
#include "testutil/forked_child.h"
#include "testutil/proc_status.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::EnvU64;
using testutil::FaultInjectionEnv;
using testutil::TempDir;

using testutil::kCheckpointScratchBytesPerLeaf;
using testutil::kRssConstantBytes;
using testutil::ProcStatusKiB;

// The model: the keys are {7 v - 3 N : v in [0, N)}, each with weight 1, inserted in the order
// of the permutation i -> i * kStride mod N (kStride coprime with N), so select(r) = key(r).
constexpr uint64_t kStride = 2654435761ull;  // prime, larger than any N used here
int64_t KeyOf(uint64_t v, uint64_t n) {
  return 7 * static_cast<int64_t>(v) - 3 * static_cast<int64_t>(n);
}

struct ChildReport {
  int ok = 0;
  int malloc_pinned = 0;  // PinMallocMmapThreshold took effect in the child
  char error[512] = {};
  uint64_t base_rss_kib = 0;         // before opening the store
  uint64_t ingest_peak_rss_kib = 0;  // VmHWM after the ingest
  uint64_t peak_rss_kib = 0;
  uint64_t final_rss_kib = 0;
  uint64_t ingest_us = 0;
  uint64_t read_us = 0;
  uint64_t leaf_count = 0;
  uint64_t reads = 0;
  MemoryBudgetStats memory;
};

TreeId CreateTree(Runtime* rt, const std::string& name) {
  RuntimeWriteBatch b(rt);
  const TreeId id = b.CreateTree(name, tree::kOrderStatTreeTypeId,
                                 tree::OrderStatTreeParams(tree::KeyType::kInt64));
  EXPECT_TRUE(rt->Commit(b).ok());
  return id;
}

// Runs in the child: everything it allocates counts in its RSS, so it keeps no model.
void IngestAndReadAll(const std::string& dir, uint64_t n, uint64_t cache_bytes, ChildReport* r) {
  auto fail = [&](const std::string& what) {
    std::snprintf(r->error, sizeof(r->error), "%s", what.c_str());
  };
  r->base_rss_kib = ProcStatusKiB("VmRSS:");
  RuntimeOptions o;
  o.cache_bytes = cache_bytes;
  auto rt = recovery::Open(dir, o);
  if (!rt.ok()) return fail("open: " + rt.status().ToString());
  const TreeId id = CreateTree(rt->get(), "t");
  const char* order = std::getenv("COWTREE_BUDGET_ORDER");
  const bool sorted = order != nullptr && std::string(order) == "sorted";
  const auto t0 = std::chrono::steady_clock::now();
  constexpr uint64_t kBatch = 10000;
  for (uint64_t i = 0; i < n;) {
    RuntimeWriteBatch b(rt->get());
    std::string* ops = b.MutableOps(id);
    ops->reserve(kBatch * tree::kOrderStatOpBytes);
    for (uint64_t j = 0; j < kBatch && i < n; ++j, ++i) {
      const uint64_t v =
          sorted ? i : static_cast<uint64_t>((static_cast<unsigned __int128>(i) * kStride) % n);
      tree::AppendOrderStatOp(ops, tree::EncodeInt64Key(KeyOf(v, n)), 1);
    }
    if (Status st = (*rt)->Commit(b); !st.ok()) return fail("commit: " + st.ToString());
  }
  if (Status st = (*rt)->Checkpoint(); !st.ok()) return fail("checkpoint: " + st.ToString());
  const auto t1 = std::chrono::steady_clock::now();
  r->ingest_peak_rss_kib = ProcStatusKiB("VmHWM:");
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("t", snap);
  if (!info.ok()) return fail("find: " + info.status().ToString());
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  if (v->positive_count != n) return fail("N " + std::to_string(v->positive_count));
  r->leaf_count = v->leaf_count;
  // Every 64th rank in a scattered order (touches every leaf), then as many random ranks.
  const uint64_t strided = (n + 63) / 64;
  std::mt19937_64 rng(n);
  for (uint64_t j = 0; j < 2 * strided; ++j) {
    const uint64_t rank =
        j < strided
            ? static_cast<uint64_t>((static_cast<unsigned __int128>(j) * kStride) % strided) * 64 %
                  n
            : rng() % n;
    auto s = tree::Select(*v, rank, false);
    if (!s.ok()) return fail("select " + std::to_string(rank) + ": " + s.status().ToString());
    if (!s->has_value() || tree::DecodeInt64Key(**s) != KeyOf(rank, n)) {
      return fail("select " + std::to_string(rank) + " returned a wrong key");
    }
    ++r->reads;
  }
  const auto t2 = std::chrono::steady_clock::now();
  r->ingest_us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
  r->read_us = std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1).count();
  r->memory = (*rt)->GetStats().memory;
  r->final_rss_kib = ProcStatusKiB("VmRSS:");
  r->peak_rss_kib = ProcStatusKiB("VmHWM:");
  r->ok = 1;
}

ChildReport RunInChild(const std::string& dir, uint64_t n, uint64_t cache_bytes) {
  ChildReport r;
  const bool ran = testutil::RunInForkedChild(
      [&](ChildReport* out) {
        // The configuration the RSS bound is documented for (docs/memory_budget.md "The
        // constant"): glibc's mmap threshold pinned, as the `cowtree` command does.
        out->malloc_pinned = PinMallocMmapThreshold() ? 1 : 0;
        IngestAndReadAll(dir, n, cache_bytes, out);
      },
      &r);
  EXPECT_TRUE(ran) << "the child failed or died";
  return r;
}

TEST(MemoryBudget, RssStaysWithinBudgetThroughIngestAndFullRead) {
  const uint64_t n = EnvU64("COWTREE_BUDGET_ENTRIES", 1000000);
  const uint64_t cache_bytes = EnvU64("COWTREE_BUDGET_CACHE_MIB", 16) << 20;
  TempDir dir;
  const ChildReport r = RunInChild(dir.path(), n, cache_bytes);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.malloc_pinned);
  std::printf(
      "entries %llu cache %llu MiB: RSS before open %.1f MiB, peak after ingest %.1f MiB, "
      "peak %.1f MiB, final RSS %.1f MiB, leaves %llu, ingest "
      "%.3f us/key, %llu selects %.3f us each; budget: fixed %.1f MiB nodes %.1f MiB dirty %.1f "
      "MiB clean %.1f MiB pool %.1f MiB, %llu evictions, %llu trims (%.0f ms)\n",
      (unsigned long long)n, (unsigned long long)(cache_bytes >> 20), r.base_rss_kib / 1024.0,
      r.ingest_peak_rss_kib / 1024.0, r.peak_rss_kib / 1024.0, r.final_rss_kib / 1024.0,
      (unsigned long long)r.leaf_count, double(r.ingest_us) / n, (unsigned long long)r.reads,
      double(r.read_us) / r.reads, r.memory.fixed_bytes / 1048576.0,
      r.memory.node_bytes / 1048576.0, r.memory.dirty_bytes / 1048576.0,
      r.memory.clean_bytes / 1048576.0, r.memory.pool_bytes / 1048576.0,
      (unsigned long long)r.memory.evictions, (unsigned long long)r.memory.trims,
      r.memory.trim_ns / 1e6);
  if (cache_bytes == 0) return;  // unlimited: a measurement, nothing to hold
  EXPECT_GT(r.memory.evictions, 0u);
  // Everything the budget counts (fixed, node, dirty, clean and pool bytes) is within it.
  EXPECT_LE(static_cast<uint64_t>(r.memory.resident_bytes()), cache_bytes);
  EXPECT_LE(static_cast<uint64_t>(r.memory.pool_bytes), cache_bytes / 16);
  EXPECT_LE(r.peak_rss_kib * 1024,
            cache_bytes + kRssConstantBytes + r.leaf_count * kCheckpointScratchBytesPerLeaf)
      << "peak RSS " << r.peak_rss_kib << " KiB";
}

// ---- Eviction under concurrent snapshot readers. ----

RuntimeOptions SmallOptions(uint64_t cache_bytes, Env* env = nullptr) {
  RuntimeOptions o;
  o.env = env;
  o.cache_bytes = cache_bytes;
  o.background_thread = false;
  o.leaf_capacity_entries = 64;
  o.fanout = 8;
  return o;
}

// Adds `weight` to keys [0, n) of tree `id`, in commits of 5000.
void AddToAll(Runtime* rt, TreeId id, int64_t n, int64_t weight) {
  for (int64_t i = 0; i < n;) {
    RuntimeWriteBatch b(rt);
    for (int j = 0; j < 5000 && i < n; ++j, ++i) {
      tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(i), weight);
    }
    ASSERT_TRUE(rt->Commit(b).ok());
  }
}

TEST(MemoryBudget, PinnedSnapshotReadsEvictedLeavesFromDisk) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallOptions(1 << 20));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  constexpr int64_t kKeys = 120000;  // ~2.6 k leaves: ~3 MiB of leaf content
  const TreeId id = CreateTree(rt->get(), "t");
  AddToAll(rt->get(), id, kKeys, 1);
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  RuntimeSnapshot old_snap = (*rt)->GetSnapshot();  // every key has weight 1 here
  AddToAll(rt->get(), id, kKeys, 1);                // and weight 2 after this
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  auto info = (*rt)->FindTree("t", old_snap);
  ASSERT_TRUE(info.ok());
  auto* host = tree::AsOrderStatTree(info->tree.get());
  const auto old_v = host->VersionAt(old_snap.epoch());
  const auto new_v = host->VersionAt((*rt)->GetSnapshot().epoch());
  ASSERT_NE(old_v, new_v);
  const uint64_t loads_before = host->leaf_loads();
  std::atomic<int> wrong{0}, errors{0};
  auto reader = [&](std::shared_ptr<const tree::TreeVersion> v, int64_t want, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20000; ++i) {
      const int64_t key = static_cast<int64_t>(rng() % kKeys);
      auto w = tree::WeightOf(*v, tree::EncodeInt64Key(key));
      if (!w.ok()) {
        errors.fetch_add(1);
      } else if (*w != want) {
        wrong.fetch_add(1);
      }
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(reader, old_v, 1, 1);
  threads.emplace_back(reader, old_v, 1, 2);
  threads.emplace_back(reader, new_v, 2, 3);
  threads.emplace_back(reader, new_v, 2, 4);
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  const MemoryBudgetStats m = (*rt)->GetStats().memory;
  EXPECT_GT(m.evictions, 0u);
  // Both versions together hold ~6 MiB of leaves, 1 MiB fits: many leaves were read twice.
  EXPECT_GT(host->leaf_loads() - loads_before, 2u * old_v->leaf_count);
  EXPECT_LE(m.dirty_bytes + m.clean_bytes + m.fixed_bytes, int64_t{1} << 20);
}

// ---- Eviction with the fault-injecting Env. ----

TEST(MemoryBudget, FailedReReadIsAnIOErrorNeverAWrongValue) {
  FaultInjectionEnv env;
  auto rt = recovery::Open("/db", SmallOptions(1 << 20, &env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  constexpr int64_t kKeys = 60000;
  const TreeId id = CreateTree(rt->get(), "t");
  AddToAll(rt->get(), id, kKeys, 3);
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("t", snap);
  ASSERT_TRUE(info.ok());
  const auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  (*rt)->EvictClean();
  env.FailRandomOps(3, /*seed=*/7, EIO, testutil::OpScope::kAnyOp);  // a third of the reads fail
  int io_errors = 0, ok_reads = 0;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t rank = rng() % (3 * kKeys);
    auto s = tree::Select(*v, rank, false);
    if (!s.ok()) {
      ASSERT_TRUE(s.status().IsIOError()) << s.status().ToString();
      ++io_errors;
      continue;
    }
    ASSERT_TRUE(s->has_value());
    ASSERT_EQ(tree::DecodeInt64Key(**s), static_cast<int64_t>(rank / 3)) << "rank " << rank;
    ++ok_reads;
  }
  EXPECT_GT(io_errors, 0) << "leaf loads " << tree::AsOrderStatTree(info->tree.get())->leaf_loads()
                          << ", last fault " << env.LastFault();
  EXPECT_GT(ok_reads, 0);
  env.ClearFaults();
  for (uint64_t rank = 0; rank < 3 * kKeys; rank += 97) {
    auto s = tree::Select(*v, rank, false);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(tree::DecodeInt64Key(**s), static_cast<int64_t>(rank / 3));
  }
  EXPECT_GT((*rt)->GetStats().memory.evictions, 0u);
}

TEST(MemoryBudget, OptionsAreValidated) {
  TempDir dir;
  RuntimeOptions o;
  o.cache_bytes = 4096;
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_FALSE(rt.ok());
  EXPECT_TRUE(rt.status().IsInvalidArgument());
  EXPECT_NE(rt.status().message().find("cache_bytes"), std::string::npos);
  o.cache_bytes = 16 << 20;
  o.cache_dirty_percent = 0;
  rt = recovery::Open(dir.path(), o);
  ASSERT_FALSE(rt.ok());
  EXPECT_NE(rt.status().message().find("cache_dirty_percent"), std::string::npos);
}

// A tree that stops receiving writes drops its pre-batch version at the next checkpoint (the
// cause named in issue 8: it used to keep it until its own next commit), so the leaves only
// that version held are freed: after EvictClean nothing but fixed bytes stays charged.
TEST(MemoryBudget, IdleTreeReleasesItsOldVersionAtCheckpoint) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallOptions(0));
  ASSERT_TRUE(rt.ok());
  const TreeId a = CreateTree(rt->get(), "a");
  const TreeId b = CreateTree(rt->get(), "b");
  AddToAll(rt->get(), a, 20000, 1);
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  {
    // A snapshot pinned while "a" is last written keeps the pre-batch version past the commit.
    RuntimeSnapshot pin = (*rt)->GetSnapshot();
    AddToAll(rt->get(), a, 20000, 1);
  }
  AddToAll(rt->get(), b, 1000, 1);  // "a" is idle from here on
  (*rt)->EvictClean();
  EXPECT_GT((*rt)->GetStats().memory.clean_bytes, 0);  // the old version's leaves, resident
  ASSERT_TRUE((*rt)->Checkpoint().ok());
  (*rt)->EvictClean();
  const MemoryBudgetStats m = (*rt)->GetStats().memory;
  EXPECT_EQ(m.dirty_bytes, 0);
  EXPECT_EQ(m.clean_bytes, 0);
  EXPECT_GT(m.fixed_bytes, 0);
}

// ---- The write stall (docs/memory_budget.md "Dirty leaves"). ----

// A tree whose fixed and node bytes take most of a 4 MiB budget (~5.7 k leaves of <= 64
// entries, fan-out 8: ~2.8 MiB at the end), grown by commits of 3 000 random keys (~1.3 MiB of new
// dirty leaves each). No background thread: only the commits' own stall checkpoints run. After
// every commit the dirty bytes fit in the room eviction cannot make beside the fixed and node bytes
// (the budget minus one dirty share; at least a quarter of the share), and everything the budget
// counts stays within it. With the stall at twice the dirty share alone (2 MiB), two commits'
// dirty leaves piled up on top of the fixed and node bytes.
TEST(MemoryBudget, CommitStallsBeforeUnevictableBytesOutgrowTheBudget) {
  TempDir dir;
  constexpr uint64_t kBudget = 4ull << 20;
  auto rt = recovery::Open(dir.path(), SmallOptions(kBudget));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  const int64_t share = static_cast<int64_t>((*rt)->memory_budget()->dirty_share_bytes());
  ASSERT_EQ(share, static_cast<int64_t>(kBudget / 100 * 25));
  const TreeId id = CreateTree(rt->get(), "t");
  constexpr uint64_t kKeys = 250000;
  uint64_t tight_commits = 0;  // commits after which the room was below twice the share
  for (uint64_t i = 0; i < kKeys;) {
    RuntimeWriteBatch b(rt->get());
    for (uint64_t j = 0; j < 3000 && i < kKeys; ++j, ++i) {
      const uint64_t v =
          static_cast<uint64_t>((static_cast<unsigned __int128>(i) * kStride) % kKeys);
      tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(static_cast<int64_t>(v)), 1);
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
    const MemoryBudgetStats m = (*rt)->GetStats().memory;
    const int64_t room = static_cast<int64_t>(kBudget) - share - (m.fixed_bytes + m.node_bytes);
    if (room < 2 * share) ++tight_commits;
    ASSERT_LE(m.dirty_bytes, std::max(std::min(room, 2 * share), share / 4))
        << "after key " << i << ": fixed " << m.fixed_bytes << " nodes " << m.node_bytes;
    ASSERT_LE(m.resident_bytes(), static_cast<int64_t>(kBudget)) << "after key " << i;
  }
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("t", snap);
  ASSERT_TRUE(info.ok());
  const auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  EXPECT_EQ(v->positive_count, kKeys);
  EXPECT_GT(v->leaf_count, 5000u);
  EXPECT_GT(tight_commits, 30u);
}

// ---- Redo under a budget (docs/memory_budget.md "Reopen after a crash"). ----

TEST(MemoryBudget, TheCheckpointLogBytesAreCappedByTheBudget) {
  RuntimeOptions o;
  EXPECT_EQ(EffectiveCheckpointLogBytes(o), o.checkpoint_log_bytes);  // no budget: as set
  o.cache_bytes = 64ull << 20;
  EXPECT_EQ(EffectiveCheckpointLogBytes(o), 16ull << 20);
  o.cache_bytes = 1ull << 20;
  EXPECT_EQ(EffectiveCheckpointLogBytes(o), kCheckpointLogBytesUnderBudgetMin);
  o.cache_bytes = 64ull << 30;
  EXPECT_EQ(EffectiveCheckpointLogBytes(o), o.checkpoint_log_bytes);  // the smaller one
  o.checkpoint_log_bytes = 0;
  EXPECT_EQ(EffectiveCheckpointLogBytes(o), 0u);  // never stays never
}

// Updates of a few hot keys write redo without dirtying leaves: the budget's dirty trigger
// never fires, and before the cap a reopen after a crash held up to 256 MiB of redo twice
// (105.6 MiB peak for 53 MB of redo under a 16 MiB budget). With no coordinator, the commits
// themselves checkpoint once the redo passes twice the capped threshold; without a budget the
// redo grows as before.
TEST(MemoryBudget, RedoOfHotKeysStaysWithinTheBudgetsShare) {
  for (const uint64_t cache_bytes : {uint64_t{4} << 20, uint64_t{0}}) {
    TempDir dir;
    RuntimeOptions o = SmallOptions(cache_bytes);
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    const uint64_t threshold = EffectiveCheckpointLogBytes(o);
    const TreeId id = CreateTree(rt->get(), "hot");
    // The redo written in all (the count drops to what follows the freeze at a checkpoint).
    uint64_t most = 0, written = 0, previous = 0;
    while (written < 6 * kCheckpointLogBytesUnderBudgetMin) {
      RuntimeWriteBatch b(rt->get());
      for (int64_t k = 0; k < 1000; ++k) {
        tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(k % 50), 1);
      }
      ASSERT_TRUE((*rt)->Commit(b).ok());
      const uint64_t now = (*rt)->GetStats().log_bytes_since_checkpoint;
      written += now >= previous ? now - previous : now;
      previous = now;
      most = std::max(most, now);
    }
    if (cache_bytes != 0) {
      EXPECT_EQ(threshold, kCheckpointLogBytesUnderBudgetMin);
      EXPECT_LT(most, 2 * threshold + 64 * 1024) << "one commit past twice the threshold at most";
      EXPECT_GE((*rt)->GetStats().checkpoints_written, 2u);
    } else {
      EXPECT_GE(most, 6 * kCheckpointLogBytesUnderBudgetMin);
      EXPECT_EQ((*rt)->GetStats().checkpoints_written, 0u);
    }
  }
}

}  // namespace
}  // namespace cowtree
