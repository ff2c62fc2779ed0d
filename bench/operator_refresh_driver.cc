// Refresh time of the grouped percentile operator (issue 9): PercentileOperator<double> over a
// CSV of (group, value) rows — the flights file: origin, delay — with PERCENTILE_CONT 0.5, 0.9
// and 0.99 per group. The rows but the last (warmup_steps + steps) × batch_rows build the state
// (in steps of 100 000 rows), then a checkpoint; then the remaining batches are Steps, back to
// back, as a streaming engine sends them: the first `warmup_steps` untimed (the first Step after
// the checkpoint is reported on its own), the next `steps` timed, each: Step's commit + output
// deltas of the changed groups. The batches are built before the clock starts (the engine hands
// them over ready). refresh_cpu_ms: the stepping thread's CPU time in the same Steps (not
// inflated by waits for a core on a loaded machine; the store's background threads excluded).
// Anchor, in the same run, after the timed steps (so that it does not evict the caches between
// them): recomputing every group's answers from scratch in memory (values per group sorted,
// the same three percentiles), as a batch engine would after each batch; 3 times on the final
// input, median.
//
// Usage: operator_refresh_driver CSV DIR [steps=5] [batch_rows=10000] [warmup_steps=5]
//   CSV: plain (decompress first: zstd -dc flights-3m.csv.zst > flights.csv); header with
//   columns "origin" and "delay". DIR must not exist. Prints key: value lines.
// The driver checks itself: the operator's answers after the last step equal the recompute.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"

namespace {

using cowtree::InputDelta;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time of the calling thread (a Step's own work, without the time it waited for a core on a
// loaded machine, and without the store's background threads).
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// PostgreSQL's percentile_cont on sorted values.
double Cont(const std::vector<double>& sorted, double p) {
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
  if (lo == hi) return sorted[lo];
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::map<std::string, std::vector<double>> Recompute(
    const std::vector<std::pair<std::string, double>>& rows, size_t end) {
  std::map<std::string, std::vector<double>> groups;
  for (size_t i = 0; i < end; ++i) groups[rows[i].first].push_back(rows[i].second);
  std::map<std::string, std::vector<double>> out;
  for (auto& [g, v] : groups) {
    std::sort(v.begin(), v.end());
    out[g] = {Cont(v, 0.5), Cont(v, 0.9), Cont(v, 0.99)};
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CSV DIR [steps] [batch_rows] [warmup_steps]\n", argv[0]);
    return 2;
  }
  const size_t steps = argc > 3 ? std::stoul(argv[3]) : 5;
  const size_t batch_rows = argc > 4 ? std::stoul(argv[4]) : 10000;
  const size_t warmup_steps = argc > 5 ? std::stoul(argv[5]) : 5;
  std::ifstream in(argv[1]);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  for (std::stringstream ss(line); std::getline(ss, line, ',');) header.push_back(line);
  const auto col = [&](const char* name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const size_t g_col = col("origin"), v_col = col("delay");
  std::vector<std::pair<std::string, double>> rows;
  std::vector<std::string> fields;
  while (std::getline(in, line)) {
    fields.clear();
    for (std::stringstream ss(line); std::getline(ss, line, ',');) fields.push_back(line);
    if (fields.size() <= std::max(g_col, v_col) || fields[v_col].empty()) continue;
    rows.emplace_back(fields[g_col], std::stod(fields[v_col]));
  }
  const size_t stream_batches = warmup_steps + steps;
  if (steps == 0 || batch_rows == 0 || rows.size() < stream_batches * batch_rows) {
    std::fprintf(stderr, "too few rows\n");
    return 2;
  }
  cowtree::Options o;
  o.error_if_exists = true;
  o.durability = cowtree::Durability::kBalanced;
  auto store = cowtree::Store::Open(argv[2], o).value();
  cowtree::OperatorSpec spec;
  spec.outputs = {{0.5}, {0.9}, {0.99}};
  auto op = cowtree::PercentileOperator<double>::Create(store.get(), spec).value();
  const size_t base = rows.size() - stream_batches * batch_rows;
  const auto make_batch = [&](size_t from, size_t to) {
    std::vector<InputDelta<double>> batch;
    batch.reserve(to - from);
    for (size_t i = from; i < to; ++i) batch.push_back({rows[i].first, rows[i].second, 1});
    return batch;
  };
  for (size_t i = 0; i < base; i += 100000) {
    (void)op->Step(make_batch(i, std::min(base, i + 100000))).value();
  }
  if (!store->Checkpoint().ok()) return 1;
  std::vector<std::vector<InputDelta<double>>> stream;
  for (size_t s = 0; s < stream_batches; ++s) {
    stream.push_back(make_batch(base + s * batch_rows, base + (s + 1) * batch_rows));
  }
  std::vector<double> refresh_ms, refresh_cpu_ms, recompute_ms;
  double first_after_checkpoint_ms = 0;
  size_t deltas = 0;
  for (size_t s = 0; s < stream_batches; ++s) {
    const double cpu0 = ThreadCpuMs();
    const auto t0 = Clock::now();
    deltas += op->Step(stream[s]).value().size();
    const double ms = Ms(Clock::now() - t0);
    const double cpu_ms = ThreadCpuMs() - cpu0;
    if (s == 0) first_after_checkpoint_ms = ms;
    if (s >= warmup_steps) {
      refresh_ms.push_back(ms);
      refresh_cpu_ms.push_back(cpu_ms);
    }
  }
  std::map<std::string, std::vector<double>> expected;
  for (int k = 0; k < 3; ++k) {
    const auto t1 = Clock::now();
    expected = Recompute(rows, rows.size());
    recompute_ms.push_back(Ms(Clock::now() - t1));
  }
  // Self-check: the operator's table equals the recompute.
  size_t mismatches = 0;
  const auto answers = op->Answers(store->GetSnapshot()).value();
  for (const auto& row : answers) {
    const auto& e = expected.at(*row.group);
    for (size_t k = 0; k < 3; ++k) mismatches += row.values[k].cont != e[k];
  }
  if (answers.size() != expected.size()) ++mismatches;
  std::printf("rows_state: %zu\ngroups: %zu\nbatch_rows: %zu\nwarmup_steps: %zu\nsteps: %zu\n",
              base + warmup_steps * batch_rows, expected.size(), batch_rows, warmup_steps, steps);
  std::printf("refresh_ms_median: %.3f\nrefresh_ms_min: %.3f\nrefresh_ms_max: %.3f\n",
              Median(refresh_ms), *std::min_element(refresh_ms.begin(), refresh_ms.end()),
              *std::max_element(refresh_ms.begin(), refresh_ms.end()));
  std::printf("refresh_cpu_ms_median: %.3f\n", Median(refresh_cpu_ms));
  std::printf("first_step_after_checkpoint_ms: %.3f\n", first_after_checkpoint_ms);
  std::printf("recompute_ms_median: %.3f\nratio_recompute_over_refresh: %.0f\n",
              Median(recompute_ms), Median(recompute_ms) / Median(refresh_ms));
  std::printf("output_deltas: %zu\nmismatches: %zu\n", deltas, mismatches);
  if (!store->Close().ok()) return 1;
  return mismatches == 0 ? 0 : 1;
}
