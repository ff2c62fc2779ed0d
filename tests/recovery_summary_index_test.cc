// A multi-level summary index end to end (docs/summary_chunk.md): with the chunk limits lowered
// (RuntimeOptions::summary_*_max), a few thousand entries give a tree whose index has 3+
// levels. Checks: reopen restores it without reading a leaf and answers like the model; a
// checkpoint after one changed entry writes exactly that leaf's path (one chunk per level and
// the descriptor); fsck walks every level clean and reports a damaged index chunk at its
// place; dump lists the index chunks; a store written with the default limits reads back with
// lowered ones and the other way round.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "persistence/file_names.h"
#include "persistence/object_store.h"
#include "recovery/dump.h"
#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

constexpr const char* kDir = "/db";

class SummaryIndexStoreTest : public ::testing::Test {
 protected:
  RuntimeOptions Options(uint32_t summaries, uint32_t refs) {
    RuntimeOptions o;
    o.env = &env_;
    o.background_thread = false;
    o.checkpoint_on_close = true;
    o.leaf_capacity_entries = 8;
    o.fanout = 4;
    o.summary_chunk_entries_max = summaries;
    o.summary_index_refs_max = refs;
    return o;
  }

  void Open(uint32_t summaries = 4, uint32_t refs = 4) {
    auto rt = recovery::Open(kDir, Options(summaries, refs));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    rt_ = std::move(rt).value();
  }
  void Close() {
    ASSERT_TRUE(rt_->Close().ok());
    rt_.reset();
  }

  // Adds `n` random keys (weights 1..3) to tree "t" (created on first use), 500 per commit.
  void Insert(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int done = 0; done < n;) {
      RuntimeWriteBatch b(rt_.get());
      RuntimeSnapshot snap = rt_->GetSnapshot();
      auto info = rt_->FindTree("t", snap);
      TreeId id = info.ok() ? info->id
                            : b.CreateTree("t", tree::kOrderStatTreeTypeId,
                                           tree::OrderStatTreeParams(tree::KeyType::kInt64));
      for (int i = 0; i < 500 && done < n; ++i, ++done) {
        const int64_t key = static_cast<int64_t>(rng() % 1000000);
        const int64_t w = 1 + static_cast<int64_t>(rng() % 3);
        tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(key), w);
        model_[key] += w;
      }
      ASSERT_TRUE(rt_->Commit(b).ok());
    }
  }

  tree::OrderStatTreeHost* Host() {
    auto info = rt_->FindTree("t", rt_->GetSnapshot());
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    if (!info.ok()) return nullptr;
    keep_ = info->tree;
    return tree::AsOrderStatTree(info->tree.get());
  }

  void ExpectMatchesModel() {
    tree::OrderStatTreeHost* host = Host();
    ASSERT_NE(host, nullptr);
    auto v = host->VersionAt(rt_->GetSnapshot().epoch());
    std::vector<std::pair<int64_t, int64_t>> seen;
    ASSERT_TRUE(tree::ForEach(*v, 0, UINT64_MAX, [&](uint64_t k, int64_t w) {
                  seen.emplace_back(tree::DecodeInt64Key(k), w);
                  return true;
                }).ok());
    std::vector<std::pair<int64_t, int64_t>> want(model_.begin(), model_.end());
    EXPECT_EQ(seen, want);
  }

  std::set<uint64_t> Ids(const std::vector<NodeID>& ids) {
    std::set<uint64_t> out;
    for (NodeID id : ids) out.insert(id.raw());
    return out;
  }

  testutil::FaultInjectionEnv env_;
  std::unique_ptr<Runtime> rt_;
  std::shared_ptr<HostedTree> keep_;
  std::map<int64_t, int64_t> model_;
};

