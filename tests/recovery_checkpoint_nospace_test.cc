// ENOSPC during a checkpoint aborts it cleanly: nothing is published, the runtime stays
// writable (commits keep working), the next checkpoint after space is back succeeds, and a
// reopen — also one right after the failed attempt — sees every commit. The abort path runs
// at every point a checkpoint can need space (new data segments, OT checkpoint, manifest).
#include <gtest/gtest.h>

#include <map>

#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::CrashModel;
using testutil::FaultInjectionEnv;

RuntimeOptions Options(FaultInjectionEnv* env) {
  RuntimeOptions o;
  o.env = env;
  o.background_thread = false;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  o.durability = Durability::kStrict;
  return o;
}

// Adds `n` keys starting at `first` to tree "t" (creating it on first use).
Status CommitKeys(Runtime* rt, int64_t first, int n, std::map<int64_t, int64_t>* model) {
  RuntimeWriteBatch b(rt);
  RuntimeSnapshot s = rt->GetSnapshot();
  auto info = rt->FindTree("t", s);
  const TreeId id =
      info.ok() ? info->id
                : b.CreateTree("t", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  for (int i = 0; i < n; ++i)
    tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(first + i), 1);
  Status st = rt->Commit(b);
  if (st.ok()) {
    for (int i = 0; i < n; ++i) (*model)[first + i] += 1;
  }
  return st;
}

void ExpectModel(Runtime* rt, const std::map<int64_t, int64_t>& model) {
  RuntimeSnapshot s = rt->GetSnapshot();
  auto info = rt->FindTree("t", s);
  ASSERT_TRUE(info.ok());
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(s.epoch());
  std::map<int64_t, int64_t> seen;
  ASSERT_TRUE(tree::ForEachAll(*v, [&](uint64_t k, int64_t w) {
                seen[tree::DecodeInt64Key(k)] = w;
                return true;
              }).ok());
  EXPECT_EQ(seen, model);
}

TEST(CheckpointNoSpace, AbortsCleanlyAtEveryLimitAndRecovers) {
  int aborted = 0;
  // Sweep the space limit over the bytes a checkpoint needs, so that ENOSPC hits each of its
  // allocating steps (data segment growth, OT checkpoint file, manifest) in some run.
  for (uint64_t slack = 0; slack < (9u << 20); slack += 256u << 10) {
    FaultInjectionEnv env;
    ASSERT_TRUE(env.CreateDir("/db").ok());
    ASSERT_TRUE(env.SyncDir("/").ok());
    std::map<int64_t, int64_t> model;
    {
      auto rt = recovery::Open("/db", Options(&env));
      ASSERT_TRUE(rt.ok()) << rt.status().ToString();
      ASSERT_TRUE(CommitKeys(rt->get(), 0, 3000, &model).ok());
      env.SetSpaceLimitBytes(env.StoredBytes() + slack);
      Status st = (*rt)->Checkpoint();
      if (!st.ok()) {
        ASSERT_TRUE(st.IsNoSpace()) << "slack " << slack << ": " << st.ToString();
        ++aborted;
        EXPECT_TRUE((*rt)->poison_status().ok()) << "ENOSPC must not poison the runtime";
        // Still writable (the log has room: its preallocation is already reserved).
        env.SetSpaceLimitBytes(testutil::FaultPlan::kUnlimited);
        ASSERT_TRUE(CommitKeys(rt->get(), 10000, 50, &model).ok());
        ExpectModel(rt->get(), model);
        ASSERT_TRUE((*rt)->Checkpoint().ok()) << "slack " << slack;
      }
      ASSERT_TRUE(CommitKeys(rt->get(), 20000, 10, &model).ok());
      ASSERT_TRUE((*rt)->Close().ok());
    }
    auto rt = recovery::Open("/db", Options(&env));
    ASSERT_TRUE(rt.ok()) << "slack " << slack << ": " << rt.status().ToString();
    (*rt)->EvictClean();
    ExpectModel(rt->get(), model);
  }
  EXPECT_GT(aborted, 3) << "the sweep must hit ENOSPC inside checkpoints";
}

