// The output deltas over the whole real data set (../shared/data/flights-3m.csv.zst, label
// "shared"): `cowtree ingest --emit-deltas` of all 3 M flights grouped by origin, applied to
// an empty table, equals PostgreSQL 15's answers; after retracting the March rows (weight -1,
// same store, same deltas file, --resume) it equals PostgreSQL's answers without them.
// tests/data/flights_pg/ holds those answers (made with PostgreSQL 15.18: \copy of the file
// into f(date, delay bigint, distance, origin, destination), then
// SELECT origin, count(delay), percentile_cont(0.5|0.9|0.99) WITHIN GROUP (ORDER BY delay)
// FROM f [WHERE date NOT LIKE '2001-03%'] GROUP BY origin ORDER BY origin COLLATE "C").
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "testutil/command.h"
#include "testutil/delta_table.h"
#include "testutil/test_files.h"

namespace {

using cowtree::testutil::CommandResult;
using cowtree::testutil::TempDir;

CommandResult Cowtree(const std::string& args, const TempDir& tmp) {
  return cowtree::testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

std::string Slurp(const std::string& path) { return cowtree::testutil::ReadFileOrEmpty(path); }

std::string Applied(const std::string& deltas_file) {
  std::vector<std::string> bad;
  std::string table =
      cowtree::testutil::ApplyDeltas(Slurp(deltas_file), "group,n,0.5,0.9,0.99", &bad);
  EXPECT_TRUE(bad.empty()) << bad.front();
  return table;
}

TEST(SharedFlightsDeltas, WholeFileThenMarchRetractedEqualPostgresql) {
  const std::string data = std::string(COWTREE_SOURCE_DIR) + "/../shared/data/flights-3m.csv.zst";
  const std::string expected = std::string(COWTREE_SOURCE_DIR) + "/tests/data/flights_pg/";
  TempDir tmp;
  const std::string db = tmp.path() + "/db", deltas = tmp.path() + "/deltas.csv";
  const std::string spec =
      " --group origin --value delay --percentile 0.5,0.9,0.99 "
      "--emit-deltas " +
      deltas;
  CommandResult r = Cowtree("ingest --db " + db + spec + " " + data, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Applied(deltas), Slurp(expected + "origin_delay_cont.csv"));

  // The March rows, each with weight -1.
  const std::string march = tmp.path() + "/march.csv";
  const std::string cmd = "zstd -q -d -c " + data +
                          " | awk -F, 'NR == 1 { print \"origin,delay,w\" } "
                          "substr($1, 1, 7) == \"2001-03\" { print $4 \",\" $2 \",-1\" }' > " +
                          march;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  r = Cowtree("ingest --db " + db + spec + " --weight w --resume " + march, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Applied(deltas), Slurp(expected + "origin_delay_cont_without_march.csv"));
  const CommandResult q =
      Cowtree("query --db " + db + " --percentile 0.5,0.9,0.99 --format csv", tmp);
  EXPECT_EQ(q.out, Slurp(expected + "origin_delay_cont_without_march.csv"));
}

}  // namespace
