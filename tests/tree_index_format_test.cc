// Summary index chunk (CWSI) bodies: round trip, layout, every corruption, the documented
// worked example byte for byte (docs/summary_chunk.md "Summary index chunk").
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "tree/index_format.h"

namespace cowtree::tree {
namespace {

IndexChunk Two() {
  IndexChunk c;
  c.key_type = KeyType::kInt64;
  c.level = 1;
  c.refs = {{NodeID::Make(9, 1), EncodeInt64Key(-1), 2, 3, 3},
            {NodeID::Make(10, 1), EncodeInt64Key(20), 1, 1, 5}};
  return c;
}

void FixCrc(std::string* body) {
  const size_t at = body->size() - 4;
  EncodeFixed32(body->data() + at, Crc32c(body->data(), at));
}

void ExpectCorrupt(const Result<IndexChunk>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "'" << needle << "' not in: " << r.status().message();
}

std::string ToHex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    const auto c = static_cast<unsigned char>(b[i]);
    out += d[c >> 4];
    out += d[c & 15];
    out += (i % 16 == 15) ? '\n' : ' ';
  }
  return out;
}

TEST(TreeIndexFormatTest, RoundTripAndLayout) {
  const IndexChunk c = Two();
  const std::string body = EncodeIndexChunk(c);
  ASSERT_EQ(body.size(), IndexChunkBodyBytes(2));
  EXPECT_EQ(body.substr(0, 4), "CWSI");
  EXPECT_EQ(DecodeFixed32(body.data() + kIndexRefCountOffset), 2u);
  EXPECT_EQ(DecodeFixed64(body.data() + 16 + 40), NodeID::Make(10, 1).raw());
  auto r = DecodeIndexChunk(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, c);
}

// The worked example of docs/summary_chunk.md: a level-1 index chunk naming two summary chunks.
TEST(TreeIndexFormatTest, DocumentedExample) {
  const std::string body = EncodeIndexChunk(Two());
  EXPECT_EQ(ToHex(body),
            "43 57 53 49 01 00 01 01 02 00 00 00 00 00 00 00\n"
            "01 09 00 00 00 00 00 00 ff ff ff ff ff ff ff 7f\n"
            "02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00\n"
            "03 00 00 00 00 00 00 00 01 0a 00 00 00 00 00 00\n"
            "14 00 00 00 00 00 00 80 01 00 00 00 00 00 00 00\n"
            "01 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00\n"
            "66 e1 8e 47 ");  // crc32c 0x478EE166
}

TEST(TreeIndexFormatTest, Corruptions) {
  const std::string good = EncodeIndexChunk(Two());
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_TRUE(DecodeIndexChunk(good.substr(0, len)).status().IsCorruption()) << len;
  }
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string b = good;
    b[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(DecodeIndexChunk(b).ok()) << "bit " << i;
  }
  auto with = [&](size_t off, auto put) {
    std::string b = good;
    put(b.data() + off);
    FixCrc(&b);
    return DecodeIndexChunk(b);
  };
  ExpectCorrupt(with(0, [](char* p) { *p = 'X'; }), "offset 0: magic");
  ExpectCorrupt(with(4, [](char* p) { *p = 2; }), "offset 4: format_version 2, expected 1");
  ExpectCorrupt(with(6, [](char* p) { *p = 3; }), "offset 6: key_type 3");
  ExpectCorrupt(with(7, [](char* p) { *p = 0; }), "offset 7: level 0, expected 1..31");
  ExpectCorrupt(with(7, [](char* p) { *p = 32; }), "offset 7: level 32");
  ExpectCorrupt(with(8, [](char* p) { EncodeFixed32(p, 3); }), "offset 8: ref_count 3 needs");
  ExpectCorrupt(with(12, [](char* p) { *p = 1; }), "offset 12: reserved");
  ExpectCorrupt(with(16, [](char* p) { EncodeFixed64(p, 0); }), "offset 16: ref 0 child_id");
  ExpectCorrupt(with(56 + 8, [](char* p) { EncodeFixed64(p, EncodeInt64Key(-2)); }),
                "offset 64: ref 1 first_key");
  ExpectCorrupt(with(16 + 16, [](char* p) { EncodeFixed64(p, 0); }),
                "offset 32: ref 0 leaf_count 0");
  ExpectCorrupt(with(16 + 24, [](char* p) { EncodeFixed64(p, 1); }),
                "offset 40: ref 0 entry_count 1, expected 2..8192");
  ExpectCorrupt(with(56 + 32, [](char* p) { EncodeFixed64(p, UINT64_MAX); }),
                "offset 88: ref 1 pos_sum");  // > entry_count 1 * (2^63 - 1)
  std::string b = good;
  b[good.size() - 1] ^= 1;
  ExpectCorrupt(DecodeIndexChunk(b), "crc32c");
  std::string empty = good.substr(0, 16);
  EncodeFixed32(empty.data() + 8, 0);
  empty += std::string(4, '\0');
  FixCrc(&empty);
  ExpectCorrupt(DecodeIndexChunk(empty), "ref_count 0");
}

}  // namespace
}  // namespace cowtree::tree
