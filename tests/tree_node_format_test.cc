// Leaf body format versions 3 (written) and 2 (read only): delta-encoded keys, zigzag weights,
// omitted in version 3 when all are 1. Round trips, sizes, the worked examples of
// docs/node_format.md and every corruption case. Version 1 (read only):
// tests/tree_node_format_v1_test.cc.
#include <gtest/gtest.h>

#include <random>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "testutil/test_files.h"
#include "tree/leaf_pool.h"
#include "tree/node_format.h"

namespace cowtree::tree {
namespace {

LeafData ThreeEntries() {
  LeafData d;
  d.keys = {EncodeInt64Key(-1), EncodeInt64Key(5), EncodeInt64Key(1000)};
  d.weights = {3, -2, 1};
  return d;
}

// A version 2 (or `version`, with `flags`) body from raw parts, with consistent entries_bytes
// and CRC, so that each test reaches the semantic check it is about. Version 2 and 3 share
// the decoder of the entries, so most cases are written as version 2.
std::string Body(KeyType t, uint32_t n, uint64_t first_key, std::string_view entries,
                 uint16_t version = kLeafFormatVersionV2, uint8_t flags = 0) {
  std::string b;
  PutFixed32(&b, kLeafMagic);
  PutFixed16(&b, version);
  PutFixed8(&b, static_cast<uint8_t>(t));
  PutFixed8(&b, flags);
  PutFixed32(&b, n);
  PutFixed32(&b, static_cast<uint32_t>(entries.size()));
  PutFixed64(&b, first_key);
  b.append(entries);
  PutFixed32(&b, Crc32c(b));
  return b;
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

void ExpectRoundTrip(KeyType t, const LeafData& d) {
  const std::string body = EncodeLeaf(t, d);
  EXPECT_EQ(body.size(), EncodedLeafBytes(d));
  EXPECT_LE(body.size(), LeafBodyBytesMax(d.keys.size()));
  auto r = DecodeLeaf(body, t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value()->keys, d.keys);
  EXPECT_EQ(r.value()->weights, d.weights);
}

TEST(TreeNodeFormatTest, RoundTrip) {
  std::mt19937_64 rng(5);
  for (uint32_t n : {1u, 2u, 3u, 100u, 4096u}) {
    for (int shift : {1, 20, 52}) {
      LeafData d;
      uint64_t key = rng() % 1000;
      for (uint32_t i = 0; i < n; ++i) {
        key += 1 + rng() % (uint64_t{1} << shift);
        d.keys.push_back(key);
        // Large magnitudes, both signs; |w| < 2^50 keeps the positive sum within uint64.
        const int64_t w = static_cast<int64_t>(rng() % (uint64_t{1} << 51)) - (int64_t{1} << 50);
        d.weights.push_back(w == 0 ? 1 : w);
      }
      ExpectRoundTrip(KeyType::kInt64, d);
    }
  }
}

TEST(TreeNodeFormatTest, RoundTripExtremes) {
  LeafData d;
  d.keys = {0, 1, ~uint64_t{0} - 1, ~uint64_t{0}};  // gaps 1, 2^64 - 3 (10 bytes), 1
  d.weights = {INT64_MIN, -1, 1, INT64_MAX};
  ExpectRoundTrip(KeyType::kInt64, d);
  EXPECT_EQ(EncodedLeafBytes(d), LeafBodyBytes((1 + 10 + 1) + (10 + 1 + 1 + 10)));  // gaps, weights
  LeafData one;
  one.keys = {~uint64_t{0}};
  one.weights = {INT64_MIN};
  ExpectRoundTrip(KeyType::kInt64, one);
  EXPECT_EQ(EncodedLeafBytes(one), LeafBodyBytes(10));
  LeafData doubles;
  doubles.keys = {EncodeDoubleKey(-INFINITY), EncodeDoubleKey(-2.5),     EncodeDoubleKey(0.0),
                  EncodeDoubleKey(1e300),     EncodeDoubleKey(INFINITY), kDoubleNanCode};
  doubles.weights = {1, 2, 3, 4, 5, 6};
  ExpectRoundTrip(KeyType::kDouble, doubles);
}

// What the format is for: weight 1 costs one byte — none when every weight is 1 —, a gap
// below 2^42 six bytes. 240 random int64 keys out of 10 M (mean gap 2^64 / 10^7 ~ 2^40.7)
// with weight 1 are 6 bytes per entry (7 in version 2, which always writes the weights).
TEST(TreeNodeFormatTest, CompactSizes) {
  std::mt19937_64 rng(9);
  LeafData d;
  uint64_t key = rng();
  for (int i = 0; i < 240; ++i) {
    d.keys.push_back(key);
    d.weights.push_back(1);
    key += (uint64_t{1} << 35) + rng() % (uint64_t{1} << 41);
  }
  EXPECT_EQ(EncodeLeaf(KeyType::kInt64, d).size(), LeafBodyBytes(239 * 6));
  EXPECT_EQ(EncodedLeafBytes(d), LeafBodyBytes(239 * 6));
  // The body holds no slack beyond its size (an inline tree keeps it in memory): the encoder
  // writes into a buffer for the longest body, 10 bytes per varint, and copies out the rest.
  EXPECT_LT(EncodeLeaf(KeyType::kInt64, d).capacity(), LeafBodyBytes(239 * 6) + 16);
  EXPECT_EQ(EncodeLeafV2(KeyType::kInt64, d).size(), LeafBodyBytes(239 * 6 + 240));
  LeafData dense;
  for (int i = 0; i < 1000; ++i) {
    dense.keys.push_back(EncodeInt64Key(i));
    dense.weights.push_back(i % 2 == 0 ? 1 : -1);
  }
  EXPECT_EQ(EncodeLeaf(KeyType::kInt64, dense).size(), LeafBodyBytes(999 + 1000));
  EXPECT_EQ(LeafBodyBytesMax(1), LeafBodyBytes(10));
  EXPECT_EQ(LeafBodyBytesMax(240), LeafBodyBytes(4790));
  // The smallest body of n entries: consecutive keys of weight 1.
  LeafData consecutive;
  for (int i = 0; i < 240; ++i) consecutive.keys.push_back(EncodeInt64Key(i));
  EXPECT_EQ(EncodeLeaf(KeyType::kInt64, consecutive).size(), LeafBodyBytesMin(240));
  EXPECT_EQ(LeafBodyBytesMin(240), LeafBodyBytes(239));
}

// The worked examples of docs/node_format.md, byte for byte: version 3 with weights, version
// 3 with unit weights (no weights run), and the version 2 bytes older builds wrote.
TEST(TreeNodeFormatTest, WorkedExampleBytes) {
  const std::string body = EncodeLeaf(KeyType::kInt64, ThreeEntries());
  ASSERT_EQ(body.size(), 34u);
  EXPECT_EQ(testutil::Hex(body),
            "43574c46"
            "0300"
            "01"
            "00"
            "03000000"
            "06000000"
            "ffffffffffffff7f"
            "06"
            "e307"
            "06"
            "03"
            "02"
            "3027658f");
  EXPECT_EQ(DecodeFixed32(body.data() + 30), Crc32c(body.data(), 30));
  auto r = DecodeLeaf(body, KeyType::kInt64);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value()->keys, ThreeEntries().keys);
  EXPECT_EQ(r.value()->weights, ThreeEntries().weights);

  LeafData unit = ThreeEntries();
  unit.weights.clear();
  const std::string unit_body = EncodeLeaf(KeyType::kInt64, unit);
  ASSERT_EQ(unit_body.size(), 31u);
  EXPECT_EQ(testutil::Hex(unit_body),
            "43574c46"
            "0300"
            "01"
            "01"
            "03000000"
            "03000000"
            "ffffffffffffff7f"
            "06"
            "e307"
            "481911b2");
  auto u = DecodeLeaf(unit_body, KeyType::kInt64);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u.value()->keys, unit.keys);
  EXPECT_TRUE(u.value()->implicit_unit_weights());

