#include "tools/demo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>

#include "cowtree/cowtree.h"
#include "tools/ingest.h"
#include "tools/query.h"
#include "tools/temp_store.h"

#ifndef COWTREE_DEMO_DATA
#define COWTREE_DEMO_DATA "tests/data/flights-200k.csv.zst"
#endif

namespace cowtree::tools {
namespace {

constexpr size_t kBusiest = 15;

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

// The 15 groups with the largest N, printed with p50/p90/p99 (cont).
Result<std::vector<QueryRow>> BusiestTable(Store& store, const std::vector<PercentileSpec>& ps) {
  COWTREE_ASSIGN_OR_RETURN(std::vector<QueryRow> rows,
                           ComputePercentiles(store.GetSnapshot(), ps, false, false, std::nullopt));
  std::stable_sort(rows.begin(), rows.end(),
                   [](const QueryRow& a, const QueryRow& b) { return a.n > b.n; });
  if (rows.size() > kBusiest) rows.resize(kBusiest);
  return rows;
}

bool SameRows(const std::vector<QueryRow>& a, const std::vector<QueryRow>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].group != b[i].group || a[i].n != b[i].n || a[i].values != b[i].values) return false;
  }
  return true;
}

}  // namespace

std::string DefaultDemoInput() { return COWTREE_DEMO_DATA; }

Status RunDemo(const DemoOptions& options, std::ostream& out) {
  std::string db = options.db;
  // Declared before every runtime below, so it removes the store after they are closed, on
  // every return path (errors included), unless --keep.
  std::optional<TempStoreDir> temporary;
  if (db.empty()) {
    COWTREE_ASSIGN_OR_RETURN(TempStoreDir dir, TempStoreDir::Create("cowtree-demo"));
    temporary.emplace(std::move(dir));
    if (options.keep) temporary->Keep();
    db = temporary->path();
  }
  const std::string input = options.input.empty() ? DefaultDemoInput() : options.input;
  out << "cowtree demo: arrival delay percentiles per origin airport\n"
      << "  input: " << input << "\n  store: " << db << "\n\n";

  IngestOptions ingest;
  ingest.db = db;
  ingest.input = input;
  ingest.group_column = "origin";
  ingest.value_column = "delay";
  ingest.durability = Durability::kBalanced;
  ingest.store.checkpoint_on_close = false;  // the demo checkpoints explicitly below
  std::ostringstream ignored;
  COWTREE_ASSIGN_OR_RETURN(IngestStats stats, RunIngest(ingest, ignored));
  const double ingest_s = static_cast<double>(stats.ingest_us) / 1e6;
  out << "ingested " << stats.rows << " rows into " << stats.trees_created << " trees in "
      << stats.commits << " commits (balanced durability): " << FormatDouble(ingest_s) << " s, "
      << static_cast<uint64_t>(static_cast<double>(stats.rows) / std::max(ingest_s, 1e-9))
      << " rows/s\n\n";

  COWTREE_ASSIGN_OR_RETURN(std::vector<PercentileSpec> ps, ParsePercentiles("0.5,0.9,0.99"));
  Options ro = WithCliLeafShape(Options());  // a replay on open writes leaves too
  ro.create_if_missing = false;
  ro.checkpoint_on_close = false;
  std::vector<QueryRow> before;
  {
    // Reopen after ingest (replays the redo log), query, then checkpoint.
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(db, ro));
    COWTREE_ASSIGN_OR_RETURN(before, BusiestTable(*store, ps));
    out << "p50 / p90 / p99 arrival delay (minutes, PERCENTILE_CONT) — 15 busiest origins:\n";
    PrintRows(before, ps, OutputFormat::kTable, out);
    COWTREE_RETURN_IF_ERROR(store->Checkpoint());
    COWTREE_RETURN_IF_ERROR(store->Close());
  }
  const uint64_t store_bytes = DirBytes(db);

  const auto t0 = std::chrono::steady_clock::now();
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Store> reopened, Store::Open(db, ro));
  const auto t1 = std::chrono::steady_clock::now();
  COWTREE_ASSIGN_OR_RETURN(std::vector<QueryRow> after, BusiestTable(*reopened, ps));
  const double reopen_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  COWTREE_ASSIGN_OR_RETURN(const std::vector<TreeDescription> reopened_trees,
                           reopened->GetSnapshot().ListTrees());
  out << "\nafter checkpoint + reopen (" << reopened_trees.size()
      << " trees rebuilt from leaf summaries, " << reopened->open_info().commits_replayed
      << " commits replayed):\n";
  PrintRows(after, ps, OutputFormat::kTable, out);
  const bool same = SameRows(before, after);
  out << "\nidentical after reopen: " << (same ? "yes" : "NO") << "\n"
      << "ingest rate:  "
      << static_cast<uint64_t>(static_cast<double>(stats.rows) / std::max(ingest_s, 1e-9))
      << " rows/s\n"
      << "store size:   " << store_bytes << " bytes ("
      << FormatDouble(std::round(store_bytes / 1048.576) / 1000.0) << " MiB)\n"
      << "reopen time:  " << FormatDouble(std::round(reopen_ms * 100.0) / 100.0) << " ms\n";
  COWTREE_RETURN_IF_ERROR(reopened->Close());
  if (!same) return Status::Corruption("demo: answers differ after checkpoint and reopen");
  return Status::OK();
}

}  // namespace cowtree::tools
