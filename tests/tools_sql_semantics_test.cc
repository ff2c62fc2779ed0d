// SQL's input rules in `cowtree ingest` / `cowtree query` and the output deltas of
// `ingest --emit-deltas`, checked against PostgreSQL's own answers.
//
// tests/data/sql_semantics/: the input (NULL values, the NULL group, NaN, ±Infinity, a quoted
// group name, a group of NULL values only), a second input of retractions, and PostgreSQL
// 15's answers for both states (expected_*.csv, made by make_expected.sh in that directory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testutil/command.h"
#include "testutil/delta_table.h"
#include "testutil/test_files.h"
#include "tools/query.h"

namespace {

using cowtree::testutil::ApplyDeltas;
using cowtree::testutil::CommandResult;
using cowtree::testutil::TempDir;

const std::string kData = std::string(COWTREE_SOURCE_DIR) + "/tests/data/sql_semantics/";
const std::string kCont = "--percentile 0,0.25,0.5,0.9,1";
const std::string kDiscDesc = "--percentile 0.1,0.5,1 --disc --desc";

CommandResult Cowtree(const std::string& args, const TempDir& tmp) {
  return cowtree::testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

std::string Slurp(const std::string& path) { return cowtree::testutil::ReadFileOrEmpty(path); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ApplyDeltas that fails the test on a net weight other than 0 or +1.
std::string Applied(const std::string& deltas_csv, const std::string& query_header) {
  std::vector<std::string> bad;
  std::string table = ApplyDeltas(deltas_csv, query_header, &bad);
  EXPECT_TRUE(bad.empty()) << bad.front();
  return table;
}

std::string Header(const std::string& expected_file) { return Lines(Slurp(expected_file)).at(0); }

// Doubles print as PostgreSQL 15 prints float8 (SELECT x::float8): the shortest digits that
// read back, fixed notation for decimal exponents in [-4, 15), else scientific. Before, the
// shorter of the two texts was printed ("1e+05" for 100000: found by an adversarial run; the
// flights fixture has no value where the two notations differ).
TEST(SqlSemantics, DoublesPrintAsPostgresqlFloat8Does) {
  const std::pair<double, const char*> cases[] = {
      {100000, "100000"},
      {150000, "150000"},
      {12000000, "12000000"},
      {1e14, "100000000000000"},
      {123456789012345.67, "123456789012345.67"},
      {1e15, "1e+15"},
      {1.2345678901234568e+20, "1.2345678901234568e+20"},
      {0.0001, "0.0001"},
      {0.00015, "0.00015"},
      {0.00001, "1e-05"},
      {1.5e-05, "1.5e-05"},
      {2.5, "2.5"},
      {0.1, "0.1"},
      {1.0 / 3.0, "0.3333333333333333"},
      {0.0, "0"},
      {-0.0, "-0"},
      {-100000, "-100000"},
      {5e-324, "5e-324"},
      {1.7976931348623157e+308, "1.7976931348623157e+308"},
  };
  for (const auto& [v, text] : cases) EXPECT_EQ(cowtree::tools::FormatDouble(v), text) << v;
}

TEST(SqlSemantics, QueryEqualsPostgresqlBeforeAndAfterRetractions) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  CommandResult r = Cowtree("ingest --db " + db + " --group g --value v --value-type double " +
                                kData + "sql_semantics.csv",
                            tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("5 rows had a NULL (empty) value"), std::string::npos) << r.err;
  r = Cowtree("query --db " + db + " " + kCont + " --format csv", tmp);
  EXPECT_EQ(r.out, Slurp(kData + "expected_cont.csv"));
  r = Cowtree("query --db " + db + " " + kDiscDesc + " --format csv", tmp);
  EXPECT_EQ(r.out, Slurp(kData + "expected_disc_desc.csv"));

  r = Cowtree("ingest --db " + db + " --group g --value v --weight w --value-type double " + kData +
                  "sql_semantics_retract.csv",
              tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cowtree("query --db " + db + " " + kCont + " --format csv", tmp);
  EXPECT_EQ(r.out, Slurp(kData + "expected_cont_retracted.csv"));
  r = Cowtree("query --db " + db + " " + kDiscDesc + " --format csv", tmp);
  EXPECT_EQ(r.out, Slurp(kData + "expected_disc_desc_retracted.csv"));
}

TEST(SqlSemantics, JsonWritesNullForTheNullGroupAndNullValues) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  cowtree::testutil::WriteTextFile(csv, "g,v\n,1\nd,\n");
  ASSERT_EQ(Cowtree("ingest --db " + db + " --group g --value v " + csv, tmp).exit_code, 0);
  const CommandResult r = Cowtree("query --db " + db + " --percentile 0.5 --format json", tmp);
  EXPECT_EQ(r.out,
            "[\n {\"group\":\"d\",\"n\":0,\"percentiles\":{\"0.5\":null}},\n"
            " {\"group\":null,\"n\":1,\"percentiles\":{\"0.5\":1}}\n]\n");
}

// PostgreSQL's COPY ... CSV reads a quoted "" as the empty string and an unquoted empty field as
// NULL: two groups, '' sorted first and NULL last, and COPY ... TO CSV writes '' as "" (both
// were the NULL group: found by an adversarial run). A quoted "" value is NULL (PostgreSQL
// refuses '' as a number; docs/sql_semantics.md).
TEST(SqlSemantics, AQuotedEmptyGroupIsTheEmptyStringNotNull) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/d.csv";
  const std::string csv = tmp.path() + "/in.csv";
  cowtree::testutil::WriteTextFile(csv, "g,v\n\"\",1\n\"\",3\n,5\na,2\n\"\",\"\"\n");
  CommandResult r =
      Cowtree("ingest --db " + db + " --group g --value v --percentile 0.5 --emit-deltas " +
                  deltas + " " + csv,
              tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 rows had a NULL (empty) value"), std::string::npos) << r.err;
  const std::string want = "group,n,0.5\n\"\",2,2\na,1,2\n,1,5\n";
  r = Cowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(Applied(Slurp(deltas), "group,n,0.5"), want);
  r = Cowtree("query --db " + db + " --percentile 0.5 --format json", tmp);
  EXPECT_EQ(r.out,
            "[\n {\"group\":\"\",\"n\":2,\"percentiles\":{\"0.5\":2}},\n"
            " {\"group\":\"a\",\"n\":1,\"percentiles\":{\"0.5\":2}},\n"
            " {\"group\":null,\"n\":1,\"percentiles\":{\"0.5\":5}}\n]\n");
  r = Cowtree("query --db " + db + " --percentile 0.5 --format csv --group \"\"", tmp);
  EXPECT_EQ(r.out, "group,n,0.5\n\"\",2,2\n") << r.err;
  // A group that does not exist is named as given, not by an internal tree name.
  cowtree::testutil::WriteTextFile(csv + ".a", "g,v\na,1\n");
  ASSERT_EQ(Cowtree("ingest --db " + tmp.path() + "/db0 --group g --value v " + csv + ".a", tmp)
                .exit_code,
            0);
  r = Cowtree("query --db " + tmp.path() + "/db0 --percentile 0.5 --group \"\"", tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "cowtree: NotFound: no group ''\n");
  // --resume reads "" back from the deltas as the empty string: nothing to add.
  r = Cowtree("ingest --db " + db +
                  " --group g --value v --percentile 0.5 --resume --emit-deltas " + deltas + " " +
                  csv,
              tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("; 0 delta lines to "), std::string::npos) << r.err;
  EXPECT_EQ(Applied(Slurp(deltas), "group,n,0.5"), want);
}

// The deltas emitted over both inputs, applied to an empty table, equal PostgreSQL's answers
// after each input; one commit per row makes every intermediate state a step.
TEST(SqlSemantics, EmittedDeltasAppliedToAnEmptyTableEqualPostgresql) {
  for (const std::string& spec : {kCont, kDiscDesc}) {
    const bool disc = spec == kDiscDesc;
    TempDir tmp;
    const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/deltas.csv";
    const std::string common = " --group g --value v --value-type double --batch-rows 1 " + spec +
                               " --emit-deltas " + deltas;
    CommandResult r =
        Cowtree("ingest --db " + db + common + " " + kData + "sql_semantics.csv", tmp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string first = disc ? "expected_disc_desc.csv" : "expected_cont.csv";
    EXPECT_EQ(Applied(Slurp(deltas), Header(kData + first)), Slurp(kData + first));
    // Each commit's lines: only changed groups, -1 before +1 of the same group.
    r = Cowtree("ingest --db " + db + common + " --weight w --resume " + kData +
                    "sql_semantics_retract.csv",
                tmp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string second =
        disc ? "expected_disc_desc_retracted.csv" : "expected_cont_retracted.csv";
    EXPECT_EQ(Applied(Slurp(deltas), Header(kData + second)), Slurp(kData + second));
    // The header is the query header with the weight column.
    EXPECT_EQ(Lines(Slurp(deltas)).at(0),
              disc ? "group,weight,n,0.1,0.5,1" : "group,weight,n,0,0.25,0.5,0.9,1");
  }
}

TEST(SqlSemantics, UnchangedGroupsEmitNothingAndNewGroupsOnlyInsert) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/d.csv";
  const std::string csv = tmp.path() + "/in.csv";
  // One commit: a and z are new (+1 only).
  cowtree::testutil::WriteTextFile(csv, "g,v\na,1\na,2\na,3\nz,5\n");
  ASSERT_EQ(Cowtree("ingest --db " + db +
                        " --group g --value v --batch-rows 3 --percentile 0.5 "
                        "--emit-deltas " +
                        deltas + " " + csv,
                    tmp)
                .exit_code,
            0);
  EXPECT_EQ(Slurp(deltas), "group,weight,n,0.5\na,1,3,2\nz,1,1,5\n");
  const std::string csv2 = tmp.path() + "/in2.csv";
  // a's row changes (n), z's does not change at all (+1 then -1 in one commit), b is new.
  cowtree::testutil::WriteTextFile(csv2, "g,v,w\na,2,1\nz,9,1\nz,9,-1\nb,4,1\n");
  ASSERT_EQ(Cowtree("ingest --db " + db +
                        " --group g --value v --weight w --percentile 0.5 "
                        "--resume --emit-deltas " +
                        deltas + " " + csv2,
                    tmp)
                .exit_code,
            0);
  EXPECT_EQ(Slurp(deltas), "group,weight,n,0.5\na,1,3,2\nz,1,1,5\na,-1,3,2\na,1,4,2\nb,1,1,4\n");
}

TEST(SqlSemantics, LogCommitsWithStdoutDeltasIsAUsageError) {
  TempDir tmp;
  const CommandResult r = Cowtree("ingest --db " + tmp.path() +
                                      "/db --group g --value v "
                                      "--log-commits --emit-deltas - " +
                                      kData + "sql_semantics.csv",
                                  tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("both write to stdout"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/db"));  // refused before opening
}

TEST(SqlSemantics, ResumeWithStdoutDeltasIsAUsageError) {
  TempDir tmp;
  const CommandResult r = Cowtree("ingest --db " + tmp.path() +
                                      "/db --group g --value v "
                                      "--resume --emit-deltas - " +
                                      kData + "sql_semantics.csv",
                                  tmp);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("stdout cannot be read back"), std::string::npos) << r.err;
}

// A crash while writing the line of a group whose quoted name holds a line break leaves a torn
// line with a '\n' inside quotes: --resume cuts the whole torn line (it cut after that '\n',
// left an open quote and failed), then appends what the file lacks, and the summary counts
// those lines (it said "0 delta lines" when no commit followed). Found by an adversarial run.
TEST(SqlSemantics, ResumeCutsATornLineWhoseQuotedGroupHoldsALineBreak) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/d.csv";
  const std::string csv = tmp.path() + "/in.csv";
  cowtree::testutil::WriteTextFile(csv, "g,v\na,1\n\"x\ny\",5\n");
  const std::string args =
      "ingest --db " + db + " --group g --value v --percentile 0.5 --emit-deltas " + deltas;
  CommandResult r = Cowtree(args + " " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string whole = "group,weight,n,0.5\na,1,1,1\n\"x\ny\",1,1,5\n";
  ASSERT_EQ(Slurp(deltas), whole);
  // The last line lost but for its first bytes, up to the line break inside its quotes.
  cowtree::testutil::WriteTextFile(deltas, "group,weight,n,0.5\na,1,1,1\n\"x\n");
  r = Cowtree(args + " --resume " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(deltas), whole);
  EXPECT_NE(r.err.find("ingested 0 rows"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; 1 delta lines to "), std::string::npos) << r.err;
}

// A group's n passes 2^63 with weights: --resume reads it back as the uint64 it is (it was
// read as an int64 and refused). Found by an adversarial run.
TEST(SqlSemantics, ResumeReadsBackAnNPastTwoToTheSixtyThree) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/d.csv";
  const std::string csv = tmp.path() + "/in.csv";
  cowtree::testutil::WriteTextFile(
      csv, "g,v,w\nb,1,4611686018427387904\nb,2,4611686018427387904\nb,3,5\n");
  const std::string args = "ingest --db " + db +
                           " --group g --value v --weight w --percentile 0.5 --emit-deltas " +
                           deltas + " --resume " + csv;
  CommandResult r = Cowtree(args, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string want = "group,weight,n,0.5\nb,1,9223372036854775813,2\n";
  ASSERT_EQ(Slurp(deltas), want);
  r = Cowtree(args, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(deltas), want);
  // A line whose n is not a uint64 is Corruption naming the file and line; nothing changes.
  cowtree::testutil::WriteTextFile(deltas, "group,weight,n,0.5\nb,1,18446744073709551616,1.5\n");
  r = Cowtree(args, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(deltas + ":2: n (field 3) is '18446744073709551616', expected a whole "
                                "number from 0 to 2^64-1"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(Slurp(deltas), "group,weight,n,0.5\nb,1,18446744073709551616,1.5\n");
}

// A -0 row retracted as 0 (PostgreSQL deletes an equal row) takes the -0 count down with the
// zeros: a +0 row added later answers 0, not -0 (found by an adversarial run), also when the
// batch is split into several commits.
TEST(SqlSemantics, ANegativeZeroRetractedAsZeroIsGone) {
  for (const std::string commit_ops : {"10000", "1"}) {
    TempDir tmp;
    const std::string db = tmp.path() + "/db", csv = tmp.path() + "/in.csv";
    const std::string args = "ingest --db " + db +
                             " --group g --value v --weight w --value-type double --commit-ops " +
                             commit_ops + " " + csv;
    cowtree::testutil::WriteTextFile(csv, "g,v,w\ny,-0,1\nk,1,1\n");
    ASSERT_EQ(Cowtree(args, tmp).exit_code, 0);
    const std::string query = "query --db " + db + " --percentile 0.5 --format csv";
    EXPECT_EQ(Cowtree(query, tmp).out, "group,n,0.5\nk,1,1\ny,1,-0\n");
    cowtree::testutil::WriteTextFile(csv, "g,v,w\ny,0,-1\nk,2,1\n");
    ASSERT_EQ(Cowtree(args, tmp).exit_code, 0);
    EXPECT_EQ(Cowtree(query, tmp).out, "group,n,0.5\nk,2,1.5\n");
    cowtree::testutil::WriteTextFile(csv, "g,v,w\ny,0,1\n");
    ASSERT_EQ(Cowtree(args, tmp).exit_code, 0);
    EXPECT_EQ(Cowtree(query, tmp).out, "group,n,0.5\nk,2,1.5\ny,1,0\n") << commit_ops;
    // The reverse: a zero retracted as -0 while only +0 rows are left removes a +0 row, and the
    // -0 count stays at 0 (it went to -1 and swallowed the next -0 row: PostgreSQL 15 prints
    // a,1,-0,-0,-0 and then a,2,-0,0,-0 for this sequence; found by an adversarial run).
    const std::string three = "query --db " + db + " --percentile 0,0.5,1 --format csv --group a";
    for (const char* row : {"a,0,1", "a,-0,-1", "a,-0,1"}) {
      cowtree::testutil::WriteTextFile(csv, std::string("g,v,w\n") + row + "\n");
      ASSERT_EQ(Cowtree(args, tmp).exit_code, 0);
    }
    EXPECT_EQ(Cowtree(three, tmp).out, "group,n,0,0.5,1\na,1,-0,-0,-0\n") << commit_ops;
    cowtree::testutil::WriteTextFile(csv, "g,v,w\na,-0,1\n");
    ASSERT_EQ(Cowtree(args, tmp).exit_code, 0);
    EXPECT_EQ(Cowtree(three, tmp).out, "group,n,0,0.5,1\na,2,-0,0,-0\n") << commit_ops;
  }
}

// The same rows in one file give the same answers whatever the batches: the -0 count follows
// the rows in their order, not a batch's sums (a batch of millions of rows answered `0` for
// `0`, `-0` retracted, `-0`, where PostgreSQL answers `-0`; found by an adversarial run).
TEST(SqlSemantics, TheNegativeZeroCountFollowsTheRowsWhateverTheBatches) {
  const std::string rows =
      "g,v,w\n"
      "a,0,1\na,-0,-1\na,-0,1\n"  // the +0 row retracted by the -0 retraction: -0 is left
      "b,-0,1\nb,0,-1\nb,0,1\n"   // the -0 row retracted by the 0 retraction: +0 is left
      "c,0,1\nc,-0,-1\nc,-0,1\nc,-0,1\n"
      "d,-0,2\nd,0,-3\nd,-0,1\nd,0,1\n";  // retracted past the zeros, then back
  // a, b and c: PostgreSQL 15's answers for these rows in this order (the examples of the test
  // above). d: the retraction of 3 leaves the zero key at -1 (a Z-set's negative entry) and
  // the -0 count at 0; the -0 row brings the zeros to 0, which clamps the count back to 0,
  // so the last row leaves one +0 item.
  const std::string want = "group,n,0,0.5,1\na,1,-0,-0,-0\nb,1,0,0,0\nc,2,-0,0,-0\nd,1,0,0,0\n";
  for (const std::string batching : {"", "--batch-rows 1", "--batch-rows 2", "--batch-rows 5",
                                     "--commit-ops 1", "--batch-rows 3 --commit-ops 2"}) {
    TempDir tmp;
    const std::string db = tmp.path() + "/db", csv = tmp.path() + "/in.csv";
    cowtree::testutil::WriteTextFile(csv, rows);
    ASSERT_EQ(Cowtree("ingest --db " + db + " --group g --value v --weight w --value-type double " +
                          batching + " " + csv,
                      tmp)
                  .exit_code,
              0)
        << batching;
    EXPECT_EQ(Cowtree("query --db " + db + " --percentile 0,0.5,1 --format csv", tmp).out, want)
        << batching;
  }
}

// kill -9 at random moments of an ingest that emits deltas; --resume afterwards. The deltas
// file, applied to an empty table, always equals what `cowtree query` prints.
TEST(SqlSemantics, DeltasSurviveKill9WithResume) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/d.csv";
  const std::string input = std::string(COWTREE_SOURCE_DIR) + "/tests/data/flights-1k.csv";
  const std::string args = "ingest --db " + db +
                           " --group origin --value delay --batch-rows 7 --percentile 0.5,0.99 "
                           "--durability strict --resume --emit-deltas " +
                           deltas + " " + input;
  std::mt19937_64 rng(7);
  for (int cycle = 0; cycle < 6; ++cycle) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::string> words;
      std::istringstream in(args);
      for (std::string w; in >> w;) words.push_back(w);
      std::vector<char*> argv = {const_cast<char*>(COWTREE_BINARY)};
      for (std::string& w : words) argv.push_back(w.data());
      argv.push_back(nullptr);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execv(COWTREE_BINARY, argv.data());
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 150));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
  const CommandResult finish = Cowtree(args, tmp);
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  const CommandResult q = Cowtree("query --db " + db + " --percentile 0.5,0.99 --format csv", tmp);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(Applied(Slurp(deltas), "group,n,0.5,0.99"), q.out);
}

}  // namespace
