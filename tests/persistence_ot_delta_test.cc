// OT-delta payload: round trip, every validation, and replay into a loading table
// (retire removes; filtering by epoch is the caller's job).
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/ot_delta.h"

namespace cowtree {
namespace {

OtEntry Entry(uint64_t slot, uint64_t birth) {
  OtEntry e;
  e.address = {4096, slot * 4096, 100};
  e.kind = ObjectKind::kLeaf;
  e.birth_epoch = birth;
  e.payload_crc32c = static_cast<uint32_t>(slot);
  return e;
}

OtDeltaOp Upsert(NodeID id, const OtEntry& e) { return {OtDeltaOp::kUpsert, id, e, 0}; }
OtDeltaOp Retire(NodeID id, uint64_t epoch) { return {OtDeltaOp::kRetire, id, {}, epoch}; }

TEST(OtDeltaTest, RoundTrip) {
  std::vector<OtDeltaOp> ops = {Upsert(NodeID::Make(1, 1), Entry(1, 5)),
                                Retire(NodeID::Make(2, 7), 9),
                                Upsert(NodeID::Make(NodeID::kHandleMax, 255), Entry(3, 6))};
  const std::string payload = EncodeOtDelta(ops);
  EXPECT_EQ(payload.size(), 8u + 56 + 24 + 56);
  EXPECT_EQ(DecodeFixed16(payload.data()), 1);
  EXPECT_EQ(DecodeFixed32(payload.data() + 4), 3u);
  Result<std::vector<OtDeltaOp>> back = DecodeOtDelta(payload);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, ops);
  Result<std::vector<OtDeltaOp>> empty = DecodeOtDelta(EncodeOtDelta({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

void ExpectCorrupt(const std::string& payload, const std::string& needle) {
  Result<std::vector<OtDeltaOp>> r = DecodeOtDelta(payload);
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(OtDeltaTest, EveryCorruptionIsDetected) {
  const std::vector<OtDeltaOp> ops = {Upsert(NodeID::Make(1, 1), Entry(1, 5)),
                                      Retire(NodeID::Make(2, 7), 9)};
  const std::string good = EncodeOtDelta(ops);
  auto with = [&](size_t at, char v) {
    std::string b = good;
    b[at] = v;
    return b;
  };
  ExpectCorrupt(good.substr(0, 5), "shorter than the 8-byte header");
  ExpectCorrupt(with(0, 2), "format version 2");
  ExpectCorrupt(with(2, 1), "reserved header bytes");
  ExpectCorrupt(with(4, 50), "op count 50 cannot fit");
  ExpectCorrupt(with(8, 3), "unknown op type 3");
  ExpectCorrupt(with(8, 0), "unknown op type 0");
  ExpectCorrupt(with(9, 1), "op 0: reserved byte");
  ExpectCorrupt(with(8 + 8 + 45, 1), "reserved byte 45");  // inside the 48-byte record
  ExpectCorrupt(with(8 + 8 + 32, 3), "power of two");      // record's size class
  ExpectCorrupt(with(64 + 1, 1), "op 1: reserved byte");
  std::string zero_tag = good;
  EncodeFixed64(zero_tag.data() + 64 + 8, NodeID::Make(2, 0).raw());
  ExpectCorrupt(zero_tag, "tag 0");
  std::string not_retired = good;
  EncodeFixed64(not_retired.data() + 64 + 16, kNotRetired);
  ExpectCorrupt(not_retired, "not-retired marker");
  ExpectCorrupt(good + "x", "1 trailing bytes");
  ExpectCorrupt(good.substr(0, good.size() - 1), "cut short");
  for (size_t n = 8; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeOtDelta(good.substr(0, n)).ok()) << "truncated at " << n;
  }
}

TEST(OtDeltaTest, ApplyUpsertsAndRetirementsRemove) {
  ObjectTable t;
  // Checkpoint state: A (born at 3) and B (born at 4).
  const NodeID a = NodeID::Make(0, 1), b = NodeID::Make(1, 1), c = NodeID::Make(2, 1);
  ASSERT_TRUE(t.LoadEntry(a, Entry(0, 3)).ok());
  ASSERT_TRUE(t.LoadEntry(b, Entry(1, 4)).ok());
  // Deltas of a later checkpoint: A retired (born BEFORE the checkpoint: its retirement must
  // still apply), B relocated, C written, C's handle reused after reclamation elsewhere.
  const std::vector<OtDeltaOp> ops = {Retire(a, 10), Upsert(b, Entry(7, 4)),
                                      Upsert(c, Entry(8, 10))};
  ASSERT_TRUE(ApplyOtDelta(t, *DecodeOtDelta(EncodeOtDelta(ops))).ok());
  t.FinishLoad();
  EXPECT_TRUE(t.Get(a).status().IsNotFound());
  EXPECT_EQ(*t.Get(b), Entry(7, 4));
  EXPECT_EQ(*t.Get(c), Entry(8, 10));
  EXPECT_EQ(t.live_count(), 2u);
  // The retired handle is reused with the next tag.
  EXPECT_EQ(*t.AllocateId(), NodeID::Make(0, 2));
}

// Retained checkpoints (docs/retained_checkpoints.md): a retirement keeps the entry, retired,
// when a retained epoch R has birth <= R < retire epoch; otherwise it removes it as before.
TEST(OtDeltaTest, RetirementKeepsWhatARetainedCheckpointSees) {
  ObjectTable t;
  const NodeID a = NodeID::Make(0, 1), b = NodeID::Make(1, 1), c = NodeID::Make(2, 1);
  ASSERT_TRUE(t.LoadEntry(a, Entry(0, 3)).ok());
  ASSERT_TRUE(t.LoadEntry(b, Entry(1, 8)).ok());
  ASSERT_TRUE(t.LoadEntry(c, Entry(2, 5)).ok());
  const RetainedEpochs retained({5}, 1);
  // a: born 3, retired 10, 5 in [3, 10): kept. b: born 8 > 5: removed. c: retired at 5 (the
  // retained checkpoint's own epoch already sees its replacement): removed.
  ASSERT_TRUE(ApplyOtDelta(t, {Retire(a, 10), Retire(b, 10), Retire(c, 5)}, retained).ok());
  t.FinishLoad();
  ASSERT_TRUE(t.Get(a).ok());
  EXPECT_EQ(t.Get(a)->retire_epoch, 10u);
  EXPECT_TRUE(t.Get(b).status().IsNotFound());
  EXPECT_TRUE(t.Get(c).status().IsNotFound());
  EXPECT_EQ(t.live_count(), 1u);
  // A second retirement of a kept entry, or one before its birth, contradicts the table.
  ObjectTable u;
  ASSERT_TRUE(u.LoadEntry(a, Entry(0, 3)).ok());
  ASSERT_TRUE(ApplyOtDelta(u, {Retire(a, 10)}, retained).ok());
  EXPECT_NE(ApplyOtDelta(u, {Retire(a, 11)}, retained).message().find("already retired"),
            std::string::npos);
  ObjectTable v;
  ASSERT_TRUE(v.LoadEntry(a, Entry(0, 3)).ok());
  EXPECT_NE(ApplyOtDelta(v, {Retire(a, 2)}, retained).message().find("before its birth"),
            std::string::npos);
}

TEST(OtDeltaTest, ApplyRejectsContradictions) {
  ObjectTable t;
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(0, 1), Entry(0, 3)).ok());
  Status st = ApplyOtDelta(t, {Retire(NodeID::Make(5, 1), 9)});
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("op 0"), std::string::npos) << st.message();
  st = ApplyOtDelta(t, {Upsert(NodeID::Make(0, 2), Entry(1, 4))});
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("retirement is missing"), std::string::npos) << st.message();
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
TEST(OtDeltaTest, GoldenPayload) {
  OtEntry e{{8192, 131072, 5000}, ObjectKind::kLeaf, 42, kNotRetired, 0xDEADBEEF};
  const std::vector<OtDeltaOp> ops = {Upsert(NodeID::Make(5, 2), e),
                                      Retire(NodeID::Make(7, 1), 50)};
  EXPECT_EQ(EncodeOtDelta(ops), FromHex("01 00 00 00 02 00 00 00 01 00 00 00 00 00 00 00 "
                                        "02 05 00 00 00 00 00 00 00 00 02 00 00 00 00 00 "
                                        "2a 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff "
                                        "00 20 00 00 88 13 00 00 ef be ad de 01 00 00 00 "
                                        "02 00 00 00 00 00 00 00 01 07 00 00 00 00 00 00 "
                                        "32 00 00 00 00 00 00 00"));
}

}  // namespace
}  // namespace cowtree
