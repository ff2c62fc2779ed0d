// Compaction end to end (persistence/compaction.h, docs/compaction.md), through recovery::Open:
// - churn (update half the keys five times, delete 30 %) then Runtime::Compact: the store
//   directory holds <= 1.3 x the live bytes, answers are identical before / after / after
//   reopen (model check), fsck is clean;
// - a snapshot pinned before compaction reads correctly during it (a concurrent reader, leaves
//   evicted so that reads go to the data files) and after it; the file is cut only once the
//   snapshot is released;
// - the coordinator compacts online once the dead ratio passes compaction_dead_ratio;
// - crash-point sweep: every mutating operation of a compaction is the crash point in turn
//   (several crash models); recovery gives the same answers, fsck is clean on the raw image
//   and after recovery, and a second compaction succeeds;
// - I/O-error loop: every operation of a compaction fails in turn (EIO once, ENOSPC once):
//   the error comes back as a Status, and the store reopens with the same answers.
//
// Live bytes: the slot bytes (size class) of every live, not retired object in the object
// table, i.e. the data-file bytes the current trees need; the store's bytes are the sizes of
// every file in its directory (data files, OT checkpoint, log, manifest, superblock).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"
#include "testutil/workload.h"
#include "testutil/workload_recovery.h"
#include "tree/check.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using Model = std::map<int64_t, int64_t>;  // key -> weight, one tree "t"
using testutil::CrashModel;
using testutil::CrashModelName;
using testutil::FaultInjectionEnv;

RuntimeOptions Options(Env* env) {
  RuntimeOptions o;
  o.env = env;
  o.background_thread = false;
  o.leaf_capacity_entries = 32;
  o.fanout = 8;
  o.segment_size_bytes = 64 << 10;  // 16 slots of 4 KiB: many segments in a small store
  o.mmap_window_bytes = 64 << 10;
  return o;
}

Status CommitOps(Runtime* rt, const std::vector<std::pair<int64_t, int64_t>>& ops, Model* model) {
  RuntimeWriteBatch batch(rt);
  RuntimeSnapshot snap = rt->GetSnapshot();
  Result<TreeInfo> info = rt->FindTree("t", snap);
  const TreeId id = info.ok() ? info->id
                              : batch.CreateTree("t", tree::kOrderStatTreeTypeId,
                                                 tree::OrderStatTreeParams(tree::KeyType::kInt64));
  for (const auto& [key, delta] : ops) {
    tree::AppendOrderStatOp(batch.MutableOps(id), tree::EncodeInt64Key(key), delta);
    if (((*model)[key] += delta) == 0) model->erase(key);
  }
  return rt->Commit(batch);
}

// Inserts keys 0..n-1 (weight 1..3), updates a random half of them five times (a checkpoint
// after each round, so that every round rewrites the leaves on disk), deletes 30 %.
void Churn(Runtime* rt, Model* model, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> keys(n);
  for (int i = 0; i < n; ++i) keys[i] = i * 7;
  std::shuffle(keys.begin(), keys.end(), rng);
  const size_t per_commit = 250;
  auto commit_all = [&](const std::vector<std::pair<int64_t, int64_t>>& ops) {
    for (size_t i = 0; i < ops.size(); i += per_commit) {
      std::vector<std::pair<int64_t, int64_t>> part(
          ops.begin() + i, ops.begin() + std::min(ops.size(), i + per_commit));
      ASSERT_TRUE(CommitOps(rt, part, model).ok());
    }
    ASSERT_TRUE(rt->Checkpoint().ok());
  };
  std::vector<std::pair<int64_t, int64_t>> ops;
  for (int64_t k : keys) ops.emplace_back(k, 1 + static_cast<int64_t>(rng() % 3));
  commit_all(ops);
  std::vector<int64_t> half(keys.begin(), keys.begin() + n / 2);
  for (int round = 0; round < 5; ++round) {
    ops.clear();
    std::shuffle(half.begin(), half.end(), rng);
    for (int64_t k : half) ops.emplace_back(k, 1);
    commit_all(ops);
  }
  // The deleted 30 %: the lowest keys, so that the leaves of the other keys stay where the
  // last update round put them (compaction has objects to move, not only a free end to cut).
  ops.clear();
  for (int i = 0; i < n * 3 / 10; ++i) ops.emplace_back(i * 7, -(*model)[i * 7]);
  commit_all(ops);
}

