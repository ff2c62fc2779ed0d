// OT checkpoint: round trip (empty, small, many entries across shards) and every corruption
// case: bad magic, bad CRCs, short file, truncation at many lengths, zeroed tail, trailing
// garbage, out-of-order and duplicate records, wrong id.
#include <gtest/gtest.h>

#include <filesystem>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/ot_checkpoint.h"

namespace cowtree {
namespace {

class OtCheckpointTest : public ::testing::Test {
 protected:
  OtCheckpointTest() {
    dir_ = ::testing::TempDir() + "cowtree_otc_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~OtCheckpointTest() override { std::filesystem::remove_all(dir_); }

  std::string PathOf(uint64_t id) const { return JoinPath(dir_, OtCheckpointFileName(id)); }
  std::string ReadBytes(uint64_t id) const {
    std::string s;
    EXPECT_TRUE(Env::Default()->ReadFileToString(PathOf(id), &s).ok());
    return s;
  }
  void WriteBytes(uint64_t id, const std::string& s) const {
    ASSERT_TRUE(Env::Default()->WriteStringToFileSync(PathOf(id), s).ok());
  }
  Status ReadStatus(uint64_t id) const {
    return ReadOtCheckpoint(Env::Default(), dir_, id).status();
  }

  std::string dir_;
};

OtEntry EntryFor(uint64_t k) {
  OtEntry e;
  const uint32_t cls = SizeClassBytesAt(static_cast<int>(k % kSizeClassCount));
  e.address = {cls, k * cls, cls / 2 + 1};
  e.kind = static_cast<ObjectKind>(1 + k % 5);
  e.birth_epoch = k;
  // Retired after every checkpoint epoch these tests write (< 1e6), so all entries are part of
  // the checkpointed state; RetiredEntriesAreLeftOut covers retirements at or before it.
  e.retire_epoch = k % 3 == 0 ? k + 1000000 : kNotRetired;
  e.payload_crc32c = static_cast<uint32_t>(k * 2654435761u);
  return e;
}

// A table with n live entries and some freed holes.
std::unique_ptr<ObjectTable> MakeTable(int n) {
  auto t = std::make_unique<ObjectTable>(ObjectTableOptions{.shard_count = 4});
  std::vector<NodeID> ids;
  for (int i = 0; i < n + n / 4; ++i) {
    ids.push_back(*t->AllocateId());
    t->Set(ids.back(), EntryFor(i));
  }
  for (size_t i = 0; i < ids.size() && static_cast<int>(t->live_count()) > n; i += 5) {
    t->Free(ids[i]);
  }
  return t;
}

TEST_F(OtCheckpointTest, RoundTrip) {
  for (int n : {0, 1, 37, 30000, 70000}) {  // 70000: LoadInto uses two threads
    auto table = MakeTable(n);
    const uint64_t id = static_cast<uint64_t>(n) + 1;
    ASSERT_TRUE(
        WriteOtCheckpoint(Env::Default(), dir_, id, 1000 + n, *table, ExampleStoreId()).ok());
    EXPECT_EQ(ReadBytes(id).size(), OtCheckpointFileBytes(table->live_count()));
    Result<OtCheckpointContents> c = ReadOtCheckpoint(Env::Default(), dir_, id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->checkpoint_id(), id);
    EXPECT_EQ(c->epoch(), 1000u + n);
    EXPECT_EQ(c->entry_count(), table->live_count());
    ObjectTable loaded;
    ASSERT_TRUE(c->LoadInto(loaded).ok());
    loaded.FinishLoad();
    EXPECT_EQ(loaded.live_count(), table->live_count());
    table->ForEachLive([&](NodeID node, const OtEntry& e) {
      Result<OtEntry> got = loaded.Get(node);
      ASSERT_TRUE(got.ok()) << DescribeNodeId(node);
      EXPECT_EQ(*got, e);
    });
  }
}

// An entry retired at or before the checkpoint's epoch is not part of that state: recovery
// must see its handle and slot as free (else a later reuse of the handle would conflict).
TEST_F(OtCheckpointTest, RetiredEntriesAreLeftOut) {
  ObjectTable table;
  std::vector<NodeID> ids;
  for (uint64_t k = 0; k < 6; ++k) {
    ids.push_back(*table.AllocateId());
    OtEntry e = EntryFor(k);
    e.retire_epoch = k < 3 ? 50 + k : kNotRetired;  // retired at 50, 51, 52
    table.Set(ids.back(), e);
  }
  ASSERT_TRUE(WriteOtCheckpoint(Env::Default(), dir_, 3, 51, table, ExampleStoreId()).ok());
  Result<OtCheckpointContents> c = ReadOtCheckpoint(Env::Default(), dir_, 3);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entry_count(), 4u);  // 50 and 51 are gone; 52 (after the epoch) stays
  ObjectTable loaded;
  ASSERT_TRUE(c->LoadInto(loaded).ok());
  loaded.FinishLoad();
  EXPECT_FALSE(loaded.Get(ids[0]).ok());
  EXPECT_FALSE(loaded.Get(ids[1]).ok());
  ASSERT_TRUE(loaded.Get(ids[2]).ok());
  EXPECT_EQ(loaded.Get(ids[2])->retire_epoch, 52u);
  EXPECT_TRUE(loaded.Get(ids[5]).ok());
}

TEST_F(OtCheckpointTest, OverwritesALeftoverFileOfTheSameId) {
  WriteBytes(5, std::string(100000, 'j'));
  ASSERT_TRUE(WriteOtCheckpoint(Env::Default(), dir_, 5, 1, *MakeTable(3), ExampleStoreId()).ok());
  ASSERT_TRUE(ReadStatus(5).ok());
}

class OtCheckpointCorruptionTest : public OtCheckpointTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        WriteOtCheckpoint(Env::Default(), dir_, 7, 99, *MakeTable(10), ExampleStoreId()).ok());
    good_ = ReadBytes(7);
    ASSERT_EQ(good_.size(), OtCheckpointFileBytes(10));
  }
  // Writes `bytes` as checkpoint 7 and expects Corruption mentioning every needle.
  void ExpectCorrupt(const std::string& bytes, std::initializer_list<std::string> needles) {
    WriteBytes(7, bytes);
    Status st = ReadStatus(7);
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("ot-000007.otc"), std::string::npos) << st.message();
    for (const std::string& n : needles) {
      EXPECT_NE(st.message().find(n), std::string::npos) << st.message();
    }
  }
  std::string With(size_t at, char v) const {
    std::string b = good_;
    b[at] = v;
    return b;
  }
  // Recomputes the header CRC (to reach the checks behind it).
  static void FixHeaderCrc(std::string* b) { EncodeFixed32(b->data() + 60, Crc32c(b->data(), 60)); }
  static void FixFooterCrc(std::string* b) {
    char* f = b->data() + b->size() - 24;
    EncodeFixed32(f + 20, Crc32c(f, 20));
  }
  // Recomputes the entries CRC and the footer CRC after editing records.
  static void FixEntriesCrc(std::string* b) {
    char* f = b->data() + b->size() - 24;
    EncodeFixed32(f + 8, Crc32c(b->data() + 64, b->size() - 64 - 24));
    FixFooterCrc(b);
  }
  std::string good_;
};

