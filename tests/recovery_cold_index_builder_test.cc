// ColdIndexBuilder (recovery/cold_index_builder.h): the cold index recovery::Open fills from the
// catalog chunks, and its refusal of a name used twice — within a chunk or across chunks, found
// through the index's same-hash pairs and earlier chunks read again — under the real hash, 16
// hash values and one hash value for every name (testutil/cold_tree_hashes.h).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "recovery/cold_index_builder.h"
#include "testutil/catalog_entries.h"
#include "testutil/cold_tree_hashes.h"

namespace cowtree::recovery {
namespace {

CatalogEntry Entry(TreeId id, std::string name) {
  return testutil::CatalogEntryOf(id, std::move(name));
}

// Encoded chunks by NodeID, fed to a builder in order; counts the chunks read again.
struct Chunks {
  std::map<uint64_t, std::string> bodies;
  std::vector<NodeID> order;
  uint64_t reads = 0;
  Status fail_reads = Status::OK();  // returned by every read again when not OK

  void Add(const std::vector<CatalogEntry>& entries) {
    const NodeID id = NodeID::Make(order.size() + 2, 1);
    bodies[id.raw()] = EncodeCatalogChunk(entries);
    order.push_back(id);
  }
  ColdIndexBuilder::ChunkReader Reader() {
    return [this](NodeID id, std::string* buffer) -> Result<std::string_view> {
      ++reads;
      if (!fail_reads.ok()) return fail_reads;
      *buffer = bodies.at(id.raw());
      return std::string_view(*buffer);
    };
  }
  // Feeds every chunk; the first error.
  Status Feed(ColdIndexBuilder* b) {
    std::vector<CatalogEntryView> views;
    for (NodeID id : order) {
      EXPECT_TRUE(ParseCatalogChunk(bodies.at(id.raw()), &views).ok());
      if (Status st = b->AddChunk(id, views); !st.ok()) return st;
    }
    return Status::OK();
  }
};

std::string NameOf(uint64_t i) { return "group-" + std::to_string(i); }

class ColdIndexBuilderTest : public testutil::ColdTreeHashTest {};

TEST_P(ColdIndexBuilderTest, DistinctNamesAreAllIndexed) {
  Chunks c;
  const uint64_t per_chunk = 50, chunks = 8;  // ids 1, 3, 5, ...: gaps as after drops
  for (uint64_t k = 0; k < chunks; ++k) {
    std::vector<CatalogEntry> e;
    for (uint64_t i = k * per_chunk; i < (k + 1) * per_chunk; ++i)
      e.push_back(Entry(2 * i + 1, NameOf(i)));
    c.Add(e);
  }
  ColdTreeIndex index;
  ColdIndexBuilder b(&index, c.Reader());
  ASSERT_TRUE(c.Feed(&b).ok());
  EXPECT_EQ(b.tree_count(), per_chunk * chunks);
  EXPECT_EQ(index.size(), per_chunk * chunks);
  for (uint64_t i = 0; i < per_chunk * chunks; ++i) {
    EXPECT_TRUE(index.Contains(2 * i + 1, ColdTreeIndex::NameHash(NameOf(i)))) << i;
  }
  EXPECT_EQ(c.reads, b.chunks_reread());
  if (GetParam() == 0) {
    EXPECT_EQ(b.chunks_reread(), 0u);  // 400 names: no 32-bit hash pair
  } else {
    EXPECT_GT(b.chunks_reread(), 0u);  // pairs across chunks compare against earlier names
    EXPECT_LE(b.chunks_reread(),
              GetParam() == 1 ? 16u * chunks * chunks : per_chunk * chunks * chunks);
  }
}

TEST_P(ColdIndexBuilderTest, ANameTwiceInOneChunkIsCorruption) {
  Chunks c;
  c.Add({Entry(1, "a"), Entry(2, "b")});
  c.Add({Entry(3, "c"), Entry(4, "d"), Entry(5, "c")});
  ColdTreeIndex index;
  ColdIndexBuilder b(&index, c.Reader());
  const Status st = c.Feed(&b);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("catalog: tree name 'c' twice"), std::string::npos) << st.ToString();
}

TEST_P(ColdIndexBuilderTest, ANameTwiceAcrossChunksIsCorruption) {
  for (const uint64_t far : {0u, 3u, 20u}) {  // the first use that many chunks back (> the cache)
    SCOPED_TRACE(far);
    Chunks c;
    TreeId id = 1;
    c.Add({Entry(id, "twin"), Entry(id + 1, "x")});
    id += 2;
    for (uint64_t k = 0; k < far; ++k, ++id) c.Add({Entry(id, NameOf(id))});
    c.Add({Entry(id, "y"), Entry(id + 1, "twin")});
    ColdTreeIndex index;
    ColdIndexBuilder b(&index, c.Reader());
    const Status st = c.Feed(&b);
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("catalog: tree name 'twin' twice"), std::string::npos)
        << st.ToString();
    EXPECT_GE(b.chunks_reread(), 1u);  // the first "twin" was read again
  }
}

TEST(ColdIndexBuilder, AFailedReadAgainIsReturned) {
  ColdTreeIndex::SetNameHashForTesting(&testutil::ConstantNameHash);  // every name pairs
  Chunks c;
  c.Add({Entry(1, "a"), Entry(2, "b")});
  c.Add({Entry(3, "c"), Entry(4, "d")});
  c.fail_reads = Status::IOError("data-64k.dat: injected read error");
  ColdTreeIndex index;
  ColdIndexBuilder b(&index, c.Reader());
  const Status st = c.Feed(&b);
  ColdTreeIndex::SetNameHashForTesting(nullptr);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_EQ(c.reads, 1u);  // the first pair's read failed: nothing after it
}

TEST(ColdIndexBuilder, TreeIdsNotRisingAreCorruption) {
  for (const auto& chunks : std::vector<std::vector<std::vector<CatalogEntry>>>{
           {{Entry(1, "a"), Entry(5, "b")}, {Entry(5, "c")}},  // equal across chunks
           {{Entry(4, "a")}, {Entry(2, "b")}},                 // falling across chunks
       }) {
    Chunks c;
    for (const auto& e : chunks) c.Add(e);
    ColdTreeIndex index;
    ColdIndexBuilder b(&index, c.Reader());
    const Status st = c.Feed(&b);
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("is not above the previous"), std::string::npos) << st.ToString();
  }
  // The largest id, which the index reserves: refused, never an assertion.
  Chunks c;
  c.Add({Entry(1, "a"), Entry(UINT64_MAX, "b")});
  ColdTreeIndex index;
  ColdIndexBuilder b(&index, c.Reader());
  const Status st = c.Feed(&b);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("is not a valid tree id"), std::string::npos) << st.ToString();
}

INSTANTIATE_TEST_SUITE_P(Hashes, ColdIndexBuilderTest, ::testing::Values(0, 1, 2),
                         testutil::ColdTreeHashName);

}  // namespace
}  // namespace cowtree::recovery
