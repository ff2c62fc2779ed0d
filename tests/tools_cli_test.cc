// The `cowtree` command's contract: ingest/query/checkpoint/stat, bad input reported on one
// line naming file, line and column without changing anything committed, usage errors exit 2.
// The shared contract script (../shared/checks/cli-contract.sh) runs in
// shared_cli_contract_test.cc, under the ctest label "shared".
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "testutil/command.h"
#include "testutil/test_files.h"
#include "testutil/zstd_frames.h"

namespace {

using RunResult = cowtree::testutil::CommandResult;

using cowtree::testutil::TempDir;

std::string Slurp(const std::string& path) { return cowtree::testutil::ReadFileOrEmpty(path); }

RunResult RunCowtree(const std::string& args, const TempDir& tmp) {
  return cowtree::testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

void WriteFile(const std::string& path, const std::string& text) {
  cowtree::testutil::WriteTextFile(path, text);
}

TEST(Cli, IngestQueryCsvAndJson) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v,w\na,10,1\na,20,1\na,30,1\na,40,1\nb,5,2\nc,7,-1\n");
  const std::string db = tmp.path() + "/db";
  RunResult r =
      RunCowtree("ingest --db " + db + " --group g --value v --weight w --log-commits " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "committed 1 6\n");
  r = RunCowtree("query --db " + db + " --percentile 0.5,0.75 --format csv", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // c has only negative weight: N = 0, omitted.
  EXPECT_EQ(r.out, "group,n,0.5,0.75\na,4,25,32.5\nb,2,5,5\n");
  r = RunCowtree("query --db " + db + " --percentile 0.75 --disc --desc --format csv --group a",
                 tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "group,n,0.75\na,4,20\n");  // PostgreSQL: percentile_disc(0.75) DESC = 20
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format json --group b", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"group\":\"b\",\"n\":2,\"percentiles\":{\"0.5\":5}"), std::string::npos)
      << r.out;
  r = RunCowtree("stat --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("trees:              3"), std::string::npos) << r.out;
  r = RunCowtree("checkpoint --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(Cli, UsageErrorsExit2) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v\na,1\n");
  const std::string db = tmp.path() + "/db";
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp).exit_code, 0);
  for (const char* p : {"1.5", "-0.1", "abc", "0.5,", "nan"}) {
    RunResult r = RunCowtree("query --db " + db + " --percentile " + std::string(p), tmp);
    EXPECT_EQ(r.exit_code, 2) << p << ": " << r.err;
    EXPECT_NE(r.err.find("--percentile"), std::string::npos) << r.err;
  }
  EXPECT_EQ(RunCowtree("query --db " + db, tmp).exit_code, 2);
  EXPECT_EQ(RunCowtree("frobnicate", tmp).exit_code, 2);
}

// Each bad input stops with one line naming file, line and column; what was committed before
// stays exactly as it was.
TEST(Cli, BadInputIsReportedAndChangesNothingCommitted) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string good = tmp.path() + "/good.csv";
  WriteFile(good, "g,v\na,1\na,2\nb,3\n");
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + good, tmp).exit_code, 0);
  const std::string before =
      RunCowtree("query --db " + db + " --percentile 0,0.5,1 --format csv", tmp).out;
  ASSERT_FALSE(before.empty());

  struct Case {
    std::string name, text, args, expect;
  };
  const std::vector<Case> cases = {
      {"missing.csv", "g,x\na,1\n", "--group g --value v", "no column 'v'"},
      {"nonnum.csv", "g,v\na,5\na,abc\n", "--group g --value v",
       "nonnum.csv:3: column 'v' (field 2)"},
      {"ragged.csv", "g,v\na,5\na,6,7\n", "--group g --value v",
       "ragged.csv:3: expected 2 fields, found 3"},
      {"weight.csv", "g,v,w\na,5,x\n", "--group g --value v --weight w",
       "weight.csv:2: column 'w' (field 3)"},
  };
  for (const Case& c : cases) {
    const std::string path = tmp.path() + "/" + c.name;
    WriteFile(path, c.text);
    RunResult r = RunCowtree("ingest --db " + db + " " + c.args + " --batch-rows 1 " + path, tmp);
    EXPECT_EQ(r.exit_code, 1) << c.name;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  RunResult r =
      RunCowtree("ingest --db " + db + " --group g --value v " + tmp.path() + "/nope.csv", tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope.csv"), std::string::npos) << r.err;
  // Rows before a bad one were committed in their own batches (--batch-rows 1): nonnum.csv
  // and ragged.csv each committed a,5 before failing, so a = {1, 2, 5, 5}.
  const std::string after =
      RunCowtree("query --db " + db + " --percentile 0,0.5,1 --format csv", tmp).out;
  EXPECT_EQ(after, "group,n,0,0.5,1\na,4,1,3.5,5\nb,1,3,3,3\n") << "before:\n" << before;

  // A directory that is not a store is refused and left alone.
  const std::string not_store = tmp.path() + "/notastore";
  std::filesystem::create_directory(not_store);
  WriteFile(not_store + "/x.txt", "hello");
  r = RunCowtree("query --db " + not_store + " --percentile 0.5", tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a cowtree store"), std::string::npos) << r.err;
  EXPECT_EQ(Slurp(not_store + "/x.txt"), "hello");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(not_store), {}), 1)
      << "nothing may be created in a foreign directory";
}

