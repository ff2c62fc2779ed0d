// Summary chunk and tree descriptor bodies: round trips and corruption cases.
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "tree/node_format.h"
#include "tree/summary_format.h"

namespace cowtree::tree {
namespace {

NodeID Id(uint64_t h) { return NodeID::Make(h, 7); }

std::vector<PersistedSummary> Three() {
  return {{EncodeInt64Key(-5), 10, 3, Id(1)},
          {EncodeInt64Key(0), 0, 1, Id(2)},
          {EncodeInt64Key(9), UINT64_MAX / 2, 4096, Id(3)}};
}

TreeDescriptor Desc() {
  TreeDescriptor d;
  d.key_type = KeyType::kDouble;
  d.leaf_capacity_entries = 252;
  d.fanout = 64;
  d.positive_count = 12345;
  d.entry_count = 900;
  d.leaf_count = 5;
  d.refs = {{Id(10), 100, 3, 500, 12000}, {Id(11), 200, 2, 400, 345}};
  return d;
}

// "43 57 ..." -> bytes (spaces ignored).
std::string HexBytes(const std::string& hex) {
  std::string out, digits;
  for (char c : hex) {
    if (c != ' ') digits += c;
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  }
  return out;
}

std::string ToHex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += d[c >> 4];
    out += d[c & 15];
    out += ' ';
  }
  return out;
}

// CRC32C of the documented version-2 descriptor example (docs/summary_chunk.md).
constexpr const char* kDescriptorExampleCrc = "91 06 9b 5a";  // 0x5A9B0691

void FixCrc(std::string* body) {
  const size_t at = body->size() - 4;
  EncodeFixed32(body->data() + at, Crc32c(body->data(), at));
}

template <typename R>
void ExpectCorrupt(const R& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "'" << needle << "' not in: " << r.status().message();
}

TEST(TreeSummaryChunkFormatTest, RoundTripAndLayout) {
  const std::vector<PersistedSummary> s = Three();
  const std::string body = EncodeSummaryChunk(s);
  ASSERT_EQ(body.size(), SummaryChunkBodyBytes(3));
  EXPECT_EQ(body.substr(0, 4), "CWSC");
  EXPECT_EQ(DecodeFixed32(body.data() + 8), 3u);
  EXPECT_EQ(DecodeFixed64(body.data() + 16 + 32 + 24), Id(2).raw());
  auto r = DecodeSummaryChunk(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), s);
}

TEST(TreeSummaryChunkFormatTest, Corruptions) {
  const std::string good = EncodeSummaryChunk(Three());
  std::string b = good;
  b[1] = 'X';
  ExpectCorrupt(DecodeSummaryChunk(b), "magic");
  b = good;
  b[4] = 9;
  ExpectCorrupt(DecodeSummaryChunk(b), "format_version");
  b = good;
  b[30] ^= 4;
  ExpectCorrupt(DecodeSummaryChunk(b), "crc32c");
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_TRUE(DecodeSummaryChunk(good.substr(0, len)).status().IsCorruption()) << len;
  }
  b = good;
  b[6] = 1;
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "offset 6");
  b = good;
  b[12] = 1;
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "offset 12");
  b = good;
  b[16 + 32 + 20] = 1;  // record 1 reserved
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "offset 68");
  b = good;
  EncodeFixed64(b.data() + 16 + 32, EncodeInt64Key(-5));  // first keys not increasing
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "offset 48");
  b = good;
  EncodeFixed32(b.data() + 16 + 16, 0);  // entry_count 0
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "entry_count 0");
  b = good;
  EncodeFixed32(b.data() + 16 + 16, 4097);
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "entry_count 4097");
  b = good;
  EncodeFixed64(b.data() + 16 + 24, NodeID::Make(5, 0).raw());  // tag 0: invalid id
  FixCrc(&b);
  ExpectCorrupt(DecodeSummaryChunk(b), "leaf_id");
  std::string empty = good.substr(0, 16);
  EncodeFixed32(empty.data() + 8, 0);
  empty += std::string(4, '\0');
  FixCrc(&empty);
  ExpectCorrupt(DecodeSummaryChunk(empty), "summary_count 0");
}

TEST(TreeDescriptorFormatTest, RoundTripAndLayout) {
  const TreeDescriptor d = Desc();
  const std::string body = EncodeTreeDescriptor(d);
  ASSERT_EQ(body.size(), TreeDescriptorBodyBytes(2));
  EXPECT_EQ(body.substr(0, 4), "CWTD");
  EXPECT_EQ(static_cast<uint8_t>(body[6]), 2);
  EXPECT_EQ(DecodeFixed64(body.data() + 16), 12345u);
  EXPECT_EQ(DecodeFixed64(body.data() + 48), Id(10).raw());
  auto r = DecodeTreeDescriptor(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), d);
  TreeDescriptor empty;
  empty.leaf_capacity_entries = 4;
  empty.fanout = 4;
  auto e = DecodeTreeDescriptor(EncodeTreeDescriptor(empty));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value(), empty);
}

