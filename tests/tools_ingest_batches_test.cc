// `cowtree ingest` batches (tools/ingest.h "Batches and commits"): a batch is sorted into key
// order and committed commit_ops ops at a time. Checked here, in process through the
// fault-injecting Env:
// - SortBuffer's order (group rank, key code, kind, arrival), its renumbering and its bytes;
// - a batch of several commits leaves the same store as one commit per row (every group type,
//   NULL and -0 counts, zero weights), with the number of commits the contract states;
// - a crash at every mutating operation of an ingest whose batches take several commits, then
//   --resume: the store equals one clean ingest (no op lost, none applied twice), and the
//   sweep does reach crashes inside a batch;
// - a run from row 1 (no --resume) after such a crash resets the unfinished-batch entries.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/sort_buffer.h"
#include "api/sql_groups.h"
#include "cowtree/cowtree.h"
#include "tests/ingest_batches_fixture.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"
#include "tools/ingest.h"
#include "tree/key_codec.h"

namespace cowtree::tools {
namespace {

using api_internal::SortBuffer;
using api_internal::SortedOp;
using testutil::FaultInjectionEnv;
using namespace ingest_test;  // NOLINT(build/namespaces): the fixture and its helpers

TEST(SortBuffer, OrdersByGroupRankThenKeyThenKindThenArrival) {
  SortBuffer b;
  b.Add(0, tree::EncodeInt64Key(5), 1);     // compact (group 0, weight 1)
  b.Add(1, tree::EncodeInt64Key(-3), 2);    // full, arrival 0
  b.Add(2, tree::EncodeInt64Key(7), 3);     // 1
  b.Add(0, tree::EncodeInt64Key(-9), 4);    // 2
  b.Add(0, tree::EncodeInt64Key(5), -5);    // 3: ties with the compact op
  b.Add(2, tree::EncodeDoubleKey(0.0), 6);  // 4
  b.Add(0, tree::EncodeInt64Key(5), 1);     // compact: the same op as the first
  EXPECT_EQ(b.bytes(), 2 * SortBuffer::kCompactOpBytes +
                           5 * (SortBuffer::kOpBytes + SortBuffer::kWeightBytes));
  const std::vector<uint32_t> rank = {2, 0, 1};  // group 1 first, then 2, then 0
  b.Sort(rank);
  std::vector<int64_t> weights;
  std::vector<uint32_t> groups;
  for (size_t i = 0; i < b.size(); ++i) {
    weights.push_back(b.op(i).weight);
    groups.push_back(b.op(i).group);
  }
  EXPECT_EQ(groups, (std::vector<uint32_t>{0, 1, 1, 2, 2, 2, 2}));
  // Group 2 (rank 1) holds an int64 code and a double code: compared as codes. Compact ops
  // come before a full op of the same group and key.
  EXPECT_EQ(weights, (std::vector<int64_t>{2, 6, 3, 4, 1, 1, -5}));
  EXPECT_EQ(b.op(0).key_code, tree::EncodeInt64Key(-3));
  EXPECT_EQ(b.op(5).key_code, tree::EncodeInt64Key(5));
  // Out of order: the cursor starts again.
  EXPECT_EQ(b.op(6).weight, -5);
  EXPECT_EQ(b.op(3).weight, 4);
  EXPECT_EQ(b.op(4).key_code, tree::EncodeInt64Key(5));
  b.Clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.bytes(), 0u);
  // -0.0 and +0.0 have one code, as in the tree.
  EXPECT_EQ(tree::EncodeDoubleKey(-0.0), tree::EncodeDoubleKey(0.0));
}

// A batch of full ops after one of compact ops: each alone fits the reservation, both arrays'
// pages together would not stay resident: Clear frees them.
TEST(SortBuffer, ClearFreesTheArraysWhenBothKindsTouchedMoreThanTheReservation) {
  constexpr size_t kBytes = 1 << 20;
  SortBuffer b;
  b.Reserve(kBytes, /*weighted=*/false);
  const size_t compact_ops = kBytes * 6 / 10 / SortBuffer::kCompactOpBytes;
  for (size_t i = 0; i < compact_ops; ++i) b.Add(0, i, 1);
  b.Clear();
  EXPECT_EQ(b.touched_bytes(), compact_ops * SortBuffer::kCompactOpBytes);  // kept: it fits
  const size_t full_ops = kBytes * 6 / 10 / SortBuffer::kOpBytes;
  for (size_t i = 0; i < full_ops; ++i) b.Add(1, i, 1);
  EXPECT_GT(b.touched_bytes(), kBytes);
  b.Clear();
  EXPECT_EQ(b.touched_bytes(), 0u);  // freed and reserved again
  for (size_t i = 0; i < full_ops; ++i) b.Add(1, i, 1);
  EXPECT_EQ(b.touched_bytes(), full_ops * SortBuffer::kOpBytes);
}

// The radix sorts against std::sort of the same (group, key, kind, arrival) ops, over key sets
// that exercise every byte: full-range random keys, a narrow range (most bytes skipped),
// heavy duplicates, one key, and many groups; with unit weights (mostly compact ops) and with
// others.
TEST(SortBuffer, RadixSortEqualsAComparisonSortOnEveryKeyShape) {
  uint64_t x = 7;
  const auto next = [&x] {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int shape = 0; shape < 5; ++shape) {
    for (const bool unit_weights : {true, false}) {
      SCOPED_TRACE("shape " + std::to_string(shape) + (unit_weights ? " unit" : " weighted"));
      const uint32_t groups = shape == 4 ? 300 : 3;
      SortBuffer b;
      struct Op {
        uint32_t group;
        uint64_t key;
        uint32_t kind;  // 0 compact, 1 full
        uint32_t arrival;
        int64_t weight;
      };
      std::vector<Op> want;
      for (uint32_t i = 0; i < 20000; ++i) {
        const uint64_t r = next();
        uint64_t key = r;
        if (shape == 1) key = tree::EncodeInt64Key(static_cast<int64_t>(r % 2000) - 1000);
        if (shape == 2) key = r % 5;
        if (shape == 3) key = 42;
        const auto group = static_cast<uint32_t>(next() % groups);
        const int64_t weight = unit_weights ? 1 : static_cast<int64_t>(next() % 7) - 3;
        if (weight == 0) continue;
        b.Add(group, key, weight);
        const uint32_t kind = group == 0 && weight == 1 ? 0 : 1;
        want.push_back({group, key, kind, static_cast<uint32_t>(want.size()), weight});
      }
      std::vector<uint32_t> rank(groups);
      for (uint32_t g = 0; g < groups; ++g) rank[g] = (g * 7 + 3) % groups;  // a permutation
      if (groups == 3) rank = {1, 2, 0};
      b.Sort(rank);
      for (Op& t : want) t.group = rank[t.group];
      std::sort(want.begin(), want.end(), [](const Op& a, const Op& c) {
        if (a.group != c.group) return a.group < c.group;
        if (a.key != c.key) return a.key < c.key;
        if (a.kind != c.kind) return a.kind < c.kind;
        return a.arrival < c.arrival;
      });
      ASSERT_EQ(b.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const SortedOp op = b.op(i);
        ASSERT_EQ(op.group, want[i].group) << i;
        ASSERT_EQ(op.key_code, want[i].key) << i;
        ASSERT_EQ(op.weight, want[i].weight) << i;
      }
    }
  }
}

TEST_F(IngestBatchesTest, SeveralCommitsPerBatchMakeTheSameStoreAsOneCommitPerRow) {
  constexpr int kRows = 1500, kBatchRows = 400, kCommitOps = 7;
  std::vector<int> ops_per_batch;
  Write(MakeCsv(kRows, kBatchRows, &ops_per_batch));
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir("/a").ok());
  ASSERT_TRUE(env.CreateDir("/b").ok());
  std::ostringstream out;

