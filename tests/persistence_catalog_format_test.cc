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

// A two-level root (pages) and its pages: round trip, every flip and truncation, and the
// checks behind a valid CRC.
CatalogRoot PagedRoot() {
  CatalogRoot root;
  root.next_tree_id = 9000;
  root.pages = {{NodeID::Make(7, 1), 3, 1, 2100}, {NodeID::Make(8, 2), 1, 5000, 4}};
  root.tree_count = 2104;
  return root;
}

TEST(CatalogFormat, PagedRootAndPageRoundTrip) {
  const CatalogRoot root = PagedRoot();
  auto decoded = DecodeCatalogRoot(EncodeCatalogRoot(root));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->chunks.empty());  // the reader fills them from the pages
  ASSERT_EQ(decoded->pages.size(), 2u);
  EXPECT_EQ(decoded->pages[1].page_id, NodeID::Make(8, 2));
  EXPECT_EQ(decoded->pages[1].chunk_count, 1u);
  EXPECT_EQ(decoded->pages[1].first_tree_id, 5000u);
  EXPECT_EQ(decoded->pages[1].tree_count, 4u);
  EXPECT_EQ(decoded->tree_count, 2104u);
  const std::vector<CatalogChunkRef> chunks = {{NodeID::Make(1, 1), 1000, 1},
                                               {NodeID::Make(2, 1), 1000, 1001},
                                               {NodeID::Make(3, 1), 100, 2001}};
  const std::string page = EncodeCatalogRootPage(chunks);
  auto page_chunks = DecodeCatalogRootPage(page);
  ASSERT_TRUE(page_chunks.ok()) << page_chunks.status().ToString();
  ASSERT_EQ(page_chunks->size(), 3u);
  EXPECT_EQ((*page_chunks)[2].chunk_id, NodeID::Make(3, 1));
  EXPECT_EQ((*page_chunks)[2].first_tree_id, 2001u);
  for (const std::string& body : {EncodeCatalogRoot(root), page}) {
    const bool is_root = body.size() != page.size();
    auto decode = [&](const std::string& b) {
      return is_root ? DecodeCatalogRoot(b).status() : DecodeCatalogRootPage(b).status();
    };
    for (size_t n = 0; n < body.size(); ++n) EXPECT_TRUE(decode(body.substr(0, n)).IsCorruption());
    for (size_t i = 0; i < body.size(); ++i) {
      std::string bad = body;
      bad[i] ^= 0x04;
      EXPECT_TRUE(decode(bad).IsCorruption()) << is_root << " byte " << i;
    }
  }
  // A page is not a root, nor a root a page (distinct magics).
  EXPECT_TRUE(DecodeCatalogRoot(page).status().IsCorruption());
  EXPECT_TRUE(DecodeCatalogRootPage(EncodeCatalogRoot(root)).status().IsCorruption());
}

TEST(CatalogFormat, PagedRootSemanticErrorsBehindAValidCrc) {
  const std::string good = EncodeCatalogRoot(PagedRoot());
  const size_t ref1 = kCatalogRootHeaderBytes + kCatalogRootPageRefBytes;  // the second page
  struct Case {
    const char* what;
    size_t offset;
    uint64_t value;
    int width;
  };
  for (const Case& c :
       std::vector<Case>{{"tree_count differs from the pages' sum", 24, 2105, 8},
                         {"page count 0", 8, 0, 4},
                         {"page count over kCatalogRootPagesMax", 8, kCatalogRootPagesMax + 1, 4},
                         {"page id 0", ref1, 0, 8},
                         {"chunk count 0", ref1 + 8, 0, 4},
                         {"reserved bytes", ref1 + 12, 1, 4},
                         {"first tree ids not increasing", ref1 + 16, 1, 8},
                         {"first tree id at next_tree_id", ref1 + 16, 9000, 8},
                         {"tree count 0", ref1 + 24, 0, 8},
                         {"more trees than the chunks hold", ref1 + 24, 1025, 8}}) {
    std::string bad = good;
    if (c.width == 8) {
      EncodeFixed64(bad.data() + c.offset, c.value);
    } else {
      EncodeFixed32(bad.data() + c.offset, static_cast<uint32_t>(c.value));
    }
    FixCrc(&bad);
    EXPECT_TRUE(DecodeCatalogRoot(bad).status().IsCorruption()) << c.what;
  }
  // A page with unsorted chunks.
  std::string page = EncodeCatalogRootPage(
      std::vector<CatalogChunkRef>{{NodeID::Make(1, 1), 5, 10}, {NodeID::Make(2, 1), 5, 20}});
  EncodeFixed64(page.data() + kCatalogHeaderBytes + kCatalogRootChunkBytes + 16, 10);
  FixCrc(&page);
  EXPECT_TRUE(DecodeCatalogRootPage(page).status().IsCorruption());
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
  // Two levels: the same chunk listed by a root page (NodeID raw 0x501), and the root listing
  // that page.
  const std::string page = EncodeCatalogRootPage(root.chunks);
  EXPECT_EQ(Hex(page),
            "43574350010000000100000000000000"
            "010400000000000001000000000000000100000000000000d77a502e");
  CatalogRoot paged;
  paged.next_tree_id = 2;
  paged.tree_count = 1;
  paged.pages = {{NodeID::Make(5, 1), 1, 1, 1}};
  EXPECT_EQ(Hex(EncodeCatalogRoot(paged)),
            "4357435402000000010000000000000002000000000000000100000000000000"
            "0105000000000000010000000000000001000000000000000100000000000000"
            "70a6a7dd");
  auto decoded_page = DecodeCatalogRootPage(page);
  ASSERT_TRUE(decoded_page.ok()) << decoded_page.status().ToString();
  EXPECT_EQ(decoded_page->size(), 1u);
}

}  // namespace
}  // namespace cowtree
