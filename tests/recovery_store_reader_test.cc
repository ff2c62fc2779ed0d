// The reader recovery::Open and fsck share (recovery/store_reader.h): the OT-delta rule at its
// boundaries, and the catalog read — every problem reported to a collecting reporter (fsck),
// the first one returned as Corruption by a stopping reporter (Open).
#include <gtest/gtest.h>

#include <map>

#include "recovery/store_reader.h"
#include "testutil/catalog_entries.h"

namespace cowtree::recovery {
namespace {

TEST(StoreReader, OtDeltaRuleFiltersByTheRecordsOwnEpoch) {
  // OT checkpoint at epoch 10, superblock checkpoint epoch 20.
  EXPECT_EQ(ClassifyOtDelta(9, 10, 20), OtDeltaDisposition::kInOtCheckpoint);
  EXPECT_EQ(ClassifyOtDelta(10, 10, 20), OtDeltaDisposition::kInOtCheckpoint);
  EXPECT_EQ(ClassifyOtDelta(11, 10, 20), OtDeltaDisposition::kApply);
  EXPECT_EQ(ClassifyOtDelta(20, 10, 20), OtDeltaDisposition::kApply);
  EXPECT_EQ(ClassifyOtDelta(21, 10, 20), OtDeltaDisposition::kUnpublished);
  EXPECT_EQ(ClassifyOtDelta(1, 0, 0), OtDeltaDisposition::kUnpublished);
}

CatalogEntry Entry(TreeId id, std::string name) {
  return testutil::CatalogEntryOf(id, std::move(name));
}

// An in-memory catalog: objects by NodeID raw.
struct FakeCatalog {
  std::map<uint64_t, std::string> objects;
  NodeID root_id = NodeID::Make(1, 1);

  void Build(const std::vector<std::vector<CatalogEntry>>& chunks, CatalogRoot root) {
    uint64_t handle = 2;
    for (const auto& c : chunks) {
      const NodeID id = NodeID::Make(handle++, 1);
      objects[id.raw()] = EncodeCatalogChunk(c);
      root.chunks.push_back(CatalogChunkRef{id, static_cast<uint32_t>(c.size()), c[0].tree_id});
      root.tree_count += c.size();
    }
    objects[root_id.raw()] = EncodeCatalogRoot(root);
  }
  CatalogReadHooks Hooks(std::vector<CatalogProblem>* problems, bool go_on) {
    CatalogReadHooks h;
    h.read = [this](NodeID id, ObjectKind) -> Result<std::string> {
      auto it = objects.find(id.raw());
      if (it == objects.end()) return Status::Corruption("object missing");
      return it->second;
    };
    h.report = [problems, go_on](const CatalogProblem& p) {
      problems->push_back(p);
      return go_on;
    };
    return h;
  }
};

TEST(StoreReader, CatalogReadsEveryChunkInOrder) {
  FakeCatalog f;
  CatalogRoot root;
  root.next_tree_id = 9;
  f.Build({{Entry(1, "a"), Entry(2, "b")}, {Entry(5, "c")}}, root);
  std::vector<CatalogProblem> problems;
  CatalogContents c;
  ASSERT_TRUE(ReadCatalogObjects(f.root_id.raw(), f.Hooks(&problems, false), &c).ok());
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(c.complete);
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(c.entries[2].name, "c");
  EXPECT_EQ(c.root.chunks.size(), 2u);
  EXPECT_EQ(c.root.next_tree_id, 9u);
  // No catalog yet (root 0): empty and complete.
  ASSERT_TRUE(ReadCatalogObjects(0, f.Hooks(&problems, false), &c).ok());
  EXPECT_TRUE(c.complete && c.entries.empty());
}

TEST(StoreReader, CollectingReporterSeesEveryProblemStoppingOneReturnsTheFirst) {
  FakeCatalog f;
  CatalogRoot root;
  root.next_tree_id = 6;  // not above the largest tree id 7
  // Tree ids out of order across chunks (7 then 5; each chunk and the root are valid on their
  // own) and a duplicate name.
  f.Build({{Entry(1, "a"), Entry(7, "b")}, {Entry(5, "a")}}, root);
  std::vector<CatalogProblem> all;
  CatalogContents c;
  ASSERT_TRUE(ReadCatalogObjects(f.root_id.raw(), f.Hooks(&all, true), &c).ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_NE(all[0].status.message().find("tree id 5 ('a') is not above the previous tree id 7"),
            std::string::npos)
      << all[0].status.message();
  EXPECT_NE(all[1].status.message().find("next_tree_id 6"), std::string::npos);
  EXPECT_NE(all[2].status.message().find("tree name 'a'"), std::string::npos);
  std::vector<CatalogProblem> first;
  Status st = ReadCatalogObjects(f.root_id.raw(), f.Hooks(&first, false), &c);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_EQ(first.size(), 1u);
  EXPECT_NE(st.message().find("not above the previous tree id"), std::string::npos);
}

TEST(StoreReader, UnreadableOrMismatchedChunks) {
  FakeCatalog f;
  CatalogRoot root;
  root.next_tree_id = 9;
  f.Build({{Entry(1, "a")}, {Entry(2, "b")}}, root);
  // Chunk 1 lost: a read failure; the catalog is incomplete.
  f.objects.erase(NodeID::Make(3, 1).raw());
  std::vector<CatalogProblem> problems;
  CatalogContents c;
  ASSERT_TRUE(ReadCatalogObjects(f.root_id.raw(), f.Hooks(&problems, true), &c).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].read_failed);
  EXPECT_EQ(problems[0].what, "catalog chunk 1");
  EXPECT_FALSE(c.complete);
  // A chunk that does not match its reference in the root.
  f.objects[NodeID::Make(3, 1).raw()] = EncodeCatalogChunk({Entry(2, "b"), Entry(3, "c")});
  problems.clear();
  Status st = ReadCatalogObjects(f.root_id.raw(), f.Hooks(&problems, false), &c);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("catalog chunk 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("holds 2 entries"), std::string::npos) << st.message();
  // The root itself garbage.
  f.objects[f.root_id.raw()] = "garbage";
  EXPECT_TRUE(ReadCatalogObjects(f.root_id.raw(), f.Hooks(&problems, false), &c).IsCorruption());
}

}  // namespace
}  // namespace cowtree::recovery
