// Compaction after churn (docs/compaction.md), with an anchor measured in the same run:
//   BM_CompactAfterChurn/N: one tree of N int64 keys (default shape and segment size) is
//     churned as the issue says (update half the keys five times, a checkpoint after each
//     round; delete 30 %: the lowest keys), then ONE timed Runtime::Compact round (no rate
//     limit). Counters: store bytes before/after (file sizes of the whole directory), disk
//     blocks after (st_blocks: punched holes not counted), live slot bytes, ratios to live,
//     relocated MB/s (relocated slot bytes / round time, the
//     round's two checkpoints, fdatasyncs and ftruncate included).
//   BM_CopyAnchor/N: pread + pwrite of the same number of 4 KiB blocks from one file into
//     another, then one fdatasync: the raw copy rate of this disk, for the ratio.
// Run: ./build/compaction_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// COWTREE_COMPACTION_BENCH_KEEP=DIR copies the churned store (before compaction) to DIR, for
// `cowtree compact --db DIR`.
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>

#include "recovery/open.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"

namespace {

using namespace cowtree;

std::string FreshDir(const char* tag) {
  const std::string dir =
      (std::filesystem::temp_directory_path() /
       ("cowtree-compaction-bench-" + std::string(tag) + "-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(dir);
  return dir;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Disk blocks of the directory's files (what `du` counts: punched holes are not).
uint64_t DirAllocatedBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

void Check(const Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "compaction_bench: %s\n", st.ToString().c_str());
    std::abort();
  }
}

void Churn(Runtime* rt, int64_t n) {
  std::mt19937_64 rng(11);
  std::map<int64_t, int64_t> weights;
  TreeId id = 0;
  auto commit = [&](const std::vector<std::pair<int64_t, int64_t>>& ops) {
    for (size_t i = 0; i < ops.size(); i += 10000) {
      RuntimeWriteBatch batch(rt);
      if (id == 0) {
        id = batch.CreateTree("t", tree::kOrderStatTreeTypeId,
                              tree::OrderStatTreeParams(tree::KeyType::kInt64));
      }
      for (size_t j = i; j < std::min(ops.size(), i + 10000); ++j) {
        tree::AppendOrderStatOp(batch.MutableOps(id), tree::EncodeInt64Key(ops[j].first),
                                ops[j].second);
        weights[ops[j].first] += ops[j].second;
      }
      Check(rt->Commit(batch));
    }
    Check(rt->Checkpoint());
  };
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = i * 7;
  std::shuffle(keys.begin(), keys.end(), rng);
  std::vector<std::pair<int64_t, int64_t>> ops;
  for (int64_t k : keys) ops.emplace_back(k, 1);
  commit(ops);
  std::vector<int64_t> half(keys.begin(), keys.begin() + n / 2);
  for (int round = 0; round < 5; ++round) {
    ops.clear();
    std::shuffle(half.begin(), half.end(), rng);
    for (int64_t k : half) ops.emplace_back(k, 1);
    commit(ops);
  }
  ops.clear();
  for (int64_t i = 0; i < n * 3 / 10; ++i) ops.emplace_back(i * 7, -weights[i * 7]);
  commit(ops);
}

void BM_CompactAfterChurn(benchmark::State& state) {
  const int64_t n = state.range(0);
  double before = 0, after = 0, allocated_after = 0, live = 0, relocated = 0, secs = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string dir = FreshDir("churn");
    RuntimeOptions o;
    o.background_thread = false;
    o.compaction_dead_ratio = 0;
    auto rt = recovery::Open(dir, o);
    Check(rt.status());
    Churn(rt->get(), n);
    before = static_cast<double>(DirBytes(dir));
    if (const char* keep = std::getenv("COWTREE_COMPACTION_BENCH_KEEP")) {
      Check((*rt)->SyncLog());
      std::filesystem::remove_all(keep);
      std::filesystem::copy(dir, keep);
    }
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    CompactionReport r;
    Check((*rt)->Compact(CompactionOptions{}, &r));
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    relocated = static_cast<double>(r.relocated_bytes);
    after = static_cast<double>(DirBytes(dir));
    allocated_after = static_cast<double>(DirAllocatedBytes(dir));
    live = 0;
    (*rt)->object_store()->table().ForEachLive([&](NodeID, const OtEntry& e) {
      if (!e.retired()) live += e.address.size_class_bytes;
    });
    Check((*rt)->Close());
    rt->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.counters["bytes_before"] = before;
  state.counters["bytes_after"] = after;
  state.counters["live_slot_bytes"] = live;
  state.counters["after_over_live"] = after / live;
  state.counters["allocated_after"] = allocated_after;
  state.counters["allocated_after_over_live"] = allocated_after / live;
  state.counters["relocated_MBps"] = relocated / secs / 1e6;
  state.counters["relocated_MB"] = relocated / 1e6;
}
BENCHMARK(BM_CompactAfterChurn)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_CopyAnchor(benchmark::State& state) {
  const uint64_t bytes = static_cast<uint64_t>(state.range(0));
  const std::string dir = FreshDir("copy");
  std::filesystem::create_directories(dir);
  Env* env = Env::Default();
  const std::string block(4096, 'x');
  {
    auto src = env->OpenFile(dir + "/src", OpenMode::kCreate);
    Check(src.status());
    for (uint64_t off = 0; off < bytes; off += block.size()) Check((*src)->WriteAt(off, block));
    Check((*src)->Sync());
  }
  double secs = 0;
  for (auto _ : state) {
    auto src = env->OpenFile(dir + "/src", OpenMode::kReadOnly);
    auto dst = env->OpenFile(dir + "/dst", OpenMode::kCreate);
    Check(src.status());
    Check(dst.status());
    std::string buf(4096, '\0');
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < bytes; off += buf.size()) {
      size_t got = 0;
      Check((*src)->ReadAt(off, buf.size(), buf.data(), &got));
      Check((*dst)->WriteAt(off, buf));
    }
    Check((*dst)->Sync());
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["copy_MBps"] = static_cast<double>(bytes) / secs / 1e6;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CopyAnchor)->Arg(64 << 20)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
