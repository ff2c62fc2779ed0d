// OT entry: the 48-byte record encoding, its validation and every corruption case.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "persistence/coding.h"
#include "persistence/ot_entry.h"

namespace cowtree {
namespace {

OtEntry SampleEntry() {
  OtEntry e;
  e.address = {8192, 3 * 8192, 5000};
  e.kind = ObjectKind::kSummaryChunk;
  e.birth_epoch = 42;
  e.retire_epoch = kNotRetired;
  e.payload_crc32c = 0xDEADBEEF;
  return e;
}

std::string Encode(NodeID id, const OtEntry& e) {
  std::string buf(kOtRecordBytes, '\xAA');
  EncodeOtRecord(id, e, buf.data());
  return buf;
}

TEST(OtEntryTest, SizeClasses) {
  EXPECT_TRUE(IsValidSizeClass(1024));
  EXPECT_TRUE(IsValidSizeClass(2048));
  EXPECT_TRUE(IsValidSizeClass(4096));
  EXPECT_TRUE(IsValidSizeClass(262144));
  EXPECT_FALSE(IsValidSizeClass(512));
  EXPECT_FALSE(IsValidSizeClass(3072));
  EXPECT_FALSE(IsValidSizeClass(524288));
  EXPECT_FALSE(IsValidSizeClass(12288));
  EXPECT_FALSE(IsValidSizeClass(0));
  for (int i = 0; i < kSizeClassCount; ++i) EXPECT_EQ(SizeClassIndex(SizeClassBytesAt(i)), i);
  EXPECT_EQ(SizeClassBytesAt(0), 1024u);
  EXPECT_EQ(SizeClassBytesAt(2), 4096u);
  EXPECT_EQ(SizeClassBytesAt(8), 262144u);
}

TEST(OtEntryTest, RoundTripManyShapes) {
  const NodeID ids[] = {NodeID::Make(0, 1), NodeID::Make(12345, 200),
                        NodeID::Make(NodeID::kHandleMax, 255)};
  for (NodeID id : ids) {
    for (int c = 0; c < kSizeClassCount; ++c) {
      for (uint8_t kind : {1, 2, 3, 4, 5, 6, 200, 255}) {
        OtEntry e;
        const uint32_t cls = SizeClassBytesAt(c);
        e.address = {cls, uint64_t{cls} * 977, cls};
        e.kind = static_cast<ObjectKind>(kind);
        e.birth_epoch = 7;
        e.retire_epoch = kind % 2 ? kNotRetired : 7 + kind;
        e.payload_crc32c = 0x01020304u * kind;
        const std::string buf = Encode(id, e);
        Result<OtRecord> r = DecodeOtRecord(buf.data(), "test");
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        EXPECT_EQ(r->id, id);
        EXPECT_EQ(r->entry, e);
      }
    }
  }
}

TEST(OtEntryTest, FieldOffsetsAreLittleEndian) {
  const NodeID id = NodeID::Make(0x0102030405, 7);
  const std::string b = Encode(id, SampleEntry());
  EXPECT_EQ(DecodeFixed64(b.data() + 0), id.raw());
  EXPECT_EQ(static_cast<uint8_t>(b[0]), 7);  // tag is the low byte
  EXPECT_EQ(DecodeFixed64(b.data() + 8), 3u * 8192);
  EXPECT_EQ(DecodeFixed64(b.data() + 16), 42u);
  EXPECT_EQ(DecodeFixed64(b.data() + 24), kNotRetired);
  EXPECT_EQ(DecodeFixed32(b.data() + 32), 8192u);
  EXPECT_EQ(DecodeFixed32(b.data() + 36), 5000u);
  EXPECT_EQ(static_cast<uint8_t>(b[40]), 0xEF);  // CRC low byte first
  EXPECT_EQ(DecodeFixed32(b.data() + 40), 0xDEADBEEFu);
  EXPECT_EQ(static_cast<uint8_t>(b[44]), 2);
  EXPECT_EQ(b[45], 0);
  EXPECT_EQ(b[46], 0);
  EXPECT_EQ(b[47], 0);
}

// Mutates one field of a valid record and expects Corruption mentioning `needle`.
void ExpectCorrupt(const std::function<void(char*)>& mutate, const std::string& needle) {
  std::string b = Encode(NodeID::Make(9, 3), SampleEntry());
  mutate(b.data());
  Result<OtRecord> r = DecodeOtRecord(b.data(), "ot-000001.otc offset 64");
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("ot-000001.otc offset 64"), std::string::npos);
}

TEST(OtEntryTest, EveryCorruptionIsDetected) {
  ExpectCorrupt([](char* p) { EncodeFixed64(p, NodeID::Make(9, 0).raw()); }, "tag 0");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 32, 12288); }, "power of two");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 32, 3072); }, "power of two");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 32, 512 * 1024); }, "power of two");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 32, 0); }, "power of two");
  ExpectCorrupt([](char* p) { EncodeFixed64(p + 8, 8192 * 3 + 4096); }, "not a multiple");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 36, 0); }, "length 0");
  ExpectCorrupt([](char* p) { EncodeFixed32(p + 36, 8193); }, "length 8193");
  ExpectCorrupt([](char* p) { p[44] = 0; }, "kind 0");
  ExpectCorrupt([](char* p) { p[45] = 1; }, "reserved byte 45");
  ExpectCorrupt([](char* p) { p[46] = 1; }, "reserved byte 46");
  ExpectCorrupt([](char* p) { p[47] = static_cast<char>(0x80); }, "reserved byte 47");
  ExpectCorrupt([](char* p) { EncodeFixed64(p + 24, 41); }, "before birth epoch");
}

TEST(OtEntryTest, EdgeValuesAreValid) {
  OtEntry e = SampleEntry();
  e.address.length_bytes = e.address.size_class_bytes;  // exactly full
  e.retire_epoch = e.birth_epoch;                       // retired in the epoch of its birth
  EXPECT_TRUE(ValidateOtRecord(NodeID::Make(1, 1), e).ok());
  e.address.offset_bytes = 0;
  EXPECT_TRUE(ValidateOtRecord(NodeID::Make(1, 1), e).ok());
}

TEST(OtEntryTest, DescribeHelpers) {
  EXPECT_EQ(DescribeNodeId(NodeID::Make(5, 2)), "NodeID(handle=5, tag=2)");
  EXPECT_EQ(DescribeAddress({8192, 131072, 5000}), "data-8k.dat offset 131072 length 5000");
}

TEST(OtEntryDeathTest, EncodingAnInvalidRecordAsserts) {
  OtEntry e = SampleEntry();
  e.kind = static_cast<ObjectKind>(0);
  char buf[kOtRecordBytes];
  EXPECT_DEATH(EncodeOtRecord(NodeID::Make(1, 1), e, buf), "assertion failed");
  EXPECT_DEATH(EncodeOtRecord(NodeID::Make(1, 0), SampleEntry(), buf), "assertion failed");
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

// The worked example of docs/object_table.md.
TEST(OtEntryTest, GoldenRecord) {
  OtEntry e{{8192, 131072, 5000}, ObjectKind::kLeaf, 42, kNotRetired, 0xDEADBEEF};
  EXPECT_EQ(Encode(NodeID::Make(5, 2), e),
            FromHex("02 05 00 00 00 00 00 00 00 00 02 00 00 00 00 00 "
                    "2a 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff "
                    "00 20 00 00 88 13 00 00 ef be ad de 01 00 00 00"));
}

}  // namespace
}  // namespace cowtree
