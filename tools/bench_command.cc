#include "tools/bench_command.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>

#include "cowtree/cowtree.h"
#include "recovery/open.h"
#include "tools/demo.h"
#include "tools/ingest.h"
#include "tools/query.h"
#include "tools/temp_store.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::tools {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <typename T>
T Quantile(std::vector<T> v, double q) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

// Balanced/eventual durability under load: commits of 256 random keys into 8 trees for
// `seconds`, with a checkpoint every 1 MiB of log, then Close. Returns the runtime's stats after
// Close: max_durability_lag_us is the longest an acknowledged commit waited for its fdatasync.
// One percentile query on the tree `t` of `snap`; the answer as a double (0 for no value).
template <TreeKey K>
Result<double> QueryTree(const Snapshot& snap, const std::string& name, double p, bool disc,
                         Order order) {
  COWTREE_ASSIGN_OR_RETURN(TreeReader<K> reader, snap.Tree<K>(name));
  if (disc) {
    COWTREE_ASSIGN_OR_RETURN(std::optional<K> r, reader.percentile_disc(p, order));
    return r.has_value() ? static_cast<double>(*r) : 0.0;
  }
  COWTREE_ASSIGN_OR_RETURN(std::optional<double> r, reader.percentile_cont(p, order));
  return r.value_or(0.0);
}

Result<double> QueryOnce(const Snapshot& snap, const TreeDescription& t, double p, bool disc,
                         Order order) {
  return t.key_type == KeyType::kInt64 ? QueryTree<int64_t>(snap, t.name, p, disc, order)
                                       : QueryTree<double>(snap, t.name, p, disc, order);
}

Result<RuntimeStats> MeasureDurabilityLag(Durability durability, double seconds, uint64_t seed) {
  COWTREE_ASSIGN_OR_RETURN(TempStoreDir dir, TempStoreDir::Create("cowtree-bench-lag"));
  RuntimeOptions o;
  o.durability = durability;
  o.checkpoint_log_bytes = 1 << 20;
  COWTREE_ASSIGN_OR_RETURN(auto rt, recovery::Open(dir.path(), o));
  std::vector<TreeId> ids;
  {
    RuntimeWriteBatch create(rt.get());
    for (int t = 0; t < 8; ++t) {
      ids.push_back(create.CreateTree("lag" + std::to_string(t), tree::kOrderStatTreeTypeId,
                                      tree::OrderStatTreeParams(tree::KeyType::kInt64)));
    }
    COWTREE_RETURN_IF_ERROR(rt->Commit(create));
  }
  std::mt19937_64 rng(seed);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    RuntimeWriteBatch batch(rt.get());
    std::string* ops = batch.MutableOps(ids[rng() % ids.size()]);
    for (int i = 0; i < 256; ++i) {
      tree::AppendOrderStatOp(ops, tree::EncodeInt64Key(static_cast<int64_t>(rng() % 1000000)), 1);
    }
    COWTREE_RETURN_IF_ERROR(rt->Commit(batch));
  }
  COWTREE_RETURN_IF_ERROR(rt->Close());
  return rt->GetStats();
}

}  // namespace

