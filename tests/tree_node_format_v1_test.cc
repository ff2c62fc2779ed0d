// Leaf body format version 1 (fixed-width, written by older builds): still read by DecodeLeaf,
// with every check it had; EncodeLeafV1 reproduces the old bytes (docs/node_format.md
// "Version 1").
#include <gtest/gtest.h>

#include <random>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "tree/node_format.h"

namespace cowtree::tree {
namespace {

LeafData TwoEntries() {
  LeafData d;
  d.keys = {EncodeInt64Key(-1), EncodeInt64Key(5)};
  d.weights = {3, -2};
  return d;
}

void FixCrc(std::string* body) {
  const size_t at = body->size() - 4;
  EncodeFixed32(body->data() + at, Crc32c(body->data(), at));
}

void ExpectCorrupt(const std::string& body, KeyType t, const std::string& needle) {
  auto r = DecodeLeaf(body, t);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "'" << needle << "' not in: " << r.status().message();
}

TEST(TreeNodeFormatV1Test, RoundTripAndSameContentAsV2) {
  std::mt19937_64 rng(5);
  for (uint32_t n : {1u, 2u, 3u, 100u, 4096u}) {
    LeafData d;
    uint64_t key = rng() % 1000;
    for (uint32_t i = 0; i < n; ++i) {
      key += 1 + rng() % 1000;
      d.keys.push_back(key);
      const int64_t w = static_cast<int64_t>(rng() % (uint64_t{1} << 51)) - (int64_t{1} << 50);
      d.weights.push_back(w == 0 ? 1 : w);
    }
    const std::string body = EncodeLeafV1(KeyType::kInt64, d);
    EXPECT_EQ(body.size(), LeafV1BodyBytes(n));
    auto r = DecodeLeaf(body, KeyType::kInt64);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r.value()->keys, d.keys);
    EXPECT_EQ(r.value()->weights, d.weights);
    // A v1 leaf read back is rewritten as v2 with the same content.
    auto again = DecodeLeaf(EncodeLeaf(KeyType::kInt64, **r), KeyType::kInt64);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value()->keys, d.keys);
  }
}

// The version 1 example of docs/node_format.md, byte for byte (what older builds wrote).
TEST(TreeNodeFormatV1Test, WorkedExampleBytes) {
  const std::string body = EncodeLeafV1(KeyType::kInt64, TwoEntries());
  ASSERT_EQ(body.size(), 52u);
  const unsigned char header[16] = {'C', 'W', 'L', 'F', 1, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(body.substr(0, 16), std::string(reinterpret_cast<const char*>(header), 16));
  EXPECT_EQ(DecodeFixed64(body.data() + 16), 0x7FFFFFFFFFFFFFFFull);  // -1
  EXPECT_EQ(DecodeFixed64(body.data() + 24), 0x8000000000000005ull);  // 5
  EXPECT_EQ(static_cast<int64_t>(DecodeFixed64(body.data() + 32)), 3);
  EXPECT_EQ(static_cast<int64_t>(DecodeFixed64(body.data() + 40)), -2);
  EXPECT_EQ(DecodeFixed32(body.data() + 48), 0xddae1f69u)
      << std::hex << DecodeFixed32(body.data() + 48);
  EXPECT_TRUE(DecodeLeaf(body, KeyType::kInt64).ok());
}

TEST(TreeNodeFormatV1Test, BadCrcSizeReservedCount) {
  const std::string good = EncodeLeafV1(KeyType::kInt64, TwoEntries());
  std::string b = good;
  b[20] ^= 0x10;  // a key byte: only the CRC notices
  ExpectCorrupt(b, KeyType::kInt64, "crc32c");
  b = good;
  b[50] ^= 1;
  ExpectCorrupt(b, KeyType::kInt64, "offset 48");
  for (size_t i = 0; i < good.size() * 8; ++i) {
    b = good;
    b[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_TRUE(DecodeLeaf(b, KeyType::kInt64).status().IsCorruption()) << "bit " << i;
  }
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_TRUE(
        DecodeLeaf(std::string_view(good).substr(0, len), KeyType::kInt64).status().IsCorruption())
        << len;
  }
  ExpectCorrupt(good + std::string(1, '\0'), KeyType::kInt64,
                "entry_count 2 needs a version 1 body of 52 bytes, found 53");
  b = good;
  b[7] = 1;
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 7");
  b = good;
  b[13] = 1;
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 12: reserved u32 not 0");
  ExpectCorrupt(good, KeyType::kDouble, "key_type 1, expected 2");
  std::string empty = good.substr(0, 16) + std::string(4, '\0');
  EncodeFixed32(empty.data() + 8, 0);
  FixCrc(&empty);
  ExpectCorrupt(empty, KeyType::kInt64, "entry_count 0");
}

TEST(TreeNodeFormatV1Test, UnsortedKeysZeroWeightsOverflow) {
  const std::string good = EncodeLeafV1(KeyType::kInt64, TwoEntries());
  std::string b = good;
  EncodeFixed64(b.data() + 24, EncodeInt64Key(-1));  // duplicate of key 0
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 24");
  b = good;
  EncodeFixed64(b.data() + 24, EncodeInt64Key(-7));  // descending
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "expected greater");
  b = good;
  EncodeFixed64(b.data() + 40, 0);
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 40: weight 1 is 0");
  LeafData d;
  d.keys = {1, 2, 3};
  d.weights = {INT64_MAX, INT64_MAX, INT64_MAX};
  ExpectCorrupt(EncodeLeafV1(KeyType::kInt64, d), KeyType::kInt64, "overflows");
  LeafData dbl;
  dbl.keys = {EncodeDoubleKey(1.0)};
  dbl.weights = {1};
  b = EncodeLeafV1(KeyType::kDouble, dbl);
  ASSERT_TRUE(DecodeLeaf(b, KeyType::kDouble).ok());
  EncodeFixed64(b.data() + 16, kDoubleNanCode + 5);
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kDouble, "canonical");
}

}  // namespace
}  // namespace cowtree::tree
