// Side-by-side benchmark: LMDB (liblmdb, Debian). One named DB per tree; keys are int64s
// encoded big-endian with the sign bit flipped (memcmp order = numeric order), values are the
// 8-byte weight. "Balanced" = MDB_NOSYNC plus mdb_env_sync every sync_interval_ms on a
// background thread; "strict" = LMDB's default (every commit synced).
#include <lmdb.h>

#include <cstring>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

constexpr size_t kMapBytes = size_t{64} << 30;  // address space only; the file grows as used

void Check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) Die(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

MDB_env* OpenEnv(const Params& p, unsigned flags, unsigned maxdbs) {
  MDB_env* env = nullptr;
  Check(mdb_env_create(&env), "env_create");
  Check(mdb_env_set_mapsize(env, kMapBytes), "set_mapsize");
  Check(mdb_env_set_maxdbs(env, maxdbs), "set_maxdbs");
  Check(mdb_env_set_maxreaders(env, 64), "set_maxreaders");
  Check(mdb_env_open(env, p.dir.c_str(), flags, 0644), "env_open");
  return env;
}

void Put(MDB_txn* txn, MDB_dbi dbi, int64_t key, int64_t weight) {
  Key8 k(key);
  MDB_val kv{sizeof(k.bytes), k.bytes};
  MDB_val vv{sizeof(weight), &weight};
  Check(mdb_put(txn, dbi, &kv, &vv, 0), "put");
}

void TreesCreate(const Params& p, Sink* sink) {
  // Handles of committed trees are closed after each batch, so maxdbs bounds one batch only.
  MDB_env* env = OpenEnv(p, MDB_NOSYNC, static_cast<unsigned>(p.trees_per_batch + 16));
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  {
    Ticker sync(p.sync_interval_ms, [env] { mdb_env_sync(env, 1); });
    std::vector<MDB_dbi> dbis;
    for (uint64_t first = 0; first < p.trees; first += p.trees_per_batch) {
      MDB_txn* txn = nullptr;
      Check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
      dbis.clear();
      for (uint64_t i = first; i < std::min(p.trees, first + p.trees_per_batch); ++i) {
        MDB_dbi dbi;
        Check(mdb_dbi_open(txn, TreeName(i).c_str(), MDB_CREATE, &dbi), "dbi_open");
        for (int e = EntriesOfTree(i, p.seed); e > 0; --e) Put(txn, dbi, keys.NextKey(), 1);
        dbis.push_back(dbi);
      }
      Check(mdb_txn_commit(txn), "commit");
      for (MDB_dbi dbi : dbis) mdb_dbi_close(env, dbi);
    }
  }
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(mdb_env_sync(env, 1), "sync");
  mdb_env_close(env);
  const double elapsed = NowSeconds() - start;
  sink->Metric("create_s", elapsed);
  sink->Metric("us_per_tree", elapsed * 1e6 / static_cast<double>(p.trees));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.trees), "tree");
}

// Opens tree `name` in a read transaction and reads its first entry.
void QueryTree(MDB_env* env, const std::string& name) {
  MDB_txn* txn = nullptr;
  Check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "txn_begin");
  MDB_dbi dbi;
  Check(mdb_dbi_open(txn, name.c_str(), 0, &dbi), "dbi_open");
  MDB_cursor* cursor = nullptr;
  Check(mdb_cursor_open(txn, dbi, &cursor), "cursor_open");
  MDB_val k, v;
  Check(mdb_cursor_get(cursor, &k, &v, MDB_FIRST), "cursor_get");
  mdb_cursor_close(cursor);
  Check(mdb_txn_commit(txn), "read commit");
  mdb_dbi_close(env, dbi);
}

void TreesReopen(const Params& p, Sink* sink) {
  const double start = NowSeconds();
  MDB_env* env = OpenEnv(p, MDB_NOSYNC, 64);
  const double opened = NowSeconds();
  KeyStream pick(p.seed + 99);
  QueryTree(env, TreeName(pick.Next() % p.trees));
  const double queried = NowSeconds();
  sink->Metric("open_s", opened - start);
  sink->Metric("first_query_s", queried - opened);
  sink->Metric("open_to_first_query_s", queried - start);
  sink->Metric("rss_after_open_bytes", static_cast<double>(RssBytes()));
  const uint64_t n = std::min<uint64_t>(10000, p.trees);
  const double t0 = NowSeconds();
  for (uint64_t i = 0; i < n; ++i) QueryTree(env, TreeName(pick.Next() % p.trees));
  sink->Metric("random_tree_query_us", (NowSeconds() - t0) * 1e6 / static_cast<double>(n));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  mdb_env_close(env);
}

// one_txn: every key in one write transaction (one sync at its commit); otherwise one
// transaction per keys_per_commit with the balanced background sync.
void Ingest(const Params& p, Sink* sink, bool one_txn) {
  MDB_env* env = OpenEnv(p, one_txn ? 0 : MDB_NOSYNC, 4);
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  {
    Ticker sync(p.sync_interval_ms, [env, one_txn] {
      if (!one_txn) mdb_env_sync(env, 1);
    });
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    Check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
    Check(mdb_dbi_open(txn, "t", MDB_CREATE, &dbi), "dbi_open");
    uint64_t done = 0;
    while (done < p.entries) {
      const uint64_t n = std::min(p.keys_per_commit, p.entries - done);
      for (uint64_t i = 0; i < n; ++i) Put(txn, dbi, keys.NextKey(), 1);
      done += n;
      if (!one_txn && done < p.entries) {
        Check(mdb_txn_commit(txn), "commit");
        Check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
      }
      sink->Progress(NowSeconds() - start, done);
    }
    Check(mdb_txn_commit(txn), "commit");
  }
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  Check(mdb_env_sync(env, 1), "sync");
  mdb_env_close(env);
  const double elapsed = NowSeconds() - start;
  sink->Metric("ingest_s", elapsed);
  sink->Metric("us_per_key", elapsed * 1e6 / static_cast<double>(p.entries));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.entries), "entry");
}

void Strict(const Params& p, Sink* sink) {
  MDB_env* env = OpenEnv(p, 0, 4);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  Check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
  Check(mdb_dbi_open(txn, "t", MDB_CREATE, &dbi), "dbi_open");
  Check(mdb_txn_commit(txn), "commit");
  RunCommitStorm(sink, p.strict_threads, p.strict_seconds, [&](int t, uint64_t i) {
    MDB_txn* w = nullptr;
    if (mdb_txn_begin(env, nullptr, 0, &w) != MDB_SUCCESS) return false;
    Put(w, dbi, static_cast<int64_t>((static_cast<uint64_t>(t) << 40) | i), 1);
    return mdb_txn_commit(w) == MDB_SUCCESS;
  });
  mdb_env_close(env);
}

}  // namespace

System LmdbSystem(bool one_txn) {
  if (one_txn) {
    return {"lmdb-1txn", nullptr, nullptr, [](const Params& p, Sink* s) { Ingest(p, s, true); },
            nullptr,     nullptr};
  }
  return {"lmdb",  TreesCreate, TreesReopen, [](const Params& p, Sink* s) { Ingest(p, s, false); },
          nullptr, Strict};
}

}  // namespace sbs
