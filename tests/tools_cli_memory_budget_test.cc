// The memory budget of `cowtree ingest`, through the real binary: 10 M random int64 rows into
// one group under --cache-mib 16 peak within the budget plus the documented constant
// (docs/memory_budget.md "The constant": 24 MiB), and the store holds every row.
// COWTREE_CLI_BUDGET_ROWS and COWTREE_CLI_BUDGET_MIB change the size and the budget (the long
// label runs 30 M rows under 64 MiB: tests/long.cmake); COWTREE_CLI_BUDGET_SPILL=1 ingests with
// --spill-dir (docs/ingest_batches.md "Spilled batches": the whole file one batch, spilled as
// sorted runs and merged; CI runs it as cli_memory_budget_spill, CMakeLists.txt).
//
// Why here and not in a library test: the command splits the budget between its sorted batch
// and the store (docs/ingest_batches.md "Batch size"), so only the whole process shows whether
// the split holds. One test per binary: the peak is read with getrusage(RUSAGE_CHILDREN),
// which covers every child this process has waited for.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>

#include "testutil/command.h"
#include "testutil/env_number.h"
#include "testutil/test_files.h"

namespace {

using cowtree::testutil::EnvU64;
using cowtree::testutil::TempDir;

constexpr uint64_t kConstantMib = 24;  // docs/memory_budget.md "The constant"

// "g,v" then `rows` rows "a,<random int64>" (splitmix64 of seed 1).
void WriteRandomCsv(const std::string& path, uint64_t rows) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::string buf = "g,v\n";
  uint64_t x = 1;
  char num[32];
  for (uint64_t i = 0; i < rows; ++i) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const auto r = std::to_chars(num, num + sizeof(num), static_cast<int64_t>(z));
    buf += "a,";
    buf.append(num, r.ptr);
    buf += '\n';
    if (buf.size() > (1 << 20)) {
      ASSERT_EQ(std::fwrite(buf.data(), 1, buf.size(), f), buf.size());
      buf.clear();
    }
  }
  ASSERT_EQ(std::fwrite(buf.data(), 1, buf.size(), f), buf.size());
  ASSERT_EQ(std::fclose(f), 0);
}

// 10 M rows under 16 MiB unless the environment says otherwise (see the file comment).
TEST(CliMemoryBudget, RandomRowsStayWithinTheBudgetPlusTheConstant) {
  const uint64_t rows = EnvU64("COWTREE_CLI_BUDGET_ROWS", 10'000'000);
  const uint64_t budget_mib = EnvU64("COWTREE_CLI_BUDGET_MIB", 16);
  const bool spill = EnvU64("COWTREE_CLI_BUDGET_SPILL", 0) != 0;
  TempDir tmp;
  const std::string csv = tmp.path() + "/rows.csv";
  WriteRandomCsv(csv, rows);
  if (HasFatalFailure()) return;
  const std::string db = tmp.path() + "/db";
  const auto ingest = cowtree::testutil::RunCommand(
      COWTREE_BINARY,
      "ingest --db " + db + " --group g --value v --cache-mib " + std::to_string(budget_mib) +
          (spill ? " --spill-dir " + tmp.path() + "/spill " : " ") + csv,
      tmp.path());
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_NE((ingest.out + ingest.err).find("ingested " + std::to_string(rows) + " rows"),
            std::string::npos)
      << ingest.out << ingest.err;
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  const auto peak_kib = static_cast<uint64_t>(usage.ru_maxrss);
  std::printf("peak RSS of the ingest%s: %.1f MiB (bound %llu MiB)\n",
              spill ? " with --spill-dir" : "", peak_kib / 1024.0,
              static_cast<unsigned long long>(budget_mib + kConstantMib));
  EXPECT_LE(peak_kib, (budget_mib + kConstantMib) * 1024);
  // Every row is there, read under the same budget.
  const auto query = cowtree::testutil::RunCommand(
      COWTREE_BINARY,
      "query --db " + db + " --cache-mib " + std::to_string(budget_mib) + " --percentile 0.5",
      tmp.path());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  // The row of group "a": its name, then its row count.
  const size_t at = query.out.find("\na ");
  ASSERT_NE(at, std::string::npos) << query.out;
  std::istringstream row(query.out.substr(at + 1));
  std::string group;
  uint64_t count = 0;
  row >> group >> count;
  EXPECT_EQ(count, rows) << query.out;
}

}  // namespace
