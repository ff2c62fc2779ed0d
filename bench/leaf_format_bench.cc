// Encode and decode of one leaf body (tree/node_format.h): what a checkpoint pays per dirty
// leaf it writes, and a re-read under a memory budget per leaf it loads. The leaf is the
// shape a random ingest makes: 240 int64 keys drawn from 10 M random ones (gaps of ~2^40.7,
// six bytes each), with weight 1 (the unit weights flag: no weights run) or weights 1..3.
//
//   build/leaf_format_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <random>

#include "tree/leaf_pool.h"
#include "tree/node_format.h"

namespace cowtree::tree {
namespace {

constexpr int kEntries = 240;

LeafData RandomLeaf(bool unit_weights) {
  std::mt19937_64 rng(42);
  LeafData d;
  uint64_t key = rng() >> 8;
  for (int i = 0; i < kEntries; ++i) {
    d.keys.push_back(key);
    if (!unit_weights) d.weights.push_back(1 + static_cast<int64_t>(rng() % 3));
    key += 1 + rng() % (uint64_t{1} << 42);  // mean gap 2^41: random keys out of ~10 M
  }
  return d;
}

void BM_EncodeLeaf(benchmark::State& state) {
  const LeafData leaf = RandomLeaf(state.range(0) == 1);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string body = EncodeLeaf(KeyType::kInt64, leaf);
    bytes += body.size();
    benchmark::DoNotOptimize(body);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["body_bytes"] = static_cast<double>(EncodedLeafBytes(leaf));
}

void BM_DecodeLeaf(benchmark::State& state) {
  const std::string body = EncodeLeaf(KeyType::kInt64, RandomLeaf(state.range(0) == 1));
  LeafDataPool pool;
  for (auto _ : state) {
    auto leaf = DecodeLeaf(body, KeyType::kInt64, &pool);
    if (!leaf.ok()) state.SkipWithError(leaf.status().ToString().c_str());
    benchmark::DoNotOptimize(leaf);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

// Arg 1: every weight 1 (flag set, no weights run); 0: weights 1..3.
BENCHMARK(BM_EncodeLeaf)->Arg(1)->Arg(0);
BENCHMARK(BM_DecodeLeaf)->Arg(1)->Arg(0);

}  // namespace
}  // namespace cowtree::tree
