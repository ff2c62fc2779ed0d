// Side-by-side benchmark: cowtree through its public API only (<cowtree/cowtree.h>).
#include <cowtree/cowtree.h>

#include <cstdlib>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

void Check(const cowtree::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

std::unique_ptr<cowtree::Store> OpenStore(const Params& p, cowtree::Durability durability) {
  cowtree::Options o;
  o.durability = durability;
  // Experiment knob (not a flag: it changes cowtree only): COWTREE_SBS_LEAF_CAPACITY=N sets
  // Options::leaf_capacity_entries, to compare leaf sizes (docs/node_format.md "Slot sizes").
  if (const char* cap = std::getenv("COWTREE_SBS_LEAF_CAPACITY")) {
    o.leaf_capacity_entries = static_cast<uint32_t>(std::strtoul(cap, nullptr, 10));
  }
  o.sync_interval_ms = p.sync_interval_ms;
  auto store = cowtree::Store::Open(p.dir, o);
  if (!store.ok()) Die("cowtree open " + p.dir + ": " + store.status().ToString());
  return std::move(store).value();
}

void TreesCreate(const Params& p, Sink* sink) {
  auto store = OpenStore(p, cowtree::Durability::kBalanced);
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  for (uint64_t first = 0; first < p.trees; first += p.trees_per_batch) {
    cowtree::WriteBatch batch = store->NewBatch();
    for (uint64_t i = first; i < std::min(p.trees, first + p.trees_per_batch); ++i) {
      auto tree = batch.CreateTree<int64_t>(TreeName(i));
      for (int e = EntriesOfTree(i, p.seed); e > 0; --e) batch.Add(tree, keys.NextKey(), 1);
    }
    Check(store->Commit(batch), "commit");
  }
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(store->Close(), "close");
  const double elapsed = NowSeconds() - start;
  sink->Metric("create_s", elapsed);
  sink->Metric("us_per_tree", elapsed * 1e6 / static_cast<double>(p.trees));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.trees), "tree");
}

void TreesReopen(const Params& p, Sink* sink) {
  const double start = NowSeconds();
  auto store = OpenStore(p, cowtree::Durability::kBalanced);
  const double opened = NowSeconds();
  KeyStream pick(p.seed + 99);
  auto reader = store->GetSnapshot().Tree<int64_t>(TreeName(pick.Next() % p.trees));
  if (!reader.ok()) Die("tree: " + reader.status().ToString());
  auto first = reader.value().select(0);
  if (!first.ok() || !first.value().has_value()) Die("first query");
  const double queried = NowSeconds();
  sink->Metric("open_s", opened - start);
  sink->Metric("first_query_s", queried - opened);
  sink->Metric("open_to_first_query_s", queried - start);
  sink->Metric("rss_after_open_bytes", static_cast<double>(RssBytes()));
  // Then 10 000 queries of random trees (each tree's first access after the open).
  const uint64_t n = std::min<uint64_t>(10000, p.trees);
  const double t0 = NowSeconds();
  for (uint64_t i = 0; i < n; ++i) {
    auto r = store->GetSnapshot().Tree<int64_t>(TreeName(pick.Next() % p.trees));
    if (!r.ok() || !r.value().select(0).ok()) Die("query");
  }
  sink->Metric("random_tree_query_us", (NowSeconds() - t0) * 1e6 / static_cast<double>(n));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  Check(store->Close(), "close");
}

// The end of an ingest: the RSS before the close, the close (its checkpoint counts in the
// time), the time per key, the peak RSS and the bytes on disk.
void FinishIngest(const Params& p, Sink* sink, double start,
                  std::unique_ptr<cowtree::Store> store) {
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(store->Close(), "close");
  const double elapsed = NowSeconds() - start;
  sink->Metric("ingest_s", elapsed);
  sink->Metric("us_per_key", elapsed * 1e6 / static_cast<double>(p.entries));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.entries), "entry");
}

void Ingest(const Params& p, Sink* sink) {
  auto store = OpenStore(p, cowtree::Durability::kBalanced);
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  cowtree::WriteBatch batch = store->NewBatch();
  auto tree = batch.CreateTree<int64_t>("t");
  uint64_t done = 0;
  while (done < p.entries) {
    const uint64_t n = std::min(p.keys_per_commit, p.entries - done);
    for (uint64_t i = 0; i < n; ++i) batch.Add(tree, keys.NextKey(), 1);
    Check(store->Commit(batch), "commit");
    done += n;
    sink->Progress(NowSeconds() - start, done);
  }
  FinishIngest(p, sink, start, std::move(store));
}

