// `cowtree bench`: the whole-workload benchmark of the issue-2 figures, measured in one run:
// full-file ingest rate (rows/s, balanced durability), checkpoint-on-close time, store size on
// disk, reopen time (median of `reopens` runs) and percentile-query latency (p50/p99/p99.9 of
// `queries` single-group PERCENTILE_CONT/DISC queries at random p, asc and desc, after a cold
// reopen). Timings are wall-clock on this machine; medians, not means, because these machines
// are noisy.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "persistence/runtime_options.h"
#include "persistence/status.h"

namespace cowtree::tools {

struct BenchOptions {
  std::string input;  // CSV (.zst allowed); default: the bundled 200k-row slice
  std::string db;     // default: a temporary directory, removed afterwards
  std::string group_column = "origin";
  std::string value_column = "delay";
  Durability durability = Durability::kBalanced;
  uint32_t reopens = 11;
  uint64_t queries = 200000;
  uint64_t seed = 42;
};

Status RunBench(const BenchOptions& options, std::ostream& out);

}  // namespace cowtree::tools
