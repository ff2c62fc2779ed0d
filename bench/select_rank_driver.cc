// Warm random select / rank on one tree of N random int64 entries of weight 1 (issue 8's
// "warm random select / rank at 10 M entries" row), cowtree and GNU pb_ds side by side in one
// process, interleaved rounds. The workload is bench/side_by_side's `query` (the same keys,
// seed 1, 10 000 keys per commit, default TreeShape; select(r % N) and rank(int64(r)) for
// random r), without the other workloads, so that a change to the read path can be measured in
// a minute instead of half an hour.
//
//   cowtree_select_rank DIR [entries=10000000] [rounds=3] [queries=1000000] [samples=200000]
//
// DIR: the store. If it holds no store yet the keys are ingested first (public API, balanced,
// closed); later runs reuse it (the same DIR serves builds of different commits as long as the
// on-disk format is unchanged). Then: reopen, a full read through a cursor (every leaf
// resident: "warm"), pb_ds built in memory from the same keys, and `rounds` rounds of
// {cowtree select, pb_ds select, cowtree rank, pb_ds rank}, each `queries` calls timed as one
// loop (the mean) and `samples` calls timed one by one (p50, p99; about 20 ns of clock reads
// included). Prints each round, then medians over the rounds and the cowtree / pb_ds ratios.
// `pbds=0` as a sixth argument skips pb_ds.
#include <cowtree/cowtree.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench/side_by_side/common.h"

namespace {

using PbdsTree =
    __gnu_pbds::tree<std::pair<int64_t, uint64_t>, __gnu_pbds::null_type, std::less<>,
                     __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;

// The side-by-side harness's key stream (splitmix64): the same keys for the same seed.
using sbs::KeyStream;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "cowtree_select_rank: %s\n", what.c_str());
  std::exit(1);
}