  IngestOptions sliced = Base(&env, "/a/db");
  sliced.batch_rows = kBatchRows;
  sliced.commit_ops = kCommitOps;
  sliced.log_commits = true;
  const IngestOutcome a = RunIngestReport(sliced, out);
  ASSERT_EQ(a.end, IngestEnd::kOk) << a.status.ToString();
  uint64_t want_commits = 0;
  for (const int ops : ops_per_batch)
    want_commits += std::max(1, (ops + kCommitOps - 1) / kCommitOps);
  EXPECT_EQ(a.stats.commits, want_commits);
  EXPECT_GT(a.stats.commits, 4 * ops_per_batch.size());  // batches really took several commits
  EXPECT_EQ(a.stats.rows, static_cast<uint64_t>(kRows));
  EXPECT_EQ(a.stats.unfinished_batch_end_row, 0u);
  // --log-commits: one line per batch, with the rows of the whole batches so far.
  std::istringstream lines(out.str());
  std::string line;
  std::vector<uint64_t> rows_logged;
  while (std::getline(lines, line))
    rows_logged.push_back(std::stoull(line.substr(line.rfind(' '))));
  EXPECT_EQ(rows_logged, (std::vector<uint64_t>{400, 800, 1200, 1500}));

  IngestOptions per_row = Base(&env, "/b/db");
  per_row.batch_rows = 1;
  const IngestOutcome b = RunIngestReport(per_row, out);
  ASSERT_EQ(b.end, IngestEnd::kOk) << b.status.ToString();
  EXPECT_EQ(b.stats.commits, static_cast<uint64_t>(kRows));