TEST(TreeDescriptorFormatTest, Corruptions) {
  const std::string good = EncodeTreeDescriptor(Desc());
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_TRUE(DecodeTreeDescriptor(good.substr(0, len)).status().IsCorruption()) << len;
  }
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string b = good;
    b[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(DecodeTreeDescriptor(b).ok()) << "bit " << i;
  }
  auto with = [&](size_t off, auto put) {
    std::string b = good;
    put(b.data() + off);
    FixCrc(&b);
    return DecodeTreeDescriptor(b);
  };
  ExpectCorrupt(with(6, [](char* p) { *p = 3; }), "key_type 3");
  ExpectCorrupt(with(7, [](char* p) { *p = 0; }), "offset 7: index_height 0");
  ExpectCorrupt(with(7, [](char* p) { *p = 33; }), "offset 7: index_height 33");
  ExpectCorrupt(with(44, [](char* p) { *p = 1; }), "offset 44");
  ExpectCorrupt(with(8, [](char* p) { EncodeFixed32(p, 3); }), "shape");
  ExpectCorrupt(with(32, [](char* p) { EncodeFixed64(p, 6); }),
                "offset 32: leaf_count 6, but the refs' leaf counts sum to 5");
  ExpectCorrupt(with(24, [](char* p) { EncodeFixed64(p, 4); }), "entry_count 4");
  ExpectCorrupt(with(24, [](char* p) { EncodeFixed64(p, 901); }),
                "offset 24: entry_count 901, but");
  ExpectCorrupt(with(16, [](char* p) { EncodeFixed64(p, 1); }), "offset 16: positive_count 1, but");
  ExpectCorrupt(with(48, [](char* p) { EncodeFixed64(p, 0); }), "offset 48: ref 0 child_id");
  ExpectCorrupt(with(88 + 8, [](char* p) { EncodeFixed64(p, 100); }), "offset 96: ref 1 first_key");
  ExpectCorrupt(with(48 + 16, [](char* p) { EncodeFixed64(p, 0); }),
                "offset 64: ref 0 leaf_count 0");
  ExpectCorrupt(with(48 + 24, [](char* p) { EncodeFixed64(p, 2); }),
                "offset 72: ref 0 entry_count 2, expected 3..");
  ExpectCorrupt(with(48 + 16,
                     [](char* p) {
                       EncodeFixed64(p, 1);                // leaf_count
                       EncodeFixed64(p + 8, 1);            // entry_count
                       EncodeFixed64(p + 16, UINT64_MAX);  // pos_sum > 1 * (2^63 - 1)
                     }),
                "offset 80: ref 0 pos_sum");
}

// The worked examples of docs/summary_chunk.md, byte for byte.
TEST(TreeSummaryChunkFormatTest, DocumentedExamples) {
  const std::vector<PersistedSummary> s = {{EncodeInt64Key(-1), 3, 2, NodeID::Make(5, 1)},
                                           {EncodeInt64Key(7), 0, 1, NodeID::Make(6, 1)}};
  const std::string chunk = EncodeSummaryChunk(s);
  ASSERT_EQ(chunk.size(), 84u);
  EXPECT_EQ(DecodeFixed32(chunk.data() + 80), 0xAFC2486Eu);
  EXPECT_EQ(static_cast<uint8_t>(chunk[0x29]), 0x05);
  TreeDescriptor d;
  d.key_type = KeyType::kInt64;
  d.leaf_capacity_entries = 252;
  d.fanout = 64;
  d.positive_count = 3;
  d.entry_count = 3;
  d.leaf_count = 2;
  d.refs = {{NodeID::Make(9, 1), EncodeInt64Key(-1), 2, 3, 3}};
  const std::string desc = EncodeTreeDescriptor(d);
  const std::string expected = HexBytes(
      "43 57 54 44 02 00 01 01 fc 00 00 00 40 00 00 00"
      "03 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"
      "02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00"
      "01 09 00 00 00 00 00 00 ff ff ff ff ff ff ff 7f"
      "02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"
      "03 00 00 00 00 00 00 00" +
      std::string(kDescriptorExampleCrc));
  EXPECT_EQ(ToHex(desc), ToHex(expected));
}

// A version-1 descriptor (written before the multi-level index) still decodes: one level, refs
// with counts and first keys only. These are the version-1 worked example's bytes.
TEST(TreeDescriptorFormatTest, Version1StillDecodes) {
  const std::string v1 = HexBytes(
      "43 57 54 44 01 00 01 00 fc 00 00 00 40 00 00 00"
      "03 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"
      "02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00"
      "01 09 00 00 00 00 00 00 02 00 00 00 00 00 00 00"
      "ff ff ff ff ff ff ff 7f 34 fa 59 14");
  auto r = DecodeTreeDescriptor(v1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format_version, 1);
  EXPECT_FALSE(r->ref_totals_known());
  EXPECT_EQ(r->index_height, 1u);
  ASSERT_EQ(r->refs.size(), 1u);
  EXPECT_EQ(r->refs[0].child_id, NodeID::Make(9, 1));
  EXPECT_EQ(r->refs[0].leaf_count, 2u);
  EXPECT_EQ(r->refs[0].first_key, EncodeInt64Key(-1));
  std::string b = v1;
  b[7] = 1;  // reserved in version 1
  FixCrc(&b);
  ExpectCorrupt(DecodeTreeDescriptor(b), "offset 7");
  b = v1;
  b[4] = 3;
  FixCrc(&b);
  ExpectCorrupt(DecodeTreeDescriptor(b), "format_version 3, expected 2");
}

}  // namespace
}  // namespace cowtree::tree
