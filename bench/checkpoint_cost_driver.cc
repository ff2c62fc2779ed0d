// cowtree_checkpoint_cost: what one checkpoint of a large tree costs when few of its leaves
// changed (issue 8: under a memory budget smaller than the tree, every commit checkpoints).
// Public API only, so that the same source builds against older revisions.
//
//   cowtree_checkpoint_cost DIR ENTRIES [DIRTY_KEYS=100] [ROUNDS=20] [CACHE_MIB=0]
//     Creates tree "t" in a fresh store at DIR (removed first) holding ENTRIES ascending int64
//     keys of weight 1 (100 000 per commit), checkpoints, then ROUNDS times: one commit of
//     DIRTY_KEYS random keys (splitmix64; each touches at most one leaf), then Checkpoint(),
//     timed alone. Prints the median, min and max checkpoint time in ms, the leaves of the tree
//     (ENTRIES / leaf capacity, approximately) and the count after the rounds (checked).
// Output lines are "key: value". Durability: balanced.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/driver_util.h"
#include "cowtree/cowtree.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  bench_driver::Die("cowtree_checkpoint_cost", what);
}

void Check(const cowtree::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: cowtree_checkpoint_cost DIR ENTRIES [DIRTY_KEYS] [ROUNDS] [CACHE_MIB]\n");
    return 2;
  }
  const std::string dir = argv[1];
  using bench_driver::ArgOr;
  const uint64_t entries = ArgOr(argc, argv, 2, 0);
  const uint64_t dirty_keys = ArgOr(argc, argv, 3, 100);
  const uint64_t rounds = ArgOr(argc, argv, 4, 20);
  if (entries == 0 || rounds == 0) Die("ENTRIES and ROUNDS must be >= 1");
  std::filesystem::remove_all(dir);
  cowtree::Options o;
  o.durability = cowtree::Durability::kBalanced;
  o.cache_bytes = ArgOr(argc, argv, 5, 0) << 20;
  auto opened = cowtree::Store::Open(dir, o);
  if (!opened.ok()) Die("open: " + opened.status().ToString());
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();
  cowtree::WriteBatch batch = store->NewBatch();
  auto tree = batch.CreateTree<int64_t>("t");
  constexpr uint64_t kLoadPerCommit = 100000;
  for (uint64_t done = 0; done < entries;) {
    const uint64_t n = std::min(kLoadPerCommit, entries - done);
    // Keys 2i: the odd keys the rounds add are new entries.
    for (uint64_t i = 0; i < n; ++i) batch.Add(tree, static_cast<int64_t>(2 * (done + i)), 1);
    Check(store->Commit(batch), "commit");
    done += n;
  }
  Check(store->Checkpoint(), "checkpoint after the load");
  uint64_t seed = 1;
  std::vector<double> ms;
  for (uint64_t r = 0; r < rounds; ++r) {
    for (uint64_t i = 0; i < dirty_keys; ++i) {
      const uint64_t k = bench_driver::SplitMix(&seed) % entries;
      batch.Add(tree, static_cast<int64_t>(2 * k + 1), 1);
    }
    Check(store->Commit(batch), "commit");
    const auto start = Clock::now();
    Check(store->Checkpoint(), "checkpoint");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("entries: %llu\ndirty_keys: %llu\nrounds: %llu\n",
              static_cast<unsigned long long>(entries), static_cast<unsigned long long>(dirty_keys),
              static_cast<unsigned long long>(rounds));
  std::printf("checkpoint_ms_median: %.3f\ncheckpoint_ms_min: %.3f\ncheckpoint_ms_max: %.3f\n",
              ms[ms.size() / 2], ms.front(), ms.back());
  std::printf("peak_rss_mib: %.1f\n", bench_driver::PeakRssMib());
  auto reader = store->GetSnapshot().Tree<int64_t>("t");
  if (!reader.ok()) Die("tree t: " + reader.status().ToString());
  const uint64_t count = reader.value().count();
  if (count != entries + rounds * dirty_keys) {
    Die("count " + std::to_string(count) + ", expected " +
        std::to_string(entries + rounds * dirty_keys));
  }
  std::printf("count: %llu\n", static_cast<unsigned long long>(count));
  Check(store->Close(), "close");
  return 0;
}
