// csv_percentiles [STORE_DIR]: per-group percentiles of a small embedded CSV (group,value),
// through the public API only: one double-keyed tree per group, filled in one batch, then
// PostgreSQL's percentile_cont / percentile_disc per group from one snapshot — the same as
//   SELECT grp, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY value), ...
//   FROM sample GROUP BY grp;
// A few answers are checked exactly against values computed by hand with PostgreSQL's rules;
// exit status 0 only if they all hold. STORE_DIR defaults to a temp dir removed at the end.
#include <cowtree/cowtree.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

// The sample (PostgreSQL float8 semantics: -0 and 0 are one value).
constexpr const char* kCsv =
    "grp,value\n"
    "eu,12.5\n"
    "us,1.5\n"
    "eu,20\n"
    "ap,0\n"
    "us,2.5\n"
    "eu,30\n"
    "us,2.5\n"
    "ap,-0\n"
    "eu,41\n"
    "us,9\n"
    "ap,4\n"
    "eu,7.25\n"
    "us,100\n"
    "ap,4\n"
    "us,-3\n"
    "ap,4\n";

// A tiny parser for the embedded sample: "group,number" lines after a header line.
bool ParseCsv(const std::string& text, std::vector<std::pair<std::string, double>>* rows) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return false;  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const size_t comma = line.find(',');
    if (comma == std::string::npos) return false;
    try {
      size_t used = 0;
      const double v = std::stod(line.substr(comma + 1), &used);
      if (used != line.size() - comma - 1) return false;
      rows->emplace_back(line.substr(0, comma), v);
    } catch (...) {
      return false;
    }
  }
  return true;
}

int g_failures = 0;
void Expect(bool ok, const std::string& what) {
  if (!ok) {
    ++g_failures;
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
  }
}

cowtree::Status Run(const std::string& dir) {
  std::vector<std::pair<std::string, double>> rows;
  if (!ParseCsv(kCsv, &rows)) return cowtree::Status::InvalidArgument("bad embedded CSV");

  auto opened = cowtree::Store::Open(dir, cowtree::Options{});
  if (!opened.ok()) return opened.status();
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();

  // One tree per group, all rows in one atomic batch.
  cowtree::WriteBatch batch = store->NewBatch();
  std::map<std::string, cowtree::TreeHandle<double>> groups;
  for (const auto& [grp, value] : rows) {
    auto it = groups.find(grp);
    if (it == groups.end()) it = groups.emplace(grp, batch.CreateTree<double>("grp/" + grp)).first;
    batch.Add(it->second, value, 1);
  }
  if (auto s = store->Commit(batch); !s.ok()) return s;

  cowtree::Snapshot snap = store->GetSnapshot();
  std::map<std::string, std::vector<double>> answers;  // group -> median, p90 cont, p90 disc,
                                                       //          p75 disc DESC
  std::printf("%-4s %5s %10s %10s %10s %14s\n", "grp", "n", "median", "p90_cont", "p90_disc",
              "p75_disc_desc");
  for (const auto& [grp, handle] : groups) {
    auto reader = snap.Tree<double>("grp/" + grp);
    if (!reader.ok()) return reader.status();
    auto median = reader->median();
    auto p90 = reader->percentile_cont(0.9);
    auto p90d = reader->percentile_disc(0.9);
    auto p75dd = reader->percentile_disc(0.75, cowtree::Order::kDescending);
    if (!median.ok()) return median.status();
    if (!p90.ok()) return p90.status();
    if (!p90d.ok()) return p90d.status();
    if (!p75dd.ok()) return p75dd.status();
    answers[grp] = {median->value(), p90->value(), p90d->value(), p75dd->value()};
    std::printf("%-4s %5llu %10g %10g %10g %14g\n", grp.c_str(),
                static_cast<unsigned long long>(reader->count()), answers[grp][0], answers[grp][1],
                answers[grp][2], answers[grp][3]);
  }

  // Exact answers (PostgreSQL: percentile_cont interpolates at p * (N - 1); percentile_disc
  // takes row ceil(p * N)).
  const std::map<std::string, std::vector<double>> expected = {
      {"eu", {20, 36.6, 41, 12.5}},   // 7.25 12.5 20 30 41: 30 + 0.6 * 11 at pos 3.6
      {"us", {2.5, 54.5, 100, 1.5}},  // -3 1.5 2.5 2.5 9 100: 9 + 0.5 * 91 at pos 4.5
      {"ap", {4, 4, 4, 0}},           // 0 -0 4 4 4: -0 and 0 are one value
  };
  Expect(answers == expected, "per-group percentiles differ from the hand-computed ones");
  auto eu = snap.Tree<double>("grp/eu");
  auto rank = eu.ok() ? eu->rank(30) : cowtree::Result<uint64_t>(eu.status());
  Expect(rank.ok() && *rank == 3, "eu: 3 values below 30");
  auto ap = snap.Tree<double>("grp/ap");
  Expect(ap.ok() && ap->entry_count() == 2 && ap->count() == 5, "ap: 2 keys, 5 items");
  Expect(ap.ok() && ap->weight(-0.0).ok() && *ap->weight(-0.0) == 2, "ap: weight of 0 is 2");
  auto missing = snap.Tree<double>("grp/none");
  Expect(missing.status().IsNotFound(), "an absent group is NotFound");
  auto wrong = snap.Tree<int64_t>("grp/eu");
  Expect(wrong.status().IsInvalidArgument(), "a double tree read as int64 is InvalidArgument");
  return store->Close();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool temporary = false;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::random_device rd;
    dir = (std::filesystem::temp_directory_path() /
           ("cowtree_csv_percentiles_" + std::to_string(rd()) + std::to_string(rd())))
              .string();
    temporary = true;
  }
  const cowtree::Status st = Run(dir);
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "csv_percentiles: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("csv_percentiles: %s\n", g_failures == 0 ? "all checks hold" : "CHECKS FAILED");
  return g_failures == 0 ? 0 : 1;
}
