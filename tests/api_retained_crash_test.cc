// Retained checkpoints under crashes and I/O errors (docs/retained_checkpoints.md "Crash
// safety"): a workload retains two named checkpoints around churn that supersedes their
// objects, deletes one, backs the other up and commits more. Crash-point sweep: for every
// mutating I/O k (and several crash models) the run stops there, the disk becomes a post-crash
// image, and the reopened store must hold (1) an acknowledged state (or the one in doubt),
// (2) exactly the retained checkpoints whose retain was acknowledged and whose delete was not
// (either way for the ones in doubt), each reading back the state it was taken at, (3) a backup
// directory that is absent or complete and equal to its checkpoint, (4) no fsck error; and
// after one more commit + checkpoint + reopen, the same. The I/O-error loop fails operation k
// once (EIO, or ENOSPC) instead of crashing and checks the same after reopening.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"
#include "recovery/fsck.h"
#include "testutil/fault_injection_env.h"

namespace cowtree {
namespace {

using Model = std::map<int64_t, int64_t>;

Options SweepOptions(Env* env) {
  Options o;
  o.env = env;
  o.durability = Durability::kStrict;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  o.leaf_capacity_entries = 16;
  o.fanout = 4;
  return o;
}

// What the workload got acknowledged, step by step.
struct Outcome {
  std::vector<Model> acked;                     // states acknowledged, in order (acked[0]: empty)
  std::optional<Model> in_doubt;                // the state of a commit that returned an error
  std::map<std::string, Model> retained_acked;  // retain acknowledged, delete not tried
  std::map<std::string, Model> retained_in_doubt;  // retain or delete in doubt
  std::optional<Model> backup_state;               // the state the backup copies
  bool stopped = false;
  std::string step;
};

class Workload {
 public:
  explicit Workload(Env* env) : env_(env) {}

  Outcome Run() {
    out_.acked.push_back(Model());
    auto store = Store::Open("/db", SweepOptions(env_));
    if (!store.ok()) return Stop("open");
    Store* s = store->get();
    if (!Commit(s, 0, 300, 1, /*create=*/true)) return Stop("commit 1");
    if (!Retain(s, "r1")) return Stop("retain r1");
    if (!Commit(s, 0, 300, 2)) return Stop("commit 2");  // supersedes every leaf of r1
    if (!Check(s->Checkpoint())) return Stop("checkpoint");
    if (!Commit(s, 100, 200, -3)) return Stop("commit 3");  // deletes
    if (!Retain(s, "r2")) return Stop("retain r2");
    if (!Commit(s, 0, 300, 1)) return Stop("commit 4");
    if (!Delete(s, "r1")) return Stop("delete r1");
    out_.backup_state = out_.retained_acked.at("r2");
    {
      auto snap = s->GetCheckpointSnapshot("r2");
      if (!snap.ok()) return Stop("backup");
      if (!Check(s->Backup(*snap, "/bk"))) return Stop("backup");
    }
    if (!Commit(s, 1000, 1100, 1)) return Stop("commit 5");
    if (!Check(s->Checkpoint())) return Stop("checkpoint 2");
    (void)s->Close();
    out_.step = "completed";
    return out_;
  }

 private:
  Outcome Stop(const std::string& step) {
    out_.stopped = true;
    out_.step = step;
    return out_;
  }
  static bool Check(const Status& st) { return st.ok(); }

