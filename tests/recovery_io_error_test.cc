// I/O-error loop (issue 3, sweep 2; SQLite's "ioerr" tests): for every operation k of the
// scripted workload (testutil/workload.h; reads included), FailOp(k, kOnce) and, separately,
// FailOp(k, kPersistent) with EIO. Then:
// - the call that hit the failure returns an error Status (no abort, no crash; this suite also
//   runs under -DCOWTREE_SANITIZE=address,undefined), unless the operation was one the runtime
//   documents as best effort (deleting obsolete files and the directory sync after it, listing
//   the directory for them, log preallocation) — those are counted and listed;
// - if the failure hit a write, sync, create or rename during a Commit, SyncLog or Checkpoint,
//   the runtime is poisoned: later Commit/SyncLog/Checkpoint return Poisoned without issuing a
//   single fdatasync (no retry after a failed fsync);
// - after a kOnce read failure the runtime is not poisoned and keeps working (a commit and a
//   SyncLog succeed and are then durable);
// - after Close, ClearFaults, SimulateCrash(kDropUnsynced) and reopen, the store holds exactly
//   the state after some commit j between the last durable-acknowledged commit and the last
//   attempted one (pre- or post-operation), accepts writes, and reopens identically.
// The same loop with ENOSPC (kOnce): a failure the runtime survives (a checkpoint abandoned
// before its superblock) must leave it fully writable: the next commit and SyncLog succeed.
// A failure prints FailOp(k=..., mode) to replay it:
//   COWTREE_IOERR_REPLAY=<k>:<once|persistent>:<EIO|ENOSPC> ./recovery_io_error_test
//     --gtest_filter='*Replay*'
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "testutil/fault_injection_env.h"
#include "testutil/oracle.h"
#include "testutil/workload.h"
#include "testutil/workload_recovery.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::testutil {
namespace {

// The operation kind and path named by a fault description ("... failed op #17 (mutating #9)
// WriteAt /db/log-000001.log offset ...").
void ParseFaultOp(const std::string& fault, std::string* kind, std::string* path) {
  kind->clear();
  path->clear();
  size_t p = fault.find("failed op #");
  if (p == std::string::npos) return;
  p = fault.find(' ', p + 11);  // after the number
  if (p == std::string::npos) return;
  ++p;
  if (fault.compare(p, 10, "(mutating ") == 0) p = fault.find(") ", p) + 2;
  const size_t e = fault.find(' ', p);
  *kind = fault.substr(p, e - p);
  if (e != std::string::npos) {
    const size_t pe = fault.find(' ', e + 1);
    *path = fault.substr(e + 1, pe == std::string::npos ? std::string::npos : pe - e - 1);
  }
}

bool WritesDurableState(const std::string& kind) {
  static const std::set<std::string> kinds = {
      "WriteAt", "WriteZeros",       "Sync",      "Truncate", "Allocate", "RenameFile",
      "SyncDir", "OpenFile(create)", "CreateDir", "PunchHole"};
  return kinds.count(kind) != 0;
}

// Operations the runtime may ignore by design: cleanup of files recovery no longer needs
// (DeleteObsoleteFiles lists the directory, deletes, syncs the directory, all best effort) and
// log preallocation (fallocate KEEP_SIZE and the zeros written ahead of the log's end are hints;
// a real ENOSPC/EIO surfaces on the data write).
bool BestEffort(const std::string& kind, const std::string& path) {
  if (kind == "Allocate" || kind == "WriteZeros") return path.find("/log-") != std::string::npos;
  return kind == "DeleteFile" || kind == "SyncDir" || kind == "ListDir" || kind == "FileSize";
}

struct LoopTotals {
  uint64_t cases = 0;
  uint64_t faults = 0;
  uint64_t surfaced = 0;
  uint64_t poisoned = 0;
  uint64_t continued = 0;
  uint64_t failures = 0;
  uint64_t unfailable = 0;                    // op k was a FileExists (never failed)
  std::map<std::string, uint64_t> swallowed;  // op kind -> count
  std::map<std::string, uint64_t> by_step;    // step kind -> errors surfaced there
};

std::string RunIoCase(const WorkloadOptions& wo, uint64_t k, FailMode mode, int errno_value,
                      LoopTotals* t, std::string* replay) {
  const char* mode_name = mode == FailMode::kOnce ? "once" : "persistent";
  *replay = "COWTREE_IOERR_REPLAY=" + std::to_string(k) + ":" + mode_name + ":" +
            (errno_value == ENOSPC ? "ENOSPC" : "EIO") +
            " COWTREE_SWEEP_WORKLOAD=" + testutil::WorkloadReplayText(wo);
  FaultInjectionEnv env;
  const StoreFns fns = RecoveryStoreFns();
  env.FailOp(k, mode, errno_value, OpScope::kAnyOp);
  CrashWorkload w(&env, fns, wo);
  const Status st = w.Run();
  const std::string fault = env.LastFault();
  *replay += "; " + fault + "; workload stopped at " + w.step() + " with " + st.ToString();
  if (!w.violation().empty()) return "workload violation: " + w.violation();
  if (env.fault_count() == 0) {
    // Op k is one the Env never fails (FileExists has no way to report an error).
    if (!st.ok()) return "an error without an injected fault: " + st.ToString();
    ++t->unfailable;
    return "";
  }
  t->faults += env.fault_count();
  std::string kind, path;
  ParseFaultOp(fault, &kind, &path);
  Oracle* oracle = w.mutable_oracle();
  if (st.ok()) {
    if (!BestEffort(kind, path)) return "the failure of " + kind + " " + path + " was swallowed";
    ++t->swallowed[kind];
  } else {
    ++t->surfaced;
    ++t->by_step[StepKindName(w.step_kind())];
    Runtime* rt = w.runtime();
    const StepKind sk = w.step_kind();
    const bool write_path =
        sk == StepKind::kCommit || sk == StepKind::kSyncLog || sk == StepKind::kCheckpoint;
    if (rt != nullptr && write_path && WritesDurableState(kind) && rt->poison_status().ok() &&
        !st.IsNoSpace()) {
      return "runtime not poisoned after " + kind + " " + path + " failed during " +
             StepKindName(sk) + ": " + st.ToString();
    }
    if (rt != nullptr && !rt->poison_status().ok()) {
      ++t->poisoned;
      const uint64_t syncs = env.sync_count();
      RuntimeWriteBatch b(rt);
      RuntimeSnapshot snap = rt->GetSnapshot();
      for (const TreeInfo& info : rt->ListTrees(snap)) b.DropTree(info.id);
      if (Status c = rt->Commit(b); !c.IsPoisoned()) {
        return "commit after poisoning returned " + c.ToString();
      }
      if (Status c = rt->SyncLog(); !c.IsPoisoned())
        return "SyncLog after poisoning: " + c.ToString();
      if (Status c = rt->Checkpoint(); !c.IsPoisoned()) {
        return "Checkpoint after poisoning: " + c.ToString();
      }
      if (env.sync_count() != syncs) return "a poisoned runtime issued an fdatasync (retry)";
    } else if (rt != nullptr && mode == FailMode::kOnce) {
      // Not poisoned (a read failed): the runtime keeps working. A commit that failed so (under
      // a budget: reading an evicted leaf) changed nothing, in memory or in the log: its epoch
      // is the next commit's, and the state is the one before it.
      if (sk == StepKind::kCommit) {
        if (rt->visible_epoch() + 1 != oracle->attempted()) {
          return "a commit failed by " + kind + " " + path + " without poisoning moved the " +
                 "visible epoch to " + std::to_string(rt->visible_epoch()) + " (attempted " +
                 std::to_string(oracle->attempted()) + ")";
        }
        oracle->TruncateTo(rt->visible_epoch());
      }
      StoreModel got;
      if (Status r = ReadStore(rt, &got); !r.ok())
        return "re-read after a once-fault: " + r.ToString();
      if (std::string d = DiffStores(oracle->latest(), got); !d.empty()) {
        return "state after a once-fault: " + d;
      }
      StoreModel next = oracle->latest();
      RuntimeWriteBatch b(rt);
      b.CreateTree("after-fault", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
      next["after-fault"];
      oracle->BeginCommit(next);
      if (Status c = rt->Commit(b); !c.ok()) return "commit after a once-fault: " + c.ToString();
      oracle->AckCommit(rt->options().durability);
      if (Status c = rt->SyncLog(); !c.ok()) return "SyncLog after a once-fault: " + c.ToString();
      oracle->AckSync();
      ++t->continued;
    }
  }
  if (Runtime* rt = w.runtime(); rt != nullptr) {
    if (rt->Close().ok()) oracle->AckSync();
  }
  w.DropRuntime();
  env.ClearFaults();
  env.SimulateCrash(CrashModel::kDropUnsynced, k);
  return VerifyRecovery(&env, fns, "/db", *oracle, oracle->durable_power(), k,
                        /*epoch_out=*/nullptr, wo.cache_bytes);
}

uint64_t CountOps(const WorkloadOptions& wo) {
  FaultInjectionEnv env;
  CrashWorkload w(&env, RecoveryStoreFns(), wo);
  EXPECT_TRUE(w.Run().ok()) << w.step();
  return env.op_count();
}

void Loop(const WorkloadOptions& wo, FailMode mode, int errno_value) {
  const uint64_t n = CountOps(wo);
  ASSERT_GT(n, 300u);
  LoopTotals t;
  for (uint64_t k = 1; k <= n; ++k) {
    std::string replay;
    const std::string v = RunIoCase(wo, k, mode, errno_value, &t, &replay);
    ++t.cases;
    if (!v.empty()) {
      ++t.failures;
      ADD_FAILURE() << v << "\n  replay: " << replay;
      if (t.failures >= 5) break;
    }
  }
  std::string swallowed, steps;
  for (const auto& [kind, count] : t.swallowed)
    swallowed += " " + kind + "=" + std::to_string(count);
  for (const auto& [s, count] : t.by_step) steps += " " + s + "=" + std::to_string(count);
  std::printf(
      "[ioerr] workload seed %llu scale %d: FailOp(k, %s, %s) for k = 1..%llu: cases %llu "
      "(FileExists, never failed: %llu), "
      "faults injected %llu, errors "
      "returned %llu (by step:%s), runtime poisoned %llu, continued after a once-fault %llu, "
      "swallowed by best-effort paths%s, violations %llu\n",
      static_cast<unsigned long long>(wo.seed), wo.scale,
      mode == FailMode::kOnce ? "kOnce" : "kPersistent", errno_value == ENOSPC ? "ENOSPC" : "EIO",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(t.cases),
      static_cast<unsigned long long>(t.unfailable), static_cast<unsigned long long>(t.faults),
      static_cast<unsigned long long>(t.surfaced), steps.c_str(),
      static_cast<unsigned long long>(t.poisoned), static_cast<unsigned long long>(t.continued),
      swallowed.empty() ? " none" : swallowed.c_str(), static_cast<unsigned long long>(t.failures));
  EXPECT_EQ(t.failures, 0u);
}

void Loop(FailMode mode, int errno_value) {
  for (const WorkloadOptions& wo : SweepWorkloads()) Loop(wo, mode, errno_value);
}

TEST(RecoveryIoError, FailEachOpOnce) { Loop(FailMode::kOnce, EIO); }
// The workload with a multi-level summary index (2 summaries per chunk, 2 refs per index
// chunk; recovery_crash_sweep_test asserts the height): EIO at every operation, once and
// persistently, including every chunk write and read of every index level.
WorkloadOptions MultiLevelWorkload() {
  WorkloadOptions o;
  o.summary_chunk_entries_max = 2;
  o.summary_index_refs_max = 2;
  return o;
}
TEST(RecoveryIoError, MultiLevelIndexFailEachOpOnce) {
  Loop(MultiLevelWorkload(), FailMode::kOnce, EIO);
}
TEST(RecoveryIoError, MultiLevelIndexFailEachOpPersistently) {
  Loop(MultiLevelWorkload(), FailMode::kPersistent, EIO);
}
TEST(RecoveryIoError, FailEachOpPersistently) { Loop(FailMode::kPersistent, EIO); }
// The workload under a memory budget of a few KiB (recovery_crash_sweep_test asserts that it
// evicts leaves and that commits stall into checkpoints): EIO at every operation, once and
// persistently, including the re-reads of evicted leaves and the stalls' checkpoints.
WorkloadOptions BudgetWorkload() {
  WorkloadOptions o;
  o.cache_bytes = testutil::kSweepBudgetCacheBytes;
  return o;
}
TEST(RecoveryIoError, BudgetFailEachOpOnce) { Loop(BudgetWorkload(), FailMode::kOnce, EIO); }
TEST(RecoveryIoError, BudgetFailEachOpPersistently) {
  Loop(BudgetWorkload(), FailMode::kPersistent, EIO);
}
// ENOSPC from any operation (also from fdatasync, as on NFS or thin-provisioned devices): a
// checkpoint that hits it before its superblock is abandoned and the runtime stays writable.
TEST(RecoveryIoError, FailEachOpOnceWithNoSpace) { Loop(FailMode::kOnce, ENOSPC); }

TEST(RecoveryIoError, Replay) {
  // COWTREE_IOERR_REPLAY=<k>:<once|persistent>:<EIO|ENOSPC> replays one case; without it, a
  // fixed mid-workload case (ENOSPC from operation 200 on) runs as a smoke test of the replay.
  const char* spec = std::getenv("COWTREE_IOERR_REPLAY");
  const std::string s(spec != nullptr ? spec : "200:persistent:ENOSPC");
  const size_t colon = s.find(':');
  ASSERT_NE(colon, std::string::npos);
  const std::string mode = s.substr(colon + 1, s.find(':', colon + 1) - colon - 1);
  LoopTotals t;
  std::string replay;
  WorkloadOptions wo;
  if (const char* w = std::getenv("COWTREE_SWEEP_WORKLOAD"); w != nullptr) {
    wo = testutil::ParseWorkloadReplay(w, wo);
  }
  const std::string v = RunIoCase(
      wo, std::stoull(s.substr(0, colon)), mode == "once" ? FailMode::kOnce : FailMode::kPersistent,
      s.find("ENOSPC") != std::string::npos ? ENOSPC : EIO, &t, &replay);
  std::printf("%s\n", replay.c_str());
  EXPECT_EQ(v, "") << replay;
}

}  // namespace
}  // namespace cowtree::testutil
