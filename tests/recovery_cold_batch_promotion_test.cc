// Runtime::PromoteColdByNames (persistence/runtime.h): promoting many cold trees at once, one
// read per catalog chunk. The trees it promotes are the ones FindTree alone would (same ids,
// names and entries), with present, absent, repeated and hash-colliding names (test hook); a
// catalog chunk corrupted after open is a Corruption naming the data file and offset, from the
// batch promotion and from a single lookup alike.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "persistence/cold_tree_index.h"
#include "persistence/file_names.h"
#include "persistence/object_format.h"
#include "recovery/fsck.h"
#include "recovery/fsck_context.h"
#include "recovery/open.h"
#include "testutil/cold_tree_hashes.h"
#include "testutil/int64_trees.h"
#include "testutil/live_objects.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using Entries = std::map<int64_t, int64_t>;
using testutil::TempDir;

RuntimeOptions Options() {
  RuntimeOptions o;
  o.background_thread = false;
  return o;
}

std::string NameOf(uint64_t i) { return "group-" + std::to_string(i); }
Entries EntriesOf(uint64_t i) { return {{static_cast<int64_t>(i), 1}, {-3, 1 + i % 5}}; }

// Trees 0..n-1, 500 creations per commit, then a checkpoint and close: every tree is cold at
// the next open, spread over several catalog chunks.
void Build(const std::string& dir, uint64_t n) {
  auto rt = recovery::Open(dir, Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  for (uint64_t i = 0; i < n; i += 500) {
    RuntimeWriteBatch b(rt->get());
    for (uint64_t j = i; j < std::min(n, i + 500); ++j) {
      const TreeId id = b.CreateTree(NameOf(j), tree::kOrderStatTreeTypeId,
                                     tree::OrderStatTreeParams(tree::KeyType::kInt64));
      for (const auto& [k, w] : EntriesOf(j)) {
        tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(k), w);
      }
    }
    ASSERT_TRUE((*rt)->Commit(b).ok());
  }
  ASSERT_TRUE((*rt)->Close().ok());
}

struct Found {
  TreeId id = 0;
  Entries entries;
  bool operator==(const Found&) const = default;
};

// FindTree's answer for `name`: nullopt if NotFound.
std::optional<Found> Lookup(Runtime* rt, const std::string& name) {
  RuntimeSnapshot snap = rt->GetSnapshot();
  Result<TreeInfo> info = rt->FindTree(name, snap);
  if (!info.ok()) {
    EXPECT_TRUE(info.status().IsNotFound()) << info.status().ToString();
    return std::nullopt;
  }
  EXPECT_EQ(info->name, name);
  return Found{info->id, testutil::Int64EntriesAt(*info, snap.epoch())};
}

class BatchPromotion : public testutil::ColdTreeHashTest {};

