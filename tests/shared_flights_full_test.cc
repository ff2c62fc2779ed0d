// The full real data set: ingest all 3 M flights of ../shared/data/flights-3m.csv.zst grouped
// by origin (229 trees, balanced durability) with the `cowtree` command, then check p50/p90/p99
// PERCENTILE_CONT and PERCENTILE_DISC, ascending and descending, for every origin against an
// exact reference computed here independently (zstd -dc, naive split, std::sort, PostgreSQL's
// formulas) — sharing no code with the CSV reader or the tree.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace {

const char* kPercentiles[] = {"0.5", "0.9", "0.99"};

double Cont(const std::vector<int64_t>& v, double p) {
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
  const double a = static_cast<double>(v[lo]), b = static_cast<double>(v[hi]);
  return a + (b - a) * (pos - static_cast<double>(lo));
}

int64_t Disc(const std::vector<int64_t>& v, double p) {
  const double idx = std::ceil(p * static_cast<double>(v.size()));
  return v[idx <= 0 ? 0 : static_cast<size_t>(idx) - 1];
}

TEST(FlightsFull, EveryOriginMatchesAnIndependentReference) {
  const std::string data = std::string(COWTREE_SOURCE_DIR) + "/../shared/data/flights-3m.csv.zst";
  ASSERT_TRUE(std::filesystem::exists(data)) << data << " (../shared must sit beside the repo)";
  char pattern[] = "/tmp/cowtree-flights-XXXXXX";
  const std::string tmp = mkdtemp(pattern);
  const std::string db = tmp + "/db";

  // Reference.
  std::map<std::string, std::vector<int64_t>> groups;
  {
    FILE* p = popen(("zstd -q -d -c " + data).c_str(), "r");
    ASSERT_NE(p, nullptr);
    char line[512];
    bool header = true;
    size_t rows = 0;
    while (std::fgets(line, sizeof(line), p) != nullptr) {
      if (header) {
        ASSERT_EQ(std::string(line), "date,delay,distance,origin,destination\n");
        header = false;
        continue;
      }
      std::string s(line);
      std::vector<std::string> f;
      std::stringstream ss(s.substr(0, s.size() - 1));
      std::string cell;
      while (std::getline(ss, cell, ',')) f.push_back(cell);
      ASSERT_EQ(f.size(), 5u) << s;
      groups[f[3]].push_back(std::stoll(f[1]));
      ++rows;
    }
    ASSERT_EQ(pclose(p), 0);
    ASSERT_EQ(rows, 3000000u);
  }
  ASSERT_EQ(groups.size(), 229u);
  for (auto& [g, v] : groups) std::sort(v.begin(), v.end());

  const std::string ingest = std::string(COWTREE_BINARY) + " ingest --db " + db +
                             " --group origin --value delay --durability balanced " + data +
                             " 2>" + tmp + "/ingest.err";
  ASSERT_EQ(std::system(ingest.c_str()), 0);

  for (bool disc : {false, true}) {
    for (bool desc : {false, true}) {
      const std::string out = tmp + "/q.csv";
      const std::string query = std::string(COWTREE_BINARY) + " query --db " + db +
                                " --percentile 0.5,0.9,0.99 --format csv" +
                                (disc ? " --disc" : "") + (desc ? " --desc" : "") + " >" + out;
      ASSERT_EQ(std::system(query.c_str()), 0);
      std::ifstream f(out);
      std::string line;
      std::getline(f, line);
      ASSERT_EQ(line, "group,n,0.5,0.9,0.99");
      size_t checked = 0;
      while (std::getline(f, line)) {
        std::vector<std::string> cells;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, ',')) cells.push_back(cell);
        ASSERT_EQ(cells.size(), 5u);
        auto it = groups.find(cells[0]);
        ASSERT_NE(it, groups.end()) << cells[0];
        std::vector<int64_t> v = it->second;
        if (desc) std::reverse(v.begin(), v.end());
        ASSERT_EQ(std::stoull(cells[1]), v.size()) << cells[0];
        for (int i = 0; i < 3; ++i) {
          const double p = std::stod(kPercentiles[i]);
          if (disc) {
            EXPECT_EQ(std::stoll(cells[2 + i]), Disc(v, p)) << cells[0] << " p=" << p;
          } else {
            EXPECT_EQ(std::stod(cells[2 + i]), Cont(v, p)) << cells[0] << " p=" << p;
          }
        }
        ++checked;
      }
      EXPECT_EQ(checked, 229u) << "disc=" << disc << " desc=" << desc;
    }
  }
  std::filesystem::remove_all(tmp);
}

}  // namespace
