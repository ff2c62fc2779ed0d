// Order-statistics tree vs the GNU pb_ds order-statistics red-black tree (DESIGN.md's anchor),
// side by side in one run: bulk insert of N random int64 keys, select (k-th) and rank.
// pb_ds holds a multiset as (key, serial) pairs; cowtree holds (key, weight) entries. Both are
// in memory here (cowtree's persistence costs are measured by `cowtree bench`).
//   ./build/tree_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <random>
#include <vector>

#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"

namespace {

using PbdsTree =
    __gnu_pbds::tree<std::pair<int64_t, uint64_t>, __gnu_pbds::null_type, std::less<>,
                     __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;

std::vector<int64_t> Keys(size_t n) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> keys(n);
  for (auto& k : keys) k = static_cast<int64_t>(rng() % (n * 4));
  return keys;
}

// Builds the cowtree version in batches of `batch` ops (one epoch per batch, as commits do).
std::shared_ptr<const cowtree::tree::TreeVersion> BuildOrderStatTree(cowtree::tree::OrderStatTree* tree,
                                                              const std::vector<int64_t>& keys,
                                                              size_t batch) {
  std::vector<cowtree::tree::KeyWeight> ops;
  uint64_t epoch = 1;
  for (size_t i = 0; i < keys.size(); i += batch) {
    ops.clear();
    for (size_t j = i; j < std::min(keys.size(), i + batch); ++j) {
      ops.push_back({cowtree::tree::EncodeInt64Key(keys[j]), 1});
    }
    std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.key < b.key; });
    size_t w = 0;
    for (size_t r = 0; r < ops.size(); ++r) {
      if (w > 0 && ops[w - 1].key == ops[r].key)
        ops[w - 1].weight += 1;
      else
        ops[w++] = ops[r];
    }
    ops.resize(w);
    if (!tree->Apply(ops, epoch++).ok()) std::abort();
  }
  return tree->current();
}

void BM_CowtreeInsert(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    cowtree::tree::OrderStatTree tree(cowtree::tree::KeyType::kInt64, cowtree::tree::kDefaultTreeShape,
                               nullptr);
    benchmark::DoNotOptimize(BuildOrderStatTree(&tree, keys, 10000));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(keys.size()));
}

void BM_PbdsInsert(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    PbdsTree t;
    uint64_t serial = 0;
    for (int64_t k : keys) t.insert({k, serial++});
    benchmark::DoNotOptimize(t.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(keys.size()));
}

void BM_CowtreeSelect(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  cowtree::tree::OrderStatTree tree(cowtree::tree::KeyType::kInt64, cowtree::tree::kDefaultTreeShape,
                             nullptr);
  auto v = BuildOrderStatTree(&tree, keys, 10000);
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto r = cowtree::tree::Select(*v, rng() % keys.size(), false);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PbdsSelect(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  PbdsTree t;
  uint64_t serial = 0;
  for (int64_t k : keys) t.insert({k, serial++});
  std::mt19937_64 rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(t.find_by_order(rng() % keys.size()));
  state.SetItemsProcessed(state.iterations());
}

void BM_CowtreeRank(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  cowtree::tree::OrderStatTree tree(cowtree::tree::KeyType::kInt64, cowtree::tree::kDefaultTreeShape,
                             nullptr);
  auto v = BuildOrderStatTree(&tree, keys, 10000);
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    auto r = cowtree::tree::Rank(*v, cowtree::tree::EncodeInt64Key(keys[rng() % keys.size()]));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PbdsRank(benchmark::State& state) {
  const auto keys = Keys(static_cast<size_t>(state.range(0)));
  PbdsTree t;
  uint64_t serial = 0;
  for (int64_t k : keys) t.insert({k, serial++});
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.order_of_key({keys[rng() % keys.size()], 0}));
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_CowtreeInsert)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PbdsInsert)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CowtreeSelect)->Arg(1 << 20);
BENCHMARK(BM_PbdsSelect)->Arg(1 << 20);
BENCHMARK(BM_CowtreeRank)->Arg(1 << 20);
BENCHMARK(BM_PbdsRank)->Arg(1 << 20);

}  // namespace
