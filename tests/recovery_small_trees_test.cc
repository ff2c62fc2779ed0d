// Many small trees (issue 8, docs/catalog.md "Inline trees"): a tree of at most one leaf lives
// inline in its catalog entry (no object), opening restores no tree (a handle each; restored
// on first access), the answers stay exact, fsck understands the layout, and restores race
// readers, a writer and checkpoints safely (run under TSan: COWTREE_SANITIZE=thread).
//
// COWTREE_SMALL_TREES=<n> sets the number of trees of SmallTrees.* (unit: 100 000; the `long`
// label runs 1 000 000, tests/long.cmake).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/proc_status.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using Entries = std::map<int64_t, int64_t>;
using testutil::TempDir;

// Bytes on disk for trees of 1..10 entries created 1000 per commit and checkpointed: the whole
// store directory (every file, apparent size) is at most kBytesPerTreeMax per tree plus
// kFixedBytesMax. Per tree: the catalog entry with its inline leaf, ~165 B on average (36 +
// name + 8 params + 20 + 16 per entry), in chunks that fill their 64 KiB slots. Fixed: every
// size class the catalog root and partly filled chunks passed through owns at least one 4 MiB
// segment of its data file (docs/data_files.md): at most 5 such files besides the 64 KiB one,
// plus the superblock, manifest, OT checkpoint and log. (1 M trees: ~160 B/tree in all.)
constexpr uint64_t kBytesPerTreeMax = 200;
constexpr uint64_t kFixedBytesMax = 6 * (4ull << 20);

uint64_t TreeCount() {
  const char* env = std::getenv("COWTREE_SMALL_TREES");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 100000;
}

uint64_t Mix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Tree i: 1..10 distinct keys, weights in [-1, 3] without 0 (deterministic).
Entries EntriesOf(uint64_t i) {
  uint64_t s = i;
  const size_t n = 1 + Mix(&s) % 10;
  Entries out;
  while (out.size() < n) {
    int64_t w = static_cast<int64_t>(Mix(&s) % 5) - 1;
    out[static_cast<int64_t>(Mix(&s) % 100000) - 50000] = w == 0 ? 2 : w;
  }
  return out;
}

std::string NameOf(uint64_t i) { return "g" + std::to_string(i); }

RuntimeOptions Options(uint32_t leaf = 240, uint32_t fanout = 64) {
  RuntimeOptions o;
  o.background_thread = false;
  o.leaf_capacity_entries = leaf;
  o.fanout = fanout;
  return o;
}

void AddOps(RuntimeWriteBatch* b, TreeId id, const Entries& e) {
  for (const auto& [k, w] : e)
    tree::AppendOrderStatOp(b->MutableOps(id), tree::EncodeInt64Key(k), w);
}

// Creates trees [0, n) 1000 per commit, checkpointing every `checkpoint_every` commits.
void CreateTrees(Runtime* rt, uint64_t n, uint64_t checkpoint_every) {
  uint64_t commits = 0;
  for (uint64_t first = 0; first < n; first += 1000) {
    RuntimeWriteBatch b(rt);
    for (uint64_t i = first; i < std::min(n, first + 1000); ++i) {
      const TreeId id = b.CreateTree(NameOf(i), tree::kOrderStatTreeTypeId,
                                     tree::OrderStatTreeParams(tree::KeyType::kInt64));
      AddOps(&b, id, EntriesOf(i));
    }
    ASSERT_TRUE(rt->Commit(b).ok());
    if (++commits % checkpoint_every == 0) ASSERT_TRUE(rt->Checkpoint().ok());
  }
}

