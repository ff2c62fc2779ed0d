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

TEST(CatalogFormat, InlineEntriesRoundTripAndAreChecked) {
  auto entries = Entries(3);
  entries[1].descriptor = NodeID();
  entries[1].inline_body = std::string(kCatalogInlineBytesMax, 'x');
  entries[2].descriptor = NodeID();  // an empty inline tree
  auto decoded = DecodeCatalogChunk(EncodeCatalogChunk(entries));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, entries);
  size_t bytes = kCatalogChunkOverheadBytes;
  for (const CatalogEntry& e : entries) bytes += CatalogEntryBytes(e);
  EXPECT_EQ(EncodeCatalogChunk(entries).size(), bytes);
  // An entry with both a descriptor and inline bytes is refused.
  std::string body = EncodeCatalogChunk(Entries(1));
  EncodeFixed32(body.data() + kCatalogHeaderBytes + 32, 1);  // inline_length 1
  body.insert(body.size() - 4, "z");
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
  // Inline bytes above the limit are refused.
  entries = Entries(1);
  entries[0].descriptor = NodeID();
  body = EncodeCatalogChunk(entries);
  EncodeFixed32(body.data() + kCatalogHeaderBytes + 32, kCatalogInlineBytesMax + 1);
  body.insert(body.size() - 4, std::string(kCatalogInlineBytesMax + 1, 'y'));
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
  // Version 1 cannot hold an inline tree (descriptor 0).
  body = EncodeCatalogChunk(Entries(1));
  EncodeFixed16(body.data() + 4, 1);
  body.erase(kCatalogHeaderBytes + 32, 4);  // drop inline_length: a v1 entry
  EncodeFixed64(body.data() + kCatalogHeaderBytes + 8, 0);
  FixCrc(&body);
  EXPECT_TRUE(DecodeCatalogChunk(body).status().IsCorruption());
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

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// The worked examples of docs/catalog.md.
TEST(CatalogFormat, DocumentedExampleBytes) {
  // Version 2: tree 1 "SFO" with a descriptor, tree 2 "LAX" inline (one leaf: key 7, weight 2).
  const std::string leaf = FromHex(
      "43574c4601000100010000000000000007000000000000800200000000000000"
      "237a716a");
  std::vector<CatalogEntry> entries = {
      CatalogEntry{1, NodeID::Make(3, 1), 1, 1, "SFO", std::string(8, '\0')},
      CatalogEntry{2, NodeID(), 1, 1, "LAX", std::string(8, '\0'), leaf}};
  const std::string chunk = EncodeCatalogChunk(entries);
  EXPECT_EQ(chunk.size(), 150u);  // 16 + (36 + 3 + 8) + (36 + 3 + 8 + 36) + 4
  EXPECT_EQ(Hex(chunk),
            "4357434302000000020000000000000001000000000000000103000000000000010000000000000001000300"
            "080000000000000053464f000000000000000002000000000000000000000000000000010000000000000001"
            "00030008000000240000004c4158000000000000000043574c46010001000100000000000000070000000000"
            "00800200000000000000237a716ab2e817bc");
  auto decoded = DecodeCatalogChunk(chunk);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, entries);
  // Version 1 (no inline_length) still decodes: the example of the previous format.
  auto v1 = DecodeCatalogChunk(FromHex(
      "43574343010000000100000000000000010000000000000001030000000000000100000000000000010003"
      "000800000053464f0000000000000000af8affed"));
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_EQ(v1->size(), 1u);
  EXPECT_EQ((*v1)[0], entries[0]);
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
