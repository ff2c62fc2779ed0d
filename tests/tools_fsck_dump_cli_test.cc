// `cowtree fsck` and `cowtree dump` as a user runs them (the built binary, COWTREE_BINARY):
// exit codes 0/1/4/8, one line per finding, valid JSON, and every dump kind in text and JSON.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "recovery/open.h"
#include "testutil/command.h"
#include "testutil/test_files.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::TempDir;

using RunResult = testutil::CommandResult;

std::string Slurp(const std::string& path) { return testutil::ReadFileOrEmpty(path); }

RunResult RunCowtree(const std::string& args, const TempDir& tmp) {
  return testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << "invalid JSON: " << text;
  return d;
}

void FlipByte(const std::string& path, uint64_t offset) {
  ASSERT_TRUE(testutil::XorByteInFile(path, offset, 0x10)) << path;
}

void Append(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f << bytes;
}

RuntimeOptions Small() {
  RuntimeOptions o;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  o.durability = Durability::kStrict;
  return o;
}

// Trees "alpha" (int64) and "beta" (double), a checkpoint, and two commits after it.
void BuildStore(const std::string& db) {
  auto rt = recovery::Open(db, Small());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Runtime* r = rt->get();
  TreeId alpha = 0, beta = 0;
  {
    RuntimeWriteBatch b(r);
    alpha = b.CreateTree("alpha", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    beta = b.CreateTree("beta", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kDouble));
    for (int k = 0; k < 50; ++k) tree::AppendOrderStatOp(b.MutableOps(alpha), tree::EncodeInt64Key(k), 1);
    for (int k = 0; k < 20; ++k) {
      tree::AppendOrderStatOp(b.MutableOps(beta), tree::EncodeDoubleKey(k * 0.25), 2);
    }
    ASSERT_TRUE(r->Commit(b).ok());
  }
  ASSERT_TRUE(r->Checkpoint().ok());
  for (int c = 0; c < 2; ++c) {
    RuntimeWriteBatch b(r);
    tree::AppendOrderStatOp(b.MutableOps(alpha), tree::EncodeInt64Key(100 + c), 3);
    ASSERT_TRUE(r->Commit(b).ok());
  }
  ASSERT_TRUE(r->Close().ok());
}

class FsckDumpCli : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = tmp_.path() + "/db";
    BuildStore(db_);
  }
  std::string Db() const { return "--db " + db_; }
  TempDir tmp_;
  std::string db_;
};

TEST_F(FsckDumpCli, CleanStoreExitsZero) {
  RunResult r = RunCowtree("fsck " + Db(), tmp_);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 errors, 0 warnings"), std::string::npos) << r.out;
  RunResult j = RunCowtree("fsck --json " + Db(), tmp_);
  EXPECT_EQ(j.exit_code, 0);
  rapidjson::Document d = ParseJson(j.out);
  ASSERT_TRUE(d.IsObject());
  EXPECT_EQ(d["exit_code"].GetInt(), 0);
  EXPECT_EQ(d["findings"].Size(), 0u);
  EXPECT_EQ(d["counters"]["trees_checked"].GetUint64(), 2u);
  EXPECT_EQ(d["counters"]["commits_past_checkpoint"].GetUint64(), 2u);
}

TEST_F(FsckDumpCli, DamagedObjectExitsFourAndNamesIt) {
  RunResult ot = RunCowtree("dump --json " + Db() + " ot", tmp_);
  ASSERT_EQ(ot.exit_code, 0) << ot.err;
  rapidjson::Document d = ParseJson(ot.out);
  uint64_t offset = UINT64_MAX;
  std::string file;
  for (const auto& e : d["entries"].GetArray()) {
    if (std::string(e["kind"].GetString()) == "leaf") {
      offset = e["offset"].GetUint64();
      file = "data-" + std::to_string(e["size_class"].GetUint64() / 1024) + "k.dat";
      break;
    }
  }
  ASSERT_NE(offset, UINT64_MAX);
  FlipByte(db_ + "/" + file, offset + 40);
  RunResult r = RunCowtree("fsck " + Db(), tmp_);
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("[error] object " + file + "@" + std::to_string(offset)), std::string::npos)
      << r.out;
  RunResult j = RunCowtree("fsck --json " + Db(), tmp_);
  EXPECT_EQ(j.exit_code, 4);
  rapidjson::Document jd = ParseJson(j.out);
  EXPECT_EQ(jd["exit_code"].GetInt(), 4);
  ASSERT_GE(jd["findings"].Size(), 1u);
  EXPECT_EQ(std::string(jd["findings"][0]["structure"].GetString()), "object");
  EXPECT_EQ(jd["findings"][0]["offset"].GetUint64(), offset);
  // --repair cannot repair a damaged object: still 4.
  EXPECT_EQ(RunCowtree("fsck --repair " + Db(), tmp_).exit_code, 4);
}

TEST_F(FsckDumpCli, TornTailWarnsThenRepairExitsOne) {
  Append(db_ + "/" + LogFileName(1), std::string(300, '\x7f'));
  RunResult r = RunCowtree("fsck " + Db(), tmp_);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("[warning] log log-000001.log@"), std::string::npos) << r.out;
  RunResult fixed = RunCowtree("fsck --repair --json " + Db(), tmp_);
  EXPECT_EQ(fixed.exit_code, 1) << fixed.out;
  rapidjson::Document d = ParseJson(fixed.out);
  EXPECT_TRUE(d["findings"][0]["repaired"].GetBool());
  EXPECT_EQ(d["exit_code"].GetInt(), 1);
  RunResult again = RunCowtree("fsck " + Db(), tmp_);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("0 errors, 0 warnings, 0 notes, 0 repaired"), std::string::npos)
      << again.out;
}