  bool Commit(Store* s, int64_t from, int64_t to, int64_t delta, bool create = false) {
    Model next = out_.acked.back();
    WriteBatch b = s->NewBatch();
    TreeHandle<int64_t> h;
    if (create) {
      h = b.CreateTree<int64_t>("t");
    } else {
      auto r = s->Tree<int64_t>("t");
      if (!r.ok()) return false;
      h = *r;
    }
    for (int64_t k = from; k < to; ++k) {
      b.Add(h, k, delta);
      if ((next[k] += delta) == 0) next.erase(k);
    }
    if (!s->Commit(b).ok()) {
      out_.in_doubt = next;
      return false;
    }
    out_.acked.push_back(next);
    return true;
  }
  bool Retain(Store* s, const std::string& name) {
    if (!s->Checkpoint(name).ok()) {
      out_.retained_in_doubt[name] = out_.acked.back();
      return false;
    }
    out_.retained_acked[name] = out_.acked.back();
    return true;
  }
  bool Delete(Store* s, const std::string& name) {
    const Model state = out_.retained_acked.at(name);
    out_.retained_acked.erase(name);
    if (!s->DeleteCheckpoint(name).ok()) {
      out_.retained_in_doubt[name] = state;
      return false;
    }
    return true;
  }

  Env* env_;
  Outcome out_;
};

Result<Model> ReadTree(const Snapshot& snap) {
  Model m;
  auto r = snap.Tree<int64_t>("t");
  if (r.status().IsNotFound()) return m;  // created by a commit that did not land
  if (!r.ok()) return r.status();
  auto c = r->SeekToFirst();
  for (; c.valid(); c.Next()) m[c.key()] = c.weight();
  if (!c.status().ok()) return c.status();
  return m;
}

std::string FsckErrors(Env* env, const std::string& dir) {
  recovery::FsckOptions o;
  o.env = env;
  auto report = recovery::Fsck(dir, o);
  if (!report.ok()) return "fsck: " + report.status().ToString();
  std::string out;
  for (const auto& f : report->findings) {
    if (f.severity == recovery::FsckSeverity::kError) out += recovery::FormatFinding(f) + "\n";
  }
  return out;
}

// The checks of the file comment on the store at /db (and /bk); "" if they hold.
std::string Verify(Env* env, const Outcome& w) {
  // A run stopped while creating the store may leave no store at all (fsck: not a store).
  if (w.step != "open") {
    if (std::string e = FsckErrors(env, "/db"); !e.empty()) return "fsck of the image: " + e;
  }
  for (int round = 0; round < 2; ++round) {
    auto store = Store::Open("/db", SweepOptions(env));
    if (!store.ok()) return "reopen: " + store.status().ToString();
    auto now = ReadTree((*store)->GetSnapshot());
    if (!now.ok()) return "read: " + now.status().ToString();
    const bool acked = *now == w.acked.back();
    const bool doubt = w.in_doubt.has_value() && *now == *w.in_doubt;
    if (round == 0 && !acked && !doubt) return "state is neither acknowledged nor in doubt";
    std::set<std::string> listed;
    for (const auto& c : (*store)->ListCheckpoints()) listed.insert(c.name);
    for (const auto& [name, state] : w.retained_acked) {
      if (!listed.count(name)) return "acknowledged checkpoint " + name + " is missing";
    }
    for (const std::string& name : listed) {
      auto a = w.retained_acked.find(name);
      auto d = w.retained_in_doubt.find(name);
      if (a == w.retained_acked.end() && d == w.retained_in_doubt.end()) {
        return "checkpoint " + name + " is listed but was never acknowledged nor in doubt";
      }
      auto snap = (*store)->GetCheckpointSnapshot(name);
      if (!snap.ok()) return "open " + name + ": " + snap.status().ToString();
      auto m = ReadTree(*snap);
      if (!m.ok()) return "read " + name + ": " + m.status().ToString();
      const Model& expected = a != w.retained_acked.end() ? a->second : d->second;
      if (*m != expected) return "checkpoint " + name + " reads another state";
    }
    if (round == 0) {  // the store goes on: a commit and a checkpoint, then the same again
      WriteBatch b = (*store)->NewBatch();
      auto h = (*store)->Tree<int64_t>("t");
      TreeHandle<int64_t> t = h.ok() ? *h : b.CreateTree<int64_t>("t");
      b.Add(t, 5000, 1);
      if (!(*store)->Commit(b).ok()) return "commit after recovery failed";
      if (Status st = (*store)->Checkpoint(); !st.ok()) return "checkpoint: " + st.ToString();
    }
    if (Status st = (*store)->Close(); !st.ok()) return "close: " + st.ToString();
    if (std::string e = FsckErrors(env, "/db"); !e.empty()) return "fsck after recovery: " + e;
  }
  if (env->FileExists("/bk")) {
    if (!w.backup_state.has_value()) return "/bk exists before the backup started";
    auto bk = Store::Open("/bk", SweepOptions(env));
    if (!bk.ok()) return "backup does not open: " + bk.status().ToString();
    auto m = ReadTree((*bk)->GetSnapshot());
    if (!m.ok() || *m != *w.backup_state) return "backup differs from its checkpoint";
  }
  return "";
}

uint64_t CountMutatingOps() {
  testutil::FaultInjectionEnv env;
  EXPECT_TRUE(env.CreateDir("/db").ok());
  EXPECT_TRUE(env.SyncDir("/").ok());
  const uint64_t start = env.mutating_op_count();
  const Outcome w = Workload(&env).Run();
  EXPECT_FALSE(w.stopped) << w.step;
  EXPECT_EQ(Verify(&env, w), "");
  return env.mutating_op_count() - start;
}

TEST(RetainedCheckpointCrash, EveryCrashPointRecoversTheRetainedStates) {
  const uint64_t n = CountMutatingOps();
  ASSERT_GT(n, 50u);
  int stopped_in_retain_or_delete = 0, stopped_in_backup = 0;
  for (uint64_t k = 1; k <= n; ++k) {
    for (testutil::CrashModel model :
         {testutil::CrashModel::kDropUnsynced, testutil::CrashModel::kKeepRandomSubset}) {
      if (model == testutil::CrashModel::kKeepRandomSubset && k % 3 != 0) continue;
      testutil::FaultInjectionEnv env;
      ASSERT_TRUE(env.CreateDir("/db").ok());
      ASSERT_TRUE(env.SyncDir("/").ok());
      env.CrashAtOp(env.mutating_op_count() + k);
      const Outcome w = Workload(&env).Run();
      if (w.step.rfind("retain", 0) == 0 || w.step.rfind("delete", 0) == 0) {
        ++stopped_in_retain_or_delete;
      }
      if (w.step == "backup") ++stopped_in_backup;
      env.SimulateCrash(model, k);
      const std::string v = Verify(&env, w);
      ASSERT_EQ(v, "") << "crash at mutating op " << k << " of " << n << " ("
                       << testutil::CrashModelName(model) << "), workload stopped at " << w.step;
    }
  }
  EXPECT_GT(stopped_in_retain_or_delete, 5);  // the sweep reached the code under test
  EXPECT_GT(stopped_in_backup, 5);
}

TEST(RetainedCheckpointIoError, EveryFailedOperationLeavesARecoverableStore) {
  const uint64_t n = CountMutatingOps();
  int failed_runs = 0;
  for (uint64_t k = 1; k <= n; k += 2) {
    for (int errno_value : {EIO, ENOSPC}) {
      testutil::FaultInjectionEnv env;
      ASSERT_TRUE(env.CreateDir("/db").ok());
      ASSERT_TRUE(env.SyncDir("/").ok());
      env.FailOp(env.mutating_op_count() + k, testutil::FailMode::kOnce, errno_value,
                 testutil::OpScope::kMutatingOp);
      const Outcome w = Workload(&env).Run();
      if (w.stopped) ++failed_runs;
      env.ClearFaults();
      const std::string v = Verify(&env, w);
      ASSERT_EQ(v, "") << "op " << k << " failed with errno " << errno_value
                       << ", workload stopped at " << w.step;
    }
  }
  EXPECT_GT(failed_runs, static_cast<int>(n / 2));
}

}  // namespace
}  // namespace cowtree
