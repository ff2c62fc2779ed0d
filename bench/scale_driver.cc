// cowtree_scale: the 1 B-entry measurement of issue 8 (one tree of 1 B, or 1 000 trees of 1 M),
// through the public API only. Two phases, each its own process so that each reports its own
// peak RSS:
//
//   cowtree_scale ingest DIR random|ascending TREES ENTRIES_PER_TREE [KEYS_PER_COMMIT=10000]
//                 [CACHE_MIB=1024] [SEED=1]
//     Creates trees "t0".."t<TREES-1>" in a fresh store at DIR (removed first) and fills them
//     one after the other, ENTRIES_PER_TREE int64 keys with weight 1 each, KEYS_PER_COMMIT per
//     commit (kBalanced), then Close() (the final checkpoint). Keys of tree i: ascending 0, 1,
//     ...; random: splitmix64 of (SEED, i). Prints progress lines every 5 % of the entries
//     ("progress: entries seconds us_per_key_interval rss_mib") and then the totals: time per
//     key including the close, CPU seconds, peak RSS, bytes on disk per entry (file sizes and
//     allocated blocks).
//   cowtree_scale query DIR random|ascending TREES ENTRIES_PER_TREE [QUERIES=2000]
//                 [CACHE_MIB=1024] [SEED=1]
//     Opens the store (timed), then answers QUERIES selects, each on a random tree at a random
//     rank, twice: the first pass touches trees and leaves for the first time since the open
//     (cold), the second repeats the same queries (warm). Prints open time, RSS after open,
//     the latency of the very first query, p50 / p99 of each pass and the peak RSS. Every
//     answer is checked: ascending trees hold 0..ENTRIES_PER_TREE-1, so select(r) == r; for
//     random trees, the keys regenerated from the seed must round-trip (select(rank(k)) == k).
//     Exit status 1 on any mismatch.
// COWTREE_SCALE_PEAK_RSS_MIB_MAX=N (the long tests set it to issue 8's 4096): a phase whose
// peak RSS passed N MiB prints "peak_rss_over_limit: ..." and exits 1.
// Output lines are "key: value" so that scripts can take medians.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "bench/driver_util.h"
#include "cowtree/cowtree.h"