Entries ReadTree(Runtime* rt, const std::string& name, const RuntimeSnapshot& snap) {
  Result<TreeInfo> info = rt->FindTree(name, snap);
  EXPECT_TRUE(info.ok()) << name << ": " << info.status().ToString();
  if (!info.ok()) return {};
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  Entries out;
  EXPECT_TRUE(tree::ForEachAll(*v, [&](uint64_t key, int64_t w) {
                out[tree::DecodeInt64Key(key)] = w;
                return true;
              }).ok());
  uint64_t n = 0;
  for (const auto& [k, w] : out) n += w > 0 ? static_cast<uint64_t>(w) : 0;
  EXPECT_EQ(tree::PositiveCount(*v), n) << name;
  return out;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

TEST(SmallTrees, InlineCheapLazyAndExact) {
  const uint64_t n = TreeCount();
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), n, /*checkpoint_every=*/25);
    ASSERT_TRUE((*rt)->Close().ok());
    // No object per tree: catalog chunks (~300 trees each) and the root only.
    EXPECT_LE((*rt)->GetStats().live_objects, n / 100 + 2);
  }
  const uint64_t bytes = DirBytes(dir.path());
  EXPECT_LE(bytes, n * kBytesPerTreeMax + kFixedBytesMax)
      << bytes << " bytes for " << n << " trees";

  // Opening reads the catalog, not the trees: what the open adds to RSS stays within 16 MiB plus
  // 240 B per tree (issue 8: <= 256 MiB for 1 M trees; 37 MiB measured, README).
  const uint64_t rss_before_kib = testutil::ProcStatusKiB("VmRSS:");
  recovery::OpenReport report;
  auto rt = recovery::Open(dir.path(), Options(), &report);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  const uint64_t rss_after_kib = testutil::ProcStatusKiB("VmRSS:");
  const uint64_t open_kib = rss_after_kib > rss_before_kib ? rss_after_kib - rss_before_kib : 0;
  std::printf("open of %llu small trees: RSS +%.1f MiB\n", static_cast<unsigned long long>(n),
              open_kib / 1024.0);
  EXPECT_LE(open_kib * 1024, (uint64_t{16} << 20) + 240 * n);
  EXPECT_EQ(report.trees_loaded, n);
  RuntimeStats stats = (*rt)->GetStats();
  EXPECT_EQ(stats.trees_restored, 0u) << "opening must restore no tree";
  EXPECT_EQ(stats.tree_count, n);
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  EXPECT_EQ((*rt)->ListTrees(snap).size(), n);
  EXPECT_EQ((*rt)->GetStats().trees_restored, 0u) << "listing must restore no tree";
  uint64_t s = 99;
  std::map<uint64_t, bool> touched;
  for (int q = 0; q < 2000; ++q) {
    const uint64_t i = Mix(&s) % n;
    touched[i] = true;
    ASSERT_EQ(ReadTree(rt->get(), NameOf(i), snap), EntriesOf(i)) << NameOf(i);
  }
  EXPECT_EQ((*rt)->GetStats().trees_restored, touched.size());
}

