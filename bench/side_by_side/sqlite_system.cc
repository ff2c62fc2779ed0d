// Side-by-side benchmark: SQLite (libsqlite3, Debian), the natural SQL encodings:
//   many trees: one table t(grp, key, weight) with an index on (grp, key);
//   one tree:   t(key INTEGER PRIMARY KEY, weight), an insert adding to the weight.
// WAL journal, synchronous=NORMAL (a commit is durable at the next WAL checkpoint: the
// closest to cowtree's "balanced"); the final checkpoint is PRAGMA wal_checkpoint(TRUNCATE).
#include <sqlite3.h>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

void Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    Die(std::string("sqlite ") + sql + ": " + (error ? error : "?"));
  }
}

sqlite3* OpenDb(const Params& p) {
  sqlite3* db = nullptr;
  if (sqlite3_open((p.dir + "/db.sqlite").c_str(), &db) != SQLITE_OK) Die("sqlite open");
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=NORMAL");
  return db;
}

sqlite3_stmt* Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    Die(std::string("sqlite prepare ") + sql + ": " + sqlite3_errmsg(db));
  }
  return stmt;
}

void StepDone(sqlite3* db, sqlite3_stmt* stmt) {
  if (sqlite3_step(stmt) != SQLITE_DONE) Die(std::string("sqlite step: ") + sqlite3_errmsg(db));
  sqlite3_reset(stmt);
}

void CloseDb(sqlite3* db) {
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  if (sqlite3_close(db) != SQLITE_OK) Die("sqlite close");
}

void TreesCreate(const Params& p, Sink* sink) {
  sqlite3* db = OpenDb(p);
  Exec(db, "CREATE TABLE t(grp INTEGER NOT NULL, key INTEGER NOT NULL, weight INTEGER NOT NULL)");
  Exec(db, "CREATE INDEX t_grp_key ON t(grp, key)");
  sqlite3_stmt* insert = Prepare(db, "INSERT INTO t VALUES(?, ?, 1)");
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  for (uint64_t first = 0; first < p.trees; first += p.trees_per_batch) {
    Exec(db, "BEGIN");
    for (uint64_t i = first; i < std::min(p.trees, first + p.trees_per_batch); ++i) {
      for (int e = EntriesOfTree(i, p.seed); e > 0; --e) {
        sqlite3_bind_int64(insert, 1, static_cast<int64_t>(i));
        sqlite3_bind_int64(insert, 2, keys.NextKey());
        StepDone(db, insert);
      }
    }
    Exec(db, "COMMIT");
  }
  sqlite3_finalize(insert);
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  CloseDb(db);
  const double elapsed = NowSeconds() - start;
  sink->Metric("create_s", elapsed);
  sink->Metric("us_per_tree", elapsed * 1e6 / static_cast<double>(p.trees));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.trees), "tree");
}

void QueryTree(sqlite3* db, sqlite3_stmt* first, uint64_t tree) {
  sqlite3_bind_int64(first, 1, static_cast<int64_t>(tree));
  if (sqlite3_step(first) != SQLITE_ROW) Die(std::string("sqlite query: ") + sqlite3_errmsg(db));
  sqlite3_reset(first);
}

void TreesReopen(const Params& p, Sink* sink) {
  const double start = NowSeconds();
  sqlite3* db = OpenDb(p);
  const double opened = NowSeconds();
  KeyStream pick(p.seed + 99);
  sqlite3_stmt* first = Prepare(db, "SELECT key FROM t WHERE grp = ? ORDER BY key LIMIT 1");
  QueryTree(db, first, pick.Next() % p.trees);
  const double queried = NowSeconds();
  sink->Metric("open_s", opened - start);
  sink->Metric("first_query_s", queried - opened);
  sink->Metric("open_to_first_query_s", queried - start);
  sink->Metric("rss_after_open_bytes", static_cast<double>(RssBytes()));
  const uint64_t n = std::min<uint64_t>(10000, p.trees);
  const double t0 = NowSeconds();
  for (uint64_t i = 0; i < n; ++i) QueryTree(db, first, pick.Next() % p.trees);
  sink->Metric("random_tree_query_us", (NowSeconds() - t0) * 1e6 / static_cast<double>(n));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  sqlite3_finalize(first);
  CloseDb(db);
}

void Ingest(const Params& p, Sink* sink) {
  sqlite3* db = OpenDb(p);
  Exec(db, "CREATE TABLE t(key INTEGER PRIMARY KEY, weight INTEGER NOT NULL)");
  sqlite3_stmt* insert =
      Prepare(db, "INSERT INTO t VALUES(?, 1) ON CONFLICT(key) DO UPDATE SET weight = weight + 1");
  KeyStream keys(p.seed);
  const double start = NowSeconds();
  uint64_t done = 0;
  while (done < p.entries) {
    const uint64_t n = std::min(p.keys_per_commit, p.entries - done);
    Exec(db, "BEGIN");
    for (uint64_t i = 0; i < n; ++i) {
      sqlite3_bind_int64(insert, 1, keys.NextKey());
      StepDone(db, insert);
    }
    Exec(db, "COMMIT");
    done += n;
    sink->Progress(NowSeconds() - start, done);
  }
  sqlite3_finalize(insert);
  sink->Metric("rss_before_close_bytes", static_cast<double>(RssBytes()));
  CloseDb(db);
  const double elapsed = NowSeconds() - start;
  sink->Metric("ingest_s", elapsed);
  sink->Metric("us_per_key", elapsed * 1e6 / static_cast<double>(p.entries));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  ReportDisk(sink, p.dir, static_cast<double>(p.entries), "entry");
}

}  // namespace

System SqliteSystem() { return {"sqlite", TreesCreate, TreesReopen, Ingest, nullptr, nullptr}; }

}  // namespace sbs
