// Object envelope: layout, CRC coverage, and every check DecodeObject makes.
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/object_format.h"

namespace cowtree {
namespace {

const NodeID kId = NodeID::Make(42, 3);

struct Encoded {
  std::string bytes;
  uint32_t crc;
};

Encoded Make(std::string_view body = "hello, leaf") {
  Encoded e;
  e.crc = EncodeObject(kId, ObjectKind::kLeaf, 17, body, &e.bytes);
  return e;
}

ObjectExpectation Expect(const Encoded& e) {
  return {kId, ObjectKind::kLeaf, 17, static_cast<uint32_t>(e.bytes.size()), e.crc};
}

TEST(ObjectFormatTest, LayoutAndRoundTrip) {
  Encoded e = Make();
  ASSERT_EQ(e.bytes.size(), 32u + 11);
  EXPECT_EQ(e.bytes.substr(0, 4), "CWOB");
  EXPECT_EQ(DecodeFixed16(e.bytes.data() + 4), 1);
  EXPECT_EQ(e.bytes[6], 1);
  EXPECT_EQ(e.bytes[7], 0);
  EXPECT_EQ(DecodeFixed32(e.bytes.data() + 8), 11u);
  EXPECT_EQ(DecodeFixed64(e.bytes.data() + 12), kId.raw());
  EXPECT_EQ(DecodeFixed64(e.bytes.data() + 20), 17u);
  EXPECT_EQ(DecodeFixed32(e.bytes.data() + 28), e.crc);
  // The CRC covers header bytes [0, 28) followed by the body.
  std::string covered = e.bytes.substr(0, 28) + e.bytes.substr(32);
  EXPECT_EQ(e.crc, Crc32c(covered));
  Result<std::string_view> body = DecodeObject(e.bytes, Expect(e), "data-4k.dat offset 0");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "hello, leaf");
}

TEST(ObjectFormatTest, EmptyAndLargestBodies) {
  for (size_t n : {size_t{0}, size_t{kMaxObjectBodyBytes}}) {
    Encoded e = Make(std::string(n, 'z'));
    EXPECT_EQ(e.bytes.size(), 32 + n);
    Result<std::string_view> body = DecodeObject(e.bytes, Expect(e), "x");
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(body->size(), n);
  }
}

void ExpectCorrupt(const Encoded& e, std::string bytes, const ObjectExpectation& expect,
                   const std::string& needle) {
  Result<std::string_view> r = DecodeObject(bytes, expect, "data-4k.dat offset 8192");
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("data-4k.dat offset 8192"), std::string::npos);
  EXPECT_NE(r.status().message().find("handle=42"), std::string::npos);
}

TEST(ObjectFormatTest, EveryCheckFires) {
  const Encoded e = Make();
  auto with = [&](size_t at, char v) {
    std::string b = e.bytes;
    b[at] = v;
    return b;
  };
  ExpectCorrupt(e, e.bytes.substr(0, 20), Expect(e), "shorter than the 32-byte header");
  ExpectCorrupt(e, with(0, 'X'), Expect(e), "bad magic");
  ExpectCorrupt(e, with(4, 2), Expect(e), "format version 2");
  ExpectCorrupt(e, with(7, 1), Expect(e), "reserved");
  ExpectCorrupt(e, with(8, 12), Expect(e), "body length 12");
  ExpectCorrupt(e, e.bytes + "!", Expect(e), "body length");
  // Bit flips in the CRC-covered fields and the body.
  for (size_t at : {size_t{6}, size_t{13}, size_t{21}, size_t{29}, size_t{32}, size_t{42}}) {
    ExpectCorrupt(e, with(at, static_cast<char>(e.bytes[at] ^ 0x10)), Expect(e), "CRC32C");
  }
  // Well-formed envelopes of another object (stale slot, misdirected write).
  ObjectExpectation other = Expect(e);
  other.id = NodeID::Make(42, 4);
  ExpectCorrupt(e, e.bytes, other, "slot holds NodeID(handle=42, tag=3)");
  ObjectExpectation kind = Expect(e);
  kind.kind = ObjectKind::kCatalogRoot;
  ExpectCorrupt(e, e.bytes, kind, "kind 1, expected 5");
  ObjectExpectation birth = Expect(e);
  birth.birth_epoch = 18;
  ExpectCorrupt(e, e.bytes, birth, "birth epoch 17, expected 18");
  ObjectExpectation crc = Expect(e);
  crc.crc32c ^= 1;
  ExpectCorrupt(e, e.bytes, crc, "differs from the object table");
  ObjectExpectation length = Expect(e);
  length.stored_length_bytes += 1;
  ExpectCorrupt(e, e.bytes, length, "stored length");
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size();) {
    if (hex[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

// The worked example of docs/data_files.md.
TEST(ObjectFormatTest, GoldenEnvelope) {
  std::string out;
  EXPECT_EQ(EncodeObject(NodeID::Make(5, 2), ObjectKind::kLeaf, 42, "hello", &out), 0xC05DE690u);
  EXPECT_EQ(out, FromHex("43 57 4f 42 01 00 01 00 05 00 00 00 02 05 00 00 "
                         "00 00 00 00 2a 00 00 00 00 00 00 00 90 e6 5d c0 "
                         "68 65 6c 6c 6f"));
}

}  // namespace
}  // namespace cowtree