// Trees move between inline and object storage as they grow past one leaf and shrink back;
// trees dropped before their first access; everything survives reopen and fsck is clean.
TEST(SmallTrees, InlineAndObjectTransitionsSurviveReopenAndFsck) {
  TempDir dir;
  std::map<std::string, Entries> model;
  const auto opts = Options(/*leaf=*/8, /*fanout=*/4);
  {
    auto rt = recovery::Open(dir.path(), opts);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RuntimeWriteBatch b(rt->get());
    for (int i = 0; i < 40; ++i) {
      const TreeId id = b.CreateTree(NameOf(i), tree::kOrderStatTreeTypeId,
                                     tree::OrderStatTreeParams(tree::KeyType::kInt64));
      Entries e;
      for (int k = 0; k < (i % 2 == 0 ? 3 : 50); ++k) e[k * 7 - 100] = 1 + k % 3;  // big: odd
      AddOps(&b, id, e);
      model[NameOf(i)] = e;
    }
    b.CreateTree("empty", tree::kOrderStatTreeTypeId,
                 tree::OrderStatTreeParams(tree::KeyType::kInt64));
    model["empty"] = {};
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  for (int round = 0; round < 3; ++round) {
    auto rt = recovery::Open(dir.path(), opts);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_EQ((*rt)->GetStats().trees_restored, 0u);
    RuntimeSnapshot snap = (*rt)->GetSnapshot();
    RuntimeWriteBatch b(rt->get());
    // Grow the small ones past one leaf, shrink the big ones to two entries.
    for (int i = round; i < 40; i += 3) {
      std::optional<TreeId> id;
      for (const TreeInfo& t : (*rt)->ListTrees(snap)) {
        if (t.name == NameOf(i)) id = t.id;
      }
      if (!id.has_value()) continue;  // dropped in an earlier round
      auto described = (*rt)->DescribeTree(*id, snap);
      ASSERT_TRUE(described.has_value());
      EXPECT_EQ(described->name, NameOf(i));
      EXPECT_EQ(described->tree, nullptr);
      Entries& e = model[NameOf(i)];
      if (e.size() <= 8) {
        for (int k = 0; k < 30; ++k) {
          tree::AppendOrderStatOp(b.MutableOps(*id), tree::EncodeInt64Key(1000 + k), 1);
          e[1000 + k] += 1;
        }
      } else {
        for (auto it = std::next(e.begin(), 2); it != e.end();) {
          tree::AppendOrderStatOp(b.MutableOps(*id), tree::EncodeInt64Key(it->first), -it->second);
          it = e.erase(it);
        }
      }
    }
    // Drop two trees nobody touched since open (one inline, one as objects in round 0).
    for (const TreeInfo& t : (*rt)->ListTrees(snap)) {
      if (t.name == NameOf(30 + 2 * round) || t.name == NameOf(31 + 2 * round)) {
        b.DropTree(t.id);
        model.erase(t.name);
      }
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    RuntimeSnapshot after = (*rt)->GetSnapshot();
    for (const auto& [name, e] : model) ASSERT_EQ(ReadTree(rt->get(), name, after), e) << name;
    ASSERT_TRUE((*rt)->Close().ok());
    auto fsck = recovery::Fsck(dir.path(), recovery::FsckOptions());
    ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
    EXPECT_EQ(fsck->errors(), 0u);
    for (const auto& f : fsck->findings) ADD_FAILURE() << f.message;
    EXPECT_GT(fsck->inline_trees_checked, 0u);
    EXPECT_LT(fsck->inline_trees_checked, fsck->trees_checked);
  }
  auto rt = recovery::Open(dir.path(), opts);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  EXPECT_EQ((*rt)->ListTrees(snap).size(), model.size());
  for (const auto& [name, e] : model) ASSERT_EQ(ReadTree(rt->get(), name, snap), e) << name;
}

// First accesses from many readers race a writer (which restores the trees it writes) and
// checkpoints; every reader sees exactly the state of its snapshot.
TEST(SmallTrees, LazyRestoreRacesReadersWriterAndCheckpoints) {
  constexpr uint64_t kTrees = 3000;
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), kTrees, 1000);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  std::map<std::string, TreeId> ids;
  {
    RuntimeSnapshot snap = r->GetSnapshot();
    for (const TreeInfo& t : r->ListTrees(snap)) ids[t.name] = t.id;
  }
  // The writer adds key 10^9 + c with weight 1 to tree (c * 7) % kTrees at commit c (odd trees
  // only), so a reader can tell exactly what its snapshot must hold.
  const uint64_t base_epoch = r->visible_epoch();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0};
  auto expected = [&](uint64_t i, uint64_t epoch) {
    Entries e = EntriesOf(i);
    for (uint64_t c = 1; base_epoch + c <= epoch; ++c) {
      const uint64_t t = (c * 14 + 1) % kTrees;
      if (t == i) e[1000000000 + static_cast<int64_t>(c)] = 1;
    }
    return e;
  };
  std::thread writer([&] {
    for (uint64_t c = 1; c <= 400; ++c) {
      RuntimeWriteBatch b(r);
      const uint64_t t = (c * 14 + 1) % kTrees;
      tree::AppendOrderStatOp(b.MutableOps(ids[NameOf(t)]),
                              tree::EncodeInt64Key(1000000000 + static_cast<int64_t>(c)), 1);
      if (!r->Commit(b).ok()) failures.fetch_add(1);
      if (c % 50 == 0 && !r->Checkpoint().ok()) failures.fetch_add(1);
    }
    stop.store(true);
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      uint64_t s = 1000 + t;
      while (!stop.load()) {
        RuntimeSnapshot snap = r->GetSnapshot();
        const uint64_t i = Mix(&s) % kTrees;
        Result<TreeInfo> info = r->FindTree(NameOf(i), snap);
        if (!info.ok()) {
          failures.fetch_add(1);
          continue;
        }
        auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
        Entries got;
        (void)tree::ForEachAll(*v, [&](uint64_t key, int64_t w) {
          got[tree::DecodeInt64Key(key)] = w;
          return true;
        });
        if (got != expected(i, snap.epoch())) failures.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0u);
  RuntimeSnapshot snap = r->GetSnapshot();
  for (uint64_t i = 0; i < kTrees; i += 7) {
    ASSERT_EQ(ReadTree(r, NameOf(i), snap), expected(i, snap.epoch())) << i;
  }
}

}  // namespace
}  // namespace cowtree