  const std::string v2 = EncodeLeafV2(KeyType::kInt64, ThreeEntries());
  EXPECT_EQ(testutil::Hex(v2),
            "43574c460200010003000000060000"
            "00ffffffffffffff7f06e30706030"
            "23fa3cba2");
  auto r2 = DecodeLeaf(v2, KeyType::kInt64);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2.value()->weights, ThreeEntries().weights);
}

TEST(TreeNodeFormatTest, BadMagicVersionCrc) {
  const std::string good = EncodeLeaf(KeyType::kInt64, ThreeEntries());
  std::string b = good;
  b[0] = 'X';
  ExpectCorrupt(b, KeyType::kInt64, "offset 0: magic");
  b = good;
  b[4] = 4;
  ExpectCorrupt(b, KeyType::kInt64, "offset 4: format_version 4, expected 3 (or 2 or 1");
  b = good;
  b[18] ^= 0x10;  // a first_key byte: only the CRC notices
  ExpectCorrupt(b, KeyType::kInt64, "crc32c");
  b = good;
  b[25] ^= 0x01;  // a varint byte
  ExpectCorrupt(b, KeyType::kInt64, "crc32c");
  b = good;
  b[31] ^= 1;  // the CRC itself
  ExpectCorrupt(b, KeyType::kInt64, "offset 30");
}

