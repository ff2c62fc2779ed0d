// cowtree_small_trees: the "many small trees" measurement of issue 8, through the public API
// only (so that the same source builds against older revisions for before/after figures).
//
//   cowtree_small_trees create DIR TREES [BATCH=1000] [CHECKPOINT_EVERY_BATCHES=0]
//     Creates TREES trees named t<i> with 1..10 entries each (deterministic from i), BATCH
//     creations per commit; CHECKPOINT_EVERY_BATCHES > 0 also checkpoints every that many
//     batches. Ends with Checkpoint + Close. Prints us/tree (including the checkpoints and
//     Close) and bytes on disk per tree (allocated blocks, and apparent file sizes).
//   cowtree_small_trees reopen DIR TREES [QUERIES=1000]
//     Opens the store, reads one tree (time "open -> first query"), prints RSS after open, then
//     checks QUERIES random trees' answers against the generator (count, entry_count, select).
// Output lines are "key: value" so that scripts can take medians.
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "cowtree/cowtree.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds (user + system) of this process so far: on a shared, overloaded machine the wall
// time also counts the time spent waiting for a core.
double CpuSeconds() {
  struct rusage u;
  ::getrusage(RUSAGE_SELF, &u);
  const auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// The entries of tree i: 1..10 distinct keys, weights 1..3 (deterministic).
// splitmix64: cheap to seed per tree (the driver's own cost stays out of the figures).
struct SplitMix {
  uint64_t s;
  uint64_t operator()() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

std::map<int64_t, int64_t> EntriesOf(uint64_t i) {
  SplitMix rng{i};
  const int n = 1 + static_cast<int>(rng() % 10);
  std::map<int64_t, int64_t> out;
  while (static_cast<int>(out.size()) < n) {
    out[static_cast<int64_t>(rng() % 1000000) - 500000] = 1 + static_cast<int64_t>(rng() % 3);
  }
  return out;
}

std::string NameOf(uint64_t i) { return "t" + std::to_string(i); }

uint64_t RssKiB(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0)
      return std::strtoull(line.c_str() + std::string(field).size(), nullptr, 10);
  }
  return 0;
}

void DiskBytes(const std::string& dir, uint64_t* allocated, uint64_t* apparent) {
  *allocated = 0;
  *apparent = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st;
    if (::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    *allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    *apparent += static_cast<uint64_t>(st.st_size);
  }
}

int Fail(const cowtree::Status& st) {
  std::cerr << "error: " << st.ToString() << "\n";
  return 1;
}

int Create(const std::string& dir, uint64_t trees, uint64_t batch_size, uint64_t ckpt_every) {
  cowtree::Options o;
  o.error_if_exists = true;
  const auto t0 = Clock::now();
  const double cpu0 = CpuSeconds();
  auto store = cowtree::Store::Open(dir, o);
  if (!store.ok()) return Fail(store.status());
  uint64_t batches = 0;
  for (uint64_t first = 0; first < trees; first += batch_size) {
    cowtree::WriteBatch b = (*store)->NewBatch();
    for (uint64_t i = first; i < std::min(trees, first + batch_size); ++i) {
      auto h = b.CreateTree<int64_t>(NameOf(i));
      for (const auto& [k, w] : EntriesOf(i)) b.Add(h, k, w);
    }
    if (auto st = (*store)->Commit(b); !st.ok()) return Fail(st);
    if (ckpt_every > 0 && ++batches % ckpt_every == 0) {
      if (auto st = (*store)->Checkpoint(); !st.ok()) return Fail(st);
    }
  }
  const auto t_commits = Clock::now();
  if (auto st = (*store)->Checkpoint(); !st.ok()) return Fail(st);
  if (auto st = (*store)->Close(); !st.ok()) return Fail(st);
  const auto t1 = Clock::now();
  uint64_t allocated = 0, apparent = 0;
  DiskBytes(dir, &allocated, &apparent);
  std::cout << "trees: " << trees << "\n"
            << "us_per_tree_total: " << Seconds(t1 - t0) * 1e6 / trees << "\n"
            << "cpu_us_per_tree_total: " << (CpuSeconds() - cpu0) * 1e6 / trees << "\n"
            << "us_per_tree_commits: " << Seconds(t_commits - t0) * 1e6 / trees << "\n"
            << "final_checkpoint_s: " << Seconds(t1 - t_commits) << "\n"
            << "disk_bytes_per_tree_allocated: " << allocated / trees << "\n"
            << "disk_bytes_per_tree_apparent: " << apparent / trees << "\n"
            << "peak_rss_mib: " << RssKiB("VmHWM:") / 1024 << "\n";
  return 0;
}

int Reopen(const std::string& dir, uint64_t trees, uint64_t queries) {
  cowtree::Options o;
  o.create_if_missing = false;
  o.checkpoint_on_close = false;
  const auto t0 = Clock::now();
  const double cpu0 = CpuSeconds();
  auto store = cowtree::Store::Open(dir, o);
  if (!store.ok()) return Fail(store.status());
  const auto t_open = Clock::now();
  const uint64_t rss_open_kib = RssKiB("VmRSS:");
  const uint64_t rss_anon_open_kib = RssKiB("RssAnon:");
  const uint64_t rss_file_open_kib = RssKiB("RssFile:");
  cowtree::Snapshot snap = (*store)->GetSnapshot();
  std::mt19937_64 rng(7);
  uint64_t first = rng() % trees;
  auto reader = snap.Tree<int64_t>(NameOf(first));
  if (!reader.ok()) return Fail(reader.status());
  auto sel = reader->select(0);
  if (!sel.ok()) return Fail(sel.status());
  const auto t_first = Clock::now();
  const double cpu_first = CpuSeconds() - cpu0;
  uint64_t mismatches = 0;
  for (uint64_t q = 0; q < queries; ++q) {
    const uint64_t i = q == 0 ? first : rng() % trees;
    auto r = snap.Tree<int64_t>(NameOf(i));
    if (!r.ok()) return Fail(r.status());
    const auto expected = EntriesOf(i);
    uint64_t n = 0;
    for (const auto& [k, w] : expected) n += static_cast<uint64_t>(w);
    auto s0 = r->select(0);
    if (r->count() != n || r->entry_count() != expected.size() || !s0.ok() || !s0->has_value() ||
        **s0 != expected.begin()->first) {
      ++mismatches;
    }
  }
  std::cout << "open_s: " << Seconds(t_open - t0) << "\n"
            << "open_to_first_query_s: " << Seconds(t_first - t0) << "\n"
            << "open_to_first_query_cpu_s: " << cpu_first << "\n"
            << "rss_after_open_mib: " << rss_open_kib / 1024 << "\n"
            << "rss_anon_after_open_mib: " << rss_anon_open_kib / 1024 << "\n"
            << "rss_file_after_open_mib: " << rss_file_open_kib / 1024 << "\n"
            << "rss_after_queries_mib: " << RssKiB("VmRSS:") / 1024 << "\n"
            << "queries_checked: " << queries << "\n"
            << "mismatches: " << mismatches << "\n";
  return mismatches == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: cowtree_small_trees create DIR TREES [BATCH] [CHECKPOINT_EVERY]\n"
                 "       cowtree_small_trees reopen DIR TREES [QUERIES]\n";
    return 64;
  }
  const std::string cmd = argv[1], dir = argv[2];
  const uint64_t trees = std::strtoull(argv[3], nullptr, 10);
  if (trees == 0) return 64;
  if (cmd == "create") {
    return Create(dir, trees, argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000,
                  argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0);
  }
  if (cmd == "reopen")
    return Reopen(dir, trees, argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000);
  return 64;
}