Status RunBench(const BenchOptions& options, std::ostream& out) {
  std::string db = options.db;
  // Declared before every runtime below: removes the store after they are closed, on every
  // return path (errors included).
  std::optional<TempStoreDir> temporary;
  if (db.empty()) {
    COWTREE_ASSIGN_OR_RETURN(TempStoreDir dir, TempStoreDir::Create("cowtree-bench"));
    temporary.emplace(std::move(dir));
    db = temporary->path();
  }
  const std::string input = options.input.empty() ? DefaultDemoInput() : options.input;

  // 1. Ingest (checkpoint on close, so that reopen replays nothing).
  IngestOptions ingest;
  ingest.db = db;
  ingest.input = input;
  ingest.group_column = options.group_column;
  ingest.value_column = options.value_column;
  ingest.durability = options.durability;
  std::ostringstream ignored;
  COWTREE_ASSIGN_OR_RETURN(IngestStats stats, RunIngest(ingest, ignored));
  const double ingest_s = static_cast<double>(stats.ingest_us) / 1e6;
  uint64_t store_bytes = 0;
  std::error_code ec;  // no exceptions across the API: a failed listing just counts less
  for (const auto& e : std::filesystem::directory_iterator(db, ec)) {
    if (e.is_regular_file(ec)) store_bytes += e.file_size(ec);
  }

  // 2. Reopen time.
  // Reads go through the public API (include/cowtree/), as a user's would.
  Options ro = WithCliLeafShape(Options());  // a replay on open writes leaves too
  ro.create_if_missing = false;
  ro.checkpoint_on_close = false;
  ro.background_thread = false;
  std::vector<double> reopen_ms;
  uint64_t trees = 0;
  for (uint32_t i = 0; i < options.reopens; ++i) {
    const auto t0 = Clock::now();
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(db, ro));
    reopen_ms.push_back(Ms(Clock::now() - t0));
    COWTREE_RETURN_IF_ERROR(store->Close());
  }

  // 3. Query latency after a cold reopen: each query = open the tree's reader + percentile.
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(db, ro));
  const Snapshot snap = store->GetSnapshot();
  COWTREE_ASSIGN_OR_RETURN(std::vector<TreeDescription> infos, snap.ListTrees());
  // Groups only: not the ingest resume markers (tools/ingest.h).
  std::erase_if(infos, [](const TreeDescription& t) { return IsInternalTreeName(t.name); });
  trees = infos.size();
  if (infos.empty()) return Status::InvalidArgument("bench: the input produced no trees");
  std::mt19937_64 rng(options.seed);
  std::vector<double> cold_ns, warm_ns;
  std::vector<bool> touched(infos.size(), false);
  double checksum = 0;
  for (uint64_t q = 0; q < options.queries; ++q) {
    const size_t t = rng() % infos.size();
    const double p = static_cast<double>(rng() % 1001) / 1000.0;
    const bool disc = (rng() & 1) != 0, desc = (rng() & 2) != 0;
    const Order order = desc ? Order::kDescending : Order::kAscending;
    const auto t0 = Clock::now();
    COWTREE_ASSIGN_OR_RETURN(const double value, QueryOnce(snap, infos[t], p, disc, order));
    checksum += value;
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    (touched[t] ? warm_ns : cold_ns).push_back(ns);
    touched[t] = true;
  }
  COWTREE_RETURN_IF_ERROR(store->Close());
  store.reset();
  temporary.reset();  // remove the store now (its size was measured above)

  // 4. Durability lag of acknowledged commits under checkpoints and Close (not in strict mode,
  // where a commit is synced before it is acknowledged).
  std::optional<RuntimeStats> lag;
  if (options.durability != Durability::kStrict) {
    COWTREE_ASSIGN_OR_RETURN(lag, MeasureDurabilityLag(options.durability, 2.0, options.seed));
  }

  out << "cowtree bench (" << DurabilityName(options.durability) << ")\n"
      << "  input:                 " << input << "\n"
      << "  rows:                  " << stats.rows << " into " << trees << " trees, "
      << stats.commits << " commits\n"
      << "  ingest:                " << Fixed(ingest_s, 3) << " s = "
      << static_cast<uint64_t>(static_cast<double>(stats.rows) / std::max(ingest_s, 1e-9))
      << " rows/s\n"
      << "  checkpoint on close:   " << Fixed(static_cast<double>(stats.close_us) / 1000.0, 2)
      << " ms\n"
      << "  store size:            " << store_bytes << " bytes ("
      << Fixed(static_cast<double>(store_bytes) / 1048576.0, 2) << " MiB)\n"
      << "  reopen (median of " << reopen_ms.size() << "): " << Fixed(Quantile(reopen_ms, 0.5), 3)
      << " ms (min " << Fixed(*std::min_element(reopen_ms.begin(), reopen_ms.end()), 3) << ", max "
      << Fixed(*std::max_element(reopen_ms.begin(), reopen_ms.end()), 3) << ")\n"
      << "  query latency, warm (" << warm_ns.size() << " queries): p50 "
      << Fixed(Quantile(warm_ns, 0.5), 0) << " ns, p99 " << Fixed(Quantile(warm_ns, 0.99), 0)
      << " ns, p99.9 " << Fixed(Quantile(warm_ns, 0.999), 0) << " ns\n"
      << "  query latency, cold first query per tree (" << cold_ns.size() << "): p50 "
      << Fixed(Quantile(cold_ns, 0.5), 0) << " ns, p99 " << Fixed(Quantile(cold_ns, 0.99), 0)
      << " ns\n"
      << "  (checksum " << checksum << ")\n";
  if (lag.has_value()) {
    const RuntimeOptions defaults;
    out << "  durability lag, max:   "
        << Fixed(static_cast<double>(lag->max_durability_lag_us) / 1000.0, 1)
        << " ms from acknowledgement to fdatasync (" << lag->commits << " commits, "
        << lag->checkpoints_written << " checkpoints during them; bound: "
        << (options.durability == Durability::kEventual ? defaults.flush_interval_ms
                                                        : defaults.sync_interval_ms)
        << " ms + one fdatasync)\n";
  }
  return Status::OK();
}

}  // namespace cowtree::tools
