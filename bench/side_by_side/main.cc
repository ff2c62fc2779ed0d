// side_by_side: cowtree and its anchors (LMDB, RocksDB, SQLite, GNU pb_ds, raw fdatasync) on
// the workloads of issue 8, interleaved round by round in one run; each (workload, system)
// runs in a forked child so that its RSS is its own. Prints medians, ranges and ratios and
// writes CSV files (bench/run_side_by_side.sh plots them).
//
//   side_by_side --rounds=3 --out=bench/results [--workloads=trees,ingest,strict]
//                [--systems=cowtree,cowtree-loader,lmdb,lmdb-1txn,rocksdb,sqlite,pbds,raw-fdatasync,raw-fdatasync-append]
//                [--trees=1000000 --rocksdb-trees=10000 --entries=10000000 ...]
// Output files in --out: side_by_side.csv (round,workload,system,metric,value),
// summary.csv (median/min/max per workload,system,metric and the ratio to cowtree),
// ingest_series.csv (round,system,seconds,keys), query_cdf.csv (round,system,op,quantile,ns).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

struct Config {
  Params params;
  int rounds = 3;
  std::string out = ".";
  std::string base_dir;  // stores live here (default: $TMPDIR or /tmp)
  std::vector<std::string> workloads = {"trees", "ingest", "strict"};
  std::vector<std::string> systems = {"cowtree", "lmdb", "lmdb-1txn",     "rocksdb",
                                      "sqlite",  "pbds", "raw-fdatasync", "raw-fdatasync-append"};
  // Workload "strict" runs once per count; its rows are workload "strict_t<threads>".
  std::vector<int> strict_threads = {1, 4, 16, 64};
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

Config ParseArgs(int argc, char** argv) {
  Config c;
  const char* tmp = std::getenv("TMPDIR");
  c.base_dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/cowtree_side_by_side";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help") {
      std::printf(
          "side_by_side [--rounds=3] [--out=DIR] [--dir=DIR] [--workloads=trees,ingest,strict]\n"
          "  [--systems=cowtree,cowtree-loader,lmdb,lmdb-1txn,rocksdb,sqlite,pbds,raw-fdatasync,\n"
          "             raw-fdatasync-append]\n"
          "  [--trees=1000000] [--rocksdb-trees=10000] [--trees-per-batch=1000]\n"
          "  [--entries=10000000] [--keys-per-commit=10000] [--queries=1000000]\n"
          "  [--latency-samples=200000] [--strict-seconds=5] [--strict-threads=1,4,16,64]\n");
      std::exit(0);
    }
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) Die("bad argument " + arg);
    const std::string key = arg.substr(2, eq - 2), v = arg.substr(eq + 1);
    Params& p = c.params;
    auto u64 = [&] { return std::stoull(v); };
    if (key == "rounds")
      c.rounds = std::stoi(v);
    else if (key == "out")
      c.out = v;
    else if (key == "dir")
      c.base_dir = v;
    else if (key == "workloads")
      c.workloads = Split(v);
    else if (key == "systems")
      c.systems = Split(v);
    else if (key == "trees")
      p.trees = u64();
    else if (key == "rocksdb-trees")
      p.rocksdb_trees = u64();
    else if (key == "trees-per-batch")
      p.trees_per_batch = u64();
    else if (key == "entries")
      p.entries = u64();
    else if (key == "keys-per-commit")
      p.keys_per_commit = u64();
    else if (key == "queries")
      p.queries = u64();
    else if (key == "latency-samples")
      p.latency_samples = u64();
    else if (key == "strict-seconds")
      p.strict_seconds = std::stod(v);
    else if (key == "strict-threads") {
      c.strict_threads.clear();
      for (const auto& n : Split(v)) c.strict_threads.push_back(std::stoi(n));
    } else
      Die("unknown option --" + key);
  }
  if (c.rounds < 1 || c.params.trees == 0 || c.params.entries == 0 ||
      c.params.trees_per_batch == 0 || c.params.keys_per_commit == 0 || c.params.queries == 0 ||
      c.params.rocksdb_trees == 0 || c.strict_threads.empty() ||
      *std::min_element(c.strict_threads.begin(), c.strict_threads.end()) < 1) {
    Die("--rounds, --trees, --entries, --queries, batch sizes must be >= 1");
  }
  return c;
}

System SystemNamed(const std::string& name) {
  if (name == "cowtree") return CowtreeSystem();
  if (name == "cowtree-loader") return CowtreeLoaderSystem();
  if (name == "lmdb") return LmdbSystem(false);
  if (name == "lmdb-1txn") return LmdbSystem(true);
  if (name == "rocksdb") return RocksdbSystem();
  if (name == "sqlite") return SqliteSystem();
  if (name == "pbds") return PbdsSystem();
  if (name == "raw-fdatasync") return RawSyncSystem();
  if (name == "raw-fdatasync-append") return RawAppendSyncSystem();
  Die("unknown system " + name);
}

// Append-only CSV outputs, flushed after every child so that a partial run keeps its rows.
struct Outputs {
  std::ofstream rows, series, cdf;
  // (workload, metric) -> system -> values over rounds
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::vector<double>>> all;
};

