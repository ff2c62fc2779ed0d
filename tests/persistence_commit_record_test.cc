// Commit (redo) record: round trip and every malformed-input case.
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/commit_record.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

CommitRecordView Sample() {
  CommitRecordView r;
  r.creates.push_back(CommitCreate{7, 1, "SFO", std::string(8, '\0')});
  r.creates.push_back(CommitCreate{8, 1, "LAX", std::string(8, '\0')});
  r.drops.push_back(3);
  r.ops.push_back(CommitOps{7, "0123456789abcdef"});
  r.ops.push_back(CommitOps{8, ""});
  return r;
}

TEST(CommitRecord, RoundTrip) {
  std::string bytes;
  EncodeCommitRecord(Sample(), &bytes);
  auto decoded = DecodeCommitRecord(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->creates.size(), 2u);
  EXPECT_EQ(decoded->creates[0].tree_id, 7u);
  EXPECT_EQ(decoded->creates[1].name, "LAX");
  EXPECT_EQ(decoded->creates[0].params.size(), 8u);
  ASSERT_EQ(decoded->drops.size(), 1u);
  EXPECT_EQ(decoded->drops[0], 3u);
  ASSERT_EQ(decoded->ops.size(), 2u);
  EXPECT_EQ(decoded->ops[0].ops, "0123456789abcdef");
  EXPECT_EQ(decoded->ops[1].tree_id, 8u);
  EXPECT_TRUE(decoded->ops[1].ops.empty());
}

TEST(CommitRecord, EveryTruncationIsCorruption) {
  std::string bytes;
  EncodeCommitRecord(Sample(), &bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = DecodeCommitRecord(std::string_view(bytes.data(), n));
    EXPECT_TRUE(decoded.status().IsCorruption()) << "length " << n;
  }
}

TEST(CommitRecord, TrailingBytesAreCorruption) {
  std::string bytes;
  EncodeCommitRecord(Sample(), &bytes);
  bytes.push_back('x');
  EXPECT_TRUE(DecodeCommitRecord(bytes).status().IsCorruption());
}

TEST(CommitRecord, BadMagicVersionAndReservedBytes) {
  std::string bytes;
  EncodeCommitRecord(Sample(), &bytes);
  for (size_t offset : {0u, 4u, 6u}) {  // magic, version, reserved
    std::string bad = bytes;
    bad[offset] ^= 0x01;
    EXPECT_TRUE(DecodeCommitRecord(bad).status().IsCorruption()) << "offset " << offset;
  }
  // The reserved byte of the first create entry (after its tree_id and type_id).
  std::string bad = bytes;
  bad[kCommitRecordHeaderBytes + 9] = 1;
  EXPECT_TRUE(DecodeCommitRecord(bad).status().IsCorruption());
}

TEST(CommitRecord, HugeCountsAreRejectedBeforeAllocating) {
  std::string bytes;
  EncodeCommitRecord(CommitRecordView{}, &bytes);
  EncodeFixed32(bytes.data() + 8, 0xffffffffu);  // create_count
  EXPECT_TRUE(DecodeCommitRecord(bytes).status().IsCorruption());
}

}  // namespace
}  // namespace cowtree

namespace cowtree {
namespace {

using testutil::Hex;

// The worked example of docs/commit_record.md.
TEST(CommitRecord, DocumentedExampleBytes) {
  CommitRecordView r;
  r.creates.push_back(CommitCreate{1, 1, "SFO", std::string(8, '\0')});
  std::string ops;
  PutFixed64(&ops, 12ull ^ (1ull << 63));
  PutFixed64(&ops, 1);
  r.ops.push_back(CommitOps{1, ops});
  std::string bytes;
  EncodeCommitRecord(r, &bytes);
  EXPECT_EQ(bytes.size(), 83u);
  EXPECT_EQ(Hex(bytes),
            "435743520100000001000000000000000100000000000000010003000800000053464f000000000000"
            "00000100000000000000010000000000000010000000000000000c000000000000800100000000000000");
}

}  // namespace
}  // namespace cowtree
