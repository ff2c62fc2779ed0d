// What the tests of `cowtree ingest` batches share (tests/tools_ingest_batches_test.cc,
// tests/tools_ingest_spill_test.cc): an input of mixed groups, weights, NULL and -0 values;
// the store's trees as text; the resume marker's entries; and a fixture that runs ingests
// through the fault-injecting Env, with crashes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/sql_groups.h"
#include "cowtree/cowtree.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"
#include "tools/ingest.h"

namespace cowtree::tools::ingest_test {

using testutil::FaultInjectionEnv;

// Rows over int64 groups g0..g3, a double group "d" (first value 0.5), NULL values, -0, and
// weights 0..3. Returns the CSV text; *ops_per_batch receives, per batch of `batch_rows`
// rows, the number of ops (rows with a value and a non-zero weight).
inline std::string MakeCsv(int rows, int batch_rows, std::vector<int>* ops_per_batch) {
  std::ostringstream csv;
  csv << "grp,val,w\n";
  uint64_t x = 12345;
  int ops = 0;
  for (int i = 0; i < rows; ++i) {
    x += 0x9E3779B97F4A7C15ull;  // splitmix64
    uint64_t r = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
    r ^= r >> 31;
    const int weight = static_cast<int>((r >> 40) % 4);
    std::string value;
    std::string group;
    if (i == 0 || r % 5 == 0) {
      group = "d";
      value =
          i == 0 ? "0.5" : (r % 7 == 0 ? "-0" : std::to_string(static_cast<int>(r % 50)) + ".25");
    } else {
      group = "g" + std::to_string((r >> 20) % 4);
      value = std::to_string(static_cast<int64_t>(r % 1000) - 500);
    }
    if (i > 0 && r % 11 == 0) value.clear();  // NULL (not the first: it sets d's type)
    if (!value.empty() && weight != 0) ++ops;
    csv << group << ',' << value << ',' << weight << '\n';
    if ((i + 1) % batch_rows == 0 || i + 1 == rows) {
      ops_per_batch->push_back(ops);
      ops = 0;
    }
  }
  return csv.str();
}

// The store in `db` of `env` as it is (nothing created, nothing written at close).
inline Result<std::unique_ptr<Store>> OpenExisting(Env* env, const std::string& db) {
  Options o;
  o.env = env;
  o.create_if_missing = false;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  return Store::Open(db, o);
}

// Every tree of the store but the resume marker, as "name: key*weight ..." lines.
inline std::string DumpTrees(Env* env, const std::string& db) {
  auto store = OpenExisting(env, db);
  if (!store.ok()) return "open failed: " + store.status().ToString();
  const Snapshot snap = (*store)->GetSnapshot();
  auto trees = snap.ListTrees();
  if (!trees.ok()) return "list failed: " + trees.status().ToString();
  std::ostringstream out;
  for (const TreeDescription& t : *trees) {
    if (t.name == kIngestMarkerTree) continue;
    out << t.name << ':';
    if (t.key_type == KeyType::kInt64) {
      auto reader = snap.Tree<int64_t>(t.name);
      if (!reader.ok()) return "tree failed: " + reader.status().ToString();
      for (Cursor<int64_t> c = reader->SeekToFirst(); c.valid(); c.Next()) {
        out << ' ' << c.key() << '*' << c.weight();
      }
    } else {
      auto reader = snap.Tree<double>(t.name);
      if (!reader.ok()) return "tree failed: " + reader.status().ToString();
      for (Cursor<double> c = reader->SeekToFirst(); c.valid(); c.Next()) {
        out << ' ' << c.key() << '*' << c.weight();
      }
    }
    out << '\n';
  }
  EXPECT_TRUE((*store)->Close().ok());
  return out.str();
}

// The resume marker's entries of input id `id`: rows committed, unfinished end, unfinished ops
// (empty if there is no store: a crash while it was being created).
inline std::vector<int64_t> MarkerEntries(Env* env, const std::string& db, const std::string& id) {
  auto store = OpenExisting(env, db);
  EXPECT_TRUE(store.ok() || store.status().IsNotFound()) << store.status().ToString();
  if (!store.ok()) return {};
  const Snapshot snap = (*store)->GetSnapshot();
  std::vector<int64_t> entries(3, 0);
  auto marker = snap.Tree<int64_t>(std::string(kIngestMarkerTree));
  if (marker.ok()) {
    const uint64_t key = Fnv1a64("id:" + id);
    for (uint64_t i = 0; i < 3; ++i) {
      auto w = marker->weight(static_cast<int64_t>(key + i));
      EXPECT_TRUE(w.ok());
      entries[i] = w.ok() ? *w : -1;
    }
  }
  EXPECT_TRUE((*store)->Close().ok());
  return entries;
}

class IngestBatchesTest : public ::testing::Test {
 protected:
  void SetUp() override { csv_ = tmp_.path() + "/in.csv"; }
  void Write(const std::string& text) { std::ofstream(csv_) << text; }
  IngestOptions Base(Env* env, const std::string& db) const {
    IngestOptions o;
    o.db = db;
    o.input = csv_;
    o.input_id = "feed";
    o.group_column = "grp";
    o.value_column = "val";
    o.weight_column = "w";
    o.batch_ms = 0;
    o.durability = Durability::kStrict;  // every acknowledged commit survives a crash
    o.store.env = env;
    o.store.background_thread = false;
    o.store.checkpoint_log_bytes = 16 << 10;  // checkpoints during the ingest too
    return o;
  }
  // Base() into "/c/db" of a fresh `env`, with these batch sizes.
  IngestOptions Batched(FaultInjectionEnv* env, int batch_rows, int commit_ops) const {
    EXPECT_TRUE(env->CreateDir("/c").ok());
    EXPECT_TRUE(env->SyncDir("/").ok());
    IngestOptions o = Base(env, "/c/db");
    o.batch_rows = static_cast<uint64_t>(batch_rows);
    o.commit_ops = static_cast<uint64_t>(commit_ops);
    return o;
  }
  // Runs `o` with a crash at its k-th mutating operation, then a power loss (unsynced data
  // dropped); I/O works again afterwards.
  IngestOutcome RunCrashingAt(FaultInjectionEnv* env, const IngestOptions& o, uint64_t k) {
    env->CrashAtOp(env->mutating_op_count() + k);
    IngestOutcome crashed = RunIngestReport(o, out_);
    env->SimulateCrash(testutil::CrashModel::kDropUnsynced, k);
    return crashed;
  }
  // Crashes fresh stores at mutating op first_k, first_k + step, ... (below last_k) until a
  // crash leaves an unfinished batch; returns that store's Env, with its options in *o and
  // its marker entries in *entries (null if no crash point did).
  std::unique_ptr<FaultInjectionEnv> CrashInsideABatch(int batch_rows, int commit_ops,
                                                       uint64_t first_k, uint64_t step,
                                                       uint64_t last_k, IngestOptions* o,
                                                       std::vector<int64_t>* entries) {
    for (uint64_t k = first_k; k < last_k; k += step) {
      auto env = std::make_unique<FaultInjectionEnv>();
      *o = Batched(env.get(), batch_rows, commit_ops);
      RunCrashingAt(env.get(), *o, k);
      *entries = MarkerEntries(env.get(), "/c/db", "feed");
      if (entries->size() == 3 && (*entries)[1] != 0) return env;
    }
    return nullptr;
  }
  // One ingest of `text` into a fresh store of `env` with batches sized by memory under
  // `budget` bytes (the batch gets half), its --log-commits lines in *log.
  IngestOutcome RunSizedByMemory(FaultInjectionEnv* env, const std::string& text, uint64_t budget,
                                 std::ostringstream* log, uint64_t commit_ops = 10000) {
    Write(text);
    EXPECT_TRUE(env->CreateDir("/c").ok());
    IngestOptions o = Base(env, "/c/db");
    o.batch_rows = 0;
    o.commit_ops = commit_ops;
    o.store.cache_bytes = budget;
    o.log_commits = true;
    return RunIngestReport(o, *log);
  }
  // Runs `o` over the store of `env` (a crashed one) and expects it refused: InvalidArgument
  // whose message holds `words`, no commit, the trees unchanged.
  void ExpectRefusedChangingNothing(FaultInjectionEnv* env, const IngestOptions& o,
                                    const std::string& words) {
    const std::string before = DumpTrees(env, "/c/db");
    const IngestOutcome refused = RunIngestReport(o, out_);
    EXPECT_TRUE(refused.status.IsInvalidArgument()) << refused.status.ToString();
    EXPECT_NE(refused.status.message().find(words), std::string::npos) << refused.status.ToString();
    EXPECT_EQ(refused.stats.commits, 0u);
    EXPECT_EQ(DumpTrees(env, "/c/db"), before);
  }
  std::ostringstream out_;  // --log-commits lines of runs that do not check them
  testutil::TempDir tmp_;
  std::string csv_;
};

}  // namespace cowtree::tools::ingest_test
