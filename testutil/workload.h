// CrashWorkload: the scripted, deterministic workload of the crash-point sweeps and I/O-error
// loops (issue 3, sweeps 1-2), with its oracle; VerifyRecovery: the checks after a simulated
// crash.
//
// The script (scale multiplies the number of commits of each block), single-threaded, with
// background_thread = false so that the operation numbering is the same on every run:
//   phase 1, strict (checkpoint_on_close): open (creates the store); create trees a, b, c;
//     commits; checkpoint (the first: OT checkpoint, new data file, manifest rewrite);
//     commits; checkpoint (OT deltas in the log); commits; close.
//   phase 2, balanced (no checkpoint on close): open; EvictClean + re-read everything;
//     commits; SyncLog; drop tree b; commits; create d and re-create b (name reuse);
//     checkpoint; commits; close (the reopen replays them).
//   phase 3, eventual (checkpoint_on_close): open (redo replay); re-read; large commits that
//     rotate the 64 KiB log; checkpoint (full OT checkpoint after rotation, manifest rewrite,
//     obsolete log deleted); EvictClean + re-read; a compaction round (relocations, a
//     checkpoint publishing them, the files' free ends cut); EvictClean + re-read; commits;
//     SyncLog; commits; close.
// With WorkloadOptions::cache_bytes (a tiny memory budget) the same script runs with leaves
// evicted and re-read from the data files, and commits that pass the budget's stall limit
// checkpointing inside Commit.
// Trees use 8-entry leaves and fan-out 4 (deep trees from a few hundred entries).
//
// Contract
// - Run() stops at the first error and returns it (OK if the script completed). The oracle
//   records every commit before it is attempted and the acknowledgements (oracle.h), so after a
//   crash a test knows the legal range of recovered epochs.
// - violation() is set, and Run() returns Corruption, when something other than an injected
//   I/O failure went wrong: a re-read differs from the oracle, a Corruption status, a clean
//   reopen that recovered a different epoch.
// - Everything that touches recovery/ (Open, Fsck) goes through StoreFns, which
//   testutil/workload_recovery.h provides header-only (testutil is a static library linked
//   before recovery/; keeping the calls in the test's own object keeps the link order valid).
// - Thread-safety: none.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "persistence/env.h"
#include "persistence/runtime.h"
#include "testutil/deterministic_rng.h"
#include "testutil/oracle.h"

namespace cowtree::testutil {

struct StoreFns {
  std::function<Result<std::unique_ptr<Runtime>>(const std::string& dir, const RuntimeOptions&)>
      open;
  // "" if a consistency check of the closed store at dir finds no error, else the findings.
  std::function<std::string(Env* env, const std::string& dir)> fsck;
};

struct WorkloadOptions {
  std::string dir = "/db";
  uint64_t seed = 1;
  int scale = 1;
  // RuntimeOptions::summary_chunk_entries_max / summary_index_refs_max of the workload's opens
  // (0 = default). Lowered to 2 / 2, the workload's trees get a multi-level summary index.
  uint32_t summary_chunk_entries_max = 0;
  uint32_t summary_index_refs_max = 0;
  // RuntimeOptions::catalog_chunk_entries_max / catalog_root_chunks_max (0 = default). Lowered
  // to 1 / 2, the workload's catalog gets a two-level root (root pages).
  uint32_t catalog_chunk_entries_max = 0;
  uint32_t catalog_root_chunks_max = 0;
  // RuntimeOptions::log_zero_fill_bytes of the workload's opens. The default keeps the zero
  // fill on (capped at the workload's 64 KiB log files), so crash sweeps see zero tails.
  uint64_t log_zero_fill_bytes = RuntimeOptions{}.log_zero_fill_bytes;
  // RuntimeOptions::cache_bytes of the workload's opens (0 = unlimited). Below 1 MiB it is set
  // through RuntimeOptions::cache_bytes_small_for_test: a few KiB make the workload's few
  // hundred leaves pass the budget, so that leaves are evicted and commits stall.
  uint64_t cache_bytes = 0;
};

// The budget of the sweeps' budget variant (WorkloadOptions::cache_bytes): 48 KiB make the
// workload evict leaves (~850 times) and stall commits into checkpoints (~22 times).
inline constexpr uint64_t kSweepBudgetCacheBytes = 48 << 10;

// The workload's part of a failure's replay line: "<seed>:<scale>", plus ":<cache_bytes>" when
// it has a budget (COWTREE_SWEEP_WORKLOAD); ParseWorkloadReplay reads it back into `base`.
std::string WorkloadReplayText(const WorkloadOptions& options);
WorkloadOptions ParseWorkloadReplay(const std::string& text, WorkloadOptions base);

// True when COWTREE_SWEEP_SCALE=long (the ctest label "long", tests/long.cmake).
bool LongSweep();
// The workload histories a sweep runs: {seed 1, scale 1}; with LongSweep() also {seed 2,
// scale 2} (a different history with twice the commits per block).
std::vector<WorkloadOptions> SweepWorkloads();

// The runtime options of the workload (and of the reopens after a crash): env, durability,
// background_thread = false, 8-entry leaves, fan-out 4, 64 KiB log files and segments, no automatic
// checkpoints.
RuntimeOptions WorkloadRuntimeOptions(Env* env, Durability durability);

// What the script exercised (filled in as it runs; for the sweep's coverage assertions).
struct WorkloadCoverage {
  uint64_t commits = 0;
  uint64_t checkpoints = 0;
  uint64_t reopens = 0;
  uint64_t rereads = 0;
  uint64_t max_log_file = 0;       // highest log file number seen (> 1: rotation happened)
  uint64_t max_ot_checkpoint = 0;  // highest OT checkpoint id seen
  uint64_t max_manifest = 0;       // highest manifest generation seen
  uint64_t tree_drops = 0;
  uint64_t compactions = 0;        // compaction rounds that returned OK
  uint64_t objects_relocated = 0;  // by those rounds
  // Under WorkloadOptions::cache_bytes: leaves the budget evicted, and checkpoints the runtime
  // wrote that the script did not ask for (inside commits: write stalls), summed over opens.
  uint64_t evictions = 0;
  uint64_t unrequested_checkpoints = 0;
};

enum class StepKind : uint8_t {
  kNone,
  kOpen,
  kCommit,
  kCheckpoint,
  kSyncLog,
  kClose,
  kRead,
  kCompact
};
const char* StepKindName(StepKind kind);

class CrashWorkload {
 public:
  CrashWorkload(Env* env, StoreFns fns, WorkloadOptions options = {});
  ~CrashWorkload();
  CrashWorkload(const CrashWorkload&) = delete;
  CrashWorkload& operator=(const CrashWorkload&) = delete;

