// The loader's run format (api/loader_run.h, docs/loader_run.md): the worked example of the
// page byte for byte; a round trip across trees and blocks; every damage the reader must
// refuse is Corruption naming the file and the block's offset, never an assertion.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "api/loader_run.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "testutil/fault_injection_env.h"

namespace cowtree::api_internal {
namespace {

constexpr size_t kBlockBytes = 256;
constexpr RunIdentity kIdentity{0x1122334455667788ull, 1};

struct Op {
  uint64_t tree_id;
  uint64_t key;
  int64_t weight;
};

LoaderTree Tree(uint64_t id) {
  return LoaderTree{id, id % 2 == 0 ? KeyType::kDouble : KeyType::kInt64,
                    "tree" + std::to_string(id)};
}

// Writes `ops` to `path`; returns the writer's (ops, bytes).
std::pair<uint64_t, uint64_t> Write(Env* env, const std::string& path, const std::vector<Op>& ops) {
  auto w = RunWriter::Create(env, path, kIdentity, kBlockBytes);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (const Op& op : ops) EXPECT_TRUE((*w)->Add(Tree(op.tree_id), op.key, op.weight).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return {(*w)->ops(), (*w)->bytes()};
}

// Reads the run back; returns the first error, or OK with *out filled.
Status Read(Env* env, const std::string& path, uint64_t ops, uint64_t bytes, std::vector<Op>* out,
            RunIdentity identity = kIdentity) {
  auto r = RunReader::Open(env, path, identity, ops, bytes, kBlockBytes);
  if (!r.ok()) return r.status();
  while (true) {
    bool has = false;
    COWTREE_RETURN_IF_ERROR((*r)->Next(&has));
    if (!has) return Status::OK();
    out->push_back(Op{(*r)->tree().tree_id, (*r)->key_code(), (*r)->weight()});
    EXPECT_EQ((*r)->tree().name, Tree((*r)->tree().tree_id).name);
    EXPECT_EQ((*r)->tree().type, Tree((*r)->tree().tree_id).type);
  }
}

// docs/loader_run.md "Worked example": run 1 of loader 0x1122334455667788, tree 3 ("t",
// int64), ops (10, +1), (10, +1), (300, -2).
TEST(LoaderRun, TheWorkedExampleOfTheFormatPage) {
  testutil::FaultInjectionEnv env;
  auto w = RunWriter::Create(&env, "/run", kIdentity, kBlockBytes);
  ASSERT_TRUE(w.ok());
  const LoaderTree t{3, KeyType::kInt64, "t"};
  ASSERT_TRUE((*w)->Add(t, 10, 1).ok());
  ASSERT_TRUE((*w)->Add(t, 10, 1).ok());
  ASSERT_TRUE((*w)->Add(t, 300, -2).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  std::string got;
  {
    auto f = env.OpenFile("/run", OpenMode::kReadOnly);
    ASSERT_TRUE(f.ok());
    got.resize(128);
    size_t n = 0;
    ASSERT_TRUE((*f)->ReadAt(0, 128, got.data(), &n).ok());
    got.resize(n);
  }
  const std::string payload("t\x0a\x02\x00\x02\xa2\x02\x03", 8);
  std::string want;
  PutFixed32(&want, 0x42525443);               // "CTRB"
  PutFixed32(&want, 0);                        // crc, below
  PutFixed32(&want, 8);                        // payload bytes
  PutFixed32(&want, 3);                        // ops
  PutFixed64(&want, 3);                        // tree id
  want += std::string("\x01\x00\x00\x00", 4);  // key type int64, reserved
  PutFixed32(&want, 1);                        // name bytes
  PutFixed64(&want, 0x1122334455667788ull);    // loader nonce
  PutFixed32(&want, 1);                        // run number
  PutFixed32(&want, 0);                        // block index
  want += payload;
  const uint32_t crc = Crc32c(want.data() + 8, want.size() - 8);
  EncodeFixed32(want.data() + 4, crc);
  EXPECT_EQ(crc, 0xB26360BDu) << std::hex << crc;  // the page's value
  EXPECT_EQ(got, want);
  EXPECT_EQ((*w)->bytes(), 56u);
  EXPECT_EQ(got.substr(0, 4), "CTRB");
}

TEST(LoaderRun, ARoundTripAcrossTreesAndBlocks) {
  testutil::FaultInjectionEnv env;
  std::mt19937_64 rng(9);
  std::vector<Op> ops;
  for (uint64_t tree = 1; tree <= 5; ++tree) {
    uint64_t key = tree == 3 ? UINT64_MAX - 100 : rng() % 1000;
    const int n = tree == 2 ? 1 : 400;
    for (int i = 0; i < n; ++i) {
      int64_t w = static_cast<int64_t>(rng() % 7) - 3;
      if (w == 0) w = INT64_MIN;
      ops.push_back(Op{tree, key, w});
      if (tree == 3) {
        key += rng() % 2 == 0 ? 0 : 1;
        if (key == UINT64_MAX) break;
      } else {
        key += rng() % 3 == 0 ? 0 : rng() % (uint64_t{1} << 40);
      }
    }
  }
  const auto [n, bytes] = Write(&env, "/run", ops);
  EXPECT_EQ(n, ops.size());
  std::vector<Op> back;
  ASSERT_TRUE(Read(&env, "/run", n, bytes, &back).ok());
  ASSERT_EQ(back.size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(back[i].tree_id, ops[i].tree_id) << i;
    EXPECT_EQ(back[i].key, ops[i].key) << i;
    EXPECT_EQ(back[i].weight, ops[i].weight) << i;
  }
}

// A run of two blocks of tree 1 and one of tree 2; `damage` changes the file, then re-seals the
// checksum of the block at `block_offset` when `reseal` (so that the reader's other checks,
// not the checksum, must catch it).
class DamagedRun : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t k = 0; k < 200; ++k) ops_.push_back(Op{1, k * 1000, 1});
    ops_.push_back(Op{2, 5, 1});
    std::tie(n_, bytes_) = Write(&env_, "/run", ops_);
    ASSERT_TRUE(ReadAll(&file_).ok());
    // Block offsets.
    for (size_t off = 0; off < file_.size();) {
      blocks_.push_back(off);
      off += kRunBlockHeaderBytes + DecodeFixed32(file_.data() + off + 8);
    }
    ASSERT_GE(blocks_.size(), 3u);
  }
  Status ReadAll(std::string* out) {
    auto f = env_.OpenFile("/run", OpenMode::kReadOnly);
    COWTREE_RETURN_IF_ERROR(f.status());
    out->resize(bytes_);
    size_t got = 0;
    return (*f)->ReadAt(0, bytes_, out->data(), &got);
  }
  void Reseal(std::string* f, size_t block) {
    const uint32_t payload = DecodeFixed32(f->data() + block + 8);
    EncodeFixed32(f->data() + block + 4,
                  Crc32c(f->data() + block + 8, kRunBlockHeaderBytes - 8 + payload));
  }
  // The run with header field `field` of the block at `block` set to `v`, checksum valid.
  std::string WithField32(size_t block, size_t field, uint32_t v) {
    std::string f = file_;
    EncodeFixed32(f.data() + block + field, v);
    Reseal(&f, block);
    return f;
  }
  std::string WithField64(size_t block, size_t field, uint64_t v) {
    std::string f = file_;
    EncodeFixed64(f.data() + block + field, v);
    Reseal(&f, block);
    return f;
  }
  // Writes `f` as the run and reads it with the writer's counts (or `bytes`).
  Status ReadDamaged(const std::string& f, uint64_t bytes) {
    EXPECT_TRUE(env_.DeleteFile("/run").ok());
    auto out = env_.OpenFile("/run", OpenMode::kCreate);
    EXPECT_TRUE(out.ok());
    EXPECT_TRUE((*out)->WriteAt(0, f).ok());
    std::vector<Op> back;
    return Read(&env_, "/run", n_, bytes, &back);
  }
  void ExpectCorrupt(const std::string& f, const std::string& what, uint64_t offset,
                     uint64_t bytes = 0) {
    const Status st = ReadDamaged(f, bytes == 0 ? bytes_ : bytes);
    EXPECT_TRUE(st.IsCorruption()) << what << ": " << st.ToString();
    EXPECT_NE(st.ToString().find("loader run /run at offset " + std::to_string(offset)),
              std::string::npos)
        << st.ToString();
    EXPECT_NE(st.ToString().find(what), std::string::npos) << st.ToString();
  }

