// The `cowtree` command's reliability contract (the CLI items of the reliability issue):
// valid JSON for every input, CSV line-ending and integer-range errors, commits by time from a
// slow pipe, SIGPIPE / stdout write failures, temporary stores removed on every exit path,
// honest --help about durability, and exact reporting + `ingest --resume` after failures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/sql_groups.h"
#include "cowtree/store.h"
#include "persistence/write_batch.h"
#include "recovery/open.h"
#include "testutil/command.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"
#include "tools/ingest.h"
#include "tools/no_space_advice.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace {

using cowtree::testutil::TempDir;

using RunResult = cowtree::testutil::CommandResult;

std::string Slurp(const std::string& path) { return cowtree::testutil::ReadFileOrEmpty(path); }

// Runs `cowtree ARGS` through the shell (so ARGS may hold redirections and environment).
RunResult RunCowtree(const std::string& args, const TempDir& tmp, const std::string& env = "") {
  return cowtree::testutil::RunCommand(COWTREE_BINARY, args, tmp.path(), env);
}

void WriteFile(const std::string& path, const std::string& text) {
  cowtree::testutil::WriteTextFile(path, text);
}

// ---- (16f) --help is honest about what "acknowledged" means per durability mode ----

TEST(CliHelp, DurabilityHelpSaysAcknowledgedRowsMayBeLost) {
  TempDir tmp;
  RunResult r = RunCowtree("ingest --help", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // CLI11 wraps long descriptions; compare without line breaks and indentation.
  std::string help;
  bool space = false;
  for (char c : r.out) {
    if (c == '\n' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !help.empty()) help += ' ';
    space = false;
    help += c;
  }
  EXPECT_NE(help.find("eventual: acknowledged while still in the process's buffer; acknowledged "
                      "rows may be lost on a process crash or power loss within "
                      "flush_interval_ms"),
            std::string::npos)
      << r.out;
  EXPECT_NE(help.find("may be lost on a power loss within sync_interval_ms"), std::string::npos)
      << r.out;
}

// ---- (12) JSON output is valid JSON for every input ----

// Parses `text` as JSON, requiring valid UTF-8 (RapidJSON checks encoding only when asked).
::testing::AssertionResult ParsesAsJson(const std::string& text, rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
  if (doc->HasParseError()) {
    return ::testing::AssertionFailure()
           << "invalid JSON at offset " << doc->GetErrorOffset() << ": "
           << rapidjson::GetParseError_En(doc->GetParseError()) << "\n"
           << text;
  }
  return ::testing::AssertionSuccess();
}

const std::string kBadUtf8Name = "bad\xff\xfe\xc0\xaf utf8";  // invalid bytes + overlong '/'
const std::string kControlName = std::string("ctl\x01\n\t\x1f", 7) + std::string(1, '\0') + "z";
const std::string kQuoteName = "quo\"te\\ \xc3\xbc";  // quotes, backslash, valid UTF-8 'ü'

// A store built through the library (ingest rejects non-finite values, but double trees hold
// them: keys are IEEE doubles with NaN last): one double tree per case.
// checkpoint=false leaves the creation records (with the raw names) in the log.
void MakeJsonStore(const std::string& db, bool checkpoint = true) {
  using cowtree::tree::EncodeDoubleKey;
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::string, std::vector<double>>> trees = {
      {"inf", {inf}},
      {"ninf", {-inf}},
      {"nan", {nan}},
      {"mixed", {-inf, 1.5, inf, nan}},
      {"overflow", {-1.7e308, 1.7e308}},  // cont interpolation overflows to infinity
      {kBadUtf8Name, {1, 2}},
      {kControlName, {3}},
      {kQuoteName, {4.25}},
  };
  cowtree::RuntimeOptions o;
  o.checkpoint_on_close = checkpoint;
  auto rt = cowtree::recovery::Open(db, o);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  cowtree::RuntimeWriteBatch batch(rt->get());
  for (const auto& [name, values] : trees) {
    const cowtree::TreeId id =
        batch.CreateTree(name, cowtree::tree::kOrderStatTreeTypeId,
                         cowtree::tree::OrderStatTreeParams(cowtree::tree::KeyType::kDouble));
    for (double v : values) cowtree::tree::AppendOrderStatOp(batch.MutableOps(id), EncodeDoubleKey(v), 1);
  }
  ASSERT_TRUE((*rt)->Commit(batch).ok());
  ASSERT_TRUE((*rt)->Close().ok());
}

TEST(CliJson, QueryJsonIsValidForNonFiniteValuesAndAnyGroupName) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  MakeJsonStore(db);
  for (const std::string flags : {"", " --disc", " --desc", " --disc --desc"}) {
    RunResult r =
        RunCowtree("query --db " + db + " --percentile 0,0.5,1 --format json" + flags, tmp);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rapidjson::Document doc;
    ASSERT_TRUE(ParsesAsJson(r.out, &doc)) << flags;
    ASSERT_TRUE(doc.IsArray());
    std::map<std::string, const rapidjson::Value*> by_group;
    for (const rapidjson::Value& row : doc.GetArray()) {
      ASSERT_TRUE(row.IsObject());
      const std::string group(row["group"].GetString(), row["group"].GetStringLength());
      const std::string exact = row.HasMember("group_bytes_hex")
                                    ? std::string(row["group_bytes_hex"].GetString())
                                    : cowtree::testutil::Hex(group);
      by_group[exact] = &row;
      ASSERT_EQ(row["percentiles"].MemberCount(), 3u);
    }
    ASSERT_EQ(by_group.size(), 8u) << r.out;
    auto value = [&](const std::string& name, const char* p) -> const rapidjson::Value& {
      return (*by_group.at(cowtree::testutil::Hex(name)))["percentiles"][p];
    };
    EXPECT_STREQ(value("inf", "0.5").GetString(), "Infinity");
    EXPECT_STREQ(value("ninf", "1").GetString(), "-Infinity");
    EXPECT_STREQ(value("nan", "0").GetString(), "NaN");
    const bool desc = flags.find("desc") != std::string::npos;
    EXPECT_STREQ(value("mixed", "0").GetString(), desc ? "NaN" : "-Infinity");  // NaN sorts last
    EXPECT_EQ(value(kQuoteName, "0.5").GetDouble(), 4.25);
    if (flags.empty()) {
      EXPECT_STREQ(value("overflow", "0.5").GetString(), "Infinity");
    }
    // Invalid bytes become U+FFFD; the exact bytes are in group_bytes_hex.
    const rapidjson::Value& bad = *by_group.at(cowtree::testutil::Hex(kBadUtf8Name));
    EXPECT_EQ(std::string(bad["group"].GetString()),
              "bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd utf8");
    EXPECT_FALSE(by_group.at(cowtree::testutil::Hex(kQuoteName))->HasMember("group_bytes_hex"));
    const rapidjson::Value& ctl = *by_group.at(cowtree::testutil::Hex(kControlName));
    EXPECT_EQ(std::string(ctl["group"].GetString(), ctl["group"].GetStringLength()), kControlName);
  }
  // Table and CSV print non-finite values as PostgreSQL does.
  RunResult r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv --group inf", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "group,n,0.5\ninf,1,Infinity\n");
}