namespace {

using bench_driver::CpuSeconds;
using bench_driver::PeakRssMib;
using bench_driver::RssMib;
using bench_driver::SplitMix;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The key stream of tree `tree`: a seed per tree, so that the query phase can regenerate it.
uint64_t TreeSeed(uint64_t seed, uint64_t tree) {
  uint64_t s = seed ^ (tree * 0xD1B54A32D192ED03ull);
  return SplitMix(&s);
}

[[noreturn]] void Die(const std::string& what) { bench_driver::Die("cowtree_scale", what); }

void Check(const cowtree::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

struct Args {
  std::string dir;
  bool random = false;
  uint64_t trees = 0;
  uint64_t per_tree = 0;
  uint64_t count = 0;  // ingest: keys per commit; query: queries
  uint64_t cache_mib = 1024;
  uint64_t seed = 1;
};

cowtree::Options MakeOptions(const Args& a) {
  cowtree::Options o;
  o.durability = cowtree::Durability::kBalanced;
  o.cache_bytes = a.cache_mib << 20;
  return o;
}

std::string TreeName(uint64_t i) { return "t" + std::to_string(i); }

int Ingest(const Args& a) {
  std::filesystem::remove_all(a.dir);
  const uint64_t total = a.trees * a.per_tree;
  const auto start = Clock::now();
  auto opened = cowtree::Store::Open(a.dir, MakeOptions(a));
  if (!opened.ok()) Die("open: " + opened.status().ToString());
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();
  cowtree::WriteBatch batch = store->NewBatch();
  uint64_t done = 0;
  uint64_t next_report = total / 20;
  auto last_report = start;
  uint64_t last_done = 0;
  for (uint64_t t = 0; t < a.trees; ++t) {
    auto tree = batch.CreateTree<int64_t>(TreeName(t));
    uint64_t seed = TreeSeed(a.seed, t);
    uint64_t in_tree = 0;
    while (in_tree < a.per_tree) {
      const uint64_t n = std::min(a.count, a.per_tree - in_tree);
      for (uint64_t i = 0; i < n; ++i) {
        const int64_t key =
            a.random ? static_cast<int64_t>(SplitMix(&seed)) : static_cast<int64_t>(in_tree + i);
        batch.Add(tree, key, 1);
      }
      Check(store->Commit(batch), "commit");
      in_tree += n;
      done += n;
      if (done >= next_report && next_report != 0) {
        const auto now = Clock::now();
        std::printf("progress: %llu %.1f %.4f %.1f\n", static_cast<unsigned long long>(done),
                    Seconds(now - start),
                    Seconds(now - last_report) * 1e6 / static_cast<double>(done - last_done),
                    RssMib());
        std::fflush(stdout);
        last_report = now;
        last_done = done;
        next_report += total / 20;
      }
    }
  }
  const auto committed = Clock::now();
  Check(store->Close(), "close");
  const auto closed = Clock::now();
  uint64_t file_bytes = 0;
  uint64_t block_bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(a.dir)) {
    if (!e.is_regular_file()) continue;
    file_bytes += e.file_size();
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0)
      block_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  std::printf(
      "phase: ingest\norder: %s\ntrees: %llu\nentries: %llu\nkeys_per_commit: %llu\n"
      "cache_mib: %llu\n",
      a.random ? "random" : "ascending", static_cast<unsigned long long>(a.trees),
      static_cast<unsigned long long>(total), static_cast<unsigned long long>(a.count),
      static_cast<unsigned long long>(a.cache_mib));
  const double seconds = Seconds(closed - start);
  std::printf("us_per_key: %.4f\ncpu_us_per_key: %.4f\ncommit_s: %.1f\nclose_s: %.1f\n",
              seconds * 1e6 / static_cast<double>(total),
              CpuSeconds() * 1e6 / static_cast<double>(total), Seconds(committed - start),
              Seconds(closed - committed));
  std::printf("peak_rss_mib: %.1f\nfile_bytes_per_entry: %.2f\nblock_bytes_per_entry: %.2f\n",
              PeakRssMib(), static_cast<double>(file_bytes) / static_cast<double>(total),
              static_cast<double>(block_bytes) / static_cast<double>(total));
  return 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Query {
  uint64_t tree;
  uint64_t index;  // ascending: the rank; random: the position of the key in the tree's stream
};

// One select (and for random trees one rank first), checked; returns false on a mismatch.
bool Answer(const cowtree::Snapshot& snap, const Args& a, const Query& q) {
  auto reader = snap.Tree<int64_t>(TreeName(q.tree));
  if (!reader.ok()) Die("tree " + TreeName(q.tree) + ": " + reader.status().ToString());
  if (reader.value().count() != a.per_tree) return false;
  if (!a.random) {
    auto key = reader.value().select(q.index);
    if (!key.ok()) Die("select: " + key.status().ToString());
    return key.value().has_value() && *key.value() == static_cast<int64_t>(q.index);
  }
  uint64_t seed = TreeSeed(a.seed, q.tree);
  uint64_t k = 0;
  for (uint64_t i = 0; i <= q.index; ++i) k = SplitMix(&seed);
  auto rank = reader.value().rank(static_cast<int64_t>(k));
  if (!rank.ok()) Die("rank: " + rank.status().ToString());
  auto key = reader.value().select(rank.value());
  if (!key.ok()) Die("select: " + key.status().ToString());
  return key.value().has_value() && *key.value() == static_cast<int64_t>(k);
}

int QueryPhase(const Args& a) {
  const auto start = Clock::now();
  auto opened = cowtree::Store::Open(a.dir, MakeOptions(a));
  if (!opened.ok()) Die("open: " + opened.status().ToString());
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();
  const double open_s = Seconds(Clock::now() - start);
  const double cpu_open_s = CpuSeconds();
  const double rss_after_open = RssMib();
  std::mt19937_64 rng(a.seed);
  // Random trees: positions early in the stream (regenerating a key costs its position).
  const uint64_t index_limit = a.random ? std::min<uint64_t>(a.per_tree, 4096) : a.per_tree;
  std::vector<Query> queries(a.count);
  for (Query& q : queries) q = Query{rng() % a.trees, rng() % index_limit};
  uint64_t mismatches = 0;
  std::vector<double> pass_us[2];
  double first_us = 0;
  double first_cpu_s = 0;
  cowtree::Snapshot snap = store->GetSnapshot();
  for (int pass = 0; pass < 2; ++pass) {
    for (const Query& q : queries) {
      const auto t0 = Clock::now();
      if (!Answer(snap, a, q)) ++mismatches;
      const double us = Seconds(Clock::now() - t0) * 1e6;
      if (pass == 0 && pass_us[0].empty()) {
        first_us = us;
        first_cpu_s = CpuSeconds() - cpu_open_s;
      }
      pass_us[pass].push_back(us);
    }
  }
  std::printf("phase: query\nopen_s: %.3f\ncpu_open_s: %.3f\nrss_after_open_mib: %.1f\n", open_s,
              cpu_open_s, rss_after_open);
  std::printf("first_query_cpu_s: %.3f\n", first_cpu_s);
  std::printf("first_query_us: %.1f\ncold_p50_us: %.1f\ncold_p99_us: %.1f\n", first_us,
              Percentile(pass_us[0], 0.5), Percentile(pass_us[0], 0.99));
  std::printf("warm_p50_us: %.1f\nwarm_p99_us: %.1f\npeak_rss_mib: %.1f\nmismatches: %llu\n",
              Percentile(pass_us[1], 0.5), Percentile(pass_us[1], 0.99), PeakRssMib(),
              static_cast<unsigned long long>(mismatches));
  Check(store->Close(), "close");
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

// The phase's exit status, made 1 if its peak RSS passed COWTREE_SCALE_PEAK_RSS_MIB_MAX.
int WithPeakRssLimit(int status) {
  const char* limit = std::getenv("COWTREE_SCALE_PEAK_RSS_MIB_MAX");
  if (limit == nullptr) return status;
  const double max_mib = std::strtod(limit, nullptr);
  if (PeakRssMib() <= max_mib) return status;
  std::printf("peak_rss_over_limit: %.1f MiB > %.1f MiB\n", PeakRssMib(), max_mib);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: cowtree_scale ingest|query DIR random|ascending TREES ENTRIES_PER_TREE "
                 "[KEYS_PER_COMMIT|QUERIES] [CACHE_MIB] [SEED]\n";
    return 2;
  }
  const std::string phase = argv[1];
  Args a;
  a.dir = argv[2];
  const std::string order = argv[3];
  if (order != "random" && order != "ascending") Die("order must be random or ascending");
  a.random = order == "random";
  a.trees = std::strtoull(argv[4], nullptr, 10);
  a.per_tree = std::strtoull(argv[5], nullptr, 10);
  a.count = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : (phase == "ingest" ? 10000 : 2000);
  if (argc > 7) a.cache_mib = std::strtoull(argv[7], nullptr, 10);
  if (argc > 8) a.seed = std::strtoull(argv[8], nullptr, 10);
  if (a.trees == 0 || a.per_tree == 0 || a.count == 0) Die("TREES, ENTRIES and COUNT must be >= 1");
  if (phase == "ingest") return WithPeakRssLimit(Ingest(a));
  if (phase == "query") return WithPeakRssLimit(QueryPhase(a));
  Die("phase must be ingest or query");
}