// A .zst input whose frame checksum fails decodes to valid rows (the checksum is the frame's
// last 4 bytes): ingest commits none of them, though the batches are small and the reader
// reaches the checksum only after many of them (tools/input_verifier.h).
TEST(Cli, ACorruptZstdInputCommitsNothing) {
  TempDir tmp;
  std::string plain = "g,v\n";
  for (int i = 0; i < 300000; ++i)
    plain += "g" + std::to_string(i % 7) + "," + std::to_string(i) + "\n";
  std::string zst = cowtree::testutil::ZstdWithChecksum(plain);
  ASSERT_FALSE(zst.empty());
  zst.back() = static_cast<char>(zst.back() ^ 0x40);
  const std::string path = tmp.path() + "/rows.csv.zst";
  WriteFile(path, zst);
  const std::string db = tmp.path() + "/db";
  RunResult r =
      RunCowtree("ingest --db " + db + " --group g --value v --batch-rows 1000 " + path, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cowtree: Corruption: " + path + ": corrupt zstd data"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("committed by this run: 0 rows in 0 commits"), std::string::npos) << r.err;
  // No group (the store is not even created: ingest opens it at its first commit).
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  EXPECT_TRUE(r.out == "group,n,0.5\n" ||
              r.err.find("no such store directory") != std::string::npos)
      << r.out << r.err;
  // The same file with its checksum intact ingests every row.
  zst.back() = static_cast<char>(zst.back() ^ 0x40);
  WriteFile(path, zst);
  r = RunCowtree("ingest --db " + db + " --group g --value v --batch-rows 1000 " + path, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("ingested 300000 rows"), std::string::npos) << r.err;
  // Damage often decodes to a bad row before any commit: the check's Corruption is reported,
  // not the symptom (it said "expected an integer", naming a line the user's file does not
  // have). Here row 1000 is bad and the checksum fails.
  plain.replace(plain.find("\ng6,1000\n"), 10, "\ng6,1x00\n");
  zst = cowtree::testutil::ZstdWithChecksum(plain);
  ASSERT_FALSE(zst.empty());
  zst.back() = static_cast<char>(zst.back() ^ 0x40);
  WriteFile(path, zst);
  r = RunCowtree("ingest --db " + tmp.path() + "/db2 --group g --value v " + path, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("cowtree: Corruption: " + path + ": corrupt zstd data", 0), 0u) << r.err;
  // Intact but for the bad row: the row's own error.
  zst.back() = static_cast<char>(zst.back() ^ 0x40);
  WriteFile(path, zst);
  r = RunCowtree("ingest --db " + tmp.path() + "/db2 --group g --value v " + path, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(path + ":1002: column 'v' (field 2)"), std::string::npos) << r.err;
}

// A weight sum outside int64 names the group's tree and the value as written, not only its
// internal key code; within one batch or against the stored weight. Nothing of the batch is
// committed.
TEST(Cli, AWeightOverflowNamesTheValue) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", csv = tmp.path() + "/w.csv";
  WriteFile(csv, "g,v,w\na,-7,9223372036854775807\na,-7,1\n");
  RunResult r = RunCowtree("ingest --db " + db + " --group g --value v --weight w " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tree 'a': ops of key -7 (code "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in one batch add up to 9223372036854775808, outside int64"),
            std::string::npos)
      << r.err;
  WriteFile(csv, "g,v,w\na,2.5,9223372036854775807\n");
  r = RunCowtree("ingest --db " + db + " --group g --value v --weight w " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("ingest --db " + db + " --group g --value v --weight w " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tree 'a': weight of key 2.5 (code "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(9223372036854775807) + 9223372036854775807 overflows int64"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("committed by this run: 0 rows in 0 commits"), std::string::npos) << r.err;
}

TEST(Cli, DemoRunsOnTheBundledSlice) {
  TempDir tmp;
  RunResult r = RunCowtree("demo", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("identical after reopen: yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ATL"), std::string::npos) << r.out;
}

}  // namespace
