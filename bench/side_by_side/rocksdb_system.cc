// Side-by-side benchmark: RocksDB (librocksdb, Debian). One column family per tree; keys are
// Key8 (common.h), values the 8-byte weight. "Balanced" = WriteOptions::sync false plus
// SyncWAL every sync_interval_ms on a background thread; the "checkpoint" is a Flush of every
// column family (memtables to SST files); "strict" = WriteOptions::sync true.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <memory>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

void Check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) Die(std::string("rocksdb ") + what + ": " + s.ToString());
}

rocksdb::Slice KeySlice(const Key8& k) {
  return rocksdb::Slice(reinterpret_cast<const char*>(k.bytes), sizeof(k.bytes));
}

rocksdb::Slice WeightSlice(const int64_t& w) {
  return rocksdb::Slice(reinterpret_cast<const char*>(&w), sizeof(w));
}

rocksdb::Options DbOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  return o;
}

std::unique_ptr<rocksdb::DB> OpenDb(const Params& p) {
  rocksdb::DB* db = nullptr;
  Check(rocksdb::DB::Open(DbOptions(), p.dir, &db), "open");
  return std::unique_ptr<rocksdb::DB>(db);
}

void TreesCreate(const Params& p, Sink* sink) {
  const uint64_t trees = std::min(p.trees, p.rocksdb_trees);
  sink->Metric("trees", static_cast<double>(trees));
  auto db = OpenDb(p);
  KeyStream keys(p.seed);
  const int64_t one = 1;
  const double start = NowSeconds();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  {
    Ticker sync(p.sync_interval_ms, [&db] { db->SyncWAL(); });
    for (uint64_t first = 0; first < trees; first += p.trees_per_batch) {
      std::vector<std::string> names;
      for (uint64_t i = first; i < std::min(trees, first + p.trees_per_batch); ++i) {
        names.push_back(TreeName(i));
      }
      std::vector<rocksdb::ColumnFamilyHandle*> created;
      Check(db->CreateColumnFamilies(rocksdb::ColumnFamilyOptions(), names, &created), "create cf");
      rocksdb::WriteBatch batch;
      for (size_t j = 0; j < created.size(); ++j) {
        for (int e = EntriesOfTree(first + j, p.seed); e > 0; --e) {
          Key8 k(keys.NextKey());
          Check(batch.Put(created[j], KeySlice(k), WeightSlice(one)), "put");
        }
      }
      Check(db->Write(rocksdb::WriteOptions(), &batch), "write");
      handles.insert(handles.end(), created.begin(), created.end());
    }
  }
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(db->Flush(rocksdb::FlushOptions(), handles), "flush");
  for (auto* h : handles) Check(db->DestroyColumnFamilyHandle(h), "destroy handle");
  Check(db->Close(), "close");
  db.reset();
  const double elapsed = NowSeconds() - start;
  sink->Metric("create_s", elapsed);
  sink->Metric("us_per_tree", elapsed * 1e6 / static_cast<double>(trees));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(trees), "tree");
}

void QueryTree(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  it->SeekToFirst();
  if (!it->Valid()) Die("rocksdb: empty tree");
}

void TreesReopen(const Params& p, Sink* sink) {
  const uint64_t trees = std::min(p.trees, p.rocksdb_trees);
  const double start = NowSeconds();
  // RocksDB opens every column family of the DB: they must all be listed.
  std::vector<std::string> names;
  Check(rocksdb::DB::ListColumnFamilies(DbOptions(), p.dir, &names), "list cf");
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  Check(rocksdb::DB::Open(DbOptions(), p.dir, descriptors, &handles, &raw), "open");
  std::unique_ptr<rocksdb::DB> db(raw);
  const double opened = NowSeconds();
  KeyStream pick(p.seed + 99);
  std::vector<rocksdb::ColumnFamilyHandle*> by_tree(trees, nullptr);
  for (auto* h : handles) {
    if (h->GetName() != rocksdb::kDefaultColumnFamilyName) {
      by_tree.at(std::stoull(h->GetName().substr(1))) = h;
    }
  }
  auto handle_of = [&](uint64_t i) { return by_tree[i]; };
  QueryTree(db.get(), handle_of(pick.Next() % trees));
  const double queried = NowSeconds();
  sink->Metric("open_s", opened - start);
  sink->Metric("first_query_s", queried - opened);
  sink->Metric("open_to_first_query_s", queried - start);
  sink->Metric("rss_after_open_bytes", static_cast<double>(RssBytes()));
  const uint64_t n = std::min<uint64_t>(10000, trees);
  const double t0 = NowSeconds();
  for (uint64_t i = 0; i < n; ++i) QueryTree(db.get(), handle_of(pick.Next() % trees));
  sink->Metric("random_tree_query_us", (NowSeconds() - t0) * 1e6 / static_cast<double>(n));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  for (auto* h : handles) Check(db->DestroyColumnFamilyHandle(h), "destroy handle");
  Check(db->Close(), "close");
}

void Ingest(const Params& p, Sink* sink) {
  auto db = OpenDb(p);
  KeyStream keys(p.seed);
  const int64_t one = 1;
  const double start = NowSeconds();
  {
    Ticker sync(p.sync_interval_ms, [&db] { db->SyncWAL(); });
    uint64_t done = 0;
    rocksdb::WriteBatch batch;
    while (done < p.entries) {
      const uint64_t n = std::min(p.keys_per_commit, p.entries - done);
      batch.Clear();
      for (uint64_t i = 0; i < n; ++i) {
        Key8 k(keys.NextKey());
        Check(batch.Put(KeySlice(k), WeightSlice(one)), "put");
      }
      Check(db->Write(rocksdb::WriteOptions(), &batch), "write");
      done += n;
      sink->Progress(NowSeconds() - start, done);
    }
  }
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(db->Flush(rocksdb::FlushOptions()), "flush");
  Check(db->Close(), "close");
  db.reset();
  const double elapsed = NowSeconds() - start;
  sink->Metric("ingest_s", elapsed);
  sink->Metric("us_per_key", elapsed * 1e6 / static_cast<double>(p.entries));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.entries), "entry");
}

void Strict(const Params& p, Sink* sink) {
  auto db = OpenDb(p);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const int64_t one = 1;
  RunCommitStorm(sink, p.strict_threads, p.strict_seconds, [&](int t, uint64_t i) {
    Key8 k(static_cast<int64_t>((static_cast<uint64_t>(t) << 40) | i));
    return db->Put(sync, KeySlice(k), WeightSlice(one)).ok();
  });
  Check(db->Close(), "close");
}

}  // namespace

System RocksdbSystem() { return {"rocksdb", TreesCreate, TreesReopen, Ingest, nullptr, Strict}; }

}  // namespace sbs
