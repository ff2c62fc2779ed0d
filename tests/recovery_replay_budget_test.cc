// The replay at open under a memory budget (recovery/open.h, docs/memory_budget.md "Reopen after
// a crash"): a store written without a budget leaves redo whose leaves pass a small budget's
// dirty trigger, and Open checkpoints the replayed prefix as it goes — with the redo held from
// the first read of the log, and with it read a second time (recovery_redo_held_bytes_max).
// Checked: the state equals the oracle's, each checkpoint during the replay is counted, and a
// crash at every mutating operation of that open (lost unsynced writes; a torn last write at
// every second one) recovers every acknowledged commit, with fsck clean and the store writable
// (testutil::VerifyRecovery, whose open replays under the budget too).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "testutil/oracle.h"
#include "testutil/workload.h"
#include "testutil/workload_recovery.h"

namespace cowtree {
namespace {

using testutil::CrashModel;
using testutil::CrashWorkload;
using testutil::FaultInjectionEnv;
using testutil::StoreFns;
using testutil::StoreModel;

constexpr char kDir[] = "/db";
constexpr uint64_t kBudgetBytes = 16 << 10;

struct Session {
  FaultInjectionEnv env;
  StoreFns fns = testutil::RecoveryStoreFns();
  CrashWorkload w{&env, fns};
};

// A store whose last close wrote no checkpoint: kCommits commits of 60 random ops over 3 000
// keys (8-entry leaves: hundreds of leaves dirty in the redo), all acknowledged and synced.
constexpr int kCommits = 12;
void BuildStoreWithRedo(Session* s) {
  ASSERT_TRUE(s->w.Open(Durability::kBalanced, /*checkpoint_on_close=*/false).ok());
  for (int i = 0; i < kCommits; ++i) ASSERT_TRUE(s->w.CommitRandom(60, 3000).ok()) << i;
  ASSERT_TRUE(s->w.SyncLog().ok());
  ASSERT_TRUE(s->w.Close().ok());
}

RuntimeOptions BudgetOptions(Env* env, uint64_t redo_held_bytes_max) {
  RuntimeOptions o = testutil::WorkloadRuntimeOptions(env, Durability::kStrict);
  o.cache_bytes = kBudgetBytes;
  o.cache_bytes_small_for_test = true;
  o.checkpoint_on_close = false;
  o.recovery_redo_held_bytes_max = redo_held_bytes_max;
  return o;
}

class ReplayUnderABudget : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ReplayUnderABudget, CheckpointsAsItGoesAndACrashAnywhereLosesNothing) {
  const uint64_t held_max = GetParam();
  Session ref;
  BuildStoreWithRedo(&ref);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t expected_epoch = ref.w.oracle().acked();
  const uint64_t m0 = ref.env.mutating_op_count();
  recovery::OpenReport report;
  uint64_t n_open = 0;
  {
    auto rt = recovery::Open(kDir, BudgetOptions(&ref.env, held_max), &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    n_open = ref.env.mutating_op_count() - m0;
    EXPECT_EQ((*rt)->visible_epoch(), expected_epoch);
    StoreModel got;
    ASSERT_TRUE(testutil::ReadStore(rt->get(), &got).ok());
    EXPECT_EQ(testutil::DiffStores(ref.w.oracle().latest(), got), "");
  }
  EXPECT_EQ(report.commits_replayed, static_cast<uint64_t>(kCommits));
  EXPECT_EQ(report.redo_read_twice, held_max < (1u << 20));
  EXPECT_GE(report.checkpoints_during_replay, 2u) << "the redo's leaves must pass the budget";
  std::printf(
      "[replay-budget] held max %llu: %llu checkpoints during the replay, %llu mutating "
      "ops in the open\n",
      static_cast<unsigned long long>(held_max),
      static_cast<unsigned long long>(report.checkpoints_during_replay),
      static_cast<unsigned long long>(n_open));
  // And it reopens to the same state, with and without the budget.
  EXPECT_EQ(testutil::VerifyRecovery(&ref.env, ref.fns, kDir, ref.w.oracle(), expected_epoch, 7,
                                     nullptr, kBudgetBytes),
            "");

  // Every operation under kDropUnsynced; torn writes at every second one (every one with
  // COWTREE_SWEEP_SCALE=long).
  uint64_t cases = 0;
  for (uint64_t k = 1; k <= n_open; ++k) {
    for (CrashModel model : {CrashModel::kDropUnsynced, CrashModel::kTornLastWrite}) {
      if (model == CrashModel::kTornLastWrite && k % 2 == 0 && !testutil::LongSweep()) continue;
      const uint64_t seed = 500 + k * 3 + static_cast<uint64_t>(model);
      SCOPED_TRACE("crash at mutating op " + std::to_string(k) + " of the open, then " +
                   testutil::CrashModelName(model));
      Session s;
      BuildStoreWithRedo(&s);
      ASSERT_FALSE(HasFatalFailure());
      s.env.CrashAtOp(s.env.mutating_op_count() + k);
      {
        auto rt = recovery::Open(kDir, BudgetOptions(&s.env, held_max));
        EXPECT_FALSE(rt.ok());
      }
      s.env.SimulateCrash(model, seed);
      uint64_t j = 0;
      EXPECT_EQ(testutil::VerifyRecovery(&s.env, s.fns, kDir, s.w.oracle(), expected_epoch, seed,
                                         &j, kBudgetBytes),
                "");
      EXPECT_EQ(j, expected_epoch);
      ++cases;
    }
  }
  std::printf("[replay-budget] crash states inside the open checked: %llu\n",
              static_cast<unsigned long long>(cases));
  EXPECT_GE(cases, n_open + n_open / 2);
}

// The redo held from the first read (the default 16 MiB), and read a second time (4 KiB).
INSTANTIATE_TEST_SUITE_P(Held, ReplayUnderABudget, ::testing::Values(uint64_t{16} << 20, 4096));

}  // namespace
}  // namespace cowtree