TEST(TreeNodeFormatTest, EveryBitFlipIsDetected) {
  const std::string good = EncodeLeaf(KeyType::kInt64, ThreeEntries());
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string b = good;
    b[i / 8] ^= static_cast<char>(1 << (i % 8));
    auto r = DecodeLeaf(b, KeyType::kInt64);
    EXPECT_TRUE(r.status().IsCorruption()) << "bit " << i;
  }
}

TEST(TreeNodeFormatTest, TruncatedAtEveryLengthAndTrailingBytes) {
  const std::string good = EncodeLeaf(KeyType::kInt64, ThreeEntries());
  for (size_t len = 0; len < good.size(); ++len) {
    auto r = DecodeLeaf(std::string_view(good).substr(0, len), KeyType::kInt64);
    EXPECT_TRUE(r.status().IsCorruption()) << len;
  }
  ExpectCorrupt(good + std::string(1, '\0'), KeyType::kInt64,
                "offset 12: entries_bytes 6 needs a body of 34 bytes, found 35");
  ExpectCorrupt(good.substr(0, 7), KeyType::kInt64, "at least 20");
  ExpectCorrupt(good.substr(0, 24), KeyType::kInt64, "version 3 body ends after 24 bytes");
}

TEST(TreeNodeFormatTest, FlagsKeyTypeAndCount) {
  const std::string good = EncodeLeaf(KeyType::kInt64, ThreeEntries());
  std::string b = EncodeLeafV2(KeyType::kInt64, ThreeEntries());
  b[7] = 1;  // version 2: byte 7 is reserved, not flags
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 7: reserved byte not 0");
  for (int bit = 1; bit < 8; ++bit) {
    b = good;
    b[7] = static_cast<char>(1 << bit);
    FixCrc(&b);
    ExpectCorrupt(b, KeyType::kInt64, "offset 7: flags " + Hex8(static_cast<uint8_t>(1 << bit)));
    ExpectCorrupt(b, KeyType::kInt64, "has unknown bits, expected only bit 0 (unit weights)");
  }
  // The unit weights flag on a body that has a weights run: the run is left over.
  b = good;
  b[7] = 1;
  FixCrc(&b);
  ExpectCorrupt(b, KeyType::kInt64, "offset 27: entries end at offset 27, expected at offset 30");
  // Every weight 1 but the flag clear: a second encoding of the same leaf, refused.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 5, std::string("\x01\x02\x02", 3), kLeafFormatVersion),
                KeyType::kInt64,
                "offset 7: every weight is 1 but flags bit 0 (unit weights) is clear");
  // ... which version 2 allows (it always writes the weights).
  auto v2 =
      DecodeLeaf(Body(KeyType::kInt64, 2, 5, std::string("\x01\x02\x02", 3)), KeyType::kInt64);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_TRUE(v2.value()->implicit_unit_weights());
  // With the flag: no weights run (and a weight byte after the gaps is left over).
  auto v3 = DecodeLeaf(
      Body(KeyType::kInt64, 2, 5, std::string("\x01", 1), kLeafFormatVersion, kLeafFlagUnitWeights),
      KeyType::kInt64);
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(v3.value()->keys, (std::vector<uint64_t>{5, 6}));
  EXPECT_TRUE(v3.value()->implicit_unit_weights());
  ExpectCorrupt(Body(KeyType::kInt64, 2, 5, std::string("\x01\x02", 2), kLeafFormatVersion,
                     kLeafFlagUnitWeights),
                KeyType::kInt64, "offset 25: entries end at offset 25, expected at offset 26");
  ExpectCorrupt(good, KeyType::kDouble, "offset 6: key_type 1, expected 2");
  ExpectCorrupt(Body(KeyType::kInt64, 0, 5, ""), KeyType::kInt64,
                "offset 8: entry_count 0, expected 1..4096");
  ExpectCorrupt(Body(KeyType::kInt64, 4097, 5, std::string(8191, '\x02')), KeyType::kInt64,
                "entry_count 4097");
  // entry_count larger than the varints present: the weights run out.
  ExpectCorrupt(Body(KeyType::kInt64, 3, 5, std::string("\x01\x01\x02\x02", 4)), KeyType::kInt64,
                "offset 28: weight 2 varint runs past the end of the entries area at offset 28");
}