TEST_P(BatchPromotion, PromotesWhatSingleLookupsWould) {
  const uint64_t n = GetParam() == 2 ? 400 : 5000;  // constant hash: every probe sees all
  TempDir dir;
  Build(dir.path(), n);
  // The names: every third tree, some twice, absent names (colliding under the test hashes).
  std::vector<std::string> names;
  for (uint64_t i = 0; i < n; i += 3) names.push_back(NameOf(i));
  for (uint64_t i = 0; i < n; i += 30) names.push_back(NameOf(i));
  for (const char* absent : {"group-x", "g", "group-99999999", "group-0000"}) {
    names.push_back(absent);
  }
  names.push_back(NameOf(n));
  std::vector<std::string_view> views(names.begin(), names.end());
  // Reference: a fresh open, single lookups only.
  std::map<std::string, std::optional<Found>> single;
  {
    auto rt = recovery::Open(dir.path(), Options());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    for (const std::string& name : names) single[name] = Lookup(rt->get(), name);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  ASSERT_TRUE(r->PromoteColdByNames(views).ok());
  ASSERT_TRUE(r->PromoteColdByNames(views).ok());  // all hot now: a no-op
  ASSERT_TRUE(r->PromoteColdByNames({}).ok());
  EXPECT_EQ(r->GetStats().trees_restored, 0u);  // promoted, not restored
  EXPECT_EQ(r->GetStats().tree_count, n);
  EXPECT_EQ(r->ListTrees(r->GetSnapshot()).size(), n);  // each tree listed once (cold or hot)
  for (const std::string& name : names) {
    ASSERT_EQ(Lookup(r, name), single.at(name)) << name;
    if (name.rfind("group-", 0) == 0 && single.at(name).has_value()) {
      EXPECT_EQ(single.at(name)->entries, EntriesOf(std::stoull(name.substr(6))));
    }
  }
  // Trees not named are still cold and still found (one by one).
  for (uint64_t i = 1; i < n; i += 97) {
    if (i % 3 == 0) continue;
    ASSERT_EQ(Lookup(r, NameOf(i)), (Found{Lookup(r, NameOf(i))->id, EntriesOf(i)})) << i;
  }
  // A commit writing to batch-promoted and cold trees, then reopen: nothing lost.
  {
    RuntimeWriteBatch b(r);
    for (uint64_t i : {uint64_t{0}, uint64_t{1}, n - 1}) {
      tree::AppendOrderStatOp(b.MutableOps(Lookup(r, NameOf(i))->id), tree::EncodeInt64Key(1000),
                              2);
    }
    ASSERT_TRUE(r->Commit(b).ok());
  }
  ASSERT_TRUE(r->Close().ok());
  rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{3}, n - 1}) {
    Entries e = EntriesOf(i);
    if (i != 3) e[1000] = 2;
    ASSERT_EQ(Lookup(rt->get(), NameOf(i))->entries, e) << i;
  }
}

// Batch promotions from several threads (overlapping names) race single lookups, a writer
// and checkpoints that rewrite the chunks of cold trees: every lookup finds its tree, listings
// see every tree once, and the entries are intact afterwards (run under TSan:
// COWTREE_SANITIZE=thread).
TEST_P(BatchPromotion, RacesLookupsWritesAndCheckpoints) {
  const uint64_t n = GetParam() == 2 ? 300 : 3000;
  TempDir dir;
  Build(dir.path(), n);
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  std::map<std::string, TreeId> ids;
  for (const TreeInfo& t : r->ListTrees(r->GetSnapshot())) ids[t.name] = t.id;
  ASSERT_EQ(ids.size(), n);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0};
  std::thread writer([&] {
    for (uint64_t c = 1; c <= 100; ++c) {
      RuntimeWriteBatch b(r);
      tree::AppendOrderStatOp(b.MutableOps(ids.at(NameOf((c * 37) % n))),
                              tree::EncodeInt64Key(5000000 + static_cast<int64_t>(c)), 1);
      if (!r->Commit(b).ok()) failures.fetch_add(1);
      if (c % 10 == 0 && !r->Checkpoint().ok()) failures.fetch_add(1);
    }
    stop.store(true);
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      uint64_t round = 0;
      while (!stop.load()) {
        ++round;
        if (t == 2) {
          if (r->ListTrees(r->GetSnapshot()).size() != n) failures.fetch_add(1);
          continue;
        }
        std::vector<std::string> names;
        for (uint64_t i = (round * 13 + t) % 17; i < n; i += 17) names.push_back(NameOf(i));
        names.push_back("absent-" + std::to_string(round));
        if (!r->PromoteColdByNames(std::vector<std::string_view>(names.begin(), names.end()))
                 .ok()) {
          failures.fetch_add(1);
        }
        RuntimeSnapshot snap = r->GetSnapshot();
        for (size_t k = 0; k + 1 < names.size(); k += 5) {
          Result<TreeInfo> info = r->FindTree(names[k], snap);
          if (!info.ok() || info->id != ids.at(names[k])) failures.fetch_add(1);
        }
      }
    });
  }
  writer.join();
  for (auto& th : readers) th.join();
  EXPECT_EQ(failures.load(), 0u);
  std::map<uint64_t, Entries> expected;
  for (uint64_t c = 1; c <= 100; ++c) {
    const uint64_t i = (c * 37) % n;
    if (expected.count(i) == 0) expected[i] = EntriesOf(i);
    expected[i][5000000 + static_cast<int64_t>(c)] = 1;
  }
  for (uint64_t i = 0; i < n; ++i) {
    const Entries want = expected.count(i) != 0 ? expected.at(i) : EntriesOf(i);
    ASSERT_EQ(Lookup(r, NameOf(i))->entries, want) << i;
  }
  ASSERT_TRUE(r->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Hashes, BatchPromotion, ::testing::Values(0, 1, 2),
                         testutil::ColdTreeHashName);