TEST_F(OtCheckpointCorruptionTest, BadMagic) { ExpectCorrupt(With(0, 'X'), {"offset 0", "magic"}); }

TEST_F(OtCheckpointCorruptionTest, BadHeaderCrc) {
  for (size_t at : {size_t{8}, size_t{16}, size_t{24}, size_t{32}, size_t{50}, size_t{61}}) {
    ExpectCorrupt(With(at, static_cast<char>(good_[at] ^ 1)), {"header CRC32C"});
  }
}

TEST_F(OtCheckpointCorruptionTest, HeaderFieldsBehindAValidCrc) {
  std::string b = With(8, 3);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"offset 8", "format version 3"});
  b = With(8, 1);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"offset 8", "format version 1", "older cowtree"});
  b = With(12, 1);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"offset 12", "reserved"});
  b = With(57, 1);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"offset 56", "reserved"});
  b = good_;
  std::fill(b.begin() + 40, b.begin() + 56, '\0');
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"offset 40", "store id is zero"});
  // A checkpoint of another store: refused when the reader expects this store's id.
  WriteBytes(7, good_);
  Status other = ReadOtCheckpoint(Env::Default(), dir_, 7, StoreId::Random()).status();
  EXPECT_TRUE(other.IsCorruption());
  EXPECT_NE(other.message().find("another store"), std::string::npos) << other.message();
  EXPECT_TRUE(ReadOtCheckpoint(Env::Default(), dir_, 7, ExampleStoreId()).ok());
  b = good_;
  EncodeFixed64(b.data() + 32, 11);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"entry count 11"});
  b = good_;
  EncodeFixed64(b.data() + 32, uint64_t{1} << 60);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"entry count"});
  b = good_;
  EncodeFixed64(b.data() + 16, 8);
  FixHeaderCrc(&b);
  ExpectCorrupt(b, {"checkpoint id 8, expected 7"});
}