// "" if tree "t" at snap answers exactly as model: N, every entry in order, selects, median.
std::string Diff(Runtime* rt, const RuntimeSnapshot& snap, const Model& model) {
  Result<TreeInfo> info = rt->FindTree("t", snap);
  if (!info.ok()) return "tree t: " + info.status().ToString();
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  std::vector<std::pair<int64_t, int64_t>> seen;
  Status st = tree::ForEach(*v, 0, UINT64_MAX, [&](uint64_t key, int64_t w) {
    seen.emplace_back(tree::DecodeInt64Key(key), w);
    return true;
  });
  if (!st.ok()) return "ForEach: " + st.ToString();
  if (seen != std::vector<std::pair<int64_t, int64_t>>(model.begin(), model.end())) {
    return "entries differ: " + std::to_string(seen.size()) + " vs " + std::to_string(model.size());
  }
  std::vector<int64_t> items;
  for (const auto& [k, w] : model) items.insert(items.end(), w, k);
  if (tree::PositiveCount(*v) != items.size()) return "N differs";
  for (size_t k = 0; k < items.size(); k += 1 + items.size() / 29) {
    auto s = tree::Select(*v, k, false);
    if (!s.ok() || !s->has_value() || tree::DecodeInt64Key(**s) != items[k]) {
      return "select " + std::to_string(k) + " differs";
    }
  }
  st = tree::CheckInvariants(*v, true);
  return st.ok() ? "" : "invariants: " + st.ToString();
}

std::string Diff(Runtime* rt, const Model& model) { return Diff(rt, rt->GetSnapshot(), model); }

// Bytes of the store's files whose names start with `prefix` (all of them by default).
uint64_t StoreBytes(Env* env, const std::string& dir, const std::string& prefix = "") {
  std::vector<std::string> names;
  EXPECT_TRUE(env->ListDir(dir, &names).ok());
  uint64_t total = 0;
  for (const std::string& n : names) {
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    Result<uint64_t> size = env->FileSize(JoinPath(dir, n));
    if (size.ok()) total += *size;
  }
  return total;
}

struct LiveBytes {
  uint64_t slot_bytes = 0;      // what compaction can reach: slots of live objects
  uint64_t envelope_bytes = 0;  // the objects' own bytes (envelope + body)
};

LiveBytes Live(Runtime* rt) {
  LiveBytes live;
  rt->object_store()->table().ForEachLive([&](NodeID, const OtEntry& e) {
    if (e.retired()) return;
    live.slot_bytes += e.address.size_class_bytes;
    live.envelope_bytes += e.address.length_bytes;
  });
  return live;
}

// Keys of the 1.3x tests. Leaves of 32 one-byte-gap entries are ~130-byte objects in 1 KiB
// slots, so the store's live slot bytes are small next to what compaction cannot cut: the
// summary chunks' 32 KiB class keeps a segment of at least 16 slots (512 KiB). 100 000 keys
// make the live bytes large enough that the 1.3x bound measures compaction, not that floor.
constexpr int kChurnKeys = 100000;

// No rate limit; holes punched over every free slot (so that the fault tests cover PunchHole).
CompactionOptions Offline() {
  CompactionOptions o;
  o.punch_min_run_bytes = 4096;
  return o;
}