// Runs fn in a child; parses its sink file into `out`. Returns false if the child failed.
bool RunChild(const Run& fn, const Params& p, int round, const std::string& workload,
              const std::string& system, Outputs* out) {
  const std::string sink_path = p.dir + ".sink";
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    {
      Sink sink(sink_path);
      fn(p, &sink);
    }
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::ifstream in(sink_path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string kind, name;
    fields >> kind >> name;
    std::string w = workload;
    if (const size_t slash = name.find('/'); slash != std::string::npos) {
      w = name.substr(0, slash);
      name = name.substr(slash + 1);
    }
    if (kind == "M") {
      double value = 0;
      fields >> value;
      out->rows << round << ',' << w << ',' << system << ',' << name << ',' << value << '\n';
      out->all[{w, name}][system].push_back(value);
    } else if (kind == "S") {
      std::string keys;
      fields >> keys;
      out->series << round << ',' << system << ',' << name << ',' << keys << '\n';
    } else if (kind == "C") {
      std::string q, ns;
      fields >> q >> ns;
      out->cdf << round << ',' << system << ',' << name << ',' << q << ',' << ns << '\n';
    }
  }
  out->rows.flush();
  out->series.flush();
  out->cdf.flush();
  std::filesystem::remove(sink_path);
  if (!ok)
    std::printf("  !! %s/%s round %d: child failed (status %d)\n", workload.c_str(), system.c_str(),
                round, status);
  return ok;
}

void RunOne(const Config& c, int round, const std::string& workload, const System& s,
            Outputs* out) {
  Params p = c.params;
  p.seed = static_cast<uint64_t>(round);
  p.dir = c.base_dir + "/" + workload + "-" + s.name;
  std::filesystem::remove_all(p.dir);
  std::filesystem::create_directories(p.dir);
  const double start = NowSeconds();
  if (workload == "trees" && s.trees_create) {
    if (RunChild(s.trees_create, p, round, "trees", s.name, out) && s.trees_reopen) {
      RunChild(s.trees_reopen, p, round, "reopen", s.name, out);
    }
  } else if (workload == "ingest" && s.ingest) {
    if (RunChild(s.ingest, p, round, "ingest", s.name, out) && s.query) {
      RunChild(s.query, p, round, "query", s.name, out);
    }
  } else if (workload == "strict" && s.strict) {
    for (const int threads : c.strict_threads) {
      p.strict_threads = threads;
      std::filesystem::remove_all(p.dir);
      std::filesystem::create_directories(p.dir);
      RunChild(s.strict, p, round, "strict_t" + std::to_string(threads), s.name, out);
    }
  } else {
    std::filesystem::remove_all(p.dir);
    return;
  }
  // COWTREE_SBS_KEEP_STORES=1 keeps each store until the next run of the same (workload,
  // system), to look at its files (e.g. `cowtree stat --db DIR` on a cowtree store).
  if (std::getenv("COWTREE_SBS_KEEP_STORES") == nullptr) std::filesystem::remove_all(p.dir);
  std::printf("round %d %-7s %-14s %7.1f s\n", round, workload.c_str(), s.name.c_str(),
              NowSeconds() - start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void Summarize(const Outputs& out, const std::string& path) {
  std::ofstream csv(path);
  csv << "workload,metric,system,median,min,max,rounds,ratio_cowtree_to_system\n";
  std::printf("\n%-8s %-30s %-14s %12s %25s %10s\n", "workload", "metric", "system", "median",
              "[min - max]", "cowtree/x");
  for (const auto& [key, by_system] : out.all) {
    const auto cow = by_system.find("cowtree");
    const double cow_median = cow == by_system.end() ? 0 : Median(cow->second);
    for (const auto& [system, values] : by_system) {
      const double median = Median(values);
      const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
      const double ratio = (cow != by_system.end() && median != 0) ? cow_median / median : 0;
      csv << key.first << ',' << key.second << ',' << system << ',' << median << ',' << *lo << ','
          << *hi << ',' << values.size() << ',' << ratio << '\n';
      std::printf("%-8s %-30s %-14s %12.4g [%10.4g - %10.4g] %10.3g\n", key.first.c_str(),
                  key.second.c_str(), system.c_str(), median, *lo, *hi, ratio);
    }
  }
}

int Main(int argc, char** argv) {
  const Config c = ParseArgs(argc, argv);
  std::filesystem::create_directories(c.out);
  std::filesystem::create_directories(c.base_dir);
  Outputs out;
  out.rows.open(c.out + "/side_by_side.csv");
  out.series.open(c.out + "/ingest_series.csv");
  out.cdf.open(c.out + "/query_cdf.csv");
  out.rows << "round,workload,system,metric,value\n";
  out.series << "round,system,seconds,keys\n";
  out.cdf << "round,system,op,quantile,ns\n";
  std::vector<System> systems;
  for (const auto& name : c.systems) systems.push_back(SystemNamed(name));
  for (int round = 1; round <= c.rounds; ++round) {
    for (const auto& workload : c.workloads) {
      // Interleaved: each round starts the systems at another offset.
      for (size_t i = 0; i < systems.size(); ++i) {
        RunOne(c, round, workload, systems[(i + static_cast<size_t>(round) - 1) % systems.size()],
               &out);
      }
    }
  }
  Summarize(out, c.out + "/summary.csv");
  return 0;
}

}  // namespace
}  // namespace sbs

int main(int argc, char** argv) { return sbs::Main(argc, argv); }