  Status Run();

  // The steps of the script, public so that targeted fault tests can drive the same session
  // (oracle, acknowledgements, coverage) step by step. Each stops nothing: it returns the
  // step's Status. Open expects the store to hold every attempted commit (a clean close
  // before, or a new store); the others need an open runtime.
  Status Open(Durability durability, bool checkpoint_on_close = true);
  // One commit of `ops` random ops over the live trees (the first commit of a store creates
  // a, b, c), keys in [-key_range/2, key_range/2).
  Status CommitRandom(int ops, int64_t key_range = 120, const std::string& label = "commit");
  Status Checkpoint();
  // One compaction round over every data file (dead_ratio 0).
  Status Compact();
  Status SyncLog();
  Status Close();
  // EvictClean (if evict), then reads every tree and compares it with the oracle.
  Status Reread(bool evict);

  const std::string& violation() const { return violation_; }
  // The step that was running when Run() returned ("phase 2: commit 3"), and its kind.
  const std::string& step() const { return step_; }
  StepKind step_kind() const { return step_kind_; }
  Durability durability() const { return durability_; }
  const Oracle& oracle() const { return oracle_; }
  Oracle* mutable_oracle() { return &oracle_; }
  const WorkloadCoverage& coverage() const { return coverage_; }
  // The open runtime, if any (null before the first open and after a failed open or a close).
  Runtime* runtime() { return rt_.get(); }
  // Destroys the runtime (its destructor may attempt I/O: call it while faults are still armed).
  void DropRuntime() { rt_.reset(); }

 private:
  Status Phase(int phase, Durability durability, bool checkpoint_on_close);
  Status CommitBatch(RuntimeWriteBatch* batch, StoreModel next);
  Status DropAndRecreate();
  Status Step(StepKind kind, std::string label, const Status& st);
  void NoteFiles();
  // Adds the open runtime's evictions and unrequested checkpoints since the last call.
  void NoteBudget();

  Env* env_;
  StoreFns fns_;
  WorkloadOptions options_;
  DeterministicRng rng_;
  Oracle oracle_;
  WorkloadCoverage coverage_;
  std::unique_ptr<Runtime> rt_;
  Durability durability_ = Durability::kStrict;
  int phase_ = 0;
  std::string step_;
  StepKind step_kind_ = StepKind::kNone;
  std::string violation_;
  uint64_t requested_checkpoints_ = 0;  // of the open runtime: Checkpoint(), Compact()
  uint64_t noted_checkpoints_ = 0;      // of the open runtime, at the last NoteBudget
  uint64_t noted_evictions_ = 0;
};

// After a simulated crash (or a failed run followed by a crash): opens the store, checks that
// it holds exactly oracle.state(j) for some floor <= j <= oracle.attempted(), that it accepts a
// new commit and a checkpoint, closes it, runs fns.fsck, reopens it and checks that it holds
// the same state (epoch j + 1). Returns "" or the violation; *epoch_out = j.
// cache_bytes: the budget of the first open (0: none; below 1 MiB through
// RuntimeOptions::cache_bytes_small_for_test), so that a budget variant's recovery replays its
// redo under the budget too (checkpointing during the replay).
std::string VerifyRecovery(Env* env, const StoreFns& fns, const std::string& dir,
                           const Oracle& oracle, uint64_t floor, uint64_t seed,
                           uint64_t* epoch_out = nullptr, uint64_t cache_bytes = 0);

}  // namespace cowtree::testutil