TEST(TreeNodeFormatTest, KeyGaps) {
  // Gap 0: a duplicate key.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 5, std::string("\x00\x02\x02", 3)), KeyType::kInt64,
                "offset 24: key gap 1 is 0, expected >= 1");
  // A gap past 2^64 - 1.
  ExpectCorrupt(Body(KeyType::kInt64, 2, ~uint64_t{0} - 5, std::string("\x06\x02\x02", 3)),
                KeyType::kInt64, "offset 24: key gap 1 of 6 after code");
  ExpectCorrupt(Body(KeyType::kInt64, 2, ~uint64_t{0} - 5, std::string("\x06\x02\x02", 3)),
                KeyType::kInt64, "passes 2^64 - 1");
  // ... and exactly to 2^64 - 1 is fine.
  EXPECT_TRUE(DecodeLeaf(Body(KeyType::kInt64, 2, ~uint64_t{0} - 5, std::string("\x05\x02\x02", 3)),
                         KeyType::kInt64)
                  .ok());
  // A key gap runs past the entries area (which then holds no weights).
  ExpectCorrupt(Body(KeyType::kInt64, 2, 5, std::string("\x81", 1)), KeyType::kInt64,
                "offset 24: key gap 1 varint runs past the end of the entries area at offset 25");
}

TEST(TreeNodeFormatTest, MalformedVarints) {
  const std::string w = std::string("\x02\x02", 2);  // two weights of 1
  // 11 bytes: ten continuation bytes.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string(10, '\x80') + "\x01" + w), KeyType::kInt64,
                "offset 24: key gap 1 varint is longer than 10 bytes");
  // 10 bytes whose last one carries more than bit 63.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string(9, '\xff') + "\x02" + w), KeyType::kInt64,
                "key gap 1 varint does not fit in 64 bits");
  // 2^63 in ten bytes is fine (10th byte 1).
  EXPECT_TRUE(
      DecodeLeaf(Body(KeyType::kInt64, 2, 0, std::string(9, '\x80') + "\x01" + w), KeyType::kInt64)
          .ok());
  // Not the shortest form: 0x85 0x00 is 5.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string("\x85\x00", 2) + w), KeyType::kInt64,
                "offset 24: key gap 1 varint is not in its shortest form");
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string("\x05\x02\x82\x00", 4)), KeyType::kInt64,
                "offset 26: weight 1 varint is not in its shortest form");
  // Version 3 with unit weights: the gaps end the entries area.
  ExpectCorrupt(
      Body(KeyType::kInt64, 2, 0, std::string("\x81", 1), kLeafFormatVersion, kLeafFlagUnitWeights),
      KeyType::kInt64,
      "offset 24: key gap 1 varint runs past the end of the entries area at offset 25");
}