TEST_F(OtCheckpointCorruptionTest, ShortFileAndTruncationAtEveryLength) {
  ExpectCorrupt("", {"shorter than header"});
  ExpectCorrupt(good_.substr(0, 60), {"shorter than header"});
  for (size_t n = 88; n < good_.size(); n += 7) {
    ExpectCorrupt(good_.substr(0, n), {});
  }
  ExpectCorrupt(good_.substr(0, good_.size() - 1), {});
}

TEST_F(OtCheckpointCorruptionTest, ZeroedTailAndTrailingGarbage) {
  for (size_t zeros : {size_t{1}, size_t{4}, size_t{24}, size_t{100}, good_.size() - 64}) {
    std::string b = good_;
    std::fill(b.end() - static_cast<ptrdiff_t>(zeros), b.end(), '\0');
    ExpectCorrupt(b, {});
  }
  ExpectCorrupt(good_ + std::string(48, '\0'), {"truncated or extended"});
  ExpectCorrupt(good_ + "x", {});
}

TEST_F(OtCheckpointCorruptionTest, FooterFields) {
  const size_t f = good_.size() - 24;
  std::string b = With(f + 12, 'Z');
  FixFooterCrc(&b);
  ExpectCorrupt(b, {"footer magic"});
  b = With(f + 16, 1);
  FixFooterCrc(&b);
  ExpectCorrupt(b, {"footer reserved"});
  b = good_;
  EncodeFixed64(b.data() + f, 9);
  FixFooterCrc(&b);
  ExpectCorrupt(b, {"footer entry count 9"});
  ExpectCorrupt(With(f + 21, static_cast<char>(good_[f + 21] ^ 1)), {"footer CRC32C"});
}

TEST_F(OtCheckpointCorruptionTest, EntriesCrcAndRecords) {
  ExpectCorrupt(With(64 + 48 * 3 + 9, static_cast<char>(good_[64 + 48 * 3 + 9] ^ 4)),
                {"entries CRC32C"});
  // A record that is invalid but correctly checksummed (a writer bug): the record check fires.
  std::string b = With(64 + 48 * 2 + 46, 1);
  FixEntriesCrc(&b);
  ExpectCorrupt(b, {"offset 160", "record 2", "reserved byte 46"});
  // Out of order: swap records 3 and 4.
  b = good_;
  std::swap_ranges(b.begin() + 64 + 48 * 3, b.begin() + 64 + 48 * 4, b.begin() + 64 + 48 * 4);
  FixEntriesCrc(&b);
  ExpectCorrupt(b, {"offset 256", "is below"});
  // Duplicate handle: copy record 5 over record 6.
  b = good_;
  std::copy(b.begin() + 64 + 48 * 5, b.begin() + 64 + 48 * 6, b.begin() + 64 + 48 * 6);
  FixEntriesCrc(&b);
  ExpectCorrupt(b, {"offset 352", "duplicates"});
}

TEST_F(OtCheckpointTest, MissingFileIsNotFound) { EXPECT_TRUE(ReadStatus(3).IsNotFound()); }

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

// The worked example of docs/ot_checkpoint.md.
TEST_F(OtCheckpointTest, GoldenFile) {
  ObjectTable t;
  OtEntry e{{8192, 131072, 5000}, ObjectKind::kLeaf, 42, kNotRetired, 0xDEADBEEF};
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(5, 2), e).ok());
  t.FinishLoad();
  ASSERT_TRUE(WriteOtCheckpoint(Env::Default(), dir_, 1, 42, t, ExampleStoreId()).ok());
  EXPECT_EQ(ReadBytes(1), FromHex("43 57 54 4f 54 43 4b 31 02 00 00 00 00 00 00 00 "
                                  "01 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00 "
                                  "01 00 00 00 00 00 00 00 00 01 02 03 04 05 06 07 "
                                  "08 09 0a 0b 0c 0d 0e 0f 00 00 00 00 03 ec 1c f2 "
                                  "02 05 00 00 00 00 00 00 00 00 02 00 00 00 00 00 "
                                  "2a 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff "
                                  "00 20 00 00 88 13 00 00 ef be ad de 01 00 00 00 "
                                  "01 00 00 00 00 00 00 00 0c 42 51 86 43 57 54 46 "
                                  "00 00 00 00 6c 6f de 97"));
}

}  // namespace
}  // namespace cowtree
