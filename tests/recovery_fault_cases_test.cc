// Targeted fault cases (issue 3, sweeps 3-7), each on the scripted session of
// testutil/workload.h (same trees, oracle and acknowledgement rules as the crash sweep):
//   3. fdatasync EIO (FailSyncWithEio) on the log during a strict commit or SyncLog, and on the
//      data file, OT checkpoint, log, manifest and superblock syncs of a checkpoint: the call
//      fails, the runtime is poisoned, no fdatasync is ever retried, every acknowledged commit
//      survives a reopen.
//   4. ENOSPC (SetSpaceLimitBytes just below what the operation needs) at log append, log
//      rotation, segment growth, OT checkpoint and manifest rewrite: a NoSpace error, old state
//      intact after reopen, writes succeed again once space is back.
//   5. A crash at every mutating operation of recovery::Open itself (store with a torn log tail
//      and OT deltas of a checkpoint whose superblock never landed), then every crash model,
//      then open again: the same state as an uninterrupted open. Also a second crash inside
//      the second open.
//   6. Superblock: the newest copy flipped or torn -> the other copy is used, nothing
//      acknowledged is lost; the older copy unusable too -> an error, not wrong data; every
//      copy bad -> Corruption and nothing written.
//   7. A flipped bit in a synced log record followed by valid records -> Corruption, store
//      untouched (kPointInTimeRecovery opens the prefix before it).
// Each failure message names what to replay (the case, the probe index k, the model, seed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/log_reader.h"
#include "persistence/superblock.h"
#include "recovery/fsck.h"
#include "testutil/fault_injection_env.h"
#include "testutil/oracle.h"
#include "testutil/workload.h"
#include "testutil/workload_recovery.h"