// A new store at /db of `env` holding `n` keys from 0, committed and checkpointed.
void OpenCheckpointedStore(FaultInjectionEnv* env, int n, std::map<int64_t, int64_t>* model,
                           std::unique_ptr<Runtime>* rt) {
  ASSERT_TRUE(env->CreateDir("/db").ok());
  ASSERT_TRUE(env->SyncDir("/").ok());
  auto opened = recovery::Open("/db", Options(env));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  *rt = std::move(opened).value();
  ASSERT_TRUE(CommitKeys(rt->get(), 0, n, model).ok());
  ASSERT_TRUE((*rt)->Checkpoint().ok());
}

TEST(CheckpointNoSpace, CrashAfterAbortedCheckpointRecoversEveryCommit) {
  for (uint64_t slack = 0; slack < (9u << 20); slack += 512u << 10) {
    FaultInjectionEnv env;
    std::map<int64_t, int64_t> model;
    {
      std::unique_ptr<Runtime> rt;
      ASSERT_NO_FATAL_FAILURE(OpenCheckpointedStore(&env, 2000, &model, &rt));
      ASSERT_TRUE(CommitKeys(rt.get(), 5000, 2000, &model).ok());
      env.SetSpaceLimitBytes(env.StoredBytes() + slack);
      (void)rt->Checkpoint();  // may abort with NoSpace
      env.SetSpaceLimitBytes(testutil::FaultPlan::kUnlimited);
      ASSERT_TRUE(CommitKeys(rt.get(), 9000, 20, &model).ok());
      ASSERT_TRUE(rt->Checkpoint().ok());
      ASSERT_TRUE(CommitKeys(rt.get(), 9500, 20, &model).ok());  // strict: durable
      env.SimulateCrash(CrashModel::kDropUnsynced, slack);
    }
    auto rt = recovery::Open("/db", Options(&env));
    ASSERT_TRUE(rt.ok()) << "slack " << slack << ": " << rt.status().ToString();
    (*rt)->EvictClean();
    ExpectModel(rt->get(), model);
  }
}

// A crash on a full disk can leave a data file short of its first segment (its header written,
// the segment's fallocate refused). Reopening with the space that is left must work: reads
// answer, and writes work once space is freed. Before, open extended the file first and failed
// with NoSpace (found by an adversarial run: "fallocate data-32k.dat" with 3.9 MiB free).
TEST(CheckpointNoSpace, AStoreLeftShortByACrashOnAFullDiskReopens) {
  int short_files = 0;
  for (uint64_t slack = 0; slack < (6u << 20); slack += 64u << 10) {
    FaultInjectionEnv env;
    std::map<int64_t, int64_t> model;
    {
      std::unique_ptr<Runtime> rt;
      ASSERT_NO_FATAL_FAILURE(OpenCheckpointedStore(&env, 500, &model, &rt));
      // Wider gaps between keys: larger leaves, in a size class with no data file yet.
      RuntimeWriteBatch b(rt.get());
      const TreeId id = rt->FindTree("t", rt->GetSnapshot())->id;
      for (int64_t k = 0; k < 3000; ++k) {
        const int64_t key = (k + 1) * 1000003 + k * k * 7919;
        tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(key), 1000 + k);
        model[key] += 1000 + k;
      }
      ASSERT_TRUE(rt->Commit(b).ok());  // strict: durable
      env.SetSpaceLimitBytes(env.StoredBytes() + slack);
      (void)rt->Checkpoint();                          // may abort with NoSpace
      env.SimulateCrash(CrashModel::kKeepAll, slack);  // kill -9: what was written stays
    }
    std::vector<std::string> names;
    ASSERT_TRUE(env.ListDir("/db", &names).ok());
    for (const std::string& name : names) {
      if (name.rfind("data-", 0) == 0 && *env.FileSize("/db/" + name) < 4096) ++short_files;
    }
    env.SetSpaceLimitBytes(env.StoredBytes() + (256u << 10));  // less than a segment left
    auto rt = recovery::Open("/db", Options(&env));
    ASSERT_TRUE(rt.ok()) << "slack " << slack << ": " << rt.status().ToString();
    (*rt)->EvictClean();
    ExpectModel(rt->get(), model);
    env.SetSpaceLimitBytes(testutil::FaultPlan::kUnlimited);  // space freed
    ASSERT_TRUE(CommitKeys(rt->get(), 9000000, 20, &model).ok());
    ASSERT_TRUE((*rt)->Checkpoint().ok()) << "slack " << slack;
    ExpectModel(rt->get(), model);
  }
  EXPECT_GT(short_files, 0) << "the sweep must leave a data file short of its first segment";
}

}  // namespace
}  // namespace cowtree
