// A catalog whose chunk references do not fit one root object gets a two-level root (root pages,
// docs/catalog.md). RuntimeOptions::catalog_root_chunks_max lowers the per-object limit so that a
// few thousand trees need pages. Covered: reopen finds every tree; a later checkpoint with a
// one-level root retires the pages (fsck: nothing leaked); a damaged page is an fsck error that
// names it and makes Open fail with Corruption, never a wrong answer; creating and dropping
// trees across page boundaries.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "persistence/file_names.h"
#include "persistence/object_format.h"
#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/live_objects.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"

namespace cowtree {
namespace {

using testutil::TempDir;

RuntimeOptions Options(uint32_t catalog_root_chunks_max) {
  RuntimeOptions o;
  o.background_thread = false;
  o.catalog_root_chunks_max = catalog_root_chunks_max;
  return o;
}

std::string NameOf(int i) { return "tree-" + std::to_string(i); }

// Creates trees [first, end), tree i holding key i with weight i % 5 + 1: small, so inline.
void CreateTrees(Runtime* rt, int first, int end) {
  RuntimeWriteBatch b(rt);
  for (int i = first; i < end; ++i) {
    const TreeId id = b.CreateTree(NameOf(i), tree::kOrderStatTreeTypeId,
                                   tree::OrderStatTreeParams(tree::KeyType::kInt64));
    tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(i), i % 5 + 1);
  }
  ASSERT_TRUE(rt->Commit(b).ok());
}

// Every tree in [first, end) except those `dropped` says, with its one entry.
void ExpectTrees(Runtime* rt, int first, int end, const std::function<bool(int)>& dropped) {
  RuntimeSnapshot snap = rt->GetSnapshot();
  for (int i = first; i < end; ++i) {
    Result<TreeInfo> info = rt->FindTree(NameOf(i), snap);
    if (dropped(i)) {
      ASSERT_TRUE(info.status().IsNotFound()) << i;
      continue;
    }
    ASSERT_TRUE(info.ok()) << i << ": " << info.status().ToString();
    auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
    ASSERT_EQ(v->positive_count, static_cast<uint64_t>(i % 5 + 1)) << i;
    auto w = tree::WeightOf(*v, tree::EncodeInt64Key(i));
    ASSERT_TRUE(w.ok() && *w == i % 5 + 1) << i;
  }
}

// The live objects of `kind` (not retired), as recovery rebuilds the object table.
std::vector<OtRecord> LiveOfKind(const std::string& dir, ObjectKind kind) {
  std::vector<OtRecord> out;
  for (const OtRecord& r : testutil::LiveObjects(Env::Default(), dir)) {
    if (r.entry.kind == kind && !r.entry.retired()) out.push_back(r);
  }
  return out;
}

recovery::FsckReport Fsck(const std::string& dir) {
  recovery::FsckOptions o;
  auto r = recovery::Fsck(dir, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : recovery::FsckReport();
}

std::string Describe(const recovery::FsckReport& r) {
  std::string s;
  for (const recovery::FsckFinding& f : r.findings) s += recovery::FormatFinding(f) + "\n";
  return s;
}

void FlipBit(const std::string& path, uint64_t offset) {
  auto f = Env::Default()->OpenFile(path, OpenMode::kReadWrite);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  char c = 0;
  size_t got = 0;
  ASSERT_TRUE((*f)->ReadAt(offset, 1, &c, &got).ok());
  c = static_cast<char>(c ^ 0x10);
  ASSERT_TRUE((*f)->WriteAt(offset, std::string_view(&c, 1)).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

constexpr int kTrees = 2500;  // ~4 catalog chunks (cut at 64 KiB of entries)
const auto kNoneDropped = [](int) { return false; };

TEST(CatalogRootPages, ACatalogOfMoreChunksThanARootHoldsReopensWhole) {
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options(/*catalog_root_chunks_max=*/2));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, kTrees);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  EXPECT_EQ(LiveOfKind(dir.path(), ObjectKind::kCatalogRootPage).size(), 2u);
  const size_t chunks = LiveOfKind(dir.path(), ObjectKind::kCatalogChunk).size();
  EXPECT_GE(chunks, 3u);
  EXPECT_LE(chunks, 4u);
  recovery::FsckReport clean = Fsck(dir.path());
  EXPECT_TRUE(clean.findings.empty()) << Describe(clean);
  EXPECT_EQ(clean.trees_checked, static_cast<uint64_t>(kTrees));
  // Open reads any root, whatever its own limit.
  {
    auto rt = recovery::Open(dir.path(), Options(0));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    ExpectTrees(rt->get(), 0, kTrees, kNoneDropped);
    // One tree created: the catalog is rewritten with a one-level root, the pages retired.
    CreateTrees(rt->get(), kTrees, kTrees + 1);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  EXPECT_TRUE(LiveOfKind(dir.path(), ObjectKind::kCatalogRootPage).empty());
  recovery::FsckReport after = Fsck(dir.path());
  EXPECT_TRUE(after.findings.empty()) << Describe(after);  // no page leaked
  auto rt = recovery::Open(dir.path(), Options(0));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  ExpectTrees(rt->get(), 0, kTrees, kNoneDropped);
}

TEST(CatalogRootPages, CreatesAndDropsAcrossPagesKeepTheCatalogConsistent) {
  TempDir dir;
  const auto dropped = [](int i) { return i % 7 == 3; };
  {
    auto rt = recovery::Open(dir.path(), Options(3));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, kTrees);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    CreateTrees(rt->get(), kTrees, 2 * kTrees);  // more chunks: 3 pages
    RuntimeWriteBatch b(rt->get());
    RuntimeSnapshot snap = (*rt)->GetSnapshot();
    for (int i = 0; i < 2 * kTrees; ++i) {
      if (!dropped(i)) continue;
      Result<TreeInfo> info = (*rt)->FindTree(NameOf(i), snap);
      ASSERT_TRUE(info.ok()) << i;
      b.DropTree(info->id);
    }
    snap = RuntimeSnapshot();
    ASSERT_TRUE((*rt)->Commit(b).ok());
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  EXPECT_GE(LiveOfKind(dir.path(), ObjectKind::kCatalogRootPage).size(), 2u);
  recovery::FsckReport r = Fsck(dir.path());
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  auto rt = recovery::Open(dir.path(), Options(3));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  ExpectTrees(rt->get(), 0, 2 * kTrees, dropped);
  EXPECT_EQ((*rt)->GetStats().tree_count, static_cast<uint64_t>(2 * kTrees - (2 * kTrees + 3) / 7));
}

TEST(CatalogRootPages, ADamagedPageIsAnErrorNamingItAndOpenFails) {
  TempDir dir;
  {
    auto rt = recovery::Open(dir.path(), Options(2));
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    CreateTrees(rt->get(), 0, kTrees);
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  const std::vector<OtRecord> pages = LiveOfKind(dir.path(), ObjectKind::kCatalogRootPage);
  ASSERT_EQ(pages.size(), 2u);
  const OtRecord& victim = pages[1];
  const std::string file =
      JoinPath(dir.path(), DataFileName(victim.entry.address.size_class_bytes));
  const uint64_t at = victim.entry.address.offset_bytes + kObjectHeaderBytes + 20;
  FlipBit(file, at);
  recovery::FsckReport r = Fsck(dir.path());
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.ExitCode(), 4) << Describe(r);
  bool named = false;
  for (const recovery::FsckFinding& f : r.findings) {
    named |= f.node_id == victim.id.raw() && f.severity == recovery::FsckSeverity::kError;
  }
  EXPECT_TRUE(named) << Describe(r);
  auto rt = recovery::Open(dir.path(), Options(0));
  ASSERT_FALSE(rt.ok());
  EXPECT_TRUE(rt.status().IsCorruption()) << rt.status().ToString();
  FlipBit(file, at);  // repaired by hand: whole again
  recovery::FsckReport again = Fsck(dir.path());
  EXPECT_TRUE(again.findings.empty()) << Describe(again);
  auto reopened = recovery::Open(dir.path(), Options(0));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ExpectTrees(reopened->get(), 0, kTrees, kNoneDropped);
}

}  // namespace
}  // namespace cowtree
