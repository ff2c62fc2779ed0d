// `cowtree demo`: the main job. Ingests real flights (the bundled 200 000-row slice, or
// --input FILE) grouped by origin into a store (a fresh temporary directory unless --db),
// prints p50/p90/p99 arrival delay for the 15 busiest airports, checkpoints, reopens, prints
// the same table from the reopened store and checks it is identical, and reports the ingest
// rate, the store's size on disk and the reopen time.
#pragma once

#include <ostream>
#include <string>

#include "persistence/status.h"

namespace cowtree::tools {

struct DemoOptions {
  std::string input;  // empty: the bundled slice
  std::string db;     // empty: a new temporary directory, removed afterwards
  bool keep = false;  // keep the temporary store
};

// Default input: tests/data/flights-200k.csv.zst of the source tree the binary was built from.
std::string DefaultDemoInput();

Status RunDemo(const DemoOptions& options, std::ostream& out);

}  // namespace cowtree::tools
