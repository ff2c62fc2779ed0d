// Side-by-side benchmark (bench/side_by_side/): what every system's runs share.
//
// The driver (main.cc) runs each (workload, system) in a forked child process so that RSS
// figures (VmRSS, VmHWM of /proc/self/status) belong to one system. A child reports through a
// Sink: metrics ("M name value"), ingest progress ("S seconds keys") and latency quantiles
// ("C op quantile ns"), one per line, in a file the parent parses after waitpid.
// Thread-safety: a Sink is used by the child's main thread only. Ticker runs its function on
// its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sbs {

// Sizes of the workloads; the defaults are the (issue 8).
struct Params {
  uint64_t trees = 1000000;           // workload "trees": number of trees created
  uint64_t rocksdb_trees = 10000;     // ...for RocksDB (one column family per tree)
  uint64_t trees_per_batch = 1000;    // creations per commit
  uint64_t entries = 10000000;        // workload "ingest": random int64 keys into one tree
  uint64_t keys_per_commit = 10000;   // ...per commit
  uint64_t queries = 1000000;         // warm select / rank calls timed as one loop
  uint64_t latency_samples = 200000;  // ...of which timed one by one (CDF)
  double strict_seconds = 5.0;        // workload "strict": duration of the commit storm
  int strict_threads = 16;            // committer threads of one run (main.cc sets it per run)
  uint32_t sync_interval_ms = 100;    // "balanced": background sync period of every system
  uint64_t seed = 1;                  // keys of round r use seed r (same keys for every system)
  std::string dir;                    // the child's own empty directory for its store
};

// Metric/progress writer of one child (see the file comment).
class Sink {
 public:
  explicit Sink(const std::string& path);
  ~Sink();
  void Metric(const std::string& name, double value);
  void Progress(double seconds, uint64_t keys);
  // Sorts `latencies_ns` and writes 200 quantiles as "C op q ns" lines, plus the metrics
  // <op>_p50_us and <op>_p99_us.
  void Latencies(const std::string& op, std::vector<double>* latencies_ns);

 private:
  std::FILE* file_;
};

// Wall clock in seconds since an arbitrary origin.
inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// VmRSS / VmHWM of this process in bytes (0 if /proc is unreadable).
uint64_t RssBytes();
// The file-backed part of RssBytes (mapped data files: page cache, not heap).
uint64_t RssFileBytes();
uint64_t PeakRssBytes();
// Sum over the regular files under `dir`: allocated bytes (st_blocks * 512, what du counts)
// and apparent bytes (st_size).
void DirBytes(const std::string& dir, uint64_t* allocated, uint64_t* apparent);
// Reports disk_bytes and disk_apparent_bytes of `dir` and <prefix>disk_bytes_per_<unit>.
void ReportDisk(Sink* sink, const std::string& dir, double units, const std::string& unit);

// splitmix64: the key stream of a round (fast, so that key generation costs ~1 ns/key).
class KeyStream {
 public:
  explicit KeyStream(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 12345) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int64_t NextKey() { return static_cast<int64_t>(Next()); }

 private:
  uint64_t state_;
};

// An int64 key as 8 bytes whose memcmp order is the numeric order (big-endian, sign bit
// flipped): the key encoding of the key-value anchors (LMDB, RocksDB).
struct Key8 {
  unsigned char bytes[8];
  explicit Key8(int64_t k) {
    const uint64_t u = static_cast<uint64_t>(k) ^ (uint64_t{1} << 63);
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(u >> (56 - 8 * i));
  }
};

// The name of tree i in workload "trees" ("g0000042").
std::string TreeName(uint64_t i);
// Number of entries of tree i (1..10), the same for every system.
inline int EntriesOfTree(uint64_t i, uint64_t seed) {
  KeyStream s(seed * 1000003 + i);
  return 1 + static_cast<int>(s.Next() % 10);
}

// Calls fn every period_ms on a background thread until destroyed (the "balanced" background
// sync of the anchors, as cowtree's sync_interval_ms).
class Ticker {
 public:
  Ticker(uint32_t period_ms, std::function<void()> fn);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs `threads` threads calling commit_one(thread_index, i) until `seconds` passed; reports
// commits, commits_per_s, commit_p50_us / commit_p99_us (each call timed), fdatasyncs and
// commits_per_fdatasync. commit_one returns false on error (the child then exits 1).
// `fdatasyncs` (optional) returns how many fdatasyncs the system has issued so far (cowtree:
// its log stats, as its io_uring fdatasyncs are no libc calls); without it the count is
// FdatasyncCalls().
void RunCommitStorm(Sink* sink, int threads, double seconds,
                    const std::function<bool(int, uint64_t)>& commit_one,
                    const std::function<uint64_t()>& fdatasyncs = nullptr);

// fdatasync + fsync calls made through libc by this process so far. common.cc defines both
// functions (they count, then make the system call), and the executable's definitions take
// precedence over libc's for the anchors' shared libraries too.
uint64_t FdatasyncCalls();

[[noreturn]] void Die(const std::string& what);

// Warm random queries: `loop` calls of query(random) timed as one loop (metric <op>_us, the
// mean), then `samples` calls timed one by one (the CDF, <op>_p50_us, <op>_p99_us). query
// returns a value folded into a checksum so that the calls cannot be optimized away.
template <typename Query>
void TimeQueries(Sink* sink, const std::string& op, uint64_t loop, uint64_t samples, uint64_t seed,
                 Query query) {
  KeyStream rng(seed);
  uint64_t checksum = 0;
  const double start = NowSeconds();
  for (uint64_t i = 0; i < loop; ++i) checksum += query(rng.Next());
  sink->Metric(op + "_us", (NowSeconds() - start) * 1e6 / static_cast<double>(loop));
  std::vector<double> ns;
  ns.reserve(samples);
  for (uint64_t i = 0; i < samples; ++i) {
    const uint64_t r = rng.Next();
    const auto t0 = std::chrono::steady_clock::now();
    checksum += query(r);
    const auto t1 = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  sink->Latencies(op, &ns);
  if (checksum == 42) std::fprintf(stderr, " ");  // keeps the checksum live
}

// One system's entry points. A missing one means "not applicable" for that workload.
using Run = std::function<void(const Params&, Sink*)>;
struct System {
  std::string name;
  Run trees_create;  // create Params::trees trees, close; metrics below
  Run trees_reopen;  // reopen that store: open_s, first_query_s, rss_after_open_bytes
  Run ingest;        // ingest Params::entries keys, close
  Run query;         // reopen the ingested store, first query, full read, warm select/rank
  Run strict;        // commit storm
};

System CowtreeSystem();
System CowtreeLoaderSystem();  // ingest through a BulkLoader, queries as "cowtree"
System LmdbSystem(bool one_txn);
System RocksdbSystem();
System SqliteSystem();
System PbdsSystem();
System RawSyncSystem();
System RawAppendSyncSystem();

}  // namespace sbs
