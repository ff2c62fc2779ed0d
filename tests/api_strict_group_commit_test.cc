// Strict group commit through the public API (persistence/log_writer.h "Sync"): concurrent
// strict committers share fdatasyncs, and a failed fdatasync acknowledges nothing after it.
// The fault-injecting Env drops a file's unsynced writes when its fdatasync fails (as Linux
// may drop the dirty pages) and a simulated crash drops whatever is still unsynced, so a
// commit acknowledged from the failed group, or from a group queued behind it, would be
// missing after the reopen. (The in-memory Env syncs at once, so groups here are mostly of one
// commit; persistence_log_writer_faults_test holds a sync in flight to fail a group with a
// second group queued behind it.)
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cowtree/cowtree.h"
#include "testutil/fault_injection_env.h"

namespace cowtree {
namespace {

Options StrictOptions(Env* env) {
  Options o;
  o.env = env;
  o.durability = Durability::kStrict;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  return o;
}

int64_t KeyOf(int thread, int i) { return (static_cast<int64_t>(thread) << 20) | i; }

struct Outcome {
  std::vector<std::vector<int64_t>> acked;  // per thread, in commit order
  int failed = 0;                           // threads that stopped at a failed commit
  int failed_not_io = 0;                    // ...with neither IOError nor Poisoned
};

// kThreads committers, one key per commit, each stopping at its first failed commit.
Outcome CommitStorm(Store* store, const TreeHandle<int64_t>& tree, int threads, int commits) {
  Outcome out;
  out.acked.resize(static_cast<size_t>(threads));
  std::atomic<int> failed{0}, failed_not_io{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      WriteBatch batch = store->NewBatch();
      for (int i = 0; i < commits; ++i) {
        batch.Add(tree, KeyOf(t, i), 1);
        const Status st = store->Commit(batch);
        if (!st.ok()) {
          failed += 1;
          if (!st.IsIOError() && !st.IsPoisoned()) failed_not_io += 1;
          return;
        }
        out.acked[static_cast<size_t>(t)].push_back(KeyOf(t, i));
      }
    });
  }
  for (auto& th : pool) th.join();
  out.failed = failed.load();
  out.failed_not_io = failed_not_io.load();
  return out;
}

TEST(ApiStrictGroupCommit, ConcurrentStrictCommitsShareFdatasyncs) {
  testutil::FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir("/db").ok());
  ASSERT_TRUE(env.SyncDir("/").ok());
  auto store = Store::Open("/db", StrictOptions(&env));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  WriteBatch create = (*store)->NewBatch();
  auto tree = create.CreateTree<int64_t>("t");
  ASSERT_TRUE((*store)->Commit(create).ok());
  const Store::LogStats before = (*store)->log_stats();
  const Outcome out = CommitStorm(store->get(), tree, 8, 100);
  EXPECT_EQ(out.failed, 0);
  const Store::LogStats after = (*store)->log_stats();
  EXPECT_EQ(after.commits - before.commits, 800u);
  EXPECT_GE(after.sync_requests - before.sync_requests, 800u);
  // Every strict commit waited for an fdatasync; how many it shared depends on scheduling.
  EXPECT_GE(after.fdatasyncs - before.fdatasyncs, 1u);
  EXPECT_LE(after.fdatasyncs - before.fdatasyncs, 800u);
  ASSERT_TRUE((*store)->Close().ok());
}

TEST(ApiStrictGroupCommit, FailedFdatasyncAcknowledgesNothingAfterIt) {
  constexpr int kThreads = 8, kCommits = 60;
  for (const uint64_t fail_at : {1u, 4u, 17u, 60u}) {
    SCOPED_TRACE("the fdatasync that fails: the " + std::to_string(fail_at) + "th of the storm");
    testutil::FaultInjectionEnv env;
    ASSERT_TRUE(env.CreateDir("/db").ok());
    ASSERT_TRUE(env.SyncDir("/").ok());
    Outcome out;
    {
      auto store = Store::Open("/db", StrictOptions(&env));
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      WriteBatch create = (*store)->NewBatch();
      auto tree = create.CreateTree<int64_t>("t");
      ASSERT_TRUE((*store)->Commit(create).ok());
      env.FailSyncWithEio(env.sync_count() + fail_at);
      out = CommitStorm(store->get(), tree, kThreads, kCommits);
      EXPECT_FALSE((*store)->Close().ok());  // poisoned
    }
    EXPECT_EQ(out.failed, kThreads) << "the poisoned store kept acknowledging commits";
    EXPECT_EQ(out.failed_not_io, 0);
    env.SimulateCrash(testutil::CrashModel::kDropUnsynced, fail_at);
    env.ClearFaults();

    auto reopened = Store::Open("/db", StrictOptions(&env));
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    auto reader = (*reopened)->GetSnapshot().Tree<int64_t>("t");
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    size_t acked_total = 0;
    for (const auto& keys : out.acked) {
      acked_total += keys.size();
      for (int64_t key : keys) {
        auto w = reader->weight(key);
        ASSERT_TRUE(w.ok()) << w.status().ToString();
        EXPECT_EQ(*w, 1) << "acknowledged commit of key " << key << " lost";
      }
    }
    EXPECT_LT(acked_total, static_cast<size_t>(kThreads * kCommits));
    ASSERT_TRUE((*reopened)->Close().ok());
  }
}

}  // namespace
}  // namespace cowtree
