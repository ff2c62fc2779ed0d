// `cowtree ingest --spill-dir` (tools/ingest.h "Spilled batches", docs/ingest_batches.md
// "Spilled batches"): a batch whose memory is full is written as a sorted run, and the batch is
// committed at its end from the runs merged with what is in memory. Checked here, in process
// through the fault-injecting Env, on inputs of mixed groups, weights, NULL and -0 values, with
// a tiny batch memory (the test seam batch_bytes_for_test) so that a few hundred rows spill
// many runs and merge them in tiers:
// - the store equals the one an ingest without spilling makes, with the number of runs,
//   commits and marker entries the contract states, and no run left behind;
// - a crash at every mutating operation (the runs' writes included), then --resume with
//   --spill-dir: the store equals the clean one (no op lost, none applied twice), and the
//   sweep reaches crashes between the commits of a spilled batch;
// - a resume of such a batch without --spill-dir is refused and changes nothing;
// - a spill directory in the store's directory (or the directory itself) is refused before any
//   commit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/ingest_batches_fixture.h"
#include "tools/ingest.h"

namespace cowtree::tools {
namespace {

using testutil::FaultInjectionEnv;
using namespace ingest_test;  // NOLINT(build/namespaces): the fixture and its helpers

constexpr uint64_t kSpillBatchBytes = 4096;  // ~170 to 500 ops per run

class IngestSpillTest : public IngestBatchesTest {
 protected:
  // Batched() spilling to /c/spill, whole input one batch, commit_ops per commit.
  IngestOptions Spilled(FaultInjectionEnv* env, int commit_ops) const {
    IngestOptions o = Batched(env, 0, commit_ops);
    o.spill_dir = "/c/spill";
    o.batch_bytes_for_test = kSpillBatchBytes;
    return o;
  }
  // Writes MakeCsv(rows) as the input (one batch's ops in *ops, if not null) and returns the
  // store an ingest of it without spilling makes.
  std::string WriteInput(int rows, std::vector<int>* ops = nullptr) {
    std::vector<int> ops_per_batch;
    Write(MakeCsv(rows, rows, &ops_per_batch));
    if (ops != nullptr) *ops = ops_per_batch;
    return CleanStoreWithoutSpilling();
  }
  // The store an ingest of the current input without spilling makes.
  std::string CleanStoreWithoutSpilling() {
    FaultInjectionEnv env;
    IngestOptions o = Batched(&env, 100000, 1000);
    const IngestOutcome done = RunIngestReport(o, out_);
    EXPECT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
    return DumpTrees(&env, "/c/db");
  }
};

TEST_F(IngestSpillTest, ASpilledBatchMakesTheSameStoreAsOneInMemory) {
  constexpr int kRows = 3000, kCommitOps = 50;
  std::vector<int> ops_per_batch;
  const std::string want = WriteInput(kRows, &ops_per_batch);
  FaultInjectionEnv env;
  IngestOptions o = Spilled(&env, kCommitOps);
  o.log_commits = true;
  std::ostringstream log;
  const IngestOutcome done = RunIngestReport(o, log);
  ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  EXPECT_EQ(DumpTrees(&env, "/c/db"), want);
  EXPECT_GE(done.stats.spilled_runs, 5u);  // and, with a fan-in of 2, merges of runs
  EXPECT_EQ(done.stats.rows, static_cast<uint64_t>(kRows));
  // One batch: one --log-commits line; commits of at least kCommitOps ops (before summing)
  // each, so at most ops / kCommitOps + 1 of them.
  EXPECT_EQ(log.str().find('\n'), log.str().size() - 1) << log.str();
  EXPECT_GE(done.stats.commits, 5u);
  EXPECT_LE(done.stats.commits, static_cast<uint64_t>(ops_per_batch[0] / kCommitOps + 1));
  EXPECT_EQ(MarkerEntries(&env, "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
  std::vector<std::string> left;
  ASSERT_TRUE(env.ListDir("/c/spill", &left).ok());
  EXPECT_TRUE(left.empty()) << left.size() << " files left in the spill directory";
  // --batch-rows ends a spilled batch too: three batches here, each spilling.
  FaultInjectionEnv env2;
  IngestOptions by_rows = Spilled(&env2, kCommitOps);
  by_rows.batch_rows = 1000;
  by_rows.log_commits = true;
  std::ostringstream log2;
  const IngestOutcome three = RunIngestReport(by_rows, log2);
  ASSERT_EQ(three.end, IngestEnd::kOk) << three.status.ToString();
  std::istringstream lines(log2.str());
  std::string line;
  std::vector<uint64_t> rows_logged;
  while (std::getline(lines, line))
    rows_logged.push_back(std::stoull(line.substr(line.rfind(' '))));
  EXPECT_EQ(rows_logged, (std::vector<uint64_t>{1000, 2000, 3000}));
  EXPECT_EQ(DumpTrees(&env2, "/c/db"), want);
  EXPECT_GE(three.stats.spilled_runs, 5u);
}

TEST_F(IngestSpillTest, CrashAtEveryOperationOfASpilledBatchThenResumeAppliesEachOpOnce) {
  constexpr int kRows = 600, kCommitOps = 40;
  const std::string want = WriteInput(kRows);
  FaultInjectionEnv clean_env;
  IngestOptions clean = Spilled(&clean_env, kCommitOps);
  const uint64_t ops_before = clean_env.mutating_op_count();
  const IngestOutcome done = RunIngestReport(clean, out_);
  ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  ASSERT_EQ(DumpTrees(&clean_env, "/c/db"), want);
  ASSERT_GE(done.stats.spilled_runs, 2u);
  const uint64_t ingest_ops = clean_env.mutating_op_count() - ops_before;
  int inside_a_batch = 0;
  for (uint64_t k = 1; k <= ingest_ops; ++k) {
    SCOPED_TRACE("crash at mutating op " + std::to_string(k));
    FaultInjectionEnv env;
    IngestOptions o = Spilled(&env, kCommitOps);
    RunCrashingAt(&env, o, k);
    const std::vector<int64_t> entries = MarkerEntries(&env, "/c/db", "feed");
    if (entries.size() == 3 && entries[1] != 0) {
      ++inside_a_batch;
      EXPECT_EQ(entries[1], kRows);
      EXPECT_GT(entries[2], 0);
    }
    o.resume = true;
    const IngestOutcome resumed = RunIngestReport(o, out_);
    ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
    ASSERT_EQ(DumpTrees(&env, "/c/db"), want);
    EXPECT_EQ(MarkerEntries(&env, "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
  }
  EXPECT_GT(inside_a_batch, 5);
}

TEST_F(IngestSpillTest, ResumeOfASpilledBatchWithoutTheSpillDirectoryIsRefused) {
  constexpr int kRows = 600, kCommitOps = 40;
  const std::string want = WriteInput(kRows);
  std::unique_ptr<FaultInjectionEnv> env;
  IngestOptions o;
  for (uint64_t k = 40; k < 4000 && env == nullptr; k += 7) {
    auto candidate = std::make_unique<FaultInjectionEnv>();
    o = Spilled(candidate.get(), kCommitOps);
    RunCrashingAt(candidate.get(), o, k);
    const std::vector<int64_t> entries = MarkerEntries(candidate.get(), "/c/db", "feed");
    if (entries.size() == 3 && entries[1] != 0) env = std::move(candidate);
  }
  ASSERT_NE(env, nullptr) << "no crash point inside the spilled batch";
  IngestOptions in_memory = o;
  in_memory.spill_dir.clear();
  in_memory.resume = true;
  ExpectRefusedChangingNothing(env.get(), in_memory, "--spill-dir");
  o.resume = true;
  const IngestOutcome resumed = RunIngestReport(o, out_);
  ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
  EXPECT_EQ(DumpTrees(env.get(), "/c/db"), want);
}

// Zero rows (held in row order for the -0 count) never leave the ops a handful of bytes: a run
// holds at least a quarter of the batch's memory of ops, also in a batch of --batch-rows and in
// a resumed unfinished batch, which the zero rows cannot end early (found by an adversarial
// run: one run per row, 102 772 runs for 20 000 rows).
TEST_F(IngestSpillTest, ZeroRowsNeverMakeTinyRuns) {
  std::string csv = "grp,val,w\n";
  for (int i = 0; i < 2000; ++i) csv += i % 3 == 0 ? "d,-0.0,1\n" : "d,0.0,1\n";
  for (int i = 0; i < 2000; ++i) csv += "d," + std::to_string(i) + ".5,1\n";
  Write(csv);
  const std::string want = CleanStoreWithoutSpilling();
  FaultInjectionEnv env;
  IngestOptions o = Spilled(&env, 40);
  o.batch_rows = 4000;
  const IngestOutcome done = RunIngestReport(o, out_);
  ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  EXPECT_EQ(DumpTrees(&env, "/c/db"), want);
  // 1 KiB of ops per run at least: more than 40 ops of at most 24 B.
  EXPECT_GE(done.stats.spilled_runs, 2u);
  EXPECT_LE(done.stats.spilled_runs, 2000u / 40);
}

// The spill directory's runs left by a killed ingest are deleted by name at start: an input
// named like one, lying there, is refused instead (found by an adversarial run: it was
// deleted).
TEST_F(IngestSpillTest, AnInputNamedLikeARunInTheSpillDirectoryIsRefusedNotDeleted) {
  const std::string spill = tmp_.path() + "/spill";
  std::filesystem::create_directories(spill);
  const std::string input = spill + "/cowtree-loader-1.run";
  std::ofstream(input) << "grp,val,w\ng0,1,1\n";
  IngestOptions o = Base(Env::Default(), tmp_.path() + "/db");
  o.input = input;
  o.spill_dir = spill;
  const IngestOutcome refused = RunIngestReport(o, out_);
  EXPECT_TRUE(refused.status.IsInvalidArgument()) << refused.status.ToString();
  EXPECT_TRUE(std::filesystem::exists(input));
  // Nor through a link of another name elsewhere.
  o.input = tmp_.path() + "/data.csv";
  std::filesystem::create_symlink(input, o.input);
  const IngestOutcome linked = RunIngestReport(o, out_);
  EXPECT_TRUE(linked.status.IsInvalidArgument()) << linked.status.ToString();
  EXPECT_TRUE(std::filesystem::exists(input));
  std::filesystem::remove(o.input);
  // A copy elsewhere is ingested; the file in the spill directory is then taken for a run a
  // killed ingest left, and deleted (as documented).
  o.input = tmp_.path() + "/cowtree-loader-1.run";
  std::filesystem::copy_file(input, o.input);
  const IngestOutcome done = RunIngestReport(o, out_);
  EXPECT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  EXPECT_EQ(done.stats.rows, 1u);
  EXPECT_FALSE(std::filesystem::exists(input));
}

TEST_F(IngestSpillTest, ASpillDirectoryInsideTheStoreIsRefused) {
  WriteInput(300);
  for (const std::string& spill : {std::string("/c/db"), std::string("/c/db/spill")}) {
    FaultInjectionEnv env;
    IngestOptions o = Spilled(&env, 40);
    o.spill_dir = spill;
    const IngestOutcome refused = RunIngestReport(o, out_);
    EXPECT_TRUE(refused.status.IsInvalidArgument()) << refused.status.ToString();
    EXPECT_NE(refused.status.message().find("--spill-dir"), std::string::npos);
    EXPECT_EQ(refused.stats.commits, 0u);
    EXPECT_FALSE(env.FileExists("/c/db/spill"));
  }
}

}  // namespace
}  // namespace cowtree::tools