using testutil::LiveObjects;

void FlipBit(Env* env, const std::string& path, uint64_t offset) {
  auto f = env->OpenFile(path, OpenMode::kReadWrite);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  char c = 0;
  size_t got = 0;
  ASSERT_TRUE((*f)->ReadAt(offset, 1, &c, &got).ok());
  ASSERT_EQ(got, 1u);
  c = static_cast<char>(c ^ 0x10);
  ASSERT_TRUE((*f)->WriteAt(offset, std::string_view(&c, 1)).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

// A catalog chunk whose bytes go bad after open (open read it fine): the batch promotion
// returns Corruption naming the data file and the object's offset; nothing asserts; the trees
// of the other chunks are still promoted and read.
TEST(BatchPromotionErrors, CorruptChunkAfterOpenIsCorruption) {
  TempDir dir;
  const uint64_t n = 3000;
  Build(dir.path(), n);
  Env* env = Env::Default();
  std::vector<OtRecord> chunks;
  for (const OtRecord& r : LiveObjects(env, dir.path())) {
    if (r.entry.kind == ObjectKind::kCatalogChunk) chunks.push_back(r);
  }
  ASSERT_GE(chunks.size(), 2u);  // the victim and at least one good chunk
  const OtRecord& victim = chunks.front();
  auto rt = recovery::Open(dir.path(), Options());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  const std::string file = DataFileName(victim.entry.address.size_class_bytes);
  FlipBit(env, JoinPath(dir.path(), file),
          victim.entry.address.offset_bytes + kObjectHeaderBytes + 5);
  std::vector<std::string> names;
  for (uint64_t i = 0; i < n; i += 11) names.push_back(NameOf(i));
  std::vector<std::string_view> views(names.begin(), names.end());
  const Status st = r->PromoteColdByNames(views);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find(file), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("offset " + std::to_string(victim.entry.address.offset_bytes)),
            std::string::npos)
      << st.ToString();
  // Single lookups: those of the trees in that chunk say the same; the others read fine.
  size_t corrupt = 0, good = 0;
  for (uint64_t i = 0; i < n; i += 11) {
    Result<TreeInfo> one = r->FindTree(NameOf(i), r->GetSnapshot());
    if (one.ok()) {
      ++good;
      EXPECT_EQ(Lookup(r, NameOf(i))->entries, EntriesOf(i));
      continue;
    }
    ASSERT_TRUE(one.status().IsCorruption()) << one.status().ToString();
    EXPECT_NE(one.status().message().find(file), std::string::npos) << one.status().ToString();
    ++corrupt;
  }
  EXPECT_GT(corrupt, 0u);
  EXPECT_GT(good, 0u);
  FlipBit(env, JoinPath(dir.path(), file),
          victim.entry.address.offset_bytes + kObjectHeaderBytes + 5);
  ASSERT_TRUE(r->PromoteColdByNames(views).ok());  // the bytes are good again
  ASSERT_TRUE(r->Close().ok());
}

}  // namespace
}  // namespace cowtree