TEST_F(SummaryIndexStoreTest, ThreeLevelsRestoreWithoutLeafReadsAndRewriteOnePath) {
  Open();
  Insert(3000, 1);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  Close();
  Open();
  tree::OrderStatTreeHost* host = Host();
  ASSERT_NE(host, nullptr);
  const tree::PersistedIndex& index = host->published().index;
  const size_t height = index.levels.size() + 1;
  EXPECT_GE(height, 3u);
  EXPECT_EQ(host->leaf_loads(), 0u) << "restore read a leaf";
  ExpectMatchesModel();

  // One entry changes: the next checkpoint writes its leaf, one chunk per level, the descriptor.
  const std::set<uint64_t> before = Ids(host->PersistedObjects());
  const int64_t key = std::next(model_.begin(), static_cast<long>(model_.size() / 2))->first;
  {
    RuntimeWriteBatch b(rt_.get());
    tree::AppendOrderStatOp(b.MutableOps(rt_->FindTree("t", rt_->GetSnapshot())->id),
                            tree::EncodeInt64Key(key), 1);
    model_[key] += 1;
    ASSERT_TRUE(rt_->Commit(b).ok());
  }
  ASSERT_TRUE(rt_->Checkpoint().ok());
  host = Host();
  const std::set<uint64_t> after = Ids(host->PersistedObjects());
  std::vector<uint64_t> added, removed;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  EXPECT_EQ(added.size(), 1 + height + 1) << "leaf + one chunk per level + descriptor";
  EXPECT_EQ(removed.size(), added.size());
  ASSERT_EQ(host->published().index.levels.size() + 1, height);
  for (size_t l = 0; l < index.levels.size(); ++l) {
    size_t changed = 0;
    for (const tree::OldIndexChunk& c : host->published().index.levels[l]) {
      changed += std::binary_search(added.begin(), added.end(), c.chunk_id.raw());
    }
    EXPECT_EQ(changed, 1u) << "level " << l + 1;
  }
  Close();

  // fsck walks every level; dump lists the index chunks.
  recovery::FsckOptions fo;
  fo.env = &env_;
  auto report = recovery::Fsck(kDir, fo);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors(), 0u);
  size_t chunks = host == nullptr ? 0 : 0;
  Open();
  host = Host();
  chunks = host->published().index.chunks.size();
  for (const auto& level : host->published().index.levels) chunks += level.size();
  keep_.reset();
  Close();
  EXPECT_EQ(report->index_chunks_checked, chunks);
  recovery::DumpOptions dopt;
  dopt.env = &env_;
  dopt.format = recovery::DumpFormat::kJson;
  std::ostringstream out;
  ASSERT_TRUE(recovery::DumpTree(kDir, "t", dopt, out).ok());
  EXPECT_NE(out.str().find("\"index_height\": " + std::to_string(height)), std::string::npos)
      << out.str().substr(0, 600);
  EXPECT_NE(out.str().find("\"level\": " + std::to_string(height - 1)), std::string::npos);
}

TEST_F(SummaryIndexStoreTest, DamagedIndexChunkIsRefusedAndReported) {
  Open(2, 2);
  Insert(2000, 2);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  tree::OrderStatTreeHost* host = Host();
  ASSERT_GE(host->published().index.levels.size(), 2u);
  const NodeID victim = host->published().index.levels[1].front().chunk_id;  // a level-2 chunk
  auto* store = rt_->object_store();
  auto entry = store->table().Get(victim);
  ASSERT_TRUE(entry.ok());
  const std::string file = std::string(kDir) + "/" + DataFileName(entry->address.size_class_bytes);
  keep_.reset();
  Close();
  ASSERT_TRUE(env_.FlipBit(file, entry->address.offset_bytes + 32 + 20, 3).ok());
  recovery::FsckOptions fo;
  fo.env = &env_;
  auto report = recovery::Fsck(kDir, fo);
  ASSERT_TRUE(report.ok());
  ASSERT_GE(report->errors(), 1u);
  bool named = false;
  for (const recovery::FsckFinding& f : report->findings) {
    named |= f.node_id == victim.raw() && f.offset_bytes == entry->address.offset_bytes;
  }
  EXPECT_TRUE(named) << "no finding names the damaged index chunk";
  Open(2, 2);
  auto info = rt_->FindTree("t", rt_->GetSnapshot());
  EXPECT_TRUE(info.status().IsCorruption()) << info.status().ToString();
}