void Check(const cowtree::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

std::unique_ptr<cowtree::Store> Open(const std::string& dir) {
  cowtree::Options o;
  o.durability = cowtree::Durability::kBalanced;
  auto store = cowtree::Store::Open(dir, o);
  if (!store.ok()) Die("open " + dir + ": " + store.status().ToString());
  return std::move(store).value();
}

void Ingest(const std::string& dir, uint64_t entries) {
  auto store = Open(dir);
  KeyStream keys(1);
  const double start = Now();
  cowtree::WriteBatch batch = store->NewBatch();
  auto tree = batch.CreateTree<int64_t>("t");
  for (uint64_t done = 0; done < entries;) {
    const uint64_t n = std::min<uint64_t>(10000, entries - done);
    for (uint64_t i = 0; i < n; ++i) batch.Add(tree, static_cast<int64_t>(keys.Next()), 1);
    Check(store->Commit(batch), "commit");
    done += n;
  }
  Check(store->Close(), "close");
  std::printf("ingested %llu keys in %.1f s\n", static_cast<unsigned long long>(entries),
              Now() - start);
}

struct Figures {
  double mean_us = 0, p50_us = 0, p99_us = 0;
};

// The calls go through a template parameter (inlined) as in side_by_side's TimeQueries.
template <typename Query>
Figures TimeQueries(uint64_t loop, uint64_t samples, uint64_t seed, Query query) {
  KeyStream rng(seed);
  uint64_t checksum = 0;
  Figures f;
  const double start = Now();
  for (uint64_t i = 0; i < loop; ++i) checksum += query(rng.Next());
  f.mean_us = (Now() - start) * 1e6 / static_cast<double>(loop);
  std::vector<double> ns;
  ns.reserve(samples);
  for (uint64_t i = 0; i < samples; ++i) {
    const uint64_t r = rng.Next();
    const auto t0 = std::chrono::steady_clock::now();
    checksum += query(r);
    const auto t1 = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  if (!ns.empty()) {
    f.p50_us = ns[ns.size() / 2] / 1000;
    f.p99_us = ns[ns.size() * 99 / 100] / 1000;
  }
  if (checksum == 42) std::fprintf(stderr, " ");  // keeps the checksum live
  return f;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s DIR [entries=10000000] [rounds=3] [queries=1000000] "
                 "[samples=200000] [pbds=1]\n",
                 argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  auto arg = [&](int i, uint64_t def) {
    return argc > i ? std::strtoull(argv[i], nullptr, 10) : def;
  };
  const uint64_t entries = arg(2, 10000000);
  const uint64_t rounds = arg(3, 3);
  const uint64_t queries = arg(4, 1000000);
  const uint64_t samples = arg(5, 200000);
  const bool pbds = arg(6, 1) != 0;

  if (!std::filesystem::exists(dir) || std::filesystem::is_empty(dir)) Ingest(dir, entries);
  auto store = Open(dir);
  auto reader_or = store->GetSnapshot().Tree<int64_t>("t");
  if (!reader_or.ok()) Die("tree t: " + reader_or.status().ToString());
  const cowtree::TreeReader<int64_t> reader = reader_or.value();
  const uint64_t n = reader.count();
  if (n != entries)
    Die("the store holds " + std::to_string(n) + " entries, not " + std::to_string(entries));
  uint64_t seen = 0;
  auto cursor = reader.SeekToFirst();
  for (; cursor.valid(); cursor.Next()) seen += static_cast<uint64_t>(cursor.weight());
  if (!cursor.status().ok() || seen != n) Die("full read");

  PbdsTree tree;
  if (pbds) {
    KeyStream keys(1);
    for (uint64_t serial = 0; serial < entries; ++serial) {
      tree.insert({static_cast<int64_t>(keys.Next()), serial});
    }
  }
  // Cross-check a few answers so that a broken fast path cannot pass as a fast one.
  if (pbds) {
    KeyStream rng(99);
    for (int i = 0; i < 10000; ++i) {
      const uint64_t r = rng.Next();
      auto s = reader.select(r % n);
      auto k = reader.rank(static_cast<int64_t>(r));
      if (!s.ok() || !k.ok() || !s.value().has_value() ||
          *s.value() != tree.find_by_order(r % n)->first ||
          k.value() != tree.order_of_key({static_cast<int64_t>(r), 0})) {
        Die("cowtree and pb_ds disagree at r = " + std::to_string(r));
      }
    }
  }

  std::map<std::string, std::vector<Figures>> all;
  const char* names[] = {"cowtree select", "pbds select", "cowtree rank", "pbds rank"};
  for (uint64_t round = 0; round < rounds; ++round) {
    const uint64_t seed = 7 + round;
    all["cowtree select"].push_back(TimeQueries(queries, samples, seed, [&](uint64_t r) {
      auto k = reader.select(r % n);
      if (!k.ok()) Die("select");
      return static_cast<uint64_t>(*k.value());
    }));
    if (pbds) {
      all["pbds select"].push_back(TimeQueries(queries, samples, seed, [&](uint64_t r) {
        return static_cast<uint64_t>(tree.find_by_order(r % tree.size())->first);
      }));
    }
    all["cowtree rank"].push_back(TimeQueries(queries, samples, seed + 100, [&](uint64_t r) {
      auto k = reader.rank(static_cast<int64_t>(r));
      if (!k.ok()) Die("rank");
      return k.value();
    }));
    if (pbds) {
      all["pbds rank"].push_back(TimeQueries(queries, samples, seed + 100, [&](uint64_t r) {
        return static_cast<uint64_t>(tree.order_of_key({static_cast<int64_t>(r), 0}));
      }));
    }
    for (const char* name : names) {
      if (all[name].size() <= round) continue;
      const Figures& f = all[name][round];
      std::printf("round %llu  %-15s mean %.3f us  p50 %.3f us  p99 %.3f us\n",
                  static_cast<unsigned long long>(round + 1), name, f.mean_us, f.p50_us, f.p99_us);
    }
  }
  std::map<std::string, Figures> med;
  for (const char* name : names) {
    std::vector<double> mean, p50, p99;
    for (const Figures& f : all[name]) {
      mean.push_back(f.mean_us);
      p50.push_back(f.p50_us);
      p99.push_back(f.p99_us);
    }
    med[name] = {Median(mean), Median(p50), Median(p99)};
    if (mean.empty()) continue;
    std::printf("median  %-15s mean %.3f us  p50 %.3f us  p99 %.3f us\n", name, med[name].mean_us,
                med[name].p50_us, med[name].p99_us);
  }
  if (pbds) {
    for (const char* op : {"select", "rank"}) {
      const Figures& c = med[std::string("cowtree ") + op];
      const Figures& p = med[std::string("pbds ") + op];
      std::printf("ratio   cowtree/pbds %-6s mean %.2f  p50 %.2f  p99 %.2f\n", op,
                  c.mean_us / p.mean_us, c.p50_us / p.p50_us, c.p99_us / p.p99_us);
    }
  }
  Check(store->Close(), "close");
  return 0;
}
