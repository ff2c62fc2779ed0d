// Catalog chunk and root formats: round trips and every corruption case.
#include <gtest/gtest.h>

#include "persistence/catalog_format.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

std::vector<CatalogEntry> Entries(size_t n) {
  std::vector<CatalogEntry> v;
  for (size_t i = 0; i < n; ++i) {
    v.push_back(CatalogEntry{10 + i * 3, NodeID::Make(100 + i, 1), 5 + i, 1,
                             "tree-" + std::to_string(i), std::string(8, '\0')});
  }
  return v;
}

// Rewrites the trailing CRC so that a test reaches the check it is aimed at.
void FixCrc(std::string* body) {
  const size_t n = body->size() - 4;
  EncodeFixed32(body->data() + n, Crc32c(body->data(), n));
}

TEST(CatalogFormat, ChunkRoundTrip) {
  auto entries = Entries(50);
  auto decoded = DecodeCatalogChunk(EncodeCatalogChunk(entries));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, entries);
}

TEST(CatalogFormat, RootRoundTrip) {
  CatalogRoot root;
  root.next_tree_id = 5000;
  root.chunks = {{NodeID::Make(1, 1), 1024, 1}, {NodeID::Make(2, 3), 7, 2000}};
  root.tree_count = 1031;
  auto decoded = DecodeCatalogRoot(EncodeCatalogRoot(root));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->next_tree_id, 5000u);
  EXPECT_EQ(decoded->tree_count, 1031u);
  ASSERT_EQ(decoded->chunks.size(), 2u);
  EXPECT_EQ(decoded->chunks[1].chunk_id, NodeID::Make(2, 3));
  EXPECT_EQ(decoded->chunks[1].first_tree_id, 2000u);
}

TEST(CatalogFormat, EveryTruncationAndEveryFlipIsDetected) {
  const std::string chunk = EncodeCatalogChunk(Entries(3));
  for (size_t n = 0; n < chunk.size(); ++n) {
    EXPECT_TRUE(DecodeCatalogChunk(chunk.substr(0, n)).status().IsCorruption()) << n;
  }
  for (size_t i = 0; i < chunk.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = chunk;
      bad[i] ^= static_cast<char>(1 << bit);
      EXPECT_TRUE(DecodeCatalogChunk(bad).status().IsCorruption()) << i << ":" << bit;
    }
  }
}

TEST(CatalogFormat, SemanticErrorsBehindAValidCrc) {
  // Unsorted tree ids.
  auto entries = Entries(2);
  std::string body = EncodeCatalogChunk(entries);
  EncodeFixed64(body.data() + kCatalogHeaderBytes, 1000);  // first id > second id
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
  // Non-zero reserved header bytes.
  body = EncodeCatalogChunk(entries);
  body[6] = 1;
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
  // Bad magic.
  body = EncodeCatalogChunk(entries);
  body[0] ^= 0x20;
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
  // Root whose tree_count disagrees with its chunks.
  CatalogRoot root;
  root.next_tree_id = 10;
  root.chunks = {{NodeID::Make(1, 1), 3, 1}};
  root.tree_count = 3;
  std::string r = EncodeCatalogRoot(root);
  EncodeFixed64(r.data() + 24, 4);
  FixCrc(&r);
  EXPECT_TRUE(DecodeCatalogRoot(r).status().IsCorruption());
}

}  // namespace
}  // namespace cowtree

namespace cowtree {
namespace {

using testutil::Hex;

// The worked examples of docs/catalog.md.
TEST(CatalogFormat, DocumentedExampleBytes) {
  std::vector<CatalogEntry> entries = {
      CatalogEntry{1, NodeID::Make(3, 1), 1, 1, "SFO", std::string(8, '\0')}};
  EXPECT_EQ(Hex(EncodeCatalogChunk(entries)),
            "43574343010000000100000000000000010000000000000001030000000000000100000000000000010003"
            "000800000053464f0000000000000000af8affed");
  CatalogRoot root;
  root.next_tree_id = 2;
  root.tree_count = 1;
  root.chunks = {{NodeID::Make(4, 1), 1, 1}};
  EXPECT_EQ(Hex(EncodeCatalogRoot(root)),
            "4357435401000000010000000000000002000000000000000100000000000000"
            "010400000000000001000000000000000100000000000000d57c3d34");
}

}  // namespace
}  // namespace cowtree