TEST_F(SummaryIndexStoreTest, LimitsMayChangeBetweenOpens) {
  Open(0, 0);  // defaults: one level
  Insert(1500, 3);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  EXPECT_EQ(Host()->published().index.levels.size(), 0u);
  keep_.reset();
  Close();
  Open(2, 3);  // lowered: the next checkpoint grows levels
  ExpectMatchesModel();
  Insert(10, 4);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  EXPECT_GE(Host()->published().index.levels.size(), 2u);
  keep_.reset();
  Close();
  Open(0, 0);  // and back to one level
  EXPECT_EQ(Host()->leaf_loads(), 0u);
  ExpectMatchesModel();
  Insert(10, 5);
  ASSERT_TRUE(rt_->Checkpoint().ok());
  EXPECT_EQ(Host()->published().index.levels.size(), 0u);
  keep_.reset();
  Close();
  recovery::FsckOptions fo;
  fo.env = &env_;
  auto report = recovery::Fsck(kDir, fo);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->errors(), 0u);
  Open(0, 0);
  ExpectMatchesModel();
}

// Many checkpoints of a growing and shrinking tree with a deep index (2 summaries per chunk, 3
// refs per index chunk): inserts, deletions to zero (leaves merge, chunks coalesce), a
// checkpoint per round, a reopen every third round (restore reads no leaf and matches the
// model), fsck clean at the end. COWTREE_SUMMARY_INDEX_ENTRIES sets the entries inserted
// (unit: 20 000; tests/long.cmake: 2 000 000, an index of 11 levels, 2.3 min, 5.2 GB peak RSS in
// the in-memory Env).
TEST_F(SummaryIndexStoreTest, ManyCheckpointsOfADeepIndex) {
  const char* env = std::getenv("COWTREE_SUMMARY_INDEX_ENTRIES");
  const int entries = env != nullptr ? std::atoi(env) : 20000;
  const int rounds = 12;
  Open(2, 3);
  std::mt19937_64 rng(11);
  size_t tallest = 0;
  for (int r = 0; r < rounds; ++r) {
    Insert(entries / rounds, 100 + static_cast<uint64_t>(r));
    {  // delete ~10% of the keys to zero
      RuntimeWriteBatch b(rt_.get());
      const TreeId id = rt_->FindTree("t", rt_->GetSnapshot())->id;
      for (auto it = model_.begin(); it != model_.end();) {
        if (rng() % 10 == 0) {
          tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(it->first), -it->second);
          it = model_.erase(it);
        } else {
          ++it;
        }
      }
      ASSERT_TRUE(rt_->Commit(b).ok());
    }
    ASSERT_TRUE(rt_->Checkpoint().ok()) << "round " << r;
    tallest = std::max(tallest, Host()->published().index.levels.size() + 1);
    if (r % 3 == 2) {
      keep_.reset();
      Close();
      Open(2, 3);
      ASSERT_EQ(Host()->leaf_loads(), 0u) << "round " << r;
      ExpectMatchesModel();
    }
  }
  keep_.reset();
  Close();
  std::printf("[summary-index] %d entries inserted, %zu kept, tallest index %zu levels\n", entries,
              model_.size(), tallest);
  EXPECT_GE(tallest, 5u);
  recovery::FsckOptions fo;
  fo.env = &env_;
  auto report = recovery::Fsck(kDir, fo);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->errors(), 0u);
}

TEST_F(SummaryIndexStoreTest, LimitsOutsideTheirRangeAreRefused) {
  EXPECT_TRUE(recovery::Open(kDir, Options(1023, 0)).status().IsInvalidArgument());
  EXPECT_TRUE(recovery::Open(kDir, Options(0, 1)).status().IsInvalidArgument());
  EXPECT_TRUE(recovery::Open(kDir, Options(0, 818)).status().IsInvalidArgument());
}

}  // namespace
}  // namespace cowtree