namespace cowtree::testutil {
namespace {

constexpr char kDir[] = "/db";

// One store on its own simulated disk, driven through the workload session.
struct Session {
  explicit Session(WorkloadOptions options = {}) : w(&env, fns, std::move(options)) {}
  FaultInjectionEnv env;
  StoreFns fns = RecoveryStoreFns();
  CrashWorkload w;
};

// The byte-exact no-space cases measure the growth of the data itself: without the log's zero
// fill, which is a best-effort extra (NoSpaceForTheLogZeroFill covers it).
WorkloadOptions WithoutZeroFill() {
  WorkloadOptions o;
  o.log_zero_fill_bytes = 0;
  return o;
}

using SetupFn = std::function<void(Session*)>;
using OpFn = std::function<Status(Session*)>;

// Totals printed at the end of the suite.
struct Totals {
  uint64_t faults = 0;
  uint64_t corruptions_detected = 0;
  uint64_t recovery_crash_states = 0;
  ~Totals() {
    if (faults == 0 && corruptions_detected == 0) return;  // e.g. --gtest_list_tests
    std::printf(
        "[faults] fault cases: faults injected %llu, corruptions detected %llu, crash states "
        "inside recovery %llu\n",
        static_cast<unsigned long long>(faults),
        static_cast<unsigned long long>(corruptions_detected),
        static_cast<unsigned long long>(recovery_crash_states));
  }
};
Totals totals;

bool Mentions(const Status& st, const std::string& what) {
  return st.ToString().find(what) != std::string::npos;
}

// Drops the runtime, clears the faults, simulates the crash and runs VerifyRecovery.
std::string CrashAndVerify(Session* s, CrashModel model, uint64_t seed, uint64_t floor,
                           uint64_t* epoch) {
  s->w.DropRuntime();
  s->env.ClearFaults();
  s->env.SimulateCrash(model, seed);
  totals.faults += s->env.fault_count();
  return VerifyRecovery(&s->env, s->fns, kDir, s->w.oracle(), floor, seed, epoch);
}

// The 1-based index, counted from the end of setup, of the first Sync that op issues on a file
// whose fault description contains needle; 0 if op issues none.
uint64_t FindSync(const SetupFn& setup, const OpFn& op, const std::string& needle) {
  for (uint64_t i = 1; i <= 64; ++i) {
    Session s;
    setup(&s);
    s.env.FailSyncWithEio(s.env.sync_count() + i);
    (void)op(&s);
    if (s.env.fault_count() == 0) return 0;
    if (s.env.LastFault().find(needle) != std::string::npos) return i;
  }
  return 0;
}

// Same for the first mutating operation whose description contains needle.
uint64_t FindMutatingOp(const SetupFn& setup, const OpFn& op, const std::string& needle) {
  for (uint64_t i = 1; i <= 256; ++i) {
    Session s;
    setup(&s);
    s.env.CrashAtOp(s.env.mutating_op_count() + i);
    (void)op(&s);
    if (!s.env.crash_point_reached()) return 0;
    if (s.env.LastFault().find(needle) != std::string::npos) return i;
  }
  return 0;
}

// Expects the runtime to refuse every write with the poison and to issue no fdatasync.
void ExpectPoisonedWithoutRetry(Session* s) {
  Runtime* rt = s->w.runtime();
  ASSERT_NE(rt, nullptr);
  EXPECT_FALSE(rt->poison_status().ok());
  const uint64_t syncs = s->env.sync_count();
  EXPECT_TRUE(s->w.CommitRandom(5).IsPoisoned());
  EXPECT_TRUE(s->w.SyncLog().IsPoisoned());
  EXPECT_TRUE(s->w.Checkpoint().IsPoisoned());
  EXPECT_FALSE(s->w.Close().ok());
  EXPECT_EQ(s->env.sync_count(), syncs) << "an fdatasync was retried after EIO";
}

void StrictStore(Session* s, int commits) {
  ASSERT_TRUE(s->w.Open(Durability::kStrict).ok());
  for (int i = 0; i < commits; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
}

// ---------------------------------------------------------------- 3. fdatasync EIO

TEST(RecoveryFaultCases, FsyncEioOnStrictCommitPoisonsAndNeverRetries) {
  for (CrashModel model : {CrashModel::kDropUnsynced, CrashModel::kKeepAll,
                           CrashModel::kTornLastWrite, CrashModel::kKeepRandomSubset}) {
    SCOPED_TRACE(CrashModelName(model));
    Session s;
    StrictStore(&s, 5);
    const uint64_t acked = s.w.oracle().acked();
    s.env.FailSyncWithEio(s.env.sync_count() + 1);
    const Status st = s.w.CommitRandom(25, 120, "failing commit");
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(Mentions(st, "Input/output error")) << st.ToString();
    EXPECT_NE(s.env.LastFault().find("Sync /db/log-"), std::string::npos) << s.env.LastFault();
    ExpectPoisonedWithoutRetry(&s);
    // The failed commit's record went with the dropped pages: no crash model brings it back,
    // and nothing acknowledged before it is lost.
    uint64_t j = 0;
    EXPECT_EQ(CrashAndVerify(&s, model, 7, acked, &j), "");
    EXPECT_EQ(j, acked);
  }
}

// Balanced: commits acknowledged after the last good sync were handed to the OS; when the
// fdatasync fails the kernel drops them (fsyncgate), so even a process crash (kKeepAll) or a
// clean reopen loses them. The runtime is poisoned so that nothing more is acknowledged.
TEST(RecoveryFaultCases, FsyncEioOnBalancedSyncLogLosesOnlyUnsyncedCommits) {
  Session s;
  ASSERT_TRUE(s.w.Open(Durability::kBalanced).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  ASSERT_TRUE(s.w.SyncLog().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  const uint64_t synced = s.w.oracle().durable_power();
  ASSERT_EQ(s.w.oracle().acked(), synced + 3);
  s.env.FailSyncWithEio(s.env.sync_count() + 1);
  EXPECT_FALSE(s.w.SyncLog().ok());
  ExpectPoisonedWithoutRetry(&s);
  uint64_t j = 0;
  EXPECT_EQ(CrashAndVerify(&s, CrashModel::kKeepAll, 3, synced, &j), "");
  EXPECT_EQ(j, synced);
}

struct SyncTarget {
  const char* needle;      // in the fault description of the failing Sync
  bool second_checkpoint;  // the checkpoint under test is the second one (OT deltas in the log)
};

TEST(RecoveryFaultCases, FsyncEioDuringCheckpointPoisonsAndKeepsAcknowledgedCommits) {
  const SyncTarget targets[] = {
      {"Sync /db/data-", false},      {"Sync /db/ot-", false}, {"Sync /db/MANIFEST", false},
      {"Sync /db/SUPERBLOCK", false}, {"Sync /db/log-", true}, {"Sync /db/SUPERBLOCK", true},
      {"Sync /db/data-", true},
  };
  for (const SyncTarget& t : targets) {
    const SetupFn setup = [&](Session* s) {
      StrictStore(s, 6);
      if (t.second_checkpoint) {
        ASSERT_TRUE(s->w.Checkpoint().ok());
        for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
      }
    };
    const OpFn checkpoint = [](Session* s) { return s->w.Checkpoint(); };
    const uint64_t i = FindSync(setup, checkpoint, t.needle);
    SCOPED_TRACE(std::string(t.needle) + (t.second_checkpoint ? " (2nd checkpoint)" : "") +
                 ", FailSyncWithEio(k = syncs after setup + " + std::to_string(i) + ")");
    ASSERT_NE(i, 0u) << "the checkpoint issues no such sync";
    for (CrashModel model : {CrashModel::kDropUnsynced, CrashModel::kKeepAll}) {
      Session s;
      setup(&s);
      const uint64_t acked = s.w.oracle().acked();
      s.env.FailSyncWithEio(s.env.sync_count() + i);
      const Status st = s.w.Checkpoint();
      EXPECT_FALSE(st.ok());
      EXPECT_NE(s.env.LastFault().find(t.needle), std::string::npos);
      ExpectPoisonedWithoutRetry(&s);
      uint64_t j = 0;
      EXPECT_EQ(CrashAndVerify(&s, model, 11, acked, &j), "") << CrashModelName(model);
      EXPECT_EQ(j, acked);
    }
  }
}

// ---------------------------------------------------------------- 4. ENOSPC

struct NoSpaceCase {
  const char* name;
  SetupFn setup;
  OpFn op;
  const char* target;     // the operation that must hit ENOSPC (fault description)
  const char* grow_file;  // its file: the limit is set 1 byte below its growth in a dry run
  bool poisons;           // the runtime must be reopened (true) or continues (false)
};

// Sizes of the files whose path contains needle.
std::map<std::string, uint64_t> FileSizes(FaultInjectionEnv* env, const std::string& needle) {
  std::vector<std::string> names;
  std::map<std::string, uint64_t> sizes;
  if (!env->ListDir(kDir, &names).ok()) return sizes;
  for (const std::string& n : names) {
    if (("/db/" + n).find(needle) == std::string::npos) continue;
    auto size = env->FileSize(JoinPath(kDir, n));
    if (size.ok()) sizes[n] = *size;
  }
  return sizes;
}

// Bytes the operation adds to the files matching grow_file (a dry run on another disk): the
// growth of existing files plus the size of new ones (files it deletes do not count).
uint64_t GrowthOf(const NoSpaceCase& c) {
  Session s(WithoutZeroFill());
  c.setup(&s);
  const auto before = FileSizes(&s.env, c.grow_file);
  EXPECT_TRUE(c.op(&s).ok()) << c.name;
  uint64_t growth = 0;
  for (const auto& [name, size] : FileSizes(&s.env, c.grow_file)) {
    auto it = before.find(name);
    const uint64_t old = it == before.end() ? 0 : it->second;
    if (size > old) growth += size - old;
  }
  return growth;
}

void RunNoSpaceCase(const NoSpaceCase& c) {
  const uint64_t growth = GrowthOf(c);
  ASSERT_GT(growth, 0u) << c.name;
  for (bool continue_in_place : {true, false}) {
    SCOPED_TRACE(std::string(c.name) + (continue_in_place ? ", continue" : ", crash") +
                 ": SetSpaceLimitBytes(stored + " + std::to_string(growth - 1) + ")");
    Session s(WithoutZeroFill());
    c.setup(&s);
    s.env.SetSpaceLimitBytes(s.env.StoredBytes() + growth - 1);
    const Status st = c.op(&s);
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(st.IsNoSpace() || Mentions(st, "NoSpace")) << st.ToString();
    EXPECT_NE(s.env.LastFault().find(c.target), std::string::npos) << s.env.LastFault();
    Runtime* rt = s.w.runtime();
    ASSERT_NE(rt, nullptr);
    EXPECT_EQ(!rt->poison_status().ok(), c.poisons) << rt->poison_status().ToString();
    std::printf("[nospace] %s: %s; runtime %s\n", c.name, st.ToString().substr(0, 160).c_str(),
                rt->poison_status().ok() ? "stays writable" : "poisoned (reopen needed)");
    if (continue_in_place && rt->poison_status().ok()) {
      // Still full: reads work, and so do commits (their log blocks are preallocated); then
      // space comes back and the checkpoint succeeds without a reopen.
      EXPECT_TRUE(s.w.Reread(false).ok());
      EXPECT_TRUE(s.w.CommitRandom(10).ok());
      s.env.ClearFaults();
      EXPECT_TRUE(s.w.CommitRandom(10).ok());
      EXPECT_TRUE(s.w.Checkpoint().ok());
      EXPECT_TRUE(s.w.Reread(true).ok());
      EXPECT_TRUE(s.w.Close().ok());
    }
    // Old state intact after a crash + reopen; the reopened store takes writes again.
    const uint64_t floor = s.w.oracle().durable_power();
    uint64_t j = 0;
    EXPECT_EQ(CrashAndVerify(&s, CrashModel::kDropUnsynced, 5, floor, &j), "");
    EXPECT_EQ(j, s.w.oracle().acked());
  }
}

uint64_t NewestLogFile(FaultInjectionEnv* env) {
  std::vector<std::string> names;
  uint64_t newest = 0;
  if (!env->ListDir(kDir, &names).ok()) return 0;
  for (const std::string& n : names) {
    FileKind kind;
    uint64_t number;
    if (ParseFileName(n, &kind, &number) && kind == FileKind::kLog)
      newest = std::max(newest, number);
  }
  return newest;
}

// Large commits until the log rotates once: the new file then holds one commit and has room
// (and preallocated blocks) for the next checkpoint's OT deltas.
void RotateLogOnce(Session* s) {
  const uint64_t before = NewestLogFile(&s->env);
  for (int i = 0; i < 40 && NewestLogFile(&s->env) == before; ++i) {
    ASSERT_TRUE(s->w.CommitRandom(400, 40).ok());
  }
  ASSERT_GT(NewestLogFile(&s->env), before);
}

TEST(RecoveryFaultCases, NoSpaceAtLogAppend) {
  // After a crash the log file has no preallocated blocks (KEEP_SIZE reservations are not
  // durable), so the next append needs new space.
  RunNoSpaceCase({"log append",
                  [](Session* s) {
                    StrictStore(s, 4);
                    ASSERT_TRUE(s->w.Close().ok());
                    s->env.SimulateCrash(CrashModel::kKeepAll, 1);
                    ASSERT_TRUE(s->w.Open(Durability::kBalanced).ok());
                  },
                  [](Session* s) { return s->w.CommitRandom(100); }, "WriteAt /db/log-000001",
                  "/db/log-", /*poisons=*/true});
}

// The zeros a strict sync writes ahead of the log's end are a hint: when they do not fit, the
// commit still succeeds if its own bytes fit, and stays durable through a crash.
TEST(RecoveryFaultCases, NoSpaceForTheLogZeroFill) {
  Session s;  // zero fill on: up to the workload's 64 KiB log file size
  ASSERT_TRUE(s.w.Open(Durability::kStrict).ok());
  // Room for a few small commits, not for ~64 KiB of zeros.
  s.env.SetSpaceLimitBytes(s.env.StoredBytes() + (16u << 10));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.w.CommitRandom(10).ok()) << i;
  EXPECT_NE(s.env.LastFault().find("WriteZeros /db/log-"), std::string::npos) << s.env.LastFault();
  EXPECT_TRUE(s.w.runtime()->poison_status().ok());
  const uint64_t floor = s.w.oracle().durable_power();
  uint64_t j = 0;
  EXPECT_EQ(CrashAndVerify(&s, CrashModel::kDropUnsynced, 7, floor, &j), "");
  EXPECT_EQ(j, s.w.oracle().acked());
}

TEST(RecoveryFaultCases, NoSpaceAtLogRotation) {
  RunNoSpaceCase({"log rotation",
                  [](Session* s) {
                    // Log 1 filled to >= 48 KiB without rotating: three more ~6.4 KB
                    // commits must rotate to log 2.
                    StrictStore(s, 1);
                    for (int i = 0; i < 20; ++i) {
                      auto size = s->env.FileSize("/db/" + LogFileName(1));
                      ASSERT_TRUE(size.ok());
                      if (*size >= (48u << 10)) break;
                      ASSERT_TRUE(s->w.CommitRandom(400, 40).ok());
                    }
                    ASSERT_EQ(NewestLogFile(&s->env), 1u);
                  },
                  [](Session* s) {
                    Status st;
                    for (int i = 0; i < 3 && st.ok(); ++i) st = s->w.CommitRandom(400, 40);
                    return st;
                  },
                  "/db/log-000002", "/db/log-000002", /*poisons=*/true});
}

TEST(RecoveryFaultCases, NoSpaceAtSegmentGrowth) {
  RunNoSpaceCase({"segment growth (first checkpoint creates and grows the data file)",
                  [](Session* s) { StrictStore(s, 6); },
                  [](Session* s) { return s->w.Checkpoint(); }, "Allocate /db/data-", "/db/data-",
                  /*poisons=*/false});
}

TEST(RecoveryFaultCases, NoSpaceAtOtCheckpoint) {
  // Checkpoint 2 logs OT deltas in log 1; the log rotates; checkpoint 3 must then write a full
  // OT checkpoint (the deltas' file would otherwise be needed forever).
  RunNoSpaceCase({"OT checkpoint",
                  [](Session* s) {
                    StrictStore(s, 4);
                    ASSERT_TRUE(s->w.Checkpoint().ok());
                    ASSERT_TRUE(s->w.CommitRandom(25).ok());
                    ASSERT_TRUE(s->w.Checkpoint().ok());
                    RotateLogOnce(s);
                  },
                  [](Session* s) { return s->w.Checkpoint(); }, "/db/ot-", "/db/ot-",
                  /*poisons=*/false});
}

TEST(RecoveryFaultCases, NoSpaceAtManifestRewrite) {
  // Checkpoint 1 writes the OT checkpoint; the log rotates; checkpoint 2 logs its OT deltas in
  // the new log file and must list a different set of log files in a new manifest.
  RunNoSpaceCase({"manifest rewrite",
                  [](Session* s) {
                    StrictStore(s, 4);
                    ASSERT_TRUE(s->w.Checkpoint().ok());
                    RotateLogOnce(s);
                  },
                  [](Session* s) { return s->w.Checkpoint(); }, "/db/MANIFEST", "/db/MANIFEST",
                  /*poisons=*/false});
}

// ---------------------------------------------------------------- 5. crash during recovery

// A store whose log has a torn tail after the OT deltas of a checkpoint whose superblock never
// landed (the session's oracle has its history). Rebuilt identically on every call.
void BuildDamagedStore(Session* s, uint64_t superblock_write_index) {
  StrictStore(s, 5);
  ASSERT_TRUE(s->w.Checkpoint().ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
  // Crash the next checkpoint at its superblock write: its OT deltas are synced in the log,
  // its objects are in the data files, its superblock is not.
  s->env.CrashAtOp(s->env.mutating_op_count() + superblock_write_index);
  ASSERT_FALSE(s->w.Checkpoint().ok());
  s->w.DropRuntime();
  s->env.SimulateCrash(CrashModel::kKeepAll, 1);
  // A torn tail: a frame cut short after the last valid frame (header bytes, then garbage).
  std::vector<std::string> names;
  ASSERT_TRUE(s->env.ListDir(kDir, &names).ok());
  std::string last_log;
  for (const std::string& n : names) {
    FileKind kind;
    uint64_t number;
    if (ParseFileName(n, &kind, &number) && kind == FileKind::kLog) last_log = n;
  }
  ASSERT_FALSE(last_log.empty());
  auto file = s->env.OpenFile(JoinPath(kDir, last_log), OpenMode::kReadWrite);
  ASSERT_TRUE(file.ok());
  const uint64_t size = *(*file)->Size();
  std::string torn(300, '\0');
  DeterministicRng rng(99);
  for (char& c : torn) c = static_cast<char>(rng.Next());
  ASSERT_TRUE((*file)->WriteAt(size, torn).ok());
  ASSERT_TRUE((*file)->Sync().ok());
}

TEST(RecoveryFaultCases, CrashAtEveryOperationOfRecovery) {
  const SetupFn before_checkpoint = [](Session* s) {
    StrictStore(s, 5);
    ASSERT_TRUE(s->w.Checkpoint().ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
  };
  const uint64_t sb_index = FindMutatingOp(
      before_checkpoint, [](Session* s) { return s->w.Checkpoint(); }, "WriteAt /db/SUPERBLOCK");
  ASSERT_NE(sb_index, 0u);
  const RuntimeOptions options = WorkloadRuntimeOptions(nullptr, Durability::kStrict);

  // The uninterrupted open.
  Session ref;
  BuildDamagedStore(&ref, sb_index);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t expected_epoch = ref.w.oracle().acked();
  const uint64_t m0 = ref.env.mutating_op_count();
  RuntimeOptions o = options;
  o.env = &ref.env;
  o.checkpoint_on_close = false;
  recovery::OpenReport report;
  uint64_t n_open = 0, n_checkpoint = 0;
  {
    auto rt = recovery::Open(kDir, o, &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    n_open = ref.env.mutating_op_count() - m0;
    EXPECT_EQ((*rt)->visible_epoch(), expected_epoch);
    StoreModel got;
    ASSERT_TRUE(ReadStore(rt->get(), &got).ok());
    EXPECT_EQ(DiffStores(ref.w.oracle().latest(), got), "");
    // The first checkpoint after this recovery must write a full OT checkpoint (stale deltas).
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    n_checkpoint = ref.env.mutating_op_count() - m0 - n_open;
  }
  EXPECT_GT(report.ot_delta_records_ignored, 0u) << "the image must hold stale OT deltas";
  EXPECT_EQ(report.replay.stop_reason, ReplayStopReason::kTornTail) << report.replay.description;
  EXPECT_GE(n_open, 2u) << "truncate the torn tail, fdatasync";
  std::printf(
      "[recovery-crash] recovery::Open performs %llu mutating ops on the damaged store, the "
      "first checkpoint after it %llu\n",
      static_cast<unsigned long long>(n_open), static_cast<unsigned long long>(n_checkpoint));

  // Crash at every operation of Open under every model (and again inside the second open);
  // then at every operation of the first checkpoint after recovery.
  uint64_t cases = 0;
  for (uint64_t k = 1; k <= n_open + n_checkpoint; ++k) {
    const bool in_open = k <= n_open;
    for (CrashModel model : kAllCrashModels) {
      if (!in_open && (model == CrashModel::kTornLastWriteGarbage ||
                       model == CrashModel::kTornLastWriteZeros)) {
        continue;  // kTornLastWrite covers both
      }
      const uint64_t seed = 1000 + k * 10 + static_cast<uint64_t>(model);
      SCOPED_TRACE("crash at mutating op " + std::to_string(k) +
                   (in_open ? " of recovery::Open" : " of Open + first checkpoint") + ", then " +
                   CrashModelName(model) + " seed " + std::to_string(seed));
      Session s;
      BuildDamagedStore(&s, sb_index);
      ASSERT_FALSE(HasFatalFailure());
      o.env = &s.env;
      s.env.CrashAtOp(s.env.mutating_op_count() + k);
      {
        auto rt = recovery::Open(kDir, o);
        EXPECT_EQ(rt.ok(), !in_open) << rt.status().ToString();
        // (the checkpoint's last operations are best effort: it may still return OK)
        if (rt.ok()) (void)(*rt)->Checkpoint();
      }
      s.env.SimulateCrash(model, seed);
      totals.faults += s.env.fault_count();
      uint64_t j = 0;
      EXPECT_EQ(VerifyRecovery(&s.env, s.fns, kDir, s.w.oracle(), expected_epoch, seed, &j), "");
      EXPECT_EQ(j, expected_epoch);
      ++cases;
      if (!in_open || model != CrashModel::kDropUnsynced) continue;
      // A second crash inside the second open, then a third open.
      for (uint64_t k2 = 1; k2 <= n_open; ++k2) {
        Session d;
        BuildDamagedStore(&d, sb_index);
        o.env = &d.env;
        d.env.CrashAtOp(d.env.mutating_op_count() + k);
        { auto rt = recovery::Open(kDir, o); }
        d.env.SimulateCrash(CrashModel::kKeepAll, seed);
        d.env.CrashAtOp(d.env.mutating_op_count() + k2);
        { auto rt = recovery::Open(kDir, o); }
        d.env.SimulateCrash(CrashModel::kDropUnsynced, seed + 1);
        totals.faults += d.env.fault_count();
        EXPECT_EQ(VerifyRecovery(&d.env, d.fns, kDir, d.w.oracle(), expected_epoch, seed, &j), "")
            << "second crash at op " << k2;
        EXPECT_EQ(j, expected_epoch);
        ++cases;
      }
    }
  }
  totals.recovery_crash_states += cases;
  std::printf("[recovery-crash] crash states inside recovery checked: %llu\n",
              static_cast<unsigned long long>(cases));
}

// ---------------------------------------------------------------- 6. superblock copies

// Strict commits, two checkpoints without a log rotation in between (the older superblock's
// log and OT checkpoint still exist), more strict commits, close without a checkpoint.
void TwoCheckpoints(Session* s) {
  ASSERT_TRUE(s->w.Open(Durability::kStrict, /*checkpoint_on_close=*/false).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
  ASSERT_TRUE(s->w.Checkpoint().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
  ASSERT_TRUE(s->w.Checkpoint().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->w.CommitRandom(25).ok());
  ASSERT_TRUE(s->w.Close().ok());
}

uint64_t NewestGeneration(FaultInjectionEnv* env) {
  auto r = ReadSuperblock(env, kDir);
  return r.ok() ? r->newest.generation : 0;
}

TEST(RecoveryFaultCases, OneSuperblockCopyBadUsesTheOther) {
  struct Damage {
    const char* name;
    std::function<Status(FaultInjectionEnv*, uint64_t copy_offset)> apply;
  };
  const Damage damages[] = {
      {"bit flip in the checkpoint epoch",
       [](FaultInjectionEnv* e, uint64_t at) {
         return e->FlipBit("/db/SUPERBLOCK", at + kSbCheckpointEpochOffset, 3);
       }},
      {"bit flip in the CRC",
       [](FaultInjectionEnv* e, uint64_t at) {
         return e->FlipBit("/db/SUPERBLOCK", at + kSbCrcOffset, 0);
       }},
      {"torn: second half of the copy garbage",
       [](FaultInjectionEnv* e, uint64_t at) {
         return e->CorruptBytes("/db/SUPERBLOCK", at + 2048, 2048, 17);
       }},
      {"whole copy garbage",
       [](FaultInjectionEnv* e, uint64_t at) {
         return e->CorruptBytes("/db/SUPERBLOCK", at, kSuperblockCopySize, 18);
       }},
  };
  // pair_damaged = false: one copy of the newest pair (its twin is used: same generation);
  // true: both copies of the newest pair (the previous generation + redo is used).
  for (const bool pair_damaged : {false, true}) {
    for (const Damage& d : damages) {
      SCOPED_TRACE(std::string(d.name) + (pair_damaged ? ", whole newest pair" : ", one copy"));
      Session s;
      TwoCheckpoints(&s);
      ASSERT_FALSE(HasFatalFailure());
      const uint64_t gen = NewestGeneration(&s.env);
      ASSERT_GE(gen, 3u);
      const uint64_t first = (gen % 2) * kSuperblockCopiesPerGeneration;
      ASSERT_TRUE(d.apply(&s.env, first * kSuperblockCopySize).ok());
      if (pair_damaged) ASSERT_TRUE(d.apply(&s.env, (first + 1) * kSuperblockCopySize).ok());
      ++totals.faults;
      // fsck names the bad copy (a warning: another copy is usable) and finds no error.
      recovery::FsckOptions fo;
      fo.env = &s.env;
      auto fsck = recovery::Fsck(kDir, fo);
      ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
      bool named = false;
      for (const recovery::FsckFinding& f : fsck->findings) {
        named |= f.structure == "superblock" && f.offset_bytes == first * kSuperblockCopySize;
      }
      EXPECT_TRUE(named) << "fsck must name the bad superblock copy";
      EXPECT_EQ(fsck->errors(), 0u);
      RuntimeOptions o = WorkloadRuntimeOptions(&s.env, Durability::kStrict);
      recovery::OpenReport report;
      {
        auto rt = recovery::Open(kDir, o, &report);
        ASSERT_TRUE(rt.ok()) << rt.status().ToString();
        if (pair_damaged) {
          EXPECT_EQ(report.superblock_copy / 2, static_cast<int>(1 - gen % 2));
          EXPECT_EQ(report.superblock_generation, gen - 1);
          ASSERT_EQ(report.bad_superblock_copies.size(), 2u);
        } else {
          EXPECT_EQ(report.superblock_copy, static_cast<int>(first + 1));
          EXPECT_EQ(report.superblock_generation, gen);
          ASSERT_EQ(report.bad_superblock_copies.size(), 1u);
        }
        ++totals.corruptions_detected;
        EXPECT_GT(report.commits_replayed, 0u);
      }
      // Nothing acknowledged is lost.
      uint64_t j = 0;
      EXPECT_EQ(VerifyRecovery(&s.env, s.fns, kDir, s.w.oracle(), s.w.oracle().acked(), 9, &j), "");
      EXPECT_EQ(j, s.w.oracle().acked());
    }
  }
}

// The newest copy is bad and the older one names a log file that a later checkpoint deleted
// (log rotation between the two checkpoints): recovery must refuse, not return old data as if
// it were current.
TEST(RecoveryFaultCases, OlderSuperblockCopyUnusableIsAnErrorNotWrongData) {
  Session s;
  ASSERT_TRUE(s.w.Open(Durability::kStrict, /*checkpoint_on_close=*/false).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  ASSERT_TRUE(s.w.Checkpoint().ok());
  RotateLogOnce(&s);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(s.w.Checkpoint().ok());
  ASSERT_TRUE(s.w.Close().ok());
  ASSERT_FALSE(s.env.FileExists("/db/log-000001.log")) << "the rotation must delete log 1";
  const uint64_t gen = NewestGeneration(&s.env);
  // Both copies of the newest generation rot: the older pair names a deleted log.
  for (size_t i = 0; i < kSuperblockCopiesPerGeneration; ++i) {
    const uint64_t copy = (gen % 2) * kSuperblockCopiesPerGeneration + i;
    ASSERT_TRUE(s.env.FlipBit("/db/SUPERBLOCK", copy * kSuperblockCopySize + 30, 1).ok());
  }
  const uint64_t before = DurableImageDigest(&s.env, kDir);
  auto rt = recovery::Open(kDir, WorkloadRuntimeOptions(&s.env, Durability::kStrict));
  ASSERT_FALSE(rt.ok());
  EXPECT_TRUE(rt.status().IsCorruption() || rt.status().IsNotFound()) << rt.status().ToString();
  ++totals.corruptions_detected;
  EXPECT_EQ(DurableImageDigest(&s.env, kDir), before);
}

TEST(RecoveryFaultCases, AllSuperblockCopiesBadRefusesAndWritesNothing) {
  struct Damage {
    const char* name;
    std::function<Status(FaultInjectionEnv*)> apply;
  };
  const Damage damages[] = {
      {"a bit flipped in each copy",
       [](FaultInjectionEnv* e) {
         Status st;
         for (size_t i = 0; i < kSuperblockCopies && st.ok(); ++i) {
           st = e->FlipBit("/db/SUPERBLOCK", i * kSuperblockCopySize + 100 + i, 2);
         }
         return st;
       }},
      {"every copy garbage",
       [](FaultInjectionEnv* e) {
         return e->CorruptBytes("/db/SUPERBLOCK", 0, kSuperblockFileBytes, 4);
       }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    Session s;
    TwoCheckpoints(&s);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(d.apply(&s.env).ok());
    ++totals.faults;
    const uint64_t before = DurableImageDigest(&s.env, kDir);
    const uint64_t m0 = s.env.mutating_op_count();
    auto rt = recovery::Open(kDir, WorkloadRuntimeOptions(&s.env, Durability::kStrict));
    ASSERT_FALSE(rt.ok());
    EXPECT_TRUE(rt.status().IsCorruption()) << rt.status().ToString();
    EXPECT_TRUE(Mentions(rt.status(), "SUPERBLOCK")) << rt.status().ToString();
    ++totals.corruptions_detected;
    EXPECT_EQ(s.env.mutating_op_count() - m0, 0u) << "the directory lock writes nothing";
    EXPECT_EQ(DurableImageDigest(&s.env, kDir), before) << "Open must not write";
  }
}

// ---------------------------------------------------------------- 7. log bit flip

struct Frame {
  LogPosition start, end;
  uint64_t epoch;
  LogRecordType type;
};

std::vector<Frame> Frames(FaultInjectionEnv* env) {
  std::vector<Frame> frames;
  ReplayStats stats;
  const Status st = ReplayLog(
      env, kDir, LogPosition{1, 0}, WalRecoveryMode::kTolerateCorruptedTailRecords,
      [&](const LogRecord& r) {
        frames.push_back(Frame{r.start, r.end, r.epoch, r.type});
        return Status::OK();
      },
      &stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return frames;
}

TEST(RecoveryFaultCases, LogBitFlipBeforeValidRecordsIsCorruption) {
  Session s;
  ASSERT_TRUE(s.w.Open(Durability::kStrict, /*checkpoint_on_close=*/false).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  ASSERT_TRUE(s.w.Checkpoint().ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  ASSERT_TRUE(s.w.Close().ok());
  const std::vector<Frame> frames = Frames(&s.env);
  std::vector<Frame> commits;
  for (const Frame& f : frames) {
    if (f.type == LogRecordType::kCommit && f.epoch > 3) commits.push_back(f);
  }
  ASSERT_EQ(commits.size(), 8u);
  const std::string log = "/db/" + LogFileName(1);
  // Flip one bit in the length, the epoch, the payload and the CRC of the 3rd replayed commit.
  const Frame& f = commits[2];
  const uint64_t len = f.end.offset_bytes - f.start.offset_bytes;
  for (uint64_t at : {uint64_t{0}, uint64_t{8}, len / 2, len - 2}) {
    SCOPED_TRACE("bit flip at frame offset " + std::to_string(at) + " of epoch " +
                 std::to_string(f.epoch) + " (" + log + " offset " +
                 std::to_string(f.start.offset_bytes + at) + ")");
    Session c;  // the same store again (deterministic), damaged this time
    ASSERT_TRUE(c.w.Open(Durability::kStrict, /*checkpoint_on_close=*/false).ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.w.CommitRandom(25).ok());
    ASSERT_TRUE(c.w.Checkpoint().ok());
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(c.w.CommitRandom(25).ok());
    ASSERT_TRUE(c.w.Close().ok());
    ASSERT_TRUE(c.env.FlipBit(log, f.start.offset_bytes + at, 4).ok());
    ++totals.faults;
    const uint64_t before = DurableImageDigest(&c.env, kDir);
    const uint64_t m0 = c.env.mutating_op_count();
    RuntimeOptions o = WorkloadRuntimeOptions(&c.env, Durability::kStrict);
    auto rt = recovery::Open(kDir, o);
    ASSERT_FALSE(rt.ok()) << "a damaged synced record followed by valid ones was cut off";
    EXPECT_TRUE(rt.status().IsCorruption()) << rt.status().ToString();
    EXPECT_TRUE(Mentions(rt.status(), LogFileName(1))) << rt.status().ToString();
    ++totals.corruptions_detected;
    EXPECT_EQ(c.env.mutating_op_count() - m0, 0u) << "the directory lock writes nothing";
    EXPECT_EQ(DurableImageDigest(&c.env, kDir), before) << "Open must not write";
    // Point-in-time recovery (explicit opt-in) opens the prefix before the damaged record.
    o.wal_recovery_mode = WalRecoveryMode::kPointInTimeRecovery;
    auto pit = recovery::Open(kDir, o);
    ASSERT_TRUE(pit.ok()) << pit.status().ToString();
    EXPECT_EQ((*pit)->visible_epoch(), f.epoch - 1);
    StoreModel got;
    ASSERT_TRUE(ReadStore(pit->get(), &got).ok());
    EXPECT_EQ(DiffStores(c.w.oracle().state(f.epoch - 1), got), "");
  }
}

// The last record of the log damaged: nothing follows it, so the default mode cannot tell it
// from a torn write; it is dropped and reported (ReplayStats), or refused as corruption.
TEST(RecoveryFaultCases, LogBitFlipInTheLastRecordIsDroppedAndReported) {
  Session s;
  ASSERT_TRUE(s.w.Open(Durability::kStrict, /*checkpoint_on_close=*/false).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.w.CommitRandom(25).ok());
  ASSERT_TRUE(s.w.Close().ok());
  const std::vector<Frame> frames = Frames(&s.env);
  ASSERT_FALSE(frames.empty());
  const Frame& last = frames.back();
  ASSERT_EQ(last.epoch, 5u);
  ASSERT_TRUE(s.env.FlipBit("/db/" + LogFileName(1), last.start.offset_bytes + 40, 6).ok());
  ++totals.faults;
  recovery::OpenReport report;
  auto rt = recovery::Open(kDir, WorkloadRuntimeOptions(&s.env, Durability::kStrict), &report);
  if (!rt.ok()) {
    EXPECT_TRUE(rt.status().IsCorruption()) << rt.status().ToString();
    ++totals.corruptions_detected;
    return;
  }
  EXPECT_EQ((*rt)->visible_epoch(), 4u);
  EXPECT_GT(report.replay.dropped_bytes, 0u);
  EXPECT_NE(report.replay.stop_reason, ReplayStopReason::kCleanEnd);
  ++totals.corruptions_detected;
  std::printf("[logflip] last record damaged: dropped as %s, %llu bytes\n",
              ReplayStopReasonName(report.replay.stop_reason),
              static_cast<unsigned long long>(report.replay.dropped_bytes));
}

}  // namespace
}  // namespace cowtree::testutil