TEST_F(FsckDumpCli, OperationalErrorsExitEight) {
  RunResult missing = RunCowtree("fsck --db " + tmp_.path() + "/nope", tmp_);
  EXPECT_EQ(missing.exit_code, 8);
  EXPECT_NE(missing.err.find("NotFound"), std::string::npos) << missing.err;
  RunResult json = RunCowtree("fsck --json --db " + tmp_.path() + "/nope", tmp_);
  EXPECT_EQ(json.exit_code, 8);
  EXPECT_EQ(ParseJson(json.out)["exit_code"].GetInt(), 8);
  // The store is open in this process (flock held): fsck refuses with Busy.
  RuntimeOptions o = Small();
  o.create_if_missing = false;
  auto rt = recovery::Open(db_, o);
  ASSERT_TRUE(rt.ok());
  RunResult busy = RunCowtree("fsck " + Db(), tmp_);
  EXPECT_EQ(busy.exit_code, 8);
  EXPECT_NE(busy.err.find("Busy"), std::string::npos) << busy.err;
  ASSERT_TRUE((*rt)->Close().ok());
}

TEST_F(FsckDumpCli, DumpEveryKindAsTextAndJson) {
  for (const std::string what :
       {"superblock", "manifest", "ot", "log", "tree alpha", "tree beta --entries"}) {
    SCOPED_TRACE(what);
    RunResult text = RunCowtree("dump " + Db() + " " + what, tmp_);
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("problems: []"), std::string::npos) << text.out;
    RunResult json = RunCowtree("dump --json " + Db() + " " + what, tmp_);
    EXPECT_EQ(json.exit_code, 0) << json.err;
    rapidjson::Document d = ParseJson(json.out);
    ASSERT_TRUE(d.IsObject());
    EXPECT_EQ(d["problems"].Size(), 0u);
  }
  rapidjson::Document sb = ParseJson(RunCowtree("dump --json " + Db() + " superblock", tmp_).out);
  EXPECT_EQ(sb["copies"].Size(), 4u);
  EXPECT_EQ(std::string(sb["copies"][0]["status"].GetString()), "ok");
  EXPECT_EQ(std::string(sb["copies"][0]["store_id"].GetString()).size(), 32u);
  rapidjson::Document log = ParseJson(RunCowtree("dump --json " + Db() + " log", tmp_).out);
  int replayed_commits = 0;
  for (const auto& f : log["frames"].GetArray()) {
    if (std::string(f["role"].GetString()) == "replayed" &&
        std::string(f["type"].GetString()) == "commit") {
      ++replayed_commits;
      EXPECT_EQ(f["op_counts"][0].GetUint64(), 1u);
    }
  }
  EXPECT_EQ(replayed_commits, 2);
  EXPECT_EQ(std::string(log["replay"]["stop_reason"].GetString()), "clean end");
  rapidjson::Document beta =
      ParseJson(RunCowtree("dump --json --entries " + Db() + " tree beta", tmp_).out);
  EXPECT_EQ(beta["descriptor"]["entry_count"].GetUint64(), 20u);
  uint64_t entries = 0;
  for (const auto& leaf : beta["leaves"].GetArray()) entries += leaf["keys"].Size();
  EXPECT_EQ(entries, 20u);
  EXPECT_EQ(beta["leaves"][0]["keys"][1].GetDouble(), 0.25);
  rapidjson::Document alpha =
      ParseJson(RunCowtree("dump --json " + Db() + " tree alpha", tmp_).out);
  EXPECT_EQ(alpha["redo_records_after_checkpoint"].GetUint64(), 2u);
  EXPECT_GT(alpha["leaves"].Size(), 5u);
}

TEST_F(FsckDumpCli, DumpUsageAndMissingTree) {
  EXPECT_EQ(RunCowtree("dump " + Db() + " tree", tmp_).exit_code, 2);
  EXPECT_EQ(RunCowtree("dump " + Db() + " nonsense", tmp_).exit_code, 2);
  RunResult r = RunCowtree("dump " + Db() + " tree gamma", tmp_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("gamma"), std::string::npos) << r.err;
  EXPECT_EQ(RunCowtree("dump --db " + tmp_.path() + "/nope superblock", tmp_).exit_code, 1);
}

// Damage shows up in a dump under "problems", and the dump still prints what it can read.
TEST_F(FsckDumpCli, DumpListsProblems) {
  for (int copy = 0; copy < 4; ++copy) FlipByte(db_ + "/SUPERBLOCK", copy * 4096 + 100);
  RunResult r = RunCowtree("dump --json " + Db() + " superblock", tmp_);
  EXPECT_EQ(r.exit_code, 0);
  rapidjson::Document d = ParseJson(r.out);
  EXPECT_TRUE(d["copy_used"].IsNull());
  EXPECT_EQ(std::string(d["copies"][1]["status"].GetString()), "bad");
  EXPECT_GE(d["problems"].Size(), 4u);
}

}  // namespace
}  // namespace cowtree
