// Process crash: a child `cowtree ingest --durability strict --log-commits` is killed with
// SIGKILL at random moments; after each kill the store is reopened and must hold exactly a
// prefix of the batches (no gap, no partial batch) that contains every acknowledged one.
// Cycles continue on the same store, so each cycle also checks reopen-then-keep-writing.
// COWTREE_CRASH_CYCLES overrides the number of cycles (the "long" label runs many more).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "recovery/open.h"
#include "tools/ingest.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

constexpr int kBatchRows = 100;
constexpr int kBatchesPerCycle = 3000;
constexpr int kGroups = 7;

// Batch b of cycle c has kBatchRows rows whose values are all 1'000'000 * c + b, spread over
// the groups, so the recovered state tells exactly which batches are present.
std::string WriteCycleCsv(const std::string& dir, int cycle) {
  const std::string path = dir + "/cycle-" + std::to_string(cycle) + ".csv";
  std::ofstream f(path);
  f << "grp,val\n";
  for (int b = 0; b < kBatchesPerCycle; ++b) {
    for (int r = 0; r < kBatchRows; ++r) {
      f << "g" << (r % kGroups) << ',' << (1000000LL * cycle + b) << '\n';
    }
  }
  return path;
}

// value -> total multiplicity over all groups. *no_store is set when the directory holds no
// store yet (the child was killed while creating it: creation is atomic, so nothing remains).
std::map<int64_t, int64_t> ReadCounts(const std::string& db, std::string* error, bool* no_store) {
  *no_store = false;
  std::map<int64_t, int64_t> counts;
  RuntimeOptions o;
  o.create_if_missing = false;
  o.checkpoint_on_close = false;
  o.background_thread = false;
  auto rt = recovery::Open(db, o);
  if (rt.status().IsNotFound()) {
    *no_store = true;
    return counts;
  }
  if (!rt.ok()) {
    *error = rt.status().ToString();
    return counts;
  }
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  for (const TreeInfo& t : (*rt)->ListTrees(snap)) {
    if (IsInternalTreeName(t.name)) continue;  // the ingest resume marker
    auto v = tree::AsOrderStatTree((*rt)->FindTree(t.name, snap)->tree.get())
                 ->VersionAt(snap.epoch());
    Status st = tree::ForEach(*v, 0, UINT64_MAX, [&](uint64_t key, int64_t w) {
      counts[tree::DecodeInt64Key(key)] += w;
      return true;
    });
    if (!st.ok()) *error = st.ToString();
  }
  return counts;
}

TEST(ProcessCrash, SigkillDuringStrictIngestKeepsAnAcknowledgedPrefix) {
  int cycles = 24;
  if (const char* env = std::getenv("COWTREE_CRASH_CYCLES")) cycles = std::atoi(env);
  char pattern[] = "/tmp/cowtree-crash-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  const std::string db = dir + "/db";
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  int kills = 0;
  std::map<int64_t, int64_t> expected_before;  // state after the previous cycle
  for (int cycle = 0; cycle < cycles; ++cycle) {
    const std::string csv = WriteCycleCsv(dir, cycle);
    int out_pipe[2];
    ASSERT_EQ(pipe(out_pipe), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(out_pipe[1], STDOUT_FILENO);
      close(out_pipe[0]);
      close(out_pipe[1]);
      const std::string batch = std::to_string(kBatchRows);
      execl(COWTREE_BINARY, COWTREE_BINARY, "ingest", "--db", db.c_str(), "--group", "grp",
            "--value", "val", "--batch-rows", batch.c_str(), "--durability", "strict",
            "--log-commits", "--checkpoint-log-bytes", "200000", csv.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out_pipe[1]);
    // Kill after a random delay; read acknowledged commits from the pipe meanwhile.
    const auto delay = std::chrono::microseconds(2000 + rng() % 250000);
    std::thread killer([pid, delay] {
      std::this_thread::sleep_for(delay);
      kill(pid, SIGKILL);
    });
    std::string acked_output;
    char buf[4096];
    ssize_t n;
    while ((n = read(out_pipe[0], buf, sizeof(buf))) > 0) acked_output.append(buf, n);
    close(out_pipe[0]);
    killer.join();
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      ++kills;
    else
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "child failed: " << (WIFSIGNALED(status) ? "killed by signal " : "exit status ")
          << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)) << " in cycle "
          << cycle;
    // Rows acknowledged in this cycle = the last complete "committed EPOCH ROWS" line.
    uint64_t acked_rows = 0;
    size_t line_start = 0;
    while (true) {
      size_t nl = acked_output.find('\n', line_start);
      if (nl == std::string::npos) break;
      unsigned long long epoch = 0, rows = 0;
      if (std::sscanf(acked_output.c_str() + line_start, "committed %llu %llu", &epoch, &rows) ==
          2) {
        acked_rows = rows;
      }
      line_start = nl + 1;
    }
    const int64_t acked_batches = static_cast<int64_t>(acked_rows / kBatchRows);
    std::string error;
    bool no_store = false;
    std::map<int64_t, int64_t> counts = ReadCounts(db, &error, &no_store);
    ASSERT_TRUE(error.empty()) << "cycle " << cycle << ": reopen failed: " << error;
    if (no_store) {
      // Legitimate only if nothing was ever acknowledged: a kill during store creation.
      ASSERT_TRUE(expected_before.empty() && acked_batches == 0)
          << "cycle " << cycle << ": the store vanished after acknowledged commits";
    }
    // Earlier cycles are unchanged; this cycle holds batches [0, k) exactly, k >= acked.
    int64_t present = 0;
    for (const auto& [value, count] : counts) {
      const int64_t c = value / 1000000, b = value % 1000000;
      if (c < cycle) {
        ASSERT_EQ(expected_before[value], count) << "cycle " << cycle << " changed value " << value;
        continue;
      }
      ASSERT_EQ(c, cycle);
      ASSERT_EQ(count, kBatchRows) << "partial batch " << b << " in cycle " << cycle;
      ASSERT_EQ(b, present) << "gap before batch " << b << " in cycle " << cycle;
      ++present;
    }
    ASSERT_GE(present, acked_batches) << "acknowledged batches lost in cycle " << cycle;
    expected_before = counts;
    std::filesystem::remove(csv);
  }
  EXPECT_GE(kills, cycles * 3 / 4) << "most cycles must end in a SIGKILL";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cowtree