TEST(CliJson, RepeatedPercentileIsAUsageError) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  MakeJsonStore(db);
  for (const char* list : {"0.5,0.5", "0.5,0.50", "0,0.5,1,5e-1", "0.5,+0.5"}) {
    RunResult r = RunCowtree(
        "query --db " + db + " --percentile " + std::string(list) + " --format json", tmp);
    EXPECT_EQ(r.exit_code, 2) << list << ": " << r.out;
    EXPECT_NE(r.err.find("is given twice"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "nothing printed for a usage error";
  }
  // ingest's --percentile (with --emit-deltas) says so once, as query's does.
  RunResult r = RunCowtree("ingest --db " + tmp.path() + "/db2 --group g --value v --emit-deltas " +
                               tmp.path() + "/d.csv --percentile 2 -",
                           tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "cowtree: --percentile: 2 is outside [0, 1] (PostgreSQL rejects it too)\n");
  // A leading '+' is a number, as PostgreSQL reads it; "+-0.5" and "++0.5" are not.
  r = RunCowtree("query --db " + db + " --percentile +0.5 --format csv --group inf", tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "group,n,+0.5");
  for (const char* bad : {"+-0.5", "++0.5", "+"}) {
    r = RunCowtree("query --db " + db + " --percentile " + std::string(bad), tmp);
    EXPECT_EQ(r.exit_code, 2) << bad;
  }
}

TEST(CliJson, DumpAndFsckJsonAreValidWithInvalidUtf8TreeNames) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  MakeJsonStore(db, /*checkpoint=*/false);
  for (const std::string what : {"log", "manifest", "superblock", "ot", "checkpoint"}) {
    if (what == "checkpoint") {
      ASSERT_EQ(RunCowtree("checkpoint --db " + db, tmp).exit_code, 0);
      continue;
    }
    RunResult r = RunCowtree("dump --db " + db + " " + what + " --json", tmp);
    ASSERT_EQ(r.exit_code, 0) << what << ": " << r.err;
    rapidjson::Document doc;
    EXPECT_TRUE(ParsesAsJson(r.out, &doc)) << what;
  }
  // printf (POSIX sh) produces the name's exact bytes as one argument.
  RunResult r = RunCowtree(
      "dump --db " + db + " tree \"$(printf 'bad\\377\\376\\300\\257 utf8')\" --json --entries",
      tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rapidjson::Document doc;
  EXPECT_TRUE(ParsesAsJson(r.out, &doc));
  r = RunCowtree("dump --db " + db + " tree mixed --json --entries", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ParsesAsJson(r.out, &doc));
  r = RunCowtree("fsck --db " + db + " --json", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(ParsesAsJson(r.out, &doc));
}

// ---- (16a) CR-only line endings are an error naming file:line:column, never "0 rows" ----

TEST(CliCsv, CrOnlyLineEndingsAreAnErrorNamingFileLineColumn) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  struct Case {
    std::string name, text, args, expect;
  };
  const std::vector<Case> cases = {
      // The whole file is one header row; g and w are found, so this used to exit 0, 0 rows.
      {"cr1.csv", "g,w,v\ra,1,2\rb,3,4\r", "--group g --value w",
       "cr1.csv:1:6: header field 3 contains a carriage return (CR) not followed by LF"},
      {"cr2.csv", "g,v\ra,1\rb,2\r", "--group g --value v", "cr2.csv:1:4: header field 2"},
      // LF after the header, CR between data rows: the value holds the CRs.
      {"cr3.csv", "v\n1\r2\r3\n", "--group v --value v",
       "cr3.csv:2: column 'v' (field 1): expected"},
      {"cr4.csv", "g,v\na,1\rb,2\n", "--group g --value v",
       "cr4.csv:2: expected 2 fields, found 3"},
  };
  for (const Case& c : cases) {
    const std::string path = tmp.path() + "/" + c.name;
    WriteFile(path, c.text);
    RunResult r = RunCowtree("ingest --db " + db + " " + c.args + " " + path, tmp);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find("CR-only"), std::string::npos) << c.name << ": " << r.err;
  }
  // CRLF and a CR inside a quoted field are still fine.
  const std::string ok = tmp.path() + "/ok.csv";
  WriteFile(ok, "g,v\r\n\"a\rb\",1\r\n");
  RunResult r = RunCowtree("ingest --db " + db + " --group g --value v " + ok, tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// ---- (16b) an out-of-range integer never silently makes a double tree and rounds ----

TEST(CliCsv, OutOfRangeIntegerWithAutoTypeIsAnError) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/big.csv";
  WriteFile(csv, "g,v\na,99999999999999999999\n");
  RunResult r = RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("big.csv:2: column 'v' (field 2): integer out of range, found "
                       "'99999999999999999999'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--value-type double"), std::string::npos) << r.err;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  EXPECT_EQ(r.out, "group,n,0.5\n") << "nothing was committed";
  // -9223372036854775809 is one below INT64_MIN; an int64 group rejects it as before.
  WriteFile(csv, "g,v\nb,-9223372036854775808\nb,-9223372036854775809\n");
  r = RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("big.csv:3: column 'v' (field 2): integer out of range"), std::string::npos)
      << r.err;
  // The explicit choice: --value-type double accepts the rounding.
  WriteFile(csv, "g,v\nc,99999999999999999999\n");
  r = RunCowtree("ingest --db " + db + " --value-type double --group g --value v " + csv, tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv --group c", tmp);
  EXPECT_EQ(r.out, "group,n,0.5\nc,1,1e+20\n");
}

// ---- (7) a group name over the tree-name limit: an error naming file and line, nothing
// committed, never an assertion ----

// A budget larger than the machine can address (--cache-mib up to 2^40 MiB is accepted): the
// batch's reservation fails, which is a usage error (exit 2) naming the option first, not an
// abort, and no store is created. (It exited 1 before: found by an adversarial run.)
TEST(CliIngestBudget, ABudgetPastTheAddressSpaceIsAnErrorNotACrash) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v\na,1\na,2\n");
  const std::string db = tmp.path() + "/db";
  const RunResult r = RunCowtree(
      "ingest --db " + db + " --group g --value v --cache-mib 1099511627776 " + csv, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cannot reserve"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cowtree: InvalidArgument: --cache-mib 1099511627776: "), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(db));
}