// The word-at-a-time parse takes exactly the varints the checked one takes, with the same
// value and length, and leaves the rest (long, non-minimal, too close to the end) to it.
TEST(TreeNodeFormatTest, ShortVarintParseAgreesWithTheCheckedOne) {
  std::mt19937_64 rng(11);
  std::vector<std::string> cases;
  for (int bits = 1; bits <= 64; ++bits) {  // every length 1..10, at both ends of its range
    const uint64_t lo = uint64_t{1} << (bits - 1);
    const uint64_t hi = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    for (uint64_t v : {uint64_t{0}, lo, hi, lo + rng() % (hi - lo + 1)}) {
      std::string b;
      PutVarint64(&b, v);
      cases.push_back(b);
    }
  }
  for (int i = 0; i < 20000; ++i) {  // random bytes: also non-minimal, too long, overflowing
    std::string b(1 + rng() % 12, '\0');
    for (char& c : b) c = static_cast<char>(rng() % 4 == 0 ? 0x80 | (rng() & 1) : rng());
    cases.push_back(b);
  }
  cases.push_back(std::string("\x85\x00", 2));                  // not minimal
  cases.push_back(std::string(8, '\x80') + std::string(1, 0));  // not minimal, 9 bytes
  cases.push_back(std::string(7, '\xff') + std::string(1, 0));  // not minimal, 8 bytes
  int short_taken = 0;
  for (const std::string& c : cases) {
    for (size_t tail : {size_t{0}, size_t{3}, size_t{8}}) {  // bytes after the varint's area
      const std::string buf = c + std::string(tail, '\x01');
      const size_t end = c.size();
      for (size_t limit : {end, buf.size()}) {
        size_t pos_checked = 0, pos_short = 0;
        uint64_t v_checked = 0, v_short = 0;
        const VarintParse r = ParseVarint64(buf.data(), limit, &pos_checked, &v_checked);
        if (ParseShortVarint64(buf.data(), limit, &pos_short, &v_short)) {
          ++short_taken;
          ASSERT_EQ(r, VarintParse::kOk) << testutil::Hex(buf);
          EXPECT_EQ(pos_short, pos_checked) << testutil::Hex(buf);
          EXPECT_EQ(v_short, v_checked) << testutil::Hex(buf);
          EXPECT_LE(pos_short, size_t{8});
          EXPECT_GE(limit, size_t{8});
        } else {
          EXPECT_EQ(pos_short, 0u);  // nothing consumed
          if (r == VarintParse::kOk && limit >= 8) {
            EXPECT_GT(pos_checked, 8u) << testutil::Hex(buf);  // only longer ones are left
          }
        }
      }
    }
  }
  EXPECT_GT(short_taken, 10000);  // the fast path is the common one
}

TEST(TreeNodeFormatTest, WeightsAndExactLength) {
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string("\x05\x02\x00", 3)), KeyType::kInt64,
                "offset 26: weight 1 is 0, expected nonzero");
  // One byte left over after the last weight.
  ExpectCorrupt(Body(KeyType::kInt64, 2, 0, std::string("\x05\x02\x02\x02", 4)), KeyType::kInt64,
                "offset 27: entries end at offset 27, expected at offset 28");
  // Three weights of INT64_MAX: each valid, but the positive sum overflows.
  std::string big;
  for (int i = 0; i < 2; ++i) big.push_back('\x01');
  for (int i = 0; i < 3; ++i) PutVarint64(&big, ZigZag(INT64_MAX));
  ExpectCorrupt(Body(KeyType::kInt64, 3, 0, big), KeyType::kInt64, "overflows");
}

// Weights of 1 decode as implicit unit weights (tree/leaf.h): no weights array, and the same
// bytes when encoded again. One other weight anywhere makes every weight held.
TEST(TreeNodeFormatTest, UnitWeightsDecodeImplicitAndEncodeAlike) {
  LeafData unit;
  for (uint64_t k = 0; k < 100; ++k) unit.keys.push_back(1000 + 7 * k);
  const std::string implicit_body = EncodeLeaf(KeyType::kInt64, unit);
  LeafData held = unit;
  held.weights.assign(unit.keys.size(), 1);
  EXPECT_EQ(EncodeLeaf(KeyType::kInt64, held), implicit_body);  // both forms encode alike
  EXPECT_EQ(EncodedLeafBytes(unit), implicit_body.size());
  EXPECT_EQ(EncodedLeafBytes(held), implicit_body.size());
  EXPECT_EQ(implicit_body[kLeafFlagsOffset], static_cast<char>(kLeafFlagUnitWeights));
  EXPECT_EQ(implicit_body.size(), LeafBodyBytes(99));  // 99 one-byte gaps, no weights run
  // The version 2 bytes of older builds (weights written) decode to the same implicit leaf.
  auto old = DecodeLeaf(EncodeLeafV2(KeyType::kInt64, held), KeyType::kInt64);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_TRUE(old.value()->implicit_unit_weights());
  EXPECT_EQ(old.value()->keys, unit.keys);
  auto r = DecodeLeaf(implicit_body, KeyType::kInt64);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r.value()->implicit_unit_weights());
  EXPECT_EQ(r.value()->keys, unit.keys);
  EXPECT_EQ(r.value()->weights.capacity(), 0u);  // nothing allocated for them
  for (size_t at : {size_t{0}, size_t{57}, size_t{99}}) {
    LeafData mixed = held;
    mixed.weights[at] = at == 57 ? -3 : 2;
    auto m = DecodeLeaf(EncodeLeaf(KeyType::kInt64, mixed), KeyType::kInt64);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_FALSE(m.value()->implicit_unit_weights());
    EXPECT_EQ(m.value()->weights, mixed.weights) << "other weight at " << at;
  }
}

