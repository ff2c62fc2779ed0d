// Tests of the superblock (persistence/superblock.h): encode/decode round trip, alternating
// copy pairs, any single damaged copy survivable (its twin or the older pair is used and the
// bad one named), all damaged, store identity, and every reason a copy can be rejected.
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
  d.ot_handle_count = 99999;
  d.store_id = ExampleStoreId();
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
  EXPECT_EQ(StoreId::FromBytes(copy.data() + kSbStoreIdOffset), ExampleStoreId());
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
  EncodeFixed32(version.data() + kSbVersionOffset, 1);
  Reseal(&version);
  EXPECT_NE(reason(version).find("older cowtree"), std::string::npos);
  std::string zero_id = good;
  std::fill(zero_id.begin() + kSbStoreIdOffset, zero_id.begin() + kSbReservedOffset, '\0');
  Reseal(&zero_id);
  EXPECT_NE(reason(zero_id).find("store_id is zero"), std::string::npos);
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

TEST_F(SuperblockTest, AlternatingWritesNeverTouchTheOtherPair) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(1)).ok());
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->newest, Sample(1));
  EXPECT_EQ(r->newest_copy_index, 2u);
  EXPECT_TRUE(r->copies[0].status.IsCorruption());  // never written (a hole of zeros)
  EXPECT_NE(r->copies[0].status.message().find("never written"), std::string::npos);
  EXPECT_TRUE(r->copies[3].status.ok());

  std::string before = ReadAll();
  for (uint64_t g = 2; g <= 9; ++g) {
    ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(g)).ok());
    const std::string after = ReadAll();
    ASSERT_EQ(after.size(), kSuperblockFileBytes);
    const size_t other = (g + 1) % 2;  // the pair holding generation g - 1
    EXPECT_EQ(after.substr(other * 8192, 8192), before.substr(other * 8192, 8192)) << g;
    r = ReadSuperblock(env_, dir_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->newest, Sample(g));
    EXPECT_EQ(r->newest_copy_index / 2, g % 2);
    for (size_t i = 0; i < kSuperblockCopies; ++i) {
      ASSERT_TRUE(r->copies[i].status.ok()) << i;
      EXPECT_EQ(r->copies[i].data->generation, SuperblockCopyHolds(i, g) ? g : g - 1);
    }
    before = after;
  }
}

// Issue 6 item 14: any single damaged copy (one 4 KiB sector) leaves the newest generation
// readable — its twin — so a published checkpoint is never lost to one bad sector.
TEST_F(SuperblockTest, AnySingleDamagedCopyKeepsTheNewestGeneration) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(6)).ok());
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(7)).ok());
  const std::string good = ReadAll();
  for (size_t copy = 0; copy < kSuperblockCopies; ++copy) {
    for (size_t at : {size_t{0}, size_t{17}, size_t{100}, size_t{4095}}) {
      std::string damaged = good;
      damaged[copy * 4096 + at] ^= 0x04;
      WriteAll(damaged);
      auto r = ReadSuperblock(env_, dir_);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->newest, Sample(7)) << "copy " << copy << " byte " << at;
      ASSERT_TRUE(r->copies[copy].status.IsCorruption());
      const std::string& m = r->copies[copy].status.message();
      EXPECT_NE(m.find("SUPERBLOCK"), std::string::npos) << m;
      EXPECT_NE(m.find("copy " + std::to_string(copy)), std::string::npos) << m;
      EXPECT_NE(m.find("offset " + std::to_string(copy * 4096)), std::string::npos) << m;
      EXPECT_FALSE(r->copies[copy].data.has_value());
    }
  }
  // A whole zeroed sector pair of the newest generation: the previous pair is used.
  std::string damaged = good;
  std::fill(damaged.begin() + 8192, damaged.end(), '\0');
  WriteAll(damaged);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->newest, Sample(6));
  // A torn write of the newest pair's first copy (only one sector landed): the file is short.
  WriteAll(good.substr(0, 8192 + 512));
  r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->newest, Sample(6));
  EXPECT_NE(r->copies[2].status.message().find("short file"), std::string::npos);
}

// A copy that verifies but names another store is not a bad sector: which store the file
// belongs to cannot be told, so the read refuses it — naming both copies, their store-id
// offsets and ids (before, the message named neither copy).
TEST_F(SuperblockTest, ACopyOfAnotherStoreIsRefusedNamingTheCopies) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(6)).ok());
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(7)).ok());
  std::string bytes = ReadAll();
  SuperblockData other = Sample(7);
  other.store_id = StoreId::FromBytes(std::string(16, '\x5a').data());
  const std::string foreign = EncodeSuperblock(other);
  bytes.replace(3 * 4096, 4096, foreign);  // copy 3: generation 7's second copy
  WriteAll(bytes);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_FALSE(r.ok());
  ASSERT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("superblock copies name two different stores: copy 0 (offset 80) " +
                   ExampleStoreId().ToHex()),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("copy 3 (offset 12368) " + other.store_id.ToHex()), std::string::npos) << m;
}

TEST_F(SuperblockTest, AllCopiesBadIsCorruption) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(3)).ok());
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(4)).ok());
  std::string damaged = ReadAll();
  for (size_t i = 0; i < kSuperblockCopies; ++i) damaged[i * 4096 + 50] ^= 1;
  WriteAll(damaged);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("no superblock copy verifies"), std::string::npos);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(r.status().message().find("copy " + std::to_string(i)), std::string::npos);
  }
  WriteAll("");
  EXPECT_TRUE(ReadSuperblock(env_, dir_).status().IsCorruption());
}

TEST_F(SuperblockTest, MisplacedGenerationsAndTwinsThatDisagree) {
  // Generation 4 written (by a bug or a misdirected write) into the odd pair: not usable.
  const std::string g2 = EncodeSuperblock(Sample(2));
  const std::string g4 = EncodeSuperblock(Sample(4));
  WriteAll(g2 + g2 + g4 + g4);
  auto r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->newest.generation, 2u);
  EXPECT_NE(r->copies[2].status.message().find("belongs in copies 0 and 1"), std::string::npos)
      << r->copies[2].status.message();
  // Twins of one generation with different contents: refused.
  SuperblockData other = Sample(4);
  other.checkpoint_epoch += 1;
  WriteAll(g4 + EncodeSuperblock(other));
  r = ReadSuperblock(env_, dir_);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("two copies of generation 4 differ"), std::string::npos)
      << r.status().message();
}

// Issue 6 item 2: the superblock names its store; a reader that expects another store refuses.
TEST_F(SuperblockTest, StoreIdentity) {
  ASSERT_TRUE(WriteSuperblock(env_, dir_, Sample(1)).ok());
  EXPECT_TRUE(ReadSuperblock(env_, dir_, ExampleStoreId()).ok());
  auto r = ReadSuperblock(env_, dir_, StoreId::Random());
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("another store"), std::string::npos) << r.status().message();
  // Copies naming two stores: refused.
  SuperblockData other = Sample(2);
  other.store_id = StoreId::Random();
  ASSERT_TRUE(WriteSuperblock(env_, dir_, other).ok());
  EXPECT_NE(ReadSuperblock(env_, dir_).status().message().find("two different stores"),
            std::string::npos);
}

}  // namespace
}  // namespace cowtree
