// The memory budget of `cowtree ingest`, through the real binary: 10 M random int64 rows into
// one group under --cache-mib 16 peak within the budget plus the documented constant
// (docs/memory_budget.md "The constant": 24 MiB), and the store holds every row.
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
#include <string>

#include "testutil/command.h"
#include "testutil/test_files.h"

namespace {

using cowtree::testutil::TempDir;

constexpr uint64_t kRows = 10'000'000;
constexpr uint64_t kBudgetMib = 16;
constexpr uint64_t kConstantMib = 24;  // docs/memory_budget.md "The constant"

// "g,v" then kRows rows "a,<random int64>" (splitmix64 of seed 1).
void WriteRandomCsv(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::string buf = "g,v\n";
  uint64_t x = 1;
  char num[32];
  for (uint64_t i = 0; i < kRows; ++i) {
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

TEST(CliMemoryBudget, TenMillionRandomRowsUnderSixteenMiBStayWithinTheBudgetPlusTheConstant) {
  TempDir tmp;
  const std::string csv = tmp.path() + "/rows.csv";
  WriteRandomCsv(csv);
  if (HasFatalFailure()) return;
  const std::string db = tmp.path() + "/db";
  const auto ingest =
      cowtree::testutil::RunCommand(COWTREE_BINARY,
                                    "ingest --db " + db + " --group g --value v --cache-mib " +
                                        std::to_string(kBudgetMib) + " " + csv,
                                    tmp.path());
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_NE((ingest.out + ingest.err).find("ingested 10000000 rows"), std::string::npos)
      << ingest.out << ingest.err;
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  const auto peak_kib = static_cast<uint64_t>(usage.ru_maxrss);
  std::printf("peak RSS of the ingest: %.1f MiB (bound %llu MiB)\n", peak_kib / 1024.0,
              static_cast<unsigned long long>(kBudgetMib + kConstantMib));
  EXPECT_LE(peak_kib, (kBudgetMib + kConstantMib) * 1024);
  // Every row is there, read under the same budget.
  const auto query = cowtree::testutil::RunCommand(
      COWTREE_BINARY,
      "query --db " + db + " --cache-mib " + std::to_string(kBudgetMib) + " --percentile 0.5",
      tmp.path());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("a      10000000"), std::string::npos) << query.out;
}

}  // namespace
