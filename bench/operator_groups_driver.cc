// The grouped percentile operator with many groups (issue 9 "Many trees"): creates G groups
// through PercentileOperator::Step (batches of 10 000 new groups, 1-3 values each), closes,
// reopens, then runs steps that touch 10 000 random existing groups. Public API only.
// Prints key: value lines (bytes on disk per group, times, RSS).
//
//   operator_groups_driver DIR [GROUPS=1000000] [TOUCH_STEPS=5] [reopen]
// With `reopen` the store in DIR (made by an earlier run with the same GROUPS) is only
// reopened and stepped: RSS after open is then this process's alone.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A field of /proc/self/status in KiB ("VmRSS:" now, "VmHWM:" the peak so far).
uint64_t StatusKib(const char* field = "VmRSS:") {
  const std::string prefix = field;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) {
      return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
    }
  }
  return 0;
}
uint64_t RssKib() { return StatusKib(); }

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

std::string GroupName(uint64_t g) { return "g" + std::to_string(g); }

cowtree::OperatorSpec Spec() {
  cowtree::OperatorSpec spec;
  spec.outputs = {{0.5}, {0.99}};
  return spec;
}

int Fail(const cowtree::Status& st) {
  std::fprintf(stderr, "operator_groups_driver: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: operator_groups_driver DIR [GROUPS] [TOUCH_STEPS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t groups = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
  const int touch_steps = argc > 3 ? std::atoi(argv[3]) : 5;
  constexpr uint64_t kBatchGroups = 10000;
  const bool reopen_only = argc > 4 && std::string(argv[4]) == "reopen";
  std::mt19937_64 rng(1);
  if (!reopen_only) {
    auto store = cowtree::Store::Open(dir, cowtree::Options());
    if (!store.ok()) return Fail(store.status());
    auto op = cowtree::PercentileOperator<int64_t>::Create(store->get(), Spec());
    if (!op.ok()) return Fail(op.status());
    const auto t0 = Clock::now();
    uint64_t deltas = 0;
    for (uint64_t first = 0; first < groups; first += kBatchGroups) {
      std::vector<cowtree::InputDelta<int64_t>> batch;
      for (uint64_t g = first; g < std::min(groups, first + kBatchGroups); ++g) {
        const int values = 1 + static_cast<int>(rng() % 3);
        for (int v = 0; v < values; ++v) {
          batch.push_back({GroupName(g), static_cast<int64_t>(rng() % 1000), 1});
        }
      }
      auto d = (*op)->Step(batch);
      if (!d.ok()) return Fail(d.status());
      deltas += d->size();
    }
    cowtree::Status st = (*store)->Close();
    if (!st.ok()) return Fail(st);
    const double s = Seconds(t0);
    std::printf("groups: %llu\ncreate_us_per_group: %.2f (incl. close + checkpoint)\n",
                static_cast<unsigned long long>(groups), s * 1e6 / static_cast<double>(groups));
    std::printf("output_deltas: %llu\n", static_cast<unsigned long long>(deltas));
    if (deltas != groups) {  // every new group emits exactly its +1 row
      std::fprintf(stderr, "operator_groups_driver: %llu output deltas for %llu new groups\n",
                   static_cast<unsigned long long>(deltas),
                   static_cast<unsigned long long>(groups));
      return 1;
    }
    std::printf("bytes_on_disk_per_group: %.1f\n",
                static_cast<double>(DirBytes(dir)) / static_cast<double>(groups));
    // The peak of the creation phase alone (the reopen below reads every group for Answers).
    std::printf("create_peak_rss_mib: %.1f\n", static_cast<double>(StatusKib("VmHWM:")) / 1024.0);
  }
  const uint64_t rss_before_kib = RssKib();
  const auto t_open = Clock::now();
  auto store = cowtree::Store::Open(dir, cowtree::Options());
  if (!store.ok()) return Fail(store.status());
  auto op = cowtree::PercentileOperator<int64_t>::Create(store->get(), Spec());
  if (!op.ok()) return Fail(op.status());
  const double open_s = Seconds(t_open);
  std::printf("reopen_s: %.3f\nrss_after_open_mib: %.1f (process before open: %.1f)\n", open_s,
              static_cast<double>(RssKib()) / 1024.0, static_cast<double>(rss_before_kib) / 1024.0);
  std::vector<double> step_ms;
  for (int s = 0; s < touch_steps; ++s) {
    std::vector<cowtree::InputDelta<int64_t>> batch;
    for (uint64_t i = 0; i < kBatchGroups; ++i) {
      batch.push_back({GroupName(rng() % groups), static_cast<int64_t>(rng() % 1000), 1});
    }
    const auto t = Clock::now();
    auto d = (*op)->Step(batch);
    if (!d.ok()) return Fail(d.status());
    step_ms.push_back(Seconds(t) * 1e3);
    // A touched group's row changes (n grows): one -1 and one +1 per distinct group.
    if (d->empty() || d->size() % 2 != 0 || d->size() > 2 * kBatchGroups) {
      std::fprintf(stderr, "operator_groups_driver: %zu output deltas for a step\n", d->size());
      return 1;
    }
  }
  std::sort(step_ms.begin(), step_ms.end());
  if (!step_ms.empty()) {
    std::printf(
        "step_touching_10000_groups_ms: median %.1f, min %.1f, max %.1f (%d steps; the "
        "first ones restore the groups they touch)\n",
        step_ms[step_ms.size() / 2], step_ms.front(), step_ms.back(), touch_steps);
  }
  std::printf("rss_end_mib: %.1f\n", static_cast<double>(RssKib()) / 1024.0);
  auto answers = (*op)->Answers((*store)->GetSnapshot());
  if (!answers.ok()) return Fail(answers.status());
  if (answers->size() != groups) {
    std::fprintf(stderr, "operator_groups_driver: %zu rows for %llu groups\n", answers->size(),
                 static_cast<unsigned long long>(groups));
    return 1;
  }
  const cowtree::Status st = (*store)->Close();
  return st.ok() ? 0 : Fail(st);
}
