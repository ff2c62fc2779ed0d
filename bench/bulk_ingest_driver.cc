// cowtree_bulk_ingest: the bulk-ingest measurement of issue 8, through the public API only (so
// that the same source builds against older revisions for before/after figures).
//
//   cowtree_bulk_ingest DIR random|ascending|random-loader|random-spill ENTRIES
//                       [KEYS_PER_COMMIT=10000] [SEED=1]
//                       [CACHE_MIB=0] [LEAF_CAPACITY=Options default] [LEAF_BYTES=0]
//     Creates tree "t" in a fresh store at DIR (removed first), adds ENTRIES int64 keys with
//     weight 1, KEYS_PER_COMMIT per commit (random: splitmix64 of SEED; ascending: 0, 1, ...),
//     then Close() (which writes the final checkpoint). Prints the time per key including the
//     close, the split (commits / close), the peak RSS (VmHWM) and the tree's entry count after
//     reopen. random-loader: the same random keys through a BulkLoader (cowtree/bulk_loader.h:
//     its default buffer, KEYS_PER_COMMIT ops per commit of a flush; the tree created by a
//     commit of its own first). random-spill: the same through a BulkLoader that spills its full
//     buffers to DIR.spill and merges them at the final Flush (Options::spill_dir;
//     loader_spill_s is the time until that Flush). CACHE_MIB: Options::cache_bytes in MiB (0 =
//     unlimited; docs/memory_budget.md); the reopen for the count uses the same budget.
//     LEAF_CAPACITY / LEAF_BYTES: Options::leaf_capacity_entries / leaf_capacity_bytes (0 = the
//     defaults).
// Output lines are "key: value" so that scripts can take medians. Durability: balanced.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "bench/driver_util.h"
#include "cowtree/cowtree.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

using bench_driver::PeakRssMib;
using bench_driver::SplitMix;

[[noreturn]] void Die(const std::string& what) { bench_driver::Die("cowtree_bulk_ingest", what); }

void Check(const cowtree::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr
        << "usage: cowtree_bulk_ingest DIR random|ascending|random-loader|random-spill ENTRIES "
           "[KEYS_PER_COMMIT] "
           "[SEED] [CACHE_MIB] [LEAF_CAPACITY]\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string order = argv[2];
  if (order != "random" && order != "ascending" && order != "random-loader" &&
      order != "random-spill") {
    Die("order must be random, ascending, random-loader or random-spill");
  }
  const uint64_t entries = std::strtoull(argv[3], nullptr, 10);
  const uint64_t per_commit = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 10000;
  uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 1;
  const uint64_t cache_mib = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 0;
  const uint64_t leaf_capacity = argc > 7 ? std::strtoull(argv[7], nullptr, 10) : 0;
  const uint64_t leaf_bytes = argc > 8 ? std::strtoull(argv[8], nullptr, 10) : 0;
  if (entries == 0 || per_commit == 0) Die("ENTRIES and KEYS_PER_COMMIT must be >= 1");
  std::filesystem::remove_all(dir);
  cowtree::Options o;
  o.durability = cowtree::Durability::kBalanced;
  o.cache_bytes = cache_mib << 20;
  if (leaf_capacity != 0) o.leaf_capacity_entries = static_cast<uint32_t>(leaf_capacity);
  o.leaf_capacity_bytes = static_cast<uint32_t>(leaf_bytes);
  const auto start = Clock::now();
  auto opened = cowtree::Store::Open(dir, o);
  if (!opened.ok()) Die("open: " + opened.status().ToString());
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();
  cowtree::WriteBatch batch = store->NewBatch();
  auto tree = batch.CreateTree<int64_t>("t");
  uint64_t done = 0;
  if (order == "random-loader" || order == "random-spill") {
    Check(store->Commit(batch), "create");
    cowtree::BulkLoader::Options lo;
    lo.commit_ops = static_cast<uint32_t>(per_commit);
    if (order == "random-spill") lo.spill_dir = dir + ".spill";
    auto loader = cowtree::BulkLoader::Create(*store, lo);
    if (!loader.ok()) Die("loader: " + loader.status().ToString());
    for (; done < entries; ++done) {
      Check((*loader)->Add(tree, static_cast<int64_t>(SplitMix(&seed)), 1), "add");
    }
    const auto spilled = Clock::now();
    Check((*loader)->Flush(), "flush");
    std::printf("loader_spill_s: %.3f\n", Seconds(spilled - start));
    std::printf("loader_buffer_bytes: %llu\nloader_commits: %llu\n",
                static_cast<unsigned long long>((*loader)->buffer_bytes()),
                static_cast<unsigned long long>((*loader)->commits()));
  }
  while (done < entries) {
    const uint64_t n = std::min(per_commit, entries - done);
    for (uint64_t i = 0; i < n; ++i) {
      const int64_t key = order == "random" ? static_cast<int64_t>(SplitMix(&seed))
                                            : static_cast<int64_t>(done + i);
      batch.Add(tree, key, 1);
    }
    Check(store->Commit(batch), "commit");
    done += n;
  }
  const auto committed = Clock::now();
  Check(store->Close(), "close");
  const auto closed = Clock::now();
  const double total = Seconds(closed - start);
  std::printf("order: %s\nentries: %llu\nkeys_per_commit: %llu\ncache_mib: %llu\n", order.c_str(),
              static_cast<unsigned long long>(entries), static_cast<unsigned long long>(per_commit),
              static_cast<unsigned long long>(cache_mib));
  std::printf("us_per_key: %.4f\n", total * 1e6 / static_cast<double>(entries));
  std::printf("commit_s: %.3f\nclose_s: %.3f\n", Seconds(committed - start),
              Seconds(closed - committed));
  std::printf("peak_rss_mib: %.1f\n", PeakRssMib());
  // Sanity: reopen and count (not timed).
  auto again = cowtree::Store::Open(dir, o);
  if (!again.ok()) Die("reopen: " + again.status().ToString());
  auto reader = again.value()->GetSnapshot().Tree<int64_t>("t");
  if (!reader.ok()) Die("tree t: " + reader.status().ToString());
  std::printf("count_after_reopen: %llu\n",
              static_cast<unsigned long long>(reader.value().count()));
  Check(again.value()->Close(), "close after reopen");
  return 0;
}