// Decoded into a pool: the same content as a plain decode, in an object the pool recycles
// (its class's capacity), with no weights buffer kept for implicit unit weights and a weights
// buffer of the class's capacity otherwise, so that the object goes back to its class.
TEST(TreeNodeFormatTest, DecodeIntoAPoolReusesItsObjects) {
  LeafDataPool pool;
  LeafData unit;
  for (uint64_t k = 0; k < 100; ++k) unit.keys.push_back(1000 + 7 * k);
  LeafData mixed = unit;
  mixed.weights.assign(unit.keys.size(), 1);
  mixed.weights[40] = -2;
  const std::string unit_body = EncodeLeaf(KeyType::kInt64, unit);
  const std::string mixed_body = EncodeLeaf(KeyType::kInt64, mixed);
  // A recycled object of the class with a weights buffer (what a writer leaves behind).
  std::shared_ptr<LeafData> spare = pool.Make(100);
  spare->weights.reserve(spare->keys.capacity());
  const LeafData* spare_raw = spare.get();
  spare.reset();
  const uint64_t reuses = pool.reuses();
  auto u = DecodeLeaf(unit_body, KeyType::kInt64, &pool);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u.value().get(), spare_raw);  // from the pool
  EXPECT_EQ(pool.reuses(), reuses + 1);
  EXPECT_EQ(u.value()->keys, unit.keys);
  EXPECT_TRUE(u.value()->implicit_unit_weights());
  EXPECT_EQ(u.value()->weights.capacity(), 0u);  // the recycled weights buffer was freed
  EXPECT_EQ(u.value()->keys.capacity(), 112u);   // the class's capacity
  const LeafData* u_raw = u.value().get();
  u = Status::NotFound("dropped");  // back to the pool, keys only
  EXPECT_GT(pool.cached_bytes(), 0u);
  auto m = DecodeLeaf(mixed_body, KeyType::kInt64, &pool);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m.value().get(), u_raw);
  EXPECT_EQ(m.value()->keys, mixed.keys);
  EXPECT_EQ(m.value()->weights, mixed.weights);
  EXPECT_EQ(m.value()->weights.capacity(), m.value()->keys.capacity());  // stays in its class
  m = Status::NotFound("dropped");
  EXPECT_EQ(pool.cached_bytes(), sizeof(LeafData) + 2 * 112 * 8);  // recycled with its weights
  // A body that fails after its object was taken (a key gap of 0, under a valid CRC) is still
  // Corruption, and the object goes back to the pool.
  const uint64_t before = pool.cached_bytes();
  auto c = DecodeLeaf(Body(KeyType::kInt64, 2, 5, std::string("\x00\x02\x02", 3)), KeyType::kInt64,
                      &pool);
  EXPECT_TRUE(c.status().IsCorruption()) << c.status().ToString();
  EXPECT_NE(c.status().message().find("key gap 1 is 0"), std::string::npos);
  EXPECT_EQ(pool.cached_bytes(), before + sizeof(LeafData) + 16 * 8);  // class of 16, keys only
}

TEST(TreeNodeFormatTest, NonCanonicalDoubleKey) {
  // First key (fixed field) and a later key (reached through a gap).
  ExpectCorrupt(Body(KeyType::kDouble, 1, kDoubleNanCode + 5, "\x02"), KeyType::kDouble,
                "offset 16: key 0 code");
  ExpectCorrupt(Body(KeyType::kDouble, 2, kDoubleNanCode, std::string("\x05\x02\x02", 3)),
                KeyType::kDouble, "offset 24: key 1 code");
  ExpectCorrupt(Body(KeyType::kDouble, 2, kDoubleNanCode, std::string("\x05\x02\x02", 3)),
                KeyType::kDouble, "canonical");
}

}  // namespace
}  // namespace cowtree::tree
