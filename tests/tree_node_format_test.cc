// Leaf body format: round trips and every corruption case.
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

// Recomputes the trailing CRC so that a semantic corruption is not masked by a CRC mismatch.
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

TEST(TreeNodeFormatTest, RoundTrip) {
  std::mt19937_64 rng(5);
  for (uint32_t n : {1u, 2u, 3u, 100u, 4096u}) {
    LeafData d;
    uint64_t key = rng() % 1000;
    for (uint32_t i = 0; i < n; ++i) {
      key += 1 + rng() % 1000;
      d.keys.push_back(key);
      // Large magnitudes, both signs; |w| < 2^50 keeps the positive sum within uint64.
      const int64_t w = static_cast<int64_t>(rng() % (uint64_t{1} << 51)) - (int64_t{1} << 50);
      d.weights.push_back(w == 0 ? 1 : w);
    }
    const std::string body = EncodeLeaf(KeyType::kInt64, d);
    EXPECT_EQ(body.size(), LeafBodyBytes(n));
    auto r = DecodeLeaf(body, KeyType::kInt64);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r.value()->keys, d.keys);
    EXPECT_EQ(r.value()->weights, d.weights);
  }
}

// The worked example of docs/node_format.md, byte for byte.
TEST(TreeNodeFormatTest, WorkedExampleBytes) {
  const std::string body = EncodeLeaf(KeyType::kInt64, TwoEntries());
  ASSERT_EQ(body.size(), 52u);
  const unsigned char header[16] = {'C', 'W', 'L', 'F', 1, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(body.substr(0, 16), std::string(reinterpret_cast<const char*>(header), 16));
  EXPECT_EQ(DecodeFixed64(body.data() + 16), 0x7FFFFFFFFFFFFFFFull);  // -1
  EXPECT_EQ(DecodeFixed64(body.data() + 24), 0x8000000000000005ull);  // 5
  EXPECT_EQ(static_cast<int64_t>(DecodeFixed64(body.data() + 32)), 3);
  EXPECT_EQ(static_cast<int64_t>(DecodeFixed64(body.data() + 40)), -2);
  EXPECT_EQ(DecodeFixed32(body.data() + 48), Crc32c(body.data(), 48));
  EXPECT_EQ(DecodeFixed32(body.data() + 48), 0xddae1f69u)
      << std::hex << DecodeFixed32(body.data() + 48);
}

TEST(TreeNodeFormatTest, BadMagicVersionCrc) {
  const std::string good = EncodeLeaf(KeyType::kInt64, TwoEntries());
  std::string b = good;
  b[0] = 'X';
  ExpectCorrupt(b, KeyType::kInt64, "magic");
  b = good;
  b[4] = 2;
  ExpectCorrupt(b, KeyType::kInt64, "format_version");
  b = good;
  b[20] ^= 0x10;  // a key byte: only the CRC notices
  ExpectCorrupt(b, KeyType::kInt64, "crc32c");
  b = good;
  b[50] ^= 1;  // the CRC itself
  ExpectCorrupt(b, KeyType::kInt64, "offset 48");
}

TEST(TreeNodeFormatTest, EveryBitFlipIsDetected) {
  const std::string good = EncodeLeaf(KeyType::kInt64, TwoEntries());
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string b = good;
    b[i / 8] ^= static_cast<char>(1 << (i % 8));
    EXPECT_FALSE(DecodeLeaf(b, KeyType::kInt64).ok()) << "bit " << i;
  }
}

TEST(TreeNodeFormatTest, TruncatedAtEveryLength) {
  const std::string good = EncodeLeaf(KeyType::kInt64, TwoEntries());
  for (size_t len = 0; len < good.size(); ++len) {
    auto r = DecodeLeaf(std::string_view(good).substr(0, len), KeyType::kInt64);
    EXPECT_TRUE(r.status().IsCorruption()) << len;
  }
  ExpectCorrupt(good + std::string(1, '\0'), KeyType::kInt64, "entry_count");
  ExpectCorrupt(good.substr(0, 7), KeyType::kInt64, "at least 20");
}

TEST(TreeNodeFormatTest, ReservedKeyTypeAndCount) {
  const std::string good = EncodeLeaf(KeyType::kInt64, TwoEntries());
  std::string b = good;
  b[7] = 1;
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 7");
  b = good;
  b[13] = 1;
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 12");
  ExpectCorrupt(good, KeyType::kDouble, "key_type 1, expected 2");
  // entry_count 0 with a consistent 20-byte body.
  std::string empty = good.substr(0, 16) + std::string(4, '\0');
  EncodeFixed32(empty.data() + 8, 0);
  FixCrc(&empty);
  ExpectCorrupt(empty, KeyType::kInt64, "entry_count 0");
}

TEST(TreeNodeFormatTest, UnsortedKeysAndZeroWeights) {
  const std::string good = EncodeLeaf(KeyType::kInt64, TwoEntries());
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
}

TEST(TreeNodeFormatTest, NonCanonicalDoubleKey) {
  LeafData d;
  d.keys = {EncodeDoubleKey(1.0)};
  d.weights = {1};
  std::string b = EncodeLeaf(KeyType::kDouble, d);
  ASSERT_TRUE(DecodeLeaf(b, KeyType::kDouble).ok());
  EncodeFixed64(b.data() + 16, kDoubleNanCode + 5);
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kDouble, "canonical");
}

TEST(TreeNodeFormatTest, PositiveSumOverflow) {
  LeafData d;
  d.keys = {1, 2, 3};
  d.weights = {INT64_MAX, INT64_MAX, INT64_MAX};
  // Encode refuses nothing here (each entry is valid) but a leaf like this cannot exist in a
  // tree; decode must not return it.
  std::string b = EncodeLeaf(KeyType::kInt64, d);
  ExpectCorrupt(b, KeyType::kInt64, "overflows");
}

}  // namespace
}  // namespace cowtree::tree