// The same keys through a BulkLoader (cowtree/bulk_loader.h): its default buffer, sorted and
// committed keys_per_commit ops at a time.
void IngestWithLoader(const Params& p, Sink* sink) {
  auto store = OpenStore(p, cowtree::Durability::kBalanced);
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  cowtree::WriteBatch batch = store->NewBatch();
  auto tree = batch.CreateTree<int64_t>("t");
  Check(store->Commit(batch), "create");
  cowtree::BulkLoader::Options options;
  options.commit_ops = static_cast<uint32_t>(p.keys_per_commit);
  auto loader = cowtree::BulkLoader::Create(*store, options);
  if (!loader.ok()) Die("loader: " + loader.status().ToString());
  for (uint64_t done = 0; done < p.entries;) {
    Check((*loader)->Add(tree, keys.NextKey(), 1), "add");
    if (++done % p.keys_per_commit == 0) sink->Progress(NowSeconds() - start, done);
  }
  Check((*loader)->Flush(), "flush");
  sink->Progress(NowSeconds() - start, p.entries);
  loader->reset();
  FinishIngest(p, sink, start, std::move(store));
}

void Query(const Params& p, Sink* sink) {
  const double start = NowSeconds();
  auto store = OpenStore(p, cowtree::Durability::kBalanced);
  const double opened = NowSeconds();
  auto reader_or = store->GetSnapshot().Tree<int64_t>("t");
  if (!reader_or.ok()) Die("tree t: " + reader_or.status().ToString());
  const cowtree::TreeReader<int64_t> reader = reader_or.value();
  const uint64_t n = reader.count();
  if (n == 0 || !reader.select(n / 2).ok()) Die("first query");
  const double queried = NowSeconds();
  sink->Metric("open_s", opened - start);
  sink->Metric("first_query_s", queried - opened);
  sink->Metric("open_to_first_query_s", queried - start);
  sink->Metric("rss_after_open_bytes", static_cast<double>(RssBytes()));
  uint64_t seen = 0;
  auto cursor = reader.SeekToFirst();
  for (; cursor.valid(); cursor.Next()) seen += static_cast<uint64_t>(cursor.weight());
  if (!cursor.status().ok() || seen != n) Die("full read");
  sink->Metric("full_read_s", NowSeconds() - queried);
  sink->Metric("rss_after_full_read_bytes", static_cast<double>(RssBytes()));
  sink->Metric("rss_per_entry_bytes", static_cast<double>(RssBytes()) / static_cast<double>(n));
  sink->Metric("rss_file_after_full_read_bytes", static_cast<double>(RssFileBytes()));
  TimeQueries(sink, "select", p.queries, p.latency_samples, p.seed + 7, [&](uint64_t r) {
    auto k = reader.select(r % n);
    if (!k.ok()) Die("select");
    return static_cast<uint64_t>(*k.value());
  });
  TimeQueries(sink, "rank", p.queries, p.latency_samples, p.seed + 8, [&](uint64_t r) {
    auto k = reader.rank(static_cast<int64_t>(r));
    if (!k.ok()) Die("rank");
    return k.value();
  });
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  Check(store->Close(), "close");
}

void Strict(const Params& p, Sink* sink) {
  auto store = OpenStore(p, cowtree::Durability::kStrict);
  cowtree::WriteBatch create = store->NewBatch();
  auto tree = create.CreateTree<int64_t>("t");
  Check(store->Commit(create), "create");
  std::vector<cowtree::WriteBatch> batches;
  for (int t = 0; t < p.strict_threads; ++t) batches.push_back(store->NewBatch());
  RunCommitStorm(
      sink, p.strict_threads, p.strict_seconds,
      [&](int t, uint64_t i) {
        cowtree::WriteBatch& b = batches[static_cast<size_t>(t)];
        b.Add(tree, static_cast<int64_t>((static_cast<uint64_t>(t) << 40) | i), 1);
        return store->Commit(b).ok();
      },
      [&] { return store->log_stats().fdatasyncs; });
  Check(store->Close(), "close");
}

}  // namespace

System CowtreeSystem() { return {"cowtree", TreesCreate, TreesReopen, Ingest, Query, Strict}; }
System CowtreeLoaderSystem() {
  return {"cowtree-loader", nullptr, nullptr, IngestWithLoader, Query, nullptr};
}

}  // namespace sbs