  const std::string dump = DumpTrees(&env, "/a/db");
  EXPECT_EQ(dump, DumpTrees(&env, "/b/db"));
  for (const char* tree : {"__cowtree_null_values__: ", "__cowtree_negative_zeros__: ", "\nd: 0*",
                           "\ng0: ", "\ng3: "}) {
    EXPECT_NE(dump.find(tree), std::string::npos) << tree << " in\n" << dump;
  }
  EXPECT_EQ(MarkerEntries(&env, "/a/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
}

TEST_F(IngestBatchesTest, CrashAtEveryOperationThenResumeAppliesEachOpOnce) {
  constexpr int kRows = 300, kBatchRows = 120, kCommitOps = 16;
  std::vector<int> ops_per_batch;
  Write(MakeCsv(kRows, kBatchRows, &ops_per_batch));
  std::ostringstream out;
  // The clean store, and how many mutating operations one clean ingest makes.
  FaultInjectionEnv clean_env;
  IngestOptions clean = Batched(&clean_env, kBatchRows, kCommitOps);
  const uint64_t ops_before = clean_env.mutating_op_count();
  ASSERT_EQ(RunIngestReport(clean, out).end, IngestEnd::kOk);
  const uint64_t ingest_ops = clean_env.mutating_op_count() - ops_before;
  const std::string want = DumpTrees(&clean_env, "/c/db");
  ASSERT_GT(ingest_ops, 20u);

  int inside_a_batch = 0;
  for (uint64_t k = 1; k <= ingest_ops; ++k) {
    SCOPED_TRACE("crash at mutating op " + std::to_string(k));
    FaultInjectionEnv env;
    IngestOptions o = Batched(&env, kBatchRows, kCommitOps);
    RunCrashingAt(&env, o, k);
    // (A crash while the store was created leaves none: the resumed run creates it.)
    const std::vector<int64_t> entries = MarkerEntries(&env, "/c/db", "feed");
    if (entries.size() == 3 && entries[1] != 0) {
      ++inside_a_batch;
      EXPECT_GT(entries[1], entries[0]);
      EXPECT_GT(entries[2], 0);
    }
    o.resume = true;
    const IngestOutcome resumed = RunIngestReport(o, out);
    ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
    ASSERT_EQ(DumpTrees(&env, "/c/db"), want);
    EXPECT_EQ(MarkerEntries(&env, "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
  }
  // Most commits are in the middle of a batch (several commits each): the sweep must have
  // crashed there many times.
  EXPECT_GT(inside_a_batch, 10);
}

TEST_F(IngestBatchesTest, RunFromRowOneAfterACrashInsideABatchResetsItsEntries) {
  constexpr int kRows = 300, kBatchRows = 150, kCommitOps = 10;
  std::vector<int> ops_per_batch;
  Write(MakeCsv(kRows, kBatchRows, &ops_per_batch));
  IngestOptions o;
  std::vector<int64_t> entries;
  const std::unique_ptr<FaultInjectionEnv> env =
      CrashInsideABatch(kBatchRows, kCommitOps, 20, 7, 600, &o, &entries);
  ASSERT_NE(env, nullptr) << "no crash point inside a batch was found";
  // The whole input again without --resume (the user's choice: rows are added again).
  const IngestOutcome again = RunIngestReport(o, out_);
  ASSERT_EQ(again.end, IngestEnd::kOk) << again.status.ToString();
  EXPECT_EQ(again.stats.rows_skipped, 0u);
  EXPECT_EQ(again.stats.rows, static_cast<uint64_t>(kRows));
  EXPECT_EQ(MarkerEntries(env.get(), "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
}

// A second run from row 1 (no --resume) over a store whose marker says the whole input is
// committed, crashed inside its first batch, then resumed: the resumed run must continue that
// second run (its rows are added again, as the user asked), not skip the first run's rows.
TEST_F(IngestBatchesTest, CrashInsideTheFirstBatchOfARerunFromRowOneThenResume) {
  constexpr int kRows = 300, kBatchRows = 150, kCommitOps = 10;
  std::vector<int> ops_per_batch;
  Write(MakeCsv(kRows, kBatchRows, &ops_per_batch));
  // The reference: the input ingested twice, cleanly.
  FaultInjectionEnv twice_env;
  IngestOptions twice = Batched(&twice_env, kBatchRows, kCommitOps);
  ASSERT_EQ(RunIngestReport(twice, out_).end, IngestEnd::kOk);
  ASSERT_EQ(RunIngestReport(twice, out_).end, IngestEnd::kOk);
  const std::string want = DumpTrees(&twice_env, "/c/db");

  int inside_first_batch = 0;
  for (uint64_t k = 5; k < 150; k += 2) {
    SCOPED_TRACE("crash at mutating op " + std::to_string(k) + " of the second run");
    FaultInjectionEnv env;
    IngestOptions o = Batched(&env, kBatchRows, kCommitOps);
    ASSERT_EQ(RunIngestReport(o, out_).end, IngestEnd::kOk);  // the first run: all rows
    RunCrashingAt(&env, o, k);                                // the second, from row 1
    const std::vector<int64_t> entries = MarkerEntries(&env, "/c/db", "feed");
    ASSERT_EQ(entries.size(), 3u);
    if (entries[1] != kBatchRows) continue;  // not inside the second run's first batch
    ++inside_first_batch;
    EXPECT_EQ(entries[0], 0) << "the second run's marker must count its own rows";
    o.resume = true;
    const IngestOutcome resumed = RunIngestReport(o, out_);
    ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
    EXPECT_EQ(resumed.stats.rows_skipped, 0u);
    ASSERT_EQ(DumpTrees(&env, "/c/db"), want);
  }
  EXPECT_GT(inside_first_batch, 3);
}

// An earlier run stopped inside a batch; --resume over an input that ends before that batch
// does (not the same input) is refused with the file named, and changes nothing.
TEST_F(IngestBatchesTest, ResumeOverAShorterInputThanTheUnfinishedBatchIsRefused) {
  constexpr int kRows = 300, kBatchRows = 300, kCommitOps = 10;
  std::vector<int> ops_per_batch;
  const std::string text = MakeCsv(kRows, kBatchRows, &ops_per_batch);
  Write(text);
  IngestOptions o;
  std::vector<int64_t> entries;
  const std::unique_ptr<FaultInjectionEnv> env =
      CrashInsideABatch(kBatchRows, kCommitOps, 20, 5, 600, &o, &entries);
  ASSERT_NE(env, nullptr) << "no crash point inside a batch was found";
  ASSERT_EQ(entries[1], kRows);  // one batch: it ends at the last row
  const std::string before = DumpTrees(env.get(), "/c/db");
  // The same input id over the first 200 rows only.
  size_t cut = 0;
  for (int lines = 0; lines < 1 + 200; ++lines) cut = text.find('\n', cut) + 1;
  Write(text.substr(0, cut));
  o.resume = true;
  const IngestOutcome refused = RunIngestReport(o, out_);
  EXPECT_EQ(refused.end, IngestEnd::kError);
  EXPECT_TRUE(refused.status.IsInvalidArgument()) << refused.status.ToString();
  EXPECT_NE(refused.status.message().find(csv_ + ": --resume: an earlier run stopped inside "
                                                 "the batch that ends at data row 300, but the "
                                                 "input has only 200 data rows"),
            std::string::npos)
      << refused.status.ToString();
  EXPECT_EQ(refused.stats.commits, 0u);
  EXPECT_EQ(DumpTrees(env.get(), "/c/db"), before);
  EXPECT_EQ(MarkerEntries(env.get(), "/c/db", "feed"), entries);
}

// Resume entries that contradict each other (here: an unfinished batch that ends before the
// committed rows, or claims as many committed ops as it has rows) are Corruption naming the
// tree, never an assertion, and change nothing.
TEST_F(IngestBatchesTest, ContradictoryResumeEntriesAreCorruptionNamingTheTree) {
  std::vector<int> ops_per_batch;
  Write(MakeCsv(100, 100, &ops_per_batch));
  for (const auto& [end_delta, ops_delta] :
       std::vector<std::pair<int64_t, int64_t>>{{50, 3}, {120, 5}, {120, 20}, {101, 5}}) {
    SCOPED_TRACE("K+1 " + std::to_string(end_delta) + ", K+2 " + std::to_string(ops_delta));
    FaultInjectionEnv env;
    IngestOptions o = Batched(&env, 100, 10);
    ASSERT_EQ(RunIngestReport(o, out_).end, IngestEnd::kOk);
    {
      auto store = OpenExisting(&env, "/c/db");
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto marker = (*store)->Tree<int64_t>(std::string(kIngestMarkerTree));
      ASSERT_TRUE(marker.ok());
      WriteBatch b = (*store)->NewBatch();
      const uint64_t key = Fnv1a64("id:feed");
      b.Add(*marker, static_cast<int64_t>(key + 1), end_delta);
      b.Add(*marker, static_cast<int64_t>(key + 2), ops_delta);
      b.Add(*marker, static_cast<int64_t>(key + 3), SortBuffer::kSortOrderVersion);
      ASSERT_TRUE((*store)->Commit(b).ok());
      ASSERT_TRUE((*store)->Close().ok());
    }
    const std::string before = DumpTrees(&env, "/c/db");
    // 100 committed rows: an end of 50 is before them; 120 with 5 ops committed is possible;
    // 120 with 20 and 101 with 5 are not (a batch of R rows has at most R ops, and a committed
    // part has fewer).
    o.resume = true;
    const IngestOutcome r = RunIngestReport(o, out_);
    if (end_delta == 120 && ops_delta == 5) {
      // Consistent, but the input has only 100 rows: refused as not the same input.
      EXPECT_TRUE(r.status.IsInvalidArgument()) << r.status.ToString();
      EXPECT_NE(r.status.message().find("the input has only 100"), std::string::npos)
          << r.status.ToString();
    } else {
      EXPECT_TRUE(r.status.IsCorruption()) << r.status.ToString();
      EXPECT_NE(r.status.message().find("tree '__cowtree_ingest__': the resume entries of this "
                                        "input are inconsistent"),
                std::string::npos)
          << r.status.ToString();
    }
    EXPECT_EQ(r.stats.commits, 0u);
    EXPECT_EQ(DumpTrees(&env, "/c/db"), before);
  }
}

// The reserved trees made through the library with another key type (the library reserves
// no names): the store is not damaged, so the ingest refuses it as InvalidArgument (not
// Corruption, adversarial round 10) and changes nothing.
TEST_F(IngestBatchesTest, AReservedTreeOfAnotherKeyTypeIsInvalidNotCorrupt) {
  std::vector<int> ops_per_batch;
  Write(MakeCsv(20, 10, &ops_per_batch));
  for (const std::string name :
       {std::string(kIngestMarkerTree), std::string("__cowtree_null_values__")}) {
    SCOPED_TRACE(name);
    FaultInjectionEnv env;
    IngestOptions o = Batched(&env, 10, 5);
    {
      Options so = o.store;
      so.create_if_missing = true;
      auto store = Store::Open("/c/db", so);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      WriteBatch b = (*store)->NewBatch();
      b.Add(b.CreateTree<double>(name), 1.5, 1);
      ASSERT_TRUE((*store)->Commit(b).ok());
      ASSERT_TRUE((*store)->Close().ok());
    }
    const std::string before = DumpTrees(&env, "/c/db");
    const IngestOutcome r = RunIngestReport(o, out_);
    EXPECT_TRUE(r.status.IsInvalidArgument()) << r.status.ToString();
    EXPECT_NE(r.status.message().find("is not an int64 tree"), std::string::npos)
        << r.status.ToString();
    EXPECT_EQ(DumpTrees(&env, "/c/db"), before);
  }
}

// An unfinished batch whose sort order is not this build's (the entry key + 3 reads 0: written
// by a build before compact ops, which ordered ties differently) cannot be resumed by skipping
// its first ops: refused, naming both orders, and nothing changes. The same entries with this
// build's order resume.
TEST_F(IngestBatchesTest, ResumeOfAnUnfinishedBatchInAnotherSortOrderIsRefused) {
  std::vector<int> ops_per_batch;
  constexpr int kRows = 300, kBatchRows = 150, kCommitOps = 10;
  Write(MakeCsv(kRows, kBatchRows, &ops_per_batch));
  IngestOptions o;
  std::vector<int64_t> entries;
  std::unique_ptr<FaultInjectionEnv> env =
      CrashInsideABatch(kBatchRows, kCommitOps, 10, 3, 400, &o, &entries);
  ASSERT_NE(env, nullptr) << "no crash point inside a batch";
  const uint64_t key = Fnv1a64("id:feed");
  const auto set_order = [&](int64_t delta) {
    auto store = OpenExisting(env.get(), "/c/db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto marker = (*store)->Tree<int64_t>(std::string(kIngestMarkerTree));
    ASSERT_TRUE(marker.ok());
    auto reader = (*store)->GetSnapshot().Tree<int64_t>(std::string(kIngestMarkerTree));
    ASSERT_TRUE(reader.ok());
    auto w = reader->weight(static_cast<int64_t>(key + 3));
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(*w, delta < 0 ? SortBuffer::kSortOrderVersion : 0);
    WriteBatch b = (*store)->NewBatch();
    b.Add(*marker, static_cast<int64_t>(key + 3), delta);
    ASSERT_TRUE((*store)->Commit(b).ok());
    ASSERT_TRUE((*store)->Close().ok());
  };
  set_order(-SortBuffer::kSortOrderVersion);  // as an older build leaves it
  o.resume = true;
  ExpectRefusedChangingNothing(env.get(), o, "in sort order 0");
  set_order(SortBuffer::kSortOrderVersion);
  const IngestOutcome resumed = RunIngestReport(o, out_);
  ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
  EXPECT_EQ(MarkerEntries(env.get(), "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
}

// A row of the unfinished batch changed before --resume: refused, nothing changed (found by an
// adversarial run: the resume skipped a changed row's op as committed and applied another one
// twice, leaving a store equal to neither input). The marker's key + 6 holds the hash of the
// batch's rows.
TEST_F(IngestBatchesTest, ResumeOverChangedRowsOfTheUnfinishedBatchIsRefused) {
  std::vector<int> ops_per_batch;
  constexpr int kRows = 300, kBatchRows = 150, kCommitOps = 10;
  const std::string text = MakeCsv(kRows, kBatchRows, &ops_per_batch);
  Write(text);
  IngestOptions o;
  std::vector<int64_t> entries;
  std::unique_ptr<FaultInjectionEnv> env =
      CrashInsideABatch(kBatchRows, kCommitOps, 10, 3, 400, &o, &entries);
  ASSERT_NE(env, nullptr) << "no crash point inside a batch";
  // The last row of the unfinished batch (data row entries[1]) becomes another row.
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_LT(static_cast<size_t>(entries[1]), lines.size());
  lines[static_cast<size_t>(entries[1])] = "g0,123456,3";
  std::string changed;
  for (const std::string& line : lines) changed += line + "\n";
  Write(changed);
  o.resume = true;
  ExpectRefusedChangingNothing(env.get(), o, "are not the ones it read");
  // The original rows again: the resume completes the batch.
  Write(text);
  const IngestOutcome resumed = RunIngestReport(o, out_);
  ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
  EXPECT_EQ(MarkerEntries(env.get(), "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
}

// The rows of each batch from --log-commits lines ("committed EPOCH ROWS_TOTAL").
std::vector<uint64_t> RowsPerBatch(const std::string& log) {
  std::istringstream lines(log);
  std::string line;
  std::vector<uint64_t> rows;
  uint64_t before = 0;
  while (std::getline(lines, line)) {
    const uint64_t total = std::stoull(line.substr(line.rfind(' ')));
    rows.push_back(total - before);
    before = total;
  }
  return rows;
}

// Batches sized by memory (batch_rows 0): a batch ends when its ops fill half of the budget,
// 8 bytes per op of the batch's first group with weight 1 and 24 per other op with a weight
// column, so one group without weights fits three times the rows.
TEST_F(IngestBatchesTest, BatchesSizedByMemoryHoldMoreRowsOfOneGroupWithoutWeights) {
  constexpr uint64_t kBudget = 2 << 20, kBatchBytes = kBudget / 2;  // the store: 1 MiB, its least
  constexpr int kRows = 300000;
  for (const bool one_group : {true, false}) {
    SCOPED_TRACE(one_group ? "one group, weight 1" : "two groups, weight 2");
    std::ostringstream csv;
    csv << "grp,val,w\n";
    for (int i = 0; i < kRows; ++i) {
      const bool first = one_group || i % 2 == 0;
      csv << (first ? "a" : "b") << ',' << (int64_t{i} * 7919) % 100003 << ','
          << (one_group ? 1 : 2) << '\n';
    }
    FaultInjectionEnv env;
    std::ostringstream log;
    const IngestOutcome r = RunSizedByMemory(&env, csv.str(), kBudget, &log);
    ASSERT_EQ(r.end, IngestEnd::kOk) << r.status.ToString();
    EXPECT_EQ(r.stats.batch_bytes, kBatchBytes);
    const std::vector<uint64_t> rows = RowsPerBatch(log.str());
    ASSERT_GE(rows.size(), 2u);
    // Full when the next row's op and count (16 + 8 + 16 bytes) might not fit.
    const uint64_t op_bytes =
        one_group ? SortBuffer::kCompactOpBytes : SortBuffer::kOpBytes + SortBuffer::kWeightBytes;
    const uint64_t want = (kBatchBytes - 40) / op_bytes + 1;
    EXPECT_NEAR(static_cast<double>(rows[0]), static_cast<double>(want), 1.0);
    // Group "a" is the first group of every batch, so with two groups half the ops are
    // compact... unless their weight is not 1, as here: all full.
    uint64_t total = 0;
    for (uint64_t n : rows) total += n;
    EXPECT_EQ(total, static_cast<uint64_t>(kRows));
  }
}

// A --commit-ops larger than what half of the budget holds does not make the batch larger:
// each batch is then one commit (it made the batch commit_ops ops, and `--cache-mib 2
// --commit-ops 100000000` held 284 MiB of ops; found by an adversarial run).
TEST_F(IngestBatchesTest, ALargeCommitOpsDoesNotEnlargeABatchPastTheBudget) {
  constexpr uint64_t kBudget = 2 << 20, kBatchBytes = kBudget / 2;
  std::ostringstream csv;
  csv << "grp,val,w\n";
  for (int i = 0; i < 300000; ++i) csv << "a," << (int64_t{i} * 7919) % 1000003 << ",1\n";
  FaultInjectionEnv env;
  std::ostringstream log;
  const IngestOutcome r = RunSizedByMemory(&env, csv.str(), kBudget, &log, 100000000);
  ASSERT_EQ(r.end, IngestEnd::kOk) << r.status.ToString() << "\n" << log.str();
  EXPECT_EQ(r.stats.batch_bytes, kBatchBytes);
  EXPECT_LE(r.stats.batch_resident_bytes_max, kBatchBytes);
  const std::vector<uint64_t> rows = RowsPerBatch(log.str());
  EXPECT_EQ(rows.size(), 3u);               // 131 k compact ops per 1 MiB batch
  EXPECT_EQ(r.stats.commits, rows.size());  // one commit per batch
  EXPECT_EQ(r.stats.rows, 300000u);
}

// Batches sized by memory whose kind of op changes (one group's rows, then another's, then
// weighted ones): what the batch arrays keep resident stays within the batch's bytes. Counting
// only the ops a batch holds would leave the first batch's compact pages resident beside the
// second batch's full records (found in review: 106 MiB peak under --cache-mib 64).
TEST_F(IngestBatchesTest, BatchesWhoseKindOfOpChangesStayWithinTheirBytes) {
  constexpr uint64_t kBudget = 2 << 20, kBatchBytes = kBudget / 2;
  std::ostringstream csv;
  csv << "grp,val,w\n";
  for (int i = 0; i < 200000; ++i) csv << "a," << i << ",1\n";  // compact: 131 k per batch
  for (int i = 0; i < 100000; ++i) csv << "b," << i << ",1\n";  // full, 24 B with a weight
  for (int i = 0; i < 50000; ++i) csv << "c," << i << ",3\n";
  FaultInjectionEnv env;
  std::ostringstream log;
  const IngestOutcome r = RunSizedByMemory(&env, csv.str(), kBudget, &log);
  ASSERT_EQ(r.end, IngestEnd::kOk) << r.status.ToString();
  // 2.8-5.2 MB of ops (a group's ops are compact in the batches it starts) in 1 MiB batches:
  // a few batches, not one per row (a batch starting with the pages of the one before it
  // would end at once unless Clear freed them).
  const size_t batches = RowsPerBatch(log.str()).size();
  EXPECT_GE(batches, 3u);
  EXPECT_LE(batches, 8u);
  EXPECT_GT(r.stats.batch_resident_bytes_max, kBatchBytes / 2);
  EXPECT_LE(r.stats.batch_resident_bytes_max, kBatchBytes);
  EXPECT_EQ(r.stats.rows, 350000u);
}

// A crash inside a batch sized by memory (mixed groups, weights, NULL and -0: both kinds of
// op), then --resume: the store equals one clean ingest.
TEST_F(IngestBatchesTest, CrashInsideABatchSizedByMemoryThenResume) {
  constexpr int kRows = 100000;
  std::vector<int> ops_per_batch;
  Write(MakeCsv(kRows, kRows, &ops_per_batch));
  const auto options = [](IngestOptions o) {
    o.batch_rows = 0;
    o.commit_ops = 2000;
    o.store.cache_bytes = 2 << 20;
    o.store.checkpoint_log_bytes = 1 << 20;
    return o;
  };
  FaultInjectionEnv clean_env;
  IngestOptions clean = options(Batched(&clean_env, 0, 2000));
  clean.log_commits = true;
  std::ostringstream log;
  const uint64_t ops_before = clean_env.mutating_op_count();
  ASSERT_EQ(RunIngestReport(clean, log).end, IngestEnd::kOk);
  const uint64_t ingest_ops = clean_env.mutating_op_count() - ops_before;
  ASSERT_GE(RowsPerBatch(log.str()).size(), 2u);
  const std::string want = DumpTrees(&clean_env, "/c/db");
  int inside = 0;
  const uint64_t step = std::max<uint64_t>(1, ingest_ops / 40);
  for (uint64_t k = ingest_ops / 4; k < ingest_ops && inside < 3; k += step) {
    SCOPED_TRACE("crash at mutating op " + std::to_string(k));
    FaultInjectionEnv env;
    IngestOptions o = options(Batched(&env, 0, 2000));
    RunCrashingAt(&env, o, k);
    const std::vector<int64_t> entries = MarkerEntries(&env, "/c/db", "feed");
    if (entries.size() == 3 && entries[1] != 0) ++inside;
    o.resume = true;
    const IngestOutcome resumed = RunIngestReport(o, out_);
    ASSERT_EQ(resumed.end, IngestEnd::kOk) << resumed.status.ToString();
    ASSERT_EQ(DumpTrees(&env, "/c/db"), want);
    EXPECT_EQ(MarkerEntries(&env, "/c/db", "feed"), (std::vector<int64_t>{kRows, 0, 0}));
  }
  EXPECT_GE(inside, 1);
}

}  // namespace
}  // namespace cowtree::tools
