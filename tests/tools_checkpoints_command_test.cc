// `cowtree checkpoint --name`, `cowtree checkpoints`, `cowtree query --at` and `cowtree backup`
// (tools/checkpoints_command.h, docs/retained_checkpoints.md): outputs, point-in-time answers,
// restore by opening the backup, exit codes of usage errors and missing checkpoints.
#include <gtest/gtest.h>

#include <string>

#include "testutil/command.h"
#include "testutil/test_files.h"

namespace {

using cowtree::testutil::CommandResult;
using cowtree::testutil::TempDir;

CommandResult RunCowtree(const std::string& args, const TempDir& tmp) {
  return cowtree::testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

TEST(CheckpointsCommand, RetainQueryAtBackupDeleteAndFsck) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", bk = tmp.path() + "/bk";
  cowtree::testutil::WriteTextFile(tmp.path() + "/a.csv", "g,v\na,1\na,2\nb,5\n");
  cowtree::testutil::WriteTextFile(tmp.path() + "/b.csv", "g,v\na,100\nb,200\nc,7\n");
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + tmp.path() + "/a.csv", tmp)
                .exit_code,
            0);
  CommandResult r = RunCowtree("checkpoint --db " + db + " --name first", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("retained checkpoint first at epoch 1"), std::string::npos) << r.out;
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + tmp.path() + "/b.csv", tmp)
                .exit_code,
            0);
  r = RunCowtree("checkpoint --db " + db + " --name second --keep-last 1 --except first", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("checkpoints --db " + db + " --format csv", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "name,epoch,created_unix_ms,tree_count,live_bytes");
  EXPECT_NE(r.out.find("\nfirst,1,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nsecond,2,"), std::string::npos) << r.out;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  EXPECT_EQ(r.out, "group,n,0.5\na,3,2\nb,2,102.5\nc,1,7\n");
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv --at first", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "group,n,0.5\na,2,1.5\nb,1,5\n");
  r = RunCowtree("backup --db " + db + " --to " + bk + " --at first", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("written to " + bk), std::string::npos) << r.out;
  r = RunCowtree("query --db " + bk + " --percentile 0.5 --format csv", tmp);  // restore = open it
  EXPECT_EQ(r.out, "group,n,0.5\na,2,1.5\nb,1,5\n");
  EXPECT_EQ(RunCowtree("backup --db " + db + " --to " + bk, tmp).exit_code, 1);  // exists
  r = RunCowtree("fsck --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 retained checkpoints"), std::string::npos) << r.out;
  r = RunCowtree("checkpoints --db " + db + " --delete first --format json", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("\"first\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"name\":\"second\",\"epoch\":2,"), std::string::npos) << r.out;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --at first", tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no retained checkpoint named 'first'"), std::string::npos) << r.err;
  EXPECT_EQ(RunCowtree("fsck --db " + db, tmp).exit_code, 0);
}

// A store at `db` holding one row (group a, value 1).
void IngestOneRow(const std::string& db, const TempDir& tmp) {
  cowtree::testutil::WriteTextFile(tmp.path() + "/a.csv", "g,v\na,1\n");
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + tmp.path() + "/a.csv", tmp)
                .exit_code,
            0);
}

TEST(CheckpointsCommand, UsageErrorsExit2) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  ASSERT_NO_FATAL_FAILURE(IngestOneRow(db, tmp));
  EXPECT_EQ(RunCowtree("checkpoint --db " + db + " --name .bad", tmp).exit_code, 2);
  EXPECT_EQ(RunCowtree("checkpoint --db " + db + " --keep-last 2", tmp).exit_code, 2);
  EXPECT_EQ(RunCowtree("checkpoints --db " + db + " --except a", tmp).exit_code, 2);
  EXPECT_EQ(RunCowtree("checkpoints --db " + db + " --delete nope", tmp).exit_code, 1);
  EXPECT_EQ(RunCowtree("backup --db " + db, tmp).exit_code, 2);  // --to is required
}

// A misspelt --except name protected nothing: --keep-last deleted the checkpoint it was meant
// to keep (found by an adversarial run). Now a usage error that deletes nothing.
TEST(CheckpointsCommand, AnExceptNameThatIsNotRetainedDeletesNothing) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  ASSERT_NO_FATAL_FAILURE(IngestOneRow(db, tmp));
  ASSERT_EQ(RunCowtree("checkpoint --db " + db + " --name before-march", tmp).exit_code, 0);
  ASSERT_EQ(RunCowtree("checkpoint --db " + db + " --name b", tmp).exit_code, 0);
  CommandResult r =
      RunCowtree("checkpoints --db " + db + " --keep-last 0 --except befor-march", tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--except befor-march: no retained checkpoint of that name (nothing "
                       "deleted"),
            std::string::npos)
      << r.err;
  r = RunCowtree("checkpoint --db " + db + " --name c --keep-last 1 --except befor-march", tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("checkpoint c was retained"), std::string::npos) << r.err;
  r = RunCowtree("checkpoints --db " + db + " --format csv", tmp);
  EXPECT_NE(r.out.find("\nbefore-march,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nb,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nc,"), std::string::npos) << r.out;
  // Spelt right, it protects: only it and the newest remain.
  r = RunCowtree("checkpoints --db " + db + " --keep-last 1 --except before-march --format csv",
                 tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nbefore-march,"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nb,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nc,"), std::string::npos) << r.out;
}

}  // namespace