  testutil::FaultInjectionEnv env_;
  std::vector<Op> ops_;
  uint64_t n_ = 0, bytes_ = 0;
  std::string file_;
  std::vector<size_t> blocks_;
};

TEST_F(DamagedRun, EveryDamageIsCorruptionNamingTheBlock) {
  const size_t b1 = blocks_[1];
  std::string f = file_;
  f[b1 + kRunBlockHeaderBytes + 10] ^= 1;
  ExpectCorrupt(f, "checksum mismatch", b1);
  f = file_;
  f[b1] = 'X';
  ExpectCorrupt(f, "no block magic", b1);
  f = file_;
  f[b1 + 26] = 1;
  Reseal(&f, b1);
  ExpectCorrupt(f, "reserved bytes are not zero", b1);
  ExpectCorrupt(WithField32(b1, 12, 0), "expected >= 1 op", b1);  // no ops
  f = file_;
  f[b1 + 24] = 7;  // key type
  Reseal(&f, b1);
  ExpectCorrupt(f, "key type 1 or 2", b1);
  f = file_;
  EncodeFixed32(f.data() + b1 + 8, 1u << 30);  // payload past the run
  ExpectCorrupt(f, "payload of", b1);
  f = file_;
  EncodeFixed64(f.data() + b1 + 16, 9);  // tree 9 then tree 2: ids must ascend
  f.replace(b1 + kRunBlockHeaderBytes, 5, "tree9");
  Reseal(&f, b1);
  ExpectCorrupt(f, "ids must ascend", blocks_[2]);
  f = file_;
  f.replace(b1 + kRunBlockHeaderBytes, 5, "treeX");  // same id, another name
  Reseal(&f, b1);
  ExpectCorrupt(f, "another name", b1);
  f = file_;
  f[b1 + kRunBlockHeaderBytes + 5] = 0;  // first key of block 1 -> 0, below block 0's last
  Reseal(&f, b1);
  ExpectCorrupt(f, "below the previous block", b1);
  // The last block (tree 2's one op: gap 5, zigzag weight 2): its weight -> 0.
  const size_t last = blocks_.back();
  f = file_;
  f[last + kRunBlockHeaderBytes + 5 + 1] = 0;
  Reseal(&f, last);
  ExpectCorrupt(f, "weight 0", last);
  // A varint running past its block.
  f = file_;
  f[f.size() - 1] = static_cast<char>(0x80);
  Reseal(&f, last);
  ExpectCorrupt(f, "well-formed varints", last);
  // Truncated: the writer said more bytes than the file has.
  f = file_.substr(0, file_.size() - 3);
  ExpectCorrupt(f, "the file ends inside a block", last);
  // The writer's byte count ends mid-header, or after fewer ops.
  ExpectCorrupt(file_.substr(0, last + 10), "too few for a block header", last, last + 10);
  ExpectCorrupt(file_.substr(0, last), "ends after 200 ops, expected 201", last, last);
  // Another block index (a block repeated or moved), another run's or loader's block.
  ExpectCorrupt(WithField32(b1, 44, 0), "block index 0, expected 1", b1);
  ExpectCorrupt(WithField32(b1, 40, 2), "a run file replaced?", b1);
  ExpectCorrupt(WithField64(b1, 32, 42), "a run file replaced?", b1);
  // A block claiming more ops than the run has left (checksum valid): refused at its header,
  // before any op past the writer's count is read.
  ExpectCorrupt(WithField32(last, 12, 2), "op_count 2, but only 1 of the run's ops are left", last);
  // The intact run still reads, but not as another run.
  EXPECT_TRUE(ReadDamaged(file_, bytes_).ok());
  std::vector<Op> back;
  const Status other =
      Read(&env_, "/run", n_, bytes_, &back, RunIdentity{kIdentity.loader_nonce, 2});
  EXPECT_TRUE(other.IsCorruption()) << other.ToString();
}

TEST(LoaderRun, AFailedReadIsAnIOErrorNotCorruption) {
  testutil::FaultInjectionEnv env;
  std::vector<Op> ops;
  for (uint64_t k = 0; k < 300; ++k) ops.push_back(Op{1, k, 1});
  const auto [n, bytes] = Write(&env, "/run", ops);
  auto r = RunReader::Open(&env, "/run", kIdentity, n, bytes, kBlockBytes);
  ASSERT_TRUE(r.ok());
  env.FailOp(env.op_count() + 1, testutil::FailMode::kPersistent, EIO);
  bool has = false;
  const Status st = (*r)->Next(&has);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_NE(st.ToString().find("/run"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace cowtree::api_internal
