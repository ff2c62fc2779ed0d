// Tests of the superblock (persistence/superblock.h): encode/decode round trip, alternating
// copies, one damaged copy (the other is used and the bad one named), both damaged, and
// every reason a copy can be rejected.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/superblock.h"

namespace cowtree {
namespace {

SuperblockData Sample(uint64_t generation) {
  SuperblockData d;
  d.generation = generation;
  d.checkpoint_epoch = 1000 + generation;
  d.manifest_generation = 7;
  d.ot_checkpoint_id = 3;
  d.log_replay_file_number = 2;
  d.log_replay_offset_bytes = 4096 + generation;
  d.catalog_root = (uint64_t{12345} << 8) | 1;
  d.next_node_handle = 99999;
  return d;
}

// Recomputes a copy's CRC so that a deliberate field change "verifies".
void Reseal(std::string* copy) {
  EncodeFixed32(copy->data() + kSbCrcOffset, Crc32c(copy->data(), kSbCrcOffset));
}

class SuperblockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_superblock_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Path() const { return JoinPath(dir_, kSuperblockFileName); }
  std::string ReadAll() {
    std::string s;
    EXPECT_TRUE(env_->ReadFileToString(Path(), &s).ok());
    return s;
  }
  void WriteAll(const std::string& s) { ASSERT_TRUE(env_->WriteStringToFileSync(Path(), s).ok()); }

  Env* env_ = Env::Default();
  std::string dir_;
};

TEST(SuperblockCodecTest, RoundTripAndLayout) {
  const SuperblockData d = Sample(5);
  const std::string copy = EncodeSuperblock(d);
  ASSERT_EQ(copy.size(), kSuperblockCopySize);
  EXPECT_EQ(copy.substr(0, 8), "CWTSUPB1");
  EXPECT_EQ(DecodeFixed32(copy.data() + 8), kSuperblockFormatVersion);
  EXPECT_EQ(DecodeFixed32(copy.data() + 12), 4096u);
  EXPECT_EQ(DecodeFixed64(copy.data() + 16), 5u);
  EXPECT_EQ(DecodeFixed64(copy.data() + 64), d.catalog_root);
  EXPECT_EQ(copy.substr(kSbReservedOffset, kSbCrcOffset - kSbReservedOffset),
            std::string(kSbCrcOffset - kSbReservedOffset, '\0'));
  Result<SuperblockData> back = DecodeSuperblock(copy, 0);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
}

TEST(SuperblockCodecTest, EveryRejectionReason) {
  const std::string good = EncodeSuperblock(Sample(2));
  auto reason = [](const std::string& copy) {
    Result<SuperblockData> r = DecodeSuperblock(copy, 4096);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption());
    return r.status().message();
  };
  EXPECT_NE(reason(good.substr(0, 4095)).find("short file"), std::string::npos);
  std::string magic = good;
  magic[3] ^= 1;
  EXPECT_NE(reason(magic).find("bad magic at offset 4096"), std::string::npos);
  EXPECT_NE(reason(std::string(4096, '\0')).find("never written"), std::string::npos);
  for (size_t at : {size_t{16}, size_t{60}, size_t{2000}, size_t{4095}}) {
    std::string flipped = good;
    flipped[at] ^= 0x80;
    EXPECT_NE(reason(flipped).find("bad CRC at offset 8188"), std::string::npos) << at;
  }
  std::string reserved = good;
  reserved[3000] = 1;
  Reseal(&reserved);
  EXPECT_NE(reason(reserved).find("reserved byte at offset 7096"), std::string::npos);
  std::string version = good;
  EncodeFixed32(version.data() + kSbVersionOffset, 9);
  Reseal(&version);
  EXPECT_NE(reason(version).find("unknown format_version 9"), std::string::npos);
  std::string size = good;
  EncodeFixed32(size.data() + kSbCopySizeOffset, 512);
  Reseal(&size);
  EXPECT_NE(reason(size).find("copy_size_bytes 512"), std::string::npos);
  std::string gen0 = good;
  EncodeFixed64(gen0.data() + kSbGenerationOffset, 0);
  Reseal(&gen0);
  EXPECT_NE(reason(gen0).find("generation is 0"), std::string::npos);
  std::string root = good;
  EncodeFixed64(root.data() + kSbCatalogRootOffset, 0x1200);  // tag 0
  Reseal(&root);
  EXPECT_NE(reason(root).find("catalog_root"), std::string::npos);
}