// --cache-mib 1 was accepted by ingest and then failed at open with an internal setting the
// user never typed (cache_bytes 524288: half goes to the batch); a negative value was called
// too large. Both are usage errors naming the option (found by an adversarial run).
TEST(CliIngestBudget, ABudgetTooSmallToSplitOrNegativeIsAUsageError) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v\na,1\na,2\n");
  const std::string db = tmp.path() + "/db";
  RunResult r = RunCowtree("ingest --db " + db + " --group g --value v --cache-mib 1 " + csv, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--cache-mib 1: ingest needs 0 (unlimited) or at least 2"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(db));
  r = RunCowtree("ingest --db " + db + " --group g --value v --cache-mib -1 " + csv, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--cache-mib"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("at most 2^40"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(db));
  r = RunCowtree("ingest --db " + db + " --group g --value v --cache-mib 2 " + csv, tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --cache-mib 1 --format csv", tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "group,n,0.5\na,2,1.5\n");
}

// Found by an adversarial run of the CLI's options: --emit-deltas naming the input truncated the
// input; --keep-last 0 with --name retained the checkpoint and deleted it in one command; a
// negative value of an unsigned option became 2^64 - 1 (bench --queries -1 never ended);
// backup --to DIR/ built "DIR/.partial" and failed.
TEST(CliOptions, MisusesThatWouldDestroyOrMisreadAreRefused) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v\na,1\na,2\n");
  const std::string db = tmp.path() + "/db";
  RunResult r = RunCowtree(
      "ingest --db " + db + " --group g --value v --emit-deltas " + csv + " " + csv, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
  std::ifstream in(csv);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "g,v\na,1\na,2\n");
  ASSERT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp).exit_code, 0);
  r = RunCowtree("checkpoint --db " + db + " --name x --keep-last 0", tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--keep-last 0 would delete the checkpoint --name x"), std::string::npos);
  r = RunCowtree("checkpoints --db " + db + " --format csv", tmp);
  EXPECT_EQ(r.out.find("x,"), std::string::npos) << r.out;  // nothing was retained
  for (const std::string args :
       {"checkpoints --db " + db + " --keep-last -1", "bench --queries -1 --input " + csv,
        "ingest --db " + db + " --group g --value v --checkpoint-log-bytes -1 " + csv}) {
    r = RunCowtree(args, tmp);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find("expected a whole number >= 0, found -1"), std::string::npos) << r.err;
  }
  // Strict durability syncs the deltas of a regular file; to /dev/null (or a FIFO) it cannot.
  r = RunCowtree("ingest --db " + tmp.path() + "/db3 --group g --value v --durability strict " +
                     "--emit-deltas /dev/null " + csv,
                 tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("backup --db " + db + " --to " + tmp.path() + "/bk/", tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/bk/SUPERBLOCK"));
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/bk.partial"));
}

TEST(CliCsv, OverlongGroupNameIsAnErrorNamingFileAndLine) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/long.csv";
  WriteFile(csv, "g,v\na,1\n" + std::string(1025, 'x') + ",2\n");
  RunResult r = RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("long.csv:3: column 'g' (field 1): a group name of 1025 bytes"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("1024"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("may or may not"), std::string::npos) << "a refused batch is not in doubt";
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  EXPECT_EQ(r.out, "group,n,0.5\n") << "nothing was committed";
  // Exactly 1024 bytes is fine.
  WriteFile(csv, "g,v\n" + std::string(1024, 'y') + ",2\n");
  EXPECT_EQ(RunCowtree("ingest --db " + db + " --group g --value v " + csv, tmp).exit_code, 0);
}

// ---- (16e) demo and bench remove their temporary store on every exit path ----

std::vector<std::string> TmpEntries(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CliTempStores, DemoAndBenchRemoveTheirTemporaryStoreOnFailure) {
  TempDir tmp;
  const std::string tmpdir = tmp.path() + "/tmpdir";
  std::filesystem::create_directory(tmpdir);
  // A file that fails mid-ingest (after the store was created and a batch committed).
  const std::string bad = tmp.path() + "/bad.csv";
  std::string text = "origin,delay\n";
  for (int i = 0; i < 20000; ++i) text += "ATL," + std::to_string(i % 50) + "\n";
  text += "ATL,notanumber\n";
  WriteFile(bad, text);
  const std::vector<std::string> before_demo = TmpEntries("/tmp", "cowtree-demo-");
  const std::vector<std::string> before_bench = TmpEntries("/tmp", "cowtree-bench-");
  for (const std::string& args :
       {"demo --input " + bad, "demo --input " + tmp.path() + "/missing.csv",
        "bench --input " + bad + " --reopens 1 --queries 10",
        "bench --input " + bad + " --group nosuchcolumn --reopens 1 --queries 10"}) {
    RunResult r = RunCowtree(args, tmp, "TMPDIR=" + tmpdir);
    EXPECT_EQ(r.exit_code, 1) << args << ": " << r.err;
    EXPECT_TRUE(TmpEntries(tmpdir, "cowtree-").empty()) << args << ": store left in $TMPDIR";
    const size_t at = r.out.find("store: ");
    if (at != std::string::npos) {
      const std::string store = r.out.substr(at + 7, r.out.find('\n', at) - at - 7);
      EXPECT_FALSE(std::filesystem::exists(store)) << args << ": " << store << " left behind";
    }
  }
  // Before the guard, stores were created under /tmp regardless of $TMPDIR and left there.
  EXPECT_EQ(TmpEntries("/tmp", "cowtree-demo-"), before_demo);
  EXPECT_EQ(TmpEntries("/tmp", "cowtree-bench-"), before_bench);
  // --keep keeps it (and says where).
  RunResult r = RunCowtree("demo --keep --input " + bad, tmp, "TMPDIR=" + tmpdir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(TmpEntries(tmpdir, "cowtree-demo-").size(), 1u);
}

// ---- child processes with pipes (16c, 16d, 9) ----

// `cowtree ARGS...` with stdin and stdout connected to pipes held by the test, stderr to a file.
struct Child {
  pid_t pid = -1;
  int in = -1;           // write end of the child's stdin (-1: stdin is /dev/null)
  int out = -1;          // read end of the child's stdout
  std::string buffered;  // stdout read so far

  static Child Start(const std::vector<std::string>& args, const std::string& err_path,
                     bool pipe_stdin) {
    int in_pipe[2] = {-1, -1}, out_pipe[2];
    if (pipe_stdin) {
      EXPECT_EQ(pipe(in_pipe), 0);
    }
    EXPECT_EQ(pipe(out_pipe), 0);
    Child c;
    c.pid = fork();
    if (c.pid == 0) {
      signal(SIGPIPE, SIG_DFL);  // what a shell gives a command
      if (pipe_stdin) {
        dup2(in_pipe[0], STDIN_FILENO);
        close(in_pipe[0]);
        close(in_pipe[1]);
      }
      dup2(out_pipe[1], STDOUT_FILENO);
      close(out_pipe[0]);
      close(out_pipe[1]);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, STDERR_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(COWTREE_BINARY));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(COWTREE_BINARY, argv.data());
      _exit(127);
    }
    if (pipe_stdin) {
      close(in_pipe[0]);
      c.in = in_pipe[1];
    }
    close(out_pipe[1]);
    c.out = out_pipe[0];
    return c;
  }

  void Write(const std::string& text) const {
    ASSERT_EQ(write(in, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void CloseStdin() {
    close(in);
    in = -1;
  }
  // Reads stdout until it holds `lines` complete lines or timeout_ms pass; returns the number
  // of complete lines read so far.
  size_t ReadLines(size_t lines, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (static_cast<size_t>(std::count(buffered.begin(), buffered.end(), '\n')) < lines) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{out, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out, buf, sizeof(buf));
      if (n <= 0) break;
      buffered.append(buf, static_cast<size_t>(n));
    }
    return static_cast<size_t>(std::count(buffered.begin(), buffered.end(), '\n'));
  }
  void CloseStdout() {
    close(out);
    out = -1;
  }
  // Waits for the exit; returns the exit code, or 128 + signal.
  int Wait() {
    if (in >= 0) CloseStdin();
    if (out >= 0) {
      ReadLines(SIZE_MAX, 60000);
      CloseStdout();
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

// "group,n" lines of `query --format csv` (N per group), for comparing whole stores.
std::string GroupCounts(const std::string& db, const TempDir& tmp) {
  RunResult r = RunCowtree("query --db " + db + " --percentile 0,0.5,1 --format csv", tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// ---- (16c) a slow pipe is committed by time, not only at 1 MiB / EOF ----

TEST(CliIngestPipe, BatchMsCommitsRowsOfASlowPipeBeforeEof) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  Child c = Child::Start({"ingest", "--db", db, "--group", "g", "--value", "v", "--log-commits",
                          "--batch-ms", "200", "-"},
                         tmp.path() + "/err", /*pipe_stdin=*/true);
  c.Write("g,v\na,1\na,2\nb,3\n");
  // The producer now waits: the rows must be committed within ~batch-ms, not at EOF.
  ASSERT_EQ(c.ReadLines(1, 10000), 1u)
      << "no commit before EOF; stderr: " << Slurp(tmp.path() + "/err");
  EXPECT_EQ(c.buffered, "committed 1 3\n");
  c.Write("a,4\n");
  ASSERT_EQ(c.ReadLines(2, 10000), 2u) << Slurp(tmp.path() + "/err");
  EXPECT_EQ(c.buffered, "committed 1 3\ncommitted 2 4\n");
  c.Write("b,5\n");
  EXPECT_EQ(c.Wait(), 0) << Slurp(tmp.path() + "/err");
  EXPECT_EQ(c.buffered, "committed 1 3\ncommitted 2 4\ncommitted 3 5\n");
  EXPECT_EQ(GroupCounts(db, tmp), "group,n,0,0.5,1\na,3,1,2,4\nb,2,3,4,5\n");

  // --batch-ms 0: only --batch-rows (and EOF) commit.
  Child d = Child::Start({"ingest", "--db", tmp.path() + "/db2", "--group", "g", "--value", "v",
                          "--log-commits", "--batch-ms", "0", "-"},
                         tmp.path() + "/err2", /*pipe_stdin=*/true);
  d.Write("g,v\na,1\n");
  EXPECT_EQ(d.ReadLines(1, 700), 0u);
  EXPECT_EQ(d.Wait(), 0);
  EXPECT_EQ(d.buffered, "committed 1 1\n");
}

// ---- (16d) a closed stdout is a clean error with its own exit code, not a silent SIGPIPE ----

TEST(CliIngestPipe, ClosedStdoutStopsIngestWithExitCode4AndReportsWhatWasCommitted) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  std::string text = "g,v\n";
  for (int i = 0; i < 20000; ++i)
    text += "g" + std::to_string(i % 3) + "," + std::to_string(i) + "\n";
  WriteFile(csv, text);
  // `cowtree ingest --log-commits ... | head -1`
  Child c = Child::Start({"ingest", "--db", db, "--group", "g", "--value", "v", "--log-commits",
                          "--batch-rows", "10", csv},
                         tmp.path() + "/err", /*pipe_stdin=*/false);
  ASSERT_GE(c.ReadLines(1, 10000), 1u);
  c.CloseStdout();
  const int code = c.Wait();
  const std::string err = Slurp(tmp.path() + "/err");
  ASSERT_EQ(code, 4) << "128+13 = killed by SIGPIPE; stderr: " << err;
  EXPECT_NE(err.find("cannot write the --log-commits line to stdout: Broken pipe"),
            std::string::npos)
      << err;
  // "stopped after committing N rows in C commits (last epoch E)": exactly what the store has.
  const size_t at = err.find("stopped after committing ");
  ASSERT_NE(at, std::string::npos) << err;
  const uint64_t rows = std::stoull(err.substr(at + 25));
  EXPECT_GT(rows, 0u);
  EXPECT_LT(rows, 20000u);
  EXPECT_NE(err.find("re-run with --resume to continue after data row " + std::to_string(rows)),
            std::string::npos)
      << err;
  RunResult r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  uint64_t total = 0;
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) total += std::stoull(line.substr(line.find(',') + 1));
  EXPECT_EQ(total, rows) << r.out;
  // The rest follows with --resume: the store then equals one clean ingest.
  r = RunCowtree("ingest --resume --db " + db + " --group g --value v " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string clean = tmp.path() + "/clean";
  ASSERT_EQ(RunCowtree("ingest --db " + clean + " --group g --value v " + csv, tmp).exit_code, 0);
  EXPECT_EQ(GroupCounts(db, tmp), GroupCounts(clean, tmp));

  // Other commands: a write error on stdout is an error too.
  const std::string cmd = std::string(COWTREE_BINARY) + " query --db " + db +
                          " --percentile 0.5 >/dev/full 2>" + tmp.path() + "/full.err";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(Slurp(tmp.path() + "/full.err").find("cannot write to stdout: No space left on device"),
            std::string::npos)
      << Slurp(tmp.path() + "/full.err");
}

// ---- (9) every failure says what was committed; --resume continues without duplicates ----

std::string WriteResumeCsv(const std::string& path, int rows) {
  std::string text = "grp,val\n";
  for (int i = 0; i < rows; ++i) {
    text += "g" + std::to_string(i % 7) + "," + std::to_string(i * 7 % 1000) + "\n";
  }
  WriteFile(path, text);
  return text;
}

// Writes WriteResumeCsv(csv, rows), ingests it into a fresh store in one clean run and returns
// that store's GroupCounts ("" if the ingest failed).
std::string CleanIngestOfResumeCsv(const std::string& csv, int rows, const TempDir& tmp) {
  WriteResumeCsv(csv, rows);
  const std::string clean = tmp.path() + "/clean";
  const RunResult r = RunCowtree("ingest --db " + clean + " --group grp --value val " + csv, tmp);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? GroupCounts(clean, tmp) : std::string();
}

TEST(CliIngestResume, SigkilledIngestResumedEqualsOneCleanIngest) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  const std::string want = CleanIngestOfResumeCsv(csv, 60000, tmp);
  ASSERT_FALSE(want.empty());

  const std::string db = tmp.path() + "/db";
  // Strict, 100-row batches; SIGKILL after 5 acknowledged commits.
  Child c = Child::Start({"ingest", "--db", db, "--group", "grp", "--value", "val", "--durability",
                          "strict", "--batch-rows", "100", "--log-commits", csv},
                         tmp.path() + "/err", /*pipe_stdin=*/false);
  ASSERT_GE(c.ReadLines(5, 20000), 5u);
  kill(c.pid, SIGKILL);
  const int code = c.Wait();
  ASSERT_EQ(code, 128 + SIGKILL) << "the ingest finished before the kill";
  const std::string killed_counts = GroupCounts(db, tmp);
  EXPECT_NE(killed_counts, want) << "the kill must leave a partial ingest";

  // Re-running without --resume would duplicate; --resume continues after the last commit.
  RunResult r = RunCowtree("ingest --resume --db " + db + " --group grp --value val " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped "), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), want);
  // Again: a no-op.
  r = RunCowtree("ingest --resume --db " + db + " --group grp --value val " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("ingested 0 rows"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), want);
  // The marker is internal: not a group in query or stat.
  EXPECT_EQ(GroupCounts(db, tmp).find("__cowtree"), std::string::npos);
  r = RunCowtree("stat --db " + db, tmp);
  EXPECT_NE(r.out.find("trees:              7\n"), std::string::npos) << r.out;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --group __cowtree_ingest__", tmp);
  EXPECT_EQ(r.exit_code, 1);
}

// stat counts groups as query shows them: the NULL group is one (it was counted as an internal
// tree, and the NULL-value count tree's entries were called resume markers: found by an
// adversarial run).
TEST(CliStat, TheNullGroupIsAGroupAndTheValueCountsAreInternal) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "g,v\na,1\n,2\n,3\nb,\nc,-0\n");
  const std::string db = tmp.path() + "/db";
  RunResult r =
      RunCowtree("ingest --db " + db + " --group g --value v --value-type double " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCowtree("query --db " + db + " --percentile 0.5 --format csv", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "group,n,0.5\na,1,1\nb,0,\nc,1,-0\n,2,2.5\n");  // four groups
  r = RunCowtree("stat --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("trees:              4\nentries:            4\n"), std::string::npos)
      << r.out;
  // A resume marker (no --resume, but a file input writes it), the NULL count (b) and the -0
  // count (c): 3 internal trees.
  EXPECT_NE(r.out.find("internal trees:     3 ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("entries: ingest resume markers, NULL and -0 value counts)"),
            std::string::npos)
      << r.out;
}

// Sum of n over the groups of `db` (the rows with a value it holds).
uint64_t RowsInStore(const std::string& db, const TempDir& tmp) {
  std::istringstream lines(GroupCounts(db, tmp));
  std::string line;
  std::getline(lines, line);  // header
  uint64_t total = 0;
  while (std::getline(lines, line)) total += std::stoull(line.substr(line.find(',') + 1));
  return total;
}

// A batch of many commits (tools/ingest.h "Batches and commits"): a SIGKILL while its commits
// run leaves the store with the batch's first ops in key order; --resume (with the default
// batch size, unlike the killed run) completes it, and the store equals one clean ingest.
TEST(CliIngestResume, SigkilledInsideABatchOfManyCommitsResumedEqualsOneCleanIngest) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  const std::string want = CleanIngestOfResumeCsv(csv, 60000, tmp);
  ASSERT_FALSE(want.empty());

  const std::string db = tmp.path() + "/db";
  // Strict: each commit is an fdatasync, so a 20 000-row batch of 5-op commits takes 4 000 of
  // them (~0.6 s here). The first --log-commits line comes after the first whole batch; the
  // kill comes 50 ms later, while the second one's commits run.
  Child c =
      Child::Start({"ingest", "--db", db, "--group", "grp", "--value", "val", "--durability",
                    "strict", "--batch-rows", "20000", "--commit-ops", "5", "--log-commits", csv},
                   tmp.path() + "/err", /*pipe_stdin=*/false);
  ASSERT_GE(c.ReadLines(1, 60000), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(c.pid, SIGKILL);
  ASSERT_EQ(c.Wait(), 128 + SIGKILL) << "the ingest finished before the kill";
  const uint64_t killed_rows = RowsInStore(db, tmp);
  // Inside the second batch: more than its first commit, less than all of it.
  EXPECT_GT(killed_rows, 20000u);
  EXPECT_LT(killed_rows, 40000u);

  RunResult r = RunCowtree("ingest --resume --db " + db + " --group grp --value val " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), want);
  EXPECT_EQ(RowsInStore(db, tmp), 60000u);
}

// The same through --spill-dir (docs/ingest_batches.md "Spilled batches"): 200 000 rows under
// --cache-mib 2 are one batch spilled as sorted runs; a SIGKILL while the merged runs are
// committed leaves part of the batch; --resume --spill-dir, under another budget and with
// another --commit-ops, completes it, and the store equals one clean ingest.
TEST(CliIngestResume, SigkilledInsideASpilledBatchResumedEqualsOneCleanIngest) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  constexpr uint64_t kRows = 200000;
  const std::string want = CleanIngestOfResumeCsv(csv, static_cast<int>(kRows), tmp);
  ASSERT_FALSE(want.empty());
  const std::string spill = tmp.path() + "/spill";
  std::string db;
  // The kill must fall while the commits run (after the runs are written): tried later and
  // later until it does.
  for (int ms = 300; ms <= 6000 && db.empty(); ms += 300) {
    const std::string attempt = tmp.path() + "/db" + std::to_string(ms);
    Child c = Child::Start(
        {"ingest", "--db", attempt, "--group", "grp", "--value", "val", "--durability", "strict",
         "--cache-mib", "2", "--commit-ops", "20", "--spill-dir", spill, csv},
        tmp.path() + "/err", /*pipe_stdin=*/false);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    kill(c.pid, SIGKILL);
    if (c.Wait() != 128 + SIGKILL) break;  // finished: later attempts would too
    const uint64_t rows =
        std::filesystem::exists(attempt + "/SUPERBLOCK") ? RowsInStore(attempt, tmp) : 0;
    if (rows > 0 && rows < kRows) db = attempt;
  }
  ASSERT_FALSE(db.empty()) << "no kill fell inside the spilled batch's commits";
  RunResult r = RunCowtree("ingest --resume --db " + db +
                               " --group grp --value val --cache-mib 4 --commit-ops 7 "
                               "--spill-dir " +
                               spill + " " + csv,
                           tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The resumed batch (every row up to the input's end) was spilled again, as the killed one.
  EXPECT_NE(r.err.find(" sorted runs spilled to " + spill + " and merged"), std::string::npos)
      << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), want);
  EXPECT_EQ(RowsInStore(db, tmp), kRows);
  EXPECT_TRUE(std::filesystem::is_empty(spill)) << "runs left in " << spill;
}

TEST(CliIngestResume, BadRowReportsWhatWasCommittedAndResumeAfterTheFixContinues) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  WriteFile(csv, "grp,val\na,1\na,2\nb,3\nb,x\nb,5\n");
  RunResult r =
      RunCowtree("ingest --db " + db + " --group grp --value val --batch-rows 2 " + csv, tmp);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("in.csv:5: column 'val' (field 2): expected an integer, found 'x'; "
                       "committed by this run: 2 rows in 1 commits (last epoch "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("re-run with --resume to continue after data row 2 without duplicating"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // The user fixes the row (the file keeps its path; its first 64 KiB changed, so the content
  // identity differs: an explicit --input-id ties the runs together).
  r = RunCowtree("ingest --input-id flights-day1 --db " + tmp.path() +
                     "/db2 --group grp --value val --batch-rows 2 " + csv,
                 tmp);
  EXPECT_EQ(r.exit_code, 1);
  WriteFile(csv, "grp,val\na,1\na,2\nb,3\nb,4\nb,5\n");
  r = RunCowtree("ingest --resume --input-id flights-day1 --db " + tmp.path() +
                     "/db2 --group grp --value val --batch-rows 2 " + csv,
                 tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 2 data rows"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(tmp.path() + "/db2", tmp), "group,n,0,0.5,1\na,2,1,1.5,2\nb,3,3,4,5\n");
}

// Expects the store `db` to answer as one clean ingest (grp/val columns) of `csv` does.
void ExpectEqualsCleanIngest(const std::string& db, const std::string& csv, const TempDir& tmp) {
  const std::string clean = tmp.path() + "/clean";
  ASSERT_EQ(RunCowtree("ingest --db " + clean + " --group grp --value val " + csv, tmp).exit_code,
            0);
  EXPECT_EQ(GroupCounts(db, tmp), GroupCounts(clean, tmp));
}

// A file that only grew is the same input, whatever its size (tools/ingest.h "Input identity"):
// before, a file under 64 KiB was keyed by the hash of all of it, so appending to it lost the
// marker and --resume ingested every row again (found by an adversarial run).
TEST(CliIngestResume, RowsAppendedToASmallFileAreResumedNotDuplicated) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/app.csv";
  const std::string ingest = "ingest --resume --db " + db + " --group g --value v " + csv;
  WriteFile(csv, "g,v\na,1\na,2\na,3\n");
  ASSERT_EQ(RunCowtree(ingest, tmp).exit_code, 0);
  std::ofstream(csv, std::ios::app) << "a,100\n";
  RunResult r = RunCowtree(ingest, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 3 data rows"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), "group,n,0,0.5,1\na,4,1,2.5,100\n");
  // Across 64 KiB: 3 000 rows (under it), then 1 000 more (past it).
  const std::string big = tmp.path() + "/grow.csv";
  std::string text = WriteResumeCsv(big, 4000);
  size_t cut = 0;
  for (int lines = 0; lines < 1 + 3000; ++lines) cut = text.find('\n', cut) + 1;
  ASSERT_LT(cut, size_t{64} << 10);
  WriteFile(big, text.substr(0, cut));
  const std::string db2 = tmp.path() + "/db2";
  ASSERT_EQ(
      RunCowtree("ingest --resume --db " + db2 + " --group grp --value val " + big, tmp).exit_code,
      0);
  WriteFile(big, text);
  r = RunCowtree("ingest --resume --db " + db2 + " --group grp --value val " + big, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 3000 data rows"), std::string::npos) << r.err;
  ExpectEqualsCleanIngest(db2, big, tmp);
}

// The error of a bad row says "re-run with --resume to continue after data row R without
// duplicating": fixing that row (after the committed ones) keeps the input the same, because the
// content check covers only the committed rows' bytes. Before, it covered the first 64 KiB, so
// the fix made --resume start again at row 1 and duplicate the committed rows (found by an
// adversarial run).
TEST(CliIngestResume, FixingTheReportedBadRowThenResumingDoesNotDuplicate) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  std::string text = "grp,val\n";
  for (int i = 0; i < 3000; ++i)
    text += "g" + std::to_string(i % 5) + "," + std::to_string(i) + "\n";
  std::string bad = text;
  bad.replace(bad.find("\ng3,2003\n") + 1, 7, "g3,2x03");
  WriteFile(csv, bad);
  const std::string ingest =
      "ingest --resume --batch-rows 500 --db " + db + " --group grp --value val " + csv;
  RunResult r = RunCowtree(ingest, tmp);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("continue after data row 2000 without duplicating"), std::string::npos)
      << r.err;
  WriteFile(csv, text);  // the row fixed
  r = RunCowtree(ingest, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 2000 data rows"), std::string::npos) << r.err;
  ExpectEqualsCleanIngest(db, csv, tmp);
}

// Another file under the same path (here: same size, other rows) is another input: --resume
// starts it at row 1 instead of skipping the first file's rows, and then resumes it.
TEST(CliIngestResume, AnotherFileUnderTheSamePathStartsAtRowOne) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  const std::string ingest = "ingest --resume --db " + db + " --group g --value v " + csv;
  WriteFile(csv, "g,v\na,1\na,2\n");
  ASSERT_EQ(RunCowtree(ingest, tmp).exit_code, 0);
  WriteFile(csv, "g,v\nb,7\nb,8\n");
  RunResult r = RunCowtree(ingest, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("--resume skipped"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), "group,n,0,0.5,1\na,2,1,1.5,2\nb,2,7,7.5,8\n");
  // The path's marker is now the second file's: appending to it resumes.
  std::ofstream(csv, std::ios::app) << "b,9\n";
  r = RunCowtree(ingest, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 2 data rows"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), "group,n,0,0.5,1\na,2,1,1.5,2\nb,3,7,8,9\n");
}

// A store written before December 2026 keyed a file's marker by its path and the hash of its
// first 64 KiB: --resume still finds that entry (and keeps updating it).
TEST(CliIngestResume, AMarkerOfTheOlderKeyIsStillResumed) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  const std::string csv = tmp.path() + "/in.csv";
  const std::string text = WriteResumeCsv(csv, 500);
  // The first 200 rows, committed under an --input-id marker, which is then moved to the key an
  // older build would have written for `csv`.
  size_t cut = 0;
  for (int lines = 0; lines < 1 + 200; ++lines) cut = text.find('\n', cut) + 1;
  const std::string part = tmp.path() + "/part.csv";
  WriteFile(part, text.substr(0, cut));
  ASSERT_EQ(RunCowtree("ingest --input-id x --db " + db + " --group grp --value val " + part, tmp)
                .exit_code,
            0);
  const std::string path = std::filesystem::absolute(csv).lexically_normal().string();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(cowtree::Fnv1a64(text.substr(0, 64 << 10))));
  const auto legacy_key = static_cast<int64_t>(cowtree::Fnv1a64("file:" + path + ":" + hex));
  const auto path_key = static_cast<int64_t>(cowtree::Fnv1a64("file:" + path));
  {
    auto store = cowtree::Store::Open(db, cowtree::Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto marker = (*store)->Tree<int64_t>(std::string(cowtree::kIngestMarkerTree));
    ASSERT_TRUE(marker.ok());
    cowtree::WriteBatch batch = (*store)->NewBatch();
    batch.Add(*marker, static_cast<int64_t>(cowtree::Fnv1a64("id:x")), -200);
    batch.Add(*marker, legacy_key, 200);
    ASSERT_TRUE((*store)->Commit(batch).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  RunResult r = RunCowtree("ingest --resume --db " + db + " --group grp --value val " + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 200 data rows"), std::string::npos) << r.err;
  ExpectEqualsCleanIngest(db, csv, tmp);
  auto store = cowtree::Store::Open(db, cowtree::Options());
  ASSERT_TRUE(store.ok());
  auto reader = (*store)->GetSnapshot().Tree<int64_t>(std::string(cowtree::kIngestMarkerTree));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*reader->weight(legacy_key), 500);
  EXPECT_EQ(*reader->weight(path_key), 0);
}

TEST(CliIngestResume, StdinNeedsAnInputIdAndResumesFromTheSameStream) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  const std::string text = WriteResumeCsv(csv, 5000);
  const std::string clean = tmp.path() + "/clean";
  ASSERT_EQ(RunCowtree("ingest --db " + clean + " --group grp --value val " + csv, tmp).exit_code,
            0);
  const std::string db = tmp.path() + "/db";
  RunResult r =
      RunCowtree("ingest --resume --db " + db + " --group grp --value val - <" + csv, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--input-id"), std::string::npos) << r.err;
  // A first run that got only part of the stream (its producer died after 1234 rows)...
  const std::string part = tmp.path() + "/part.csv";
  size_t cut = 0;
  for (int lines = 0; lines < 1 + 1234; ++lines) cut = text.find('\n', cut) + 1;
  WriteFile(part, text.substr(0, cut));
  r = RunCowtree("ingest --input-id feed-42 --batch-rows 100 --db " + db +
                     " --group grp --value val - <" + part,
                 tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // ... and the whole stream again with --resume.
  r = RunCowtree(
      "ingest --resume --input-id feed-42 --db " + db + " --group grp --value val - <" + csv, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--resume skipped 1234 data rows"), std::string::npos) << r.err;
  EXPECT_EQ(GroupCounts(db, tmp), GroupCounts(clean, tmp));
}

// The closing checkpoint fails (ENOSPC after the last commit, through the fault-injecting
// Env): exit 3, a message that says the rows ARE committed and durable, and the store holds
// every row after reopen; --resume is then a no-op instead of a duplicate.
// An in-process ingest of a WriteResumeCsv file into "/db" of `env`, without background threads.
cowtree::tools::IngestOptions InProcessIngestOptions(const std::string& csv, cowtree::Env* env) {
  cowtree::tools::IngestOptions o;
  o.db = "/db";
  o.input = csv;
  o.group_column = "grp";
  o.value_column = "val";
  o.store.env = env;
  o.store.background_thread = false;
  return o;
}

// A commit that fails inside a batch of several commits holds the next commit_ops ops of the
// batch in key order, not the batch's rows: the message says so (it used to call all of the
// batch's rows "the failing commit": found by an adversarial run). The first mutating
// operation that, failing for good, stops the ingest inside such a batch is found by trying
// each in turn.
TEST(CliIngestResume, AFailedCommitInsideABatchNamesItsOpsNotTheBatchsRows) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteResumeCsv(csv, 3000);
  bool found = false;
  for (uint64_t k = 1; k < 400 && !found; ++k) {
    cowtree::testutil::FaultInjectionEnv env;
    ASSERT_TRUE(env.CreateDir("/db").ok());
    ASSERT_TRUE(env.SyncDir("/").ok());
    cowtree::tools::IngestOptions o = InProcessIngestOptions(csv, &env);
    o.batch_rows = 3000;
    o.commit_ops = 500;  // 6 commits in the one batch
    o.durability = cowtree::Durability::kStrict;
    env.FailOp(env.mutating_op_count() + k, cowtree::testutil::FailMode::kPersistent, EIO,
               cowtree::testutil::OpScope::kMutatingOp);
    std::ostringstream out;
    const cowtree::tools::IngestOutcome outcome = cowtree::tools::RunIngestReport(o, out);
    if (outcome.end != cowtree::tools::IngestEnd::kError || !outcome.batch_in_doubt ||
        outcome.stats.unfinished_batch_ops == 0) {
      continue;
    }
    found = true;
    const std::string msg = cowtree::tools::DescribeIngestOutcome(o, outcome);
    EXPECT_NE(msg.find("the failing commit of the next 500 ops in key order of that batch may "
                       "or may not be durable"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("more rows may or may not be durable"), std::string::npos) << msg;
  }
  EXPECT_TRUE(found) << "no failing operation stopped the ingest inside the batch";
}

TEST(CliIngestResume, CloseFailureAfterAllCommitsIsExit3AndLosesNothing) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteResumeCsv(csv, 3000);
  cowtree::testutil::FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir("/db").ok());
  ASSERT_TRUE(env.SyncDir("/").ok());
  cowtree::tools::IngestOptions o = InProcessIngestOptions(csv, &env);
  o.batch_rows = 500;
  o.durability = cowtree::Durability::kEventual;  // the log sync before close makes it durable
  o.before_close_for_test = [&] { env.SetNoSpace(true); };
  std::ostringstream out;
  const cowtree::tools::IngestOutcome outcome = cowtree::tools::RunIngestReport(o, out);
  ASSERT_EQ(outcome.end, cowtree::tools::IngestEnd::kCloseFailed) << outcome.status.ToString();
  EXPECT_TRUE(outcome.status.IsNoSpace()) << outcome.status.ToString();
  EXPECT_EQ(cowtree::tools::IngestExitCode(outcome), 3);
  EXPECT_EQ(outcome.stats.rows, 3000u);
  EXPECT_EQ(outcome.stats.commits, 6u);
  const std::string msg = cowtree::tools::DescribeIngestOutcome(o, outcome);
  EXPECT_NE(msg.find("but all 3000 rows are committed (3000 rows in 6 commits (last epoch " +
                     std::to_string(outcome.stats.last_epoch) + ")) and durable"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("do not re-run without --resume"), std::string::npos) << msg;
  EXPECT_NE(msg.find("; the store's file system is full: what was committed is intact"),
            std::string::npos)
      << msg;

  // A power loss now (unsynced data dropped) still keeps all rows.
  env.SetNoSpace(false);
  env.SimulateCrash(cowtree::testutil::CrashModel::kDropUnsynced, 1);
  auto count_rows = [&]() -> int64_t {
    cowtree::RuntimeOptions ro;
    ro.env = &env;
    ro.background_thread = false;
    auto rt = cowtree::recovery::Open("/db", ro);
    EXPECT_TRUE(rt.ok()) << rt.status().ToString();
    if (!rt.ok()) return -1;
    cowtree::RuntimeSnapshot snap = (*rt)->GetSnapshot();
    int64_t total = 0;
    for (const cowtree::TreeInfo& t : (*rt)->ListTrees(snap)) {
      if (cowtree::IsInternalTreeName(t.name)) continue;
      total += static_cast<int64_t>(cowtree::tree::PositiveCount(
          *cowtree::tree::AsOrderStatTree((*rt)->FindTree(t.name, snap)->tree.get())
               ->VersionAt(snap.epoch())));
    }
    EXPECT_TRUE((*rt)->Close().ok());
    return total;
  };
  EXPECT_EQ(count_rows(), 3000);
  // Retrying with --resume adds nothing.
  o.resume = true;
  o.before_close_for_test = nullptr;
  const cowtree::tools::IngestOutcome again = cowtree::tools::RunIngestReport(o, out);
  ASSERT_EQ(again.end, cowtree::tools::IngestEnd::kOk) << again.status.ToString();
  EXPECT_EQ(again.stats.rows_skipped, 3000u);
  EXPECT_EQ(again.stats.rows, 0u);
  EXPECT_EQ(count_rows(), 3000);
}

// A full file system (ENOSPC from the first write) is an error that says what is safe and what
// to do: nothing committed was lost, free space, the read-only commands still work.
TEST(CliFullFileSystem, IngestSaysWhatIsSafeAndWhatToDo) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/in.csv";
  WriteResumeCsv(csv, 1000);
  cowtree::testutil::FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir("/db").ok());
  ASSERT_TRUE(env.SyncDir("/").ok());
  cowtree::tools::IngestOptions o = InProcessIngestOptions(csv, &env);
  env.SetNoSpace(true);
  std::ostringstream out;
  const cowtree::tools::IngestOutcome full = cowtree::tools::RunIngestReport(o, out);
  ASSERT_EQ(full.end, cowtree::tools::IngestEnd::kError);
  EXPECT_TRUE(full.status.IsNoSpace()) << full.status.ToString();
  EXPECT_EQ(cowtree::tools::IngestExitCode(full), 1);
  const std::string msg = cowtree::tools::DescribeIngestOutcome(o, full);
  EXPECT_NE(msg.find("committed by this run: 0 rows in 0 commits; the store's file system is "
                     "full: what was committed is intact (fsck checks it); free space there and "
                     "re-run. query, stat, fsck, dump and backup only read the store and still "
                     "work"),
            std::string::npos)
      << msg;
  // A runtime poisoned by ENOSPC wraps it: the same advice (an adversarial run saw it missing).
  cowtree::tools::IngestOutcome poisoned = full;
  poisoned.status = cowtree::Status::Poisoned(
      "log writer poisoned (no write or fdatasync is retried; replay the log and reopen): "
      "NoSpace: pwrite /db/log-000001.log at offset 4096: No space left on device");
  EXPECT_NE(cowtree::tools::DescribeIngestOutcome(o, poisoned)
                .find("; the store's file system is full: what was committed is intact"),
            std::string::npos);
  // A full file system under a backup's partial copy is the backup's, not the store's.
  EXPECT_NE(cowtree::tools::NoSpaceAdvice(
                cowtree::Status::NoSpace("fallocate /mnt/full/bk.partial/data-1k.dat: No "
                                         "space left on device"))
                .find("; the backup's file system is full: the store is untouched"),
            std::string::npos);
  // ... and under `ingest --spill-dir`, a run's file system.
  EXPECT_NE(cowtree::tools::NoSpaceAdvice(
                cowtree::Status::NoSpace("pwrite /mnt/spill/cowtree-loader-3.run: No space "
                                         "left on device"))
                .find("; the --spill-dir file system is full: the store is intact"),
            std::string::npos);
  // Another error gets no such advice.
  cowtree::tools::IngestOutcome other = full;
  other.status = cowtree::Status::IOError("pwrite: Input/output error");
  EXPECT_EQ(cowtree::tools::DescribeIngestOutcome(o, other).find("file system is full"),
            std::string::npos);
  env.SetNoSpace(false);
  const cowtree::tools::IngestOutcome again = cowtree::tools::RunIngestReport(o, out);
  ASSERT_EQ(again.end, cowtree::tools::IngestEnd::kOk) << again.status.ToString();
  EXPECT_EQ(again.stats.rows, 1000u);
}

}  // namespace