TEST(Compaction, ChurnThenCompactIsWithinOnePointThreeTimesLiveBytes) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  Model model;
  auto rt = recovery::Open(dir.path(), Options(env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Churn(rt->get(), &model, kChurnKeys, 1);
  ASSERT_EQ(Diff(rt->get(), model), "");
  const uint64_t before = StoreBytes(env, dir.path());
  CompactionReport r;
  ASSERT_TRUE((*rt)->Compact(Offline(), &r).ok());
  EXPECT_GT(r.objects_relocated, 0u);
  EXPECT_GT(r.truncated_bytes, 0u);
  EXPECT_EQ(r.checkpoints, 2u);
  EXPECT_EQ(r.slots_awaiting_readers, 0u);
  ASSERT_EQ(Diff(rt->get(), model), "");
  const LiveBytes live = Live(rt->get());
  const uint64_t after = StoreBytes(env, dir.path());
  std::printf(
      "[compaction] store bytes before %llu, after %llu; live slot bytes %llu (ratio %.3f), "
      "live envelope bytes %llu (ratio %.3f); data files %llu -> %llu; %llu objects moved\n",
      (unsigned long long)before, (unsigned long long)after, (unsigned long long)live.slot_bytes,
      double(after) / double(live.slot_bytes), (unsigned long long)live.envelope_bytes,
      double(after) / double(live.envelope_bytes), (unsigned long long)r.data_bytes_before,
      (unsigned long long)r.data_bytes_after, (unsigned long long)r.objects_relocated);
  EXPECT_GT(double(before), 1.3 * double(live.slot_bytes)) << "the churn must leave dead space";
  EXPECT_LE(double(after), 1.3 * double(live.slot_bytes));
  // A second round finds nothing to do.
  CompactionReport again;
  ASSERT_TRUE((*rt)->Compact(Offline(), &again).ok());
  EXPECT_EQ(again.objects_relocated, 0u);
  EXPECT_EQ(again.truncated_bytes, 0u);
  ASSERT_TRUE((*rt)->Close().ok());
  EXPECT_EQ(testutil::CheckStoreConsistent(env, dir.path()), "");
  auto reopened = recovery::Open(dir.path(), Options(env));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(Diff(reopened->get(), model), "");
  // The store keeps working on the shorter files.
  ASSERT_TRUE(CommitOps(reopened->get(), {{1, 5}, {100001, 2}}, &model).ok());
  ASSERT_TRUE((*reopened)->Checkpoint().ok());
  EXPECT_EQ(Diff(reopened->get(), model), "");
  ASSERT_TRUE((*reopened)->Close().ok());
  EXPECT_EQ(testutil::CheckStoreConsistent(env, dir.path()), "");
}

// A dead ratio outside [0, 1) is refused before anything runs; NaN passed a check written as
// two `<` comparisons and compacted every class (found by an adversarial run of the CLI).
TEST(Compaction, ADeadRatioOutsideZeroToOneOrNanIsRefused) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  Model model;
  auto rt = recovery::Open(dir.path(), Options(env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Churn(rt->get(), &model, kChurnKeys / 4, 1);  // a smaller store: nothing may change anyway
  const uint64_t before = StoreBytes(env, dir.path());
  for (double bad : {std::nan(""), -0.5, 1.0, 7.0}) {
    CompactionOptions o = Offline();
    o.dead_ratio = bad;
    CompactionReport r;
    const Status st = (*rt)->Compact(o, &r);
    EXPECT_TRUE(st.IsInvalidArgument()) << bad << ": " << st.ToString();
    EXPECT_NE(st.message().find("dead_ratio must be in [0, 1)"), std::string::npos) << st.message();
    EXPECT_EQ(r.objects_relocated, 0u);
    EXPECT_EQ(r.checkpoints, 0u);
  }
  EXPECT_EQ(StoreBytes(env, dir.path()), before);
  ASSERT_EQ(Diff(rt->get(), model), "");
  ASSERT_TRUE((*rt)->Close().ok());
}

TEST(Compaction, PinnedSnapshotReadsCorrectlyDuringAndAfter) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  Model model;
  auto rt = recovery::Open(dir.path(), Options(env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Churn(rt->get(), &model, 20000, 2);
  RuntimeSnapshot pinned = (*rt)->GetSnapshot();
  const Model at_pin = model;
  std::vector<std::pair<int64_t, int64_t>> ops;  // a few leaves change after the pin
  for (int64_t k = 100000; k < 100000 + 7 * 200; k += 7) ops.emplace_back(k, 1);
  ASSERT_TRUE(CommitOps(rt->get(), ops, &model).ok());
  ASSERT_TRUE((*rt)->Checkpoint().ok());  // the pinned version's leaves are retired, kept
  (*rt)->EvictClean();                    // reads through the snapshot go to the data files
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::string reader_error;
  std::thread reader([&] {
    while (!stop.load() && reader_error.empty()) {
      (*rt)->EvictClean();  // every pass reads the leaves from the data files again
      reader_error = Diff(rt->get(), pinned, at_pin);
      reads.fetch_add(1);
    }
  });
  CompactionReport r;
  const Status st = (*rt)->Compact(Offline(), &r);
  while (reads.load() < 2 && reader_error.empty()) std::this_thread::yield();
  stop = true;
  reader.join();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(reader_error, "");
  EXPECT_GT(r.objects_relocated, 0u);
  EXPECT_GT(r.slots_awaiting_readers, 0u) << "old slots must wait for the pinned reader";
  EXPECT_EQ(Diff(rt->get(), pinned, at_pin), "");
  EXPECT_EQ(Diff(rt->get(), model), "");
  const uint64_t held = StoreBytes(env, dir.path());
  pinned = RuntimeSnapshot();  // released
  CompactionReport r2;
  ASSERT_TRUE((*rt)->Compact(Offline(), &r2).ok());
  EXPECT_EQ(r2.slots_awaiting_readers, 0u);
  EXPECT_GT(r2.truncated_bytes, 0u);
  EXPECT_LT(StoreBytes(env, dir.path()), held);
  EXPECT_EQ(Diff(rt->get(), model), "");
  ASSERT_TRUE((*rt)->Close().ok());
  EXPECT_EQ(testutil::CheckStoreConsistent(env, dir.path()), "");
}

TEST(Compaction, CoordinatorCompactsOnlineWhenTheDeadRatioPassesTheThreshold) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  Model model;
  RuntimeOptions o = Options(env);
  o.compaction_dead_ratio = 0;  // off during the churn
  {
    auto rt = recovery::Open(dir.path(), o);
    ASSERT_TRUE(rt.ok());
    Churn(rt->get(), &model, kChurnKeys, 3);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  o.background_thread = true;
  o.compaction_dead_ratio = 0.25;
  o.compaction_bytes_per_sec = 8 << 20;
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok());
  const uint64_t before = StoreBytes(env, dir.path());
  const LiveBytes live = Live(rt->get());
  // Not a timing assertion: wait (up to 60 s) for the coordinator to get there.
  for (int i = 0; i < 600 && StoreBytes(env, dir.path()) > 1.3 * live.slot_bytes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_LE(double(StoreBytes(env, dir.path())), 1.3 * double(live.slot_bytes))
      << "before " << before;
  EXPECT_EQ(Diff(rt->get(), model), "");
  ASSERT_TRUE((*rt)->Close().ok());
  EXPECT_EQ(testutil::CheckStoreConsistent(env, dir.path()), "");
}

// Under a small memory budget the churn keeps the dirty share full, so online compaction waits
// (runtime_coordinator.cc); once the writes stop it resumes and the data files shrink as above.
TEST(Compaction, CoordinatorCompactsOnceTheBudgetsDirtyPressureEnds) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  Model model;
  RuntimeOptions o = Options(env);
  o.background_thread = true;
  o.cache_bytes = 1 << 20;  // the smallest budget: dirty leaves pass their share within commits
  o.compaction_dead_ratio = 0.25;
  o.compaction_bytes_per_sec = 8 << 20;
  auto rt = recovery::Open(dir.path(), o);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Churn(rt->get(), &model, kChurnKeys, 4);
  // The data files (the churn's log is still there: this runtime was not reopened).
  const uint64_t before = StoreBytes(env, dir.path(), "data-");
  const LiveBytes live = Live(rt->get());
  // Not a timing assertion: wait (up to 60 s) for the coordinator to get there.
  for (int i = 0; i < 600 && StoreBytes(env, dir.path(), "data-") > 1.3 * live.slot_bytes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_LE(double(StoreBytes(env, dir.path(), "data-")), 1.3 * double(live.slot_bytes))
      << "before " << before;
  EXPECT_EQ(Diff(rt->get(), model), "");
  ASSERT_TRUE((*rt)->Close().ok());
  EXPECT_EQ(testutil::CheckStoreConsistent(env, dir.path()), "");
}

// ---- Fault injection: the churned store is rebuilt for every case (deterministic). ----

constexpr int kFaultKeys = 1200;

void BuildChurned(FaultInjectionEnv* env, Model* model) {
  auto rt = recovery::Open("/db", Options(env));
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Churn(rt->get(), model, kFaultKeys, 4);
  ASSERT_TRUE((*rt)->Close().ok());
}

// Recovery after the fault gives the model's answers, fsck is clean, and compaction completes.
std::string VerifyAfterFault(FaultInjectionEnv* env, const Model& model) {
  if (std::string f = testutil::CheckStoreConsistent(env, "/db"); !f.empty()) {
    return "fsck of the image: " + f;
  }
  auto rt = recovery::Open("/db", Options(env));
  if (!rt.ok()) return "reopen: " + rt.status().ToString();
  if (std::string d = Diff(rt->get(), model); !d.empty()) return "after recovery: " + d;
  CompactionReport r;
  if (Status st = (*rt)->Compact(Offline(), &r); !st.ok()) return "compaction: " + st.ToString();
  if (std::string d = Diff(rt->get(), model); !d.empty()) return "after compaction: " + d;
  if (Status st = (*rt)->Close(); !st.ok()) return "close: " + st.ToString();
  if (std::string f = testutil::CheckStoreConsistent(env, "/db"); !f.empty()) {
    return "fsck after recompaction: " + f;
  }
  return "";
}

// "WriteAt /db/data-4k.dat" from a fault description ("... failed op #17 (mutating #9) WriteAt
// /db/data-4k.dat offset ...").
std::string OpKindOf(const std::string& fault) {
  size_t p = fault.find("failed op #");
  if (p == std::string::npos) return fault;
  p = fault.find(' ', p + 11) + 1;
  if (fault.compare(p, 10, "(mutating ") == 0) p = fault.find(") ", p) + 2;
  size_t e = fault.find(' ', p);
  e = e == std::string::npos ? e : fault.find(' ', e + 1);
  return fault.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

struct CompactionOps {
  uint64_t mutating = 0;
  uint64_t all = 0;
};

CompactionOps CountCompactionOps() {
  FaultInjectionEnv env;
  Model model;
  BuildChurned(&env, &model);
  auto rt = recovery::Open("/db", Options(&env));
  EXPECT_TRUE(rt.ok());
  const uint64_t m0 = env.mutating_op_count(), a0 = env.op_count();
  CompactionReport r;
  EXPECT_TRUE((*rt)->Compact(Offline(), &r).ok());
  EXPECT_GT(r.objects_relocated, 10u);
  EXPECT_GT(r.truncated_bytes, 0u);
  CompactionOps n{env.mutating_op_count() - m0, env.op_count() - a0};
  std::printf(
      "[compaction faults] %llu objects relocated, %llu bytes cut, %llu mutating ops, "
      "%llu ops\n",
      (unsigned long long)r.objects_relocated, (unsigned long long)r.truncated_bytes,
      (unsigned long long)n.mutating, (unsigned long long)n.all);
  return n;
}

TEST(CompactionFaults, CrashAtEveryWriteAndSyncOfACompaction) {
  const CompactionOps n = CountCompactionOps();
  ASSERT_GT(n.mutating, 10u);
  // COWTREE_SWEEP_SCALE=long (ctest label "long"): 4 seeds per k for the seed-dependent models.
  const int seeds = testutil::LongSweep() ? 4 : 1;
  int failures = 0;
  uint64_t cases = 0;
  for (CrashModel m : testutil::kAllCrashModels) {
    const bool seed_matters = m != CrashModel::kKeepAll && m != CrashModel::kDropUnsynced;
    for (uint64_t i = 0; i < (seed_matters ? n.mutating * seeds : n.mutating) && failures < 5;
         ++i) {
      const uint64_t k = 1 + i % n.mutating;
      FaultInjectionEnv env;
      Model model;
      BuildChurned(&env, &model);
      auto rt = recovery::Open("/db", Options(&env));
      ASSERT_TRUE(rt.ok());
      env.CrashAtOp(env.mutating_op_count() + k);
      CompactionReport r;
      const Status st = (*rt)->Compact(Offline(), &r);
      ASSERT_TRUE(env.crash_point_reached()) << "k=" << k;
      EXPECT_FALSE(st.ok()) << "k=" << k << ": a compaction that hit the crash point said OK";
      rt->reset();  // its Close fails at the crash point, as in a real crash
      env.SimulateCrash(m, 0xC0FFEE + i);
      ++cases;
      if (std::string v = VerifyAfterFault(&env, model); !v.empty()) {
        ++failures;
        ADD_FAILURE() << CrashModelName(m) << " k=" << k << " seed " << 0xC0FFEE + i << ": " << v
                      << "\n  " << env.LastFault();
      }
    }
  }
  std::printf("[compaction faults] crash states checked: %llu\n", (unsigned long long)cases);
}

TEST(CompactionFaults, EveryOperationOfACompactionFailsInTurn) {
  const CompactionOps n = CountCompactionOps();
  int failures = 0;
  uint64_t surfaced = 0, cases = 0;
  std::map<std::string, int> ok_after;  // operation kind -> failures the round absorbed
  for (int err : {EIO, ENOSPC}) {
    for (uint64_t k = 1; k <= n.all && failures < 5; ++k) {
      FaultInjectionEnv env;
      Model model;
      BuildChurned(&env, &model);
      auto rt = recovery::Open("/db", Options(&env));
      ASSERT_TRUE(rt.ok());
      env.FailOp(env.op_count() + k, testutil::FailMode::kOnce, err);
      CompactionReport r;
      const uint64_t faults = env.fault_count();
      const Status st = (*rt)->Compact(Offline(), &r);  // an error is a value, never a crash
      ++cases;
      if (!st.ok()) ++surfaced;
      if (st.ok() && env.fault_count() > faults) ok_after[OpKindOf(env.LastFault())]++;
      std::string v;
      if (env.fault_count() > faults) {
        // The fault was spent: reads keep working whatever happened (poisoned or not).
        if (std::string d = Diff(rt->get(), model); !d.empty()) v = "in memory: " + d;
      }
      rt->reset();
      env.ClearFaults();
      env.SimulateCrash(CrashModel::kDropUnsynced, 1);
      if (v.empty()) v = VerifyAfterFault(&env, model);
      if (!v.empty()) {
        ++failures;
        ADD_FAILURE() << (err == EIO ? "EIO" : "ENOSPC") << " k=" << k << ": " << v << " ("
                      << st.ToString() << ")";
      }
    }
  }
  std::printf("[compaction faults] I/O-error cases %llu, errors returned %llu\n",
              (unsigned long long)cases, (unsigned long long)surfaced);
  for (const auto& [kind, count] : ok_after) {
    std::printf("[compaction faults] absorbed (round returned OK): %s x%d\n", kind.c_str(), count);
    // Only the checkpoint's documented best-effort cleanup may fail silently: listing the
    // directory, deleting obsolete files and the directory sync after it.
    const std::string op = kind.substr(0, kind.find(' '));
    EXPECT_TRUE(op == "DeleteFile" || op == "ListDir" || op == "SyncDir") << kind;
  }
  EXPECT_GT(surfaced, 0u);
}

}  // namespace
}  // namespace cowtree