TEST_F(SuperblockTest, MissingFileIsNotFound) {
  EXPECT_TRUE(ReadSuperblock(env_, dir_).status().IsNotFound());
}

TEST_F(SuperblockTest, AlternatingWritesNeverTouchTheOtherCopy) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(1)).ok());
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->newest, Sample(1));
  EXPECT_EQ(r->newest_copy_index, 1u);
  EXPECT_TRUE(r->copies[0].status.IsCorruption());  // never written (a hole of zeros)
  EXPECT_NE(r->copies[0].status.message().find("never written"), std::string::npos);

  std::string before = ReadAll();
  for (uint64_t g = 2; g <= 9; ++g) {
    ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(g)).ok());
    const std::string after = ReadAll();
    ASSERT_EQ(after.size(), 2 * kSuperblockCopySize);
    const size_t other = (g + 1) % 2;  // the copy holding generation g - 1
    EXPECT_EQ(after.substr(other * 4096, 4096), before.substr(other * 4096, 4096)) << g;
    r = ReadSuperblock(env_, dir_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->newest, Sample(g));
    EXPECT_EQ(r->newest_copy_index, g % 2);
    EXPECT_TRUE(r->copies[0].status.ok() && r->copies[1].status.ok());
    EXPECT_EQ(r->copies[(g + 1) % 2].data->generation, g - 1);
    before = after;
  }
}

TEST_F(SuperblockTest, OneCorruptCopyTheOtherIsUsedAndTheBadOneNamed) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(6)).ok());
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(7)).ok());
  const std::string good = ReadAll();
  // Newest copy (7, copy 1) rotted: fall back to generation 6 in copy 0.
  std::string damaged = good;
  damaged[4096 + 100] ^= 0x04;
  WriteAll(damaged);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->newest, Sample(6));
  EXPECT_EQ(r->newest_copy_index, 0u);
  ASSERT_TRUE(r->copies[1].status.IsCorruption());
  const std::string& m = r->copies[1].status.message();
  EXPECT_NE(m.find("SUPERBLOCK"), std::string::npos) << m;
  EXPECT_NE(m.find("copy 1"), std::string::npos) << m;
  EXPECT_NE(m.find("offset 4096"), std::string::npos) << m;
  EXPECT_NE(m.find("bad CRC"), std::string::npos) << m;
  EXPECT_FALSE(r->copies[1].data.has_value());
  // Older copy rotted: the newest is used.
  damaged = good;
  damaged[10] ^= 0x04;
  WriteAll(damaged);
  r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->newest, Sample(7));
  EXPECT_NE(r->copies[0].status.message().find("copy 0"), std::string::npos);
  // A torn write of the newest copy (only its first sector landed): the file is short.
  WriteAll(good.substr(0, 4096 + 512));
  r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->newest, Sample(6));
  EXPECT_NE(r->copies[1].status.message().find("short file"), std::string::npos);
}

TEST_F(SuperblockTest, BothCopiesBadIsCorruption) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(3)).ok());
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(4)).ok());
  std::string damaged = ReadAll();
  damaged[50] ^= 1;
  damaged[4096 + 50] ^= 1;
  WriteAll(damaged);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("no superblock copy verifies"), std::string::npos);
  EXPECT_NE(r.status().message().find("copy 0"), std::string::npos);
  EXPECT_NE(r.status().message().find("copy 1"), std::string::npos);
  WriteAll("");
  EXPECT_TRUE(ReadSuperblock(env_, dir_).status().IsCorruption());
}

TEST_F(SuperblockTest, MisplacedOrDuplicatedGenerations) {
  // Generation 4 written (by a bug or a misdirected write) into copy 1 as well as copy 0.
  const std::string g4 = EncodeSuperblock(Sample(4));
  WriteAll(g4 + g4);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("both superblock copies carry generation 4"),
            std::string::npos)
      << r.status().message();
  // Generation 4 in copy 1 only, copy 0 holds 2: copy 1 is named, generation 2 is used.
  WriteAll(EncodeSuperblock(Sample(2)) + g4);
  r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->newest.generation, 2u);
  EXPECT_NE(r->copies[1].status.message().find("belongs in copy 0"), std::string::npos);
}

}  // namespace
}  // namespace cowtree
