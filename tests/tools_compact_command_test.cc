// `cowtree compact --db DIR` as a user runs it (the built binary, COWTREE_BINARY): on a churned
// store it prints the bytes before / after, the files shrink, fsck stays clean and every entry
// is still there; usage and operational errors give exit codes 2 and 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <regex>

#include "recovery/open.h"
#include "testutil/command.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::TempDir;

testutil::CommandResult RunCowtree(const std::string& args, const TempDir& tmp) {
  return testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

uint64_t DataBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("data-", 0) == 0) total += e.file_size();
  }
  return total;
}

// The entries of tree "g" of the closed store at `db`, read through a read-only open.
std::map<int64_t, int64_t> ReadTreeG(const std::string& db) {
  RuntimeOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto rt = recovery::Open(db, o);
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  std::map<int64_t, int64_t> seen;
  if (!rt.ok()) return seen;
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("g", snap);
  EXPECT_TRUE(info.ok());
  if (!info.ok()) return seen;
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  EXPECT_TRUE(tree::ForEach(*v, 0, UINT64_MAX, [&](uint64_t key, int64_t w) {
                seen[tree::DecodeInt64Key(key)] = w;
                return true;
              }).ok());
  return seen;
}

// One tree of n keys: inserted, half of them updated five times, the lowest 30 % deleted.
std::map<int64_t, int64_t> BuildChurned(const std::string& dir, int n) {
  RuntimeOptions o;
  o.background_thread = false;
  o.leaf_capacity_entries = 32;
  o.fanout = 8;
  auto rt = recovery::Open(dir, o);
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  std::map<int64_t, int64_t> model;
  TreeId id = 0;
  auto commit = [&](const std::vector<std::pair<int64_t, int64_t>>& ops) {
    RuntimeWriteBatch batch(rt->get());
    if (id == 0) {
      id = batch.CreateTree("g", tree::kOrderStatTreeTypeId,
                            tree::OrderStatTreeParams(tree::KeyType::kInt64));
    }
    for (const auto& [k, w] : ops) {
      tree::AppendOrderStatOp(batch.MutableOps(id), tree::EncodeInt64Key(k), w);
      if ((model[k] += w) == 0) model.erase(k);
    }
    EXPECT_TRUE((*rt)->Commit(batch).ok());
    EXPECT_TRUE((*rt)->Checkpoint().ok());
  };
  std::mt19937_64 rng(5);
  std::vector<std::pair<int64_t, int64_t>> ops;
  for (int i = 0; i < n; ++i) ops.emplace_back(i, 1);
  commit(ops);
  for (int round = 0; round < 5; ++round) {
    ops.clear();
    for (int i = 0; i < n; ++i) {
      if (rng() % 2 == 0) ops.emplace_back(i, 1);
    }
    commit(ops);
  }
  ops.clear();
  for (int i = 0; i < n * 3 / 10; ++i) ops.emplace_back(i, -model[i]);
  commit(ops);
  EXPECT_TRUE((*rt)->Close().ok());
  return model;
}

TEST(CompactCommand, ShrinksAChurnedStoreAndKeepsEveryEntry) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  // 200 000 keys: leaves of 32 small entries are ~100-byte objects in 1 KiB slots, and the
  // churn must spread them over more than one 4 MiB segment (4096 slots) for compaction to have
  // a segment to cut.
  const std::map<int64_t, int64_t> model = BuildChurned(db, 200000);
  const uint64_t before = DataBytes(db);
  testutil::CommandResult r = RunCowtree("compact --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(data files: +(\d+) -> (\d+) bytes)")))
      << r.out;
  EXPECT_EQ(std::stoull(m[1]), before);
  EXPECT_EQ(std::stoull(m[2]), DataBytes(db));
  EXPECT_LT(DataBytes(db), before) << r.out;
  EXPECT_NE(r.out.find("store directory:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MB/s"), std::string::npos) << r.out;
  testutil::CommandResult fsck = RunCowtree("fsck --db " + db, tmp);
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  // Again: nothing left to do, nothing changes.
  testutil::CommandResult again = RunCowtree("compact --db " + db, tmp);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("relocated:          0 objects"), std::string::npos) << again.out;
  EXPECT_EQ(ReadTreeG(db), model);
}

TEST(CompactCommand, UsageAndOperationalErrors) {
  TempDir tmp;
  EXPECT_EQ(RunCowtree("compact", tmp).exit_code, 2);
  EXPECT_EQ(RunCowtree("compact --db " + tmp.path() + "/db --dead-ratio 2", tmp).exit_code, 2);
  // NaN passed CLI::Range (both of its comparisons are false) and compacted every class.
  for (const char* bad : {"nan", "-nan", "inf", "-0.1", "x"}) {
    const testutil::CommandResult r =
        RunCowtree("compact --db " + tmp.path() + "/db --dead-ratio " + bad, tmp);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("--dead-ratio"), std::string::npos) << r.err;
  }
  testutil::CommandResult missing = RunCowtree("compact --db " + tmp.path() + "/nope", tmp);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cowtree: "), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace cowtree
