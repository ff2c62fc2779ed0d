// Retained checkpoints through the public API (include/cowtree/store.h,
// docs/retained_checkpoints.md): point-in-time reads equal the state at retention, across later
// commits, checkpoints, drops and reopen; delete and keep-last-N reclaim space (fsck counts the
// objects); a view keeps a deleted checkpoint's data until released; backup copies a snapshot
// into an independent store; names and read-only stores are refused as documented.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"
#include "persistence/env.h"
#include "recovery/fsck.h"
#include "testutil/forwarding_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using Model = std::map<int64_t, int64_t>;

Options TestOptions() {
  Options o;
  o.background_thread = false;
  o.leaf_capacity_entries = 16;  // many leaves from few keys
  o.fanout = 4;
  return o;
}

// Adds `delta` to each key of keys in one commit (creating the tree if `create`).
void Apply(Store* store, const std::string& tree, const std::vector<int64_t>& keys, int64_t delta,
           Model* model, bool create = false) {
  WriteBatch b = store->NewBatch();
  TreeHandle<int64_t> h = create ? b.CreateTree<int64_t>(tree) : store->Tree<int64_t>(tree).value();
  for (int64_t k : keys) {
    b.Add(h, k, delta);
    if (((*model)[k] += delta) == 0) model->erase(k);
  }
  ASSERT_TRUE(store->Commit(b).ok());
}

std::vector<int64_t> Range(int64_t from, int64_t to, int64_t step = 1) {
  std::vector<int64_t> out;
  for (int64_t k = from; k < to; k += step) out.push_back(k);
  return out;
}

Model Read(const Snapshot& s, const std::string& tree) {
  Model m;
  auto r = s.Tree<int64_t>(tree);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return m;
  auto c = r->SeekToFirst();
  for (; c.valid(); c.Next()) m[c.key()] = c.weight();
  EXPECT_TRUE(c.status().ok());
  return m;
}

uint64_t FsckObjects(const std::string& dir) {
  auto report = recovery::Fsck(dir, recovery::FsckOptions());
  EXPECT_TRUE(report.ok());
  if (!report.ok()) return 0;
  EXPECT_EQ(report->errors(), 0u);
  EXPECT_EQ(report->warnings(), 0u);
  for (const auto& f : report->findings) ADD_FAILURE() << recovery::FormatFinding(f);
  return report->objects_checked;
}

TEST(RetainedCheckpoints, PointInTimeReadsSurviveCommitsCheckpointsAndReopen) {
  testutil::TempDir dir;
  Model m1, m2, now;
  {
    auto store = Store::Open(dir.path(), TestOptions()).value();
    Apply(store.get(), "t", Range(0, 400), 1, &now, /*create=*/true);
    Apply(store.get(), "u", Range(0, 50), 3, &now, /*create=*/true);
    m1 = now;
    Store::CheckpointInfo info;
    ASSERT_TRUE(store->Checkpoint("first", &info).ok());
    EXPECT_EQ(info.name, "first");
    EXPECT_EQ(info.tree_count, 2u);
    EXPECT_EQ(info.sequence, store->GetSnapshot().sequence());
    Model t_now;
    for (auto [k, w] : now) t_now[k] = w;
    Model t1;  // tree t alone
    {
      Model m;
      for (int64_t k : Range(0, 400)) m[k] = 1;
      t1 = m;
    }
    Model t2 = t1;
    Apply(store.get(), "t", Range(0, 400, 2), 5, &t2);  // update every other key
    Apply(store.get(), "t", Range(100, 200), -1, &t2);  // delete some (weight 1 -> 0)
    ASSERT_TRUE(store->Checkpoint().ok());              // plain checkpoint retires objects
    ASSERT_TRUE(store->Checkpoint("second").ok());
    Model t3 = t2;
    Apply(store.get(), "t", Range(1000, 1300), 1, &t3);
    {  // drop u: the checkpoints still see it
      WriteBatch b = store->NewBatch();
      b.DropTree(store->Tree<int64_t>("u").value());
      ASSERT_TRUE(store->Commit(b).ok());
    }
    ASSERT_TRUE(store->Checkpoint().ok());
    for (int round = 0; round < 2; ++round) {
      auto s1 = store->GetCheckpointSnapshot("first").value();
      auto s2 = store->GetCheckpointSnapshot("second").value();
      EXPECT_EQ(Read(s1, "t"), t1);
      EXPECT_EQ(Read(s2, "t"), t2);
      EXPECT_EQ(Read(store->GetSnapshot(), "t"), t3);
      EXPECT_EQ(Read(s1, "u").size(), 50u);
      EXPECT_EQ(Read(s2, "u").size(), 50u);
      EXPECT_TRUE(store->GetSnapshot().Tree<int64_t>("u").status().IsNotFound());
      EXPECT_EQ(s1.ListTrees()->size(), 2u);
      EXPECT_EQ(s1.sequence(), info.sequence);
      auto p = s2.Tree<int64_t>("t")->percentile_cont(0.5);
      ASSERT_TRUE(p.ok() && p->has_value());
      if (round == 0) ASSERT_TRUE(store->Checkpoint().ok());  // nothing new: reads again
    }
    const auto list = store->ListCheckpoints();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].name, "first");
    EXPECT_EQ(list[1].name, "second");
    EXPECT_LT(list[0].sequence, list[1].sequence);
    ASSERT_TRUE(store->Close().ok());
    FsckObjects(dir.path());
    // Reopen: the retained states are still there, read-only too.
    auto again = Store::Open(dir.path(), TestOptions()).value();
    EXPECT_EQ(Read(again->GetCheckpointSnapshot("first").value(), "t"), t1);
    EXPECT_EQ(Read(again->GetCheckpointSnapshot("second").value(), "t"), t2);
    EXPECT_EQ(Read(again->GetSnapshot(), "t"), t3);
    Model t4 = t3;
    Apply(again.get(), "t", Range(0, 1300, 3), 2, &t4);  // more churn after reopen
    ASSERT_TRUE(again->Checkpoint().ok());
    EXPECT_EQ(Read(again->GetCheckpointSnapshot("first").value(), "t"), t1);
    ASSERT_TRUE(again->Close().ok());
    Options ro = TestOptions();
    ro.read_only = true;
    auto reader = Store::Open(dir.path(), ro).value();
    EXPECT_EQ(reader->ListCheckpoints().size(), 2u);
    EXPECT_EQ(Read(reader->GetCheckpointSnapshot("second").value(), "t"), t2);
    EXPECT_EQ(Read(reader->GetSnapshot(), "t"), t4);
    EXPECT_TRUE(reader->Checkpoint("third").IsInvalidArgument());
    EXPECT_TRUE(reader->DeleteCheckpoint("first").IsInvalidArgument());
  }
  FsckObjects(dir.path());
}

TEST(RetainedCheckpoints, NamesAreCheckedAndUnique) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), TestOptions()).value();
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "-x", "a/b", "a b", std::string(65, 'a'), "é"}) {
    EXPECT_TRUE(store->Checkpoint(bad).IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(store->Checkpoint(std::string(64, 'a')).ok());
  EXPECT_TRUE(store->Checkpoint("v1.0_rc-2").ok());
  EXPECT_TRUE(store->Checkpoint("v1.0_rc-2").IsInvalidArgument());  // already retained
  EXPECT_TRUE(store->DeleteCheckpoint("nope").IsNotFound());
  EXPECT_TRUE(store->GetCheckpointSnapshot("nope").status().IsNotFound());
  // An empty store can be retained: its snapshot has no tree.
  auto s = store->GetCheckpointSnapshot("v1.0_rc-2").value();
  EXPECT_TRUE(s.ListTrees()->empty());
  EXPECT_TRUE(s.Tree<int64_t>("t").status().IsNotFound());
}

TEST(RetainedCheckpoints, DeleteAndKeepLastReclaimSpace) {
  testutil::TempDir dir;
  Model now;
  auto store = Store::Open(dir.path(), TestOptions()).value();
  Apply(store.get(), "t", Range(0, 800), 1, &now, /*create=*/true);
  ASSERT_TRUE(store->Checkpoint().ok());
  ASSERT_TRUE(store->Close().ok());
  const uint64_t base_objects = FsckObjects(dir.path());
  store = Store::Open(dir.path(), TestOptions()).value();
  std::vector<Model> states;
  for (int i = 0; i < 4; ++i) {
    Apply(store.get(), "t", Range(0, 800), 1, &now);  // rewrites every leaf
    states.push_back(now);
    ASSERT_TRUE(store->Checkpoint("c" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(store->Close().ok());
  const uint64_t with_four = FsckObjects(dir.path());
  EXPECT_GT(with_four, base_objects * 3);  // every retained state keeps its own leaves
  store = Store::Open(dir.path(), TestOptions()).value();
  std::vector<std::string> deleted;
  ASSERT_TRUE(store->KeepLastCheckpoints(1, {"c0"}, &deleted).ok());
  EXPECT_EQ(deleted, (std::vector<std::string>{"c1", "c2"}));
  ASSERT_EQ(store->ListCheckpoints().size(), 2u);
  EXPECT_EQ(Read(store->GetCheckpointSnapshot("c0").value(), "t"), states[0]);
  EXPECT_EQ(Read(store->GetCheckpointSnapshot("c3").value(), "t"), states[3]);
  ASSERT_TRUE(store->Close().ok());
  const uint64_t with_two = FsckObjects(dir.path());
  EXPECT_LT(with_two, with_four);
  store = Store::Open(dir.path(), TestOptions()).value();
  ASSERT_TRUE(store->DeleteCheckpoint("c0").ok());
  ASSERT_TRUE(store->KeepLastCheckpoints(0).ok());
  EXPECT_TRUE(store->ListCheckpoints().empty());
  EXPECT_EQ(Read(store->GetSnapshot(), "t"), now);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(FsckObjects(dir.path()), base_objects);  // back to the live state's objects
  // The freed slots are reused: more churn does not grow the data files past the first size.
  store = Store::Open(dir.path(), TestOptions()).value();
  Apply(store.get(), "t", Range(0, 800), 1, &now);
  ASSERT_TRUE(store->Checkpoint().ok());
  EXPECT_EQ(Read(store->GetSnapshot(), "t"), now);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(FsckObjects(dir.path()), base_objects);
}

TEST(RetainedCheckpoints, AnOpenViewKeepsADeletedCheckpointReadable) {
  testutil::TempDir dir;
  Model now;
  auto store = Store::Open(dir.path(), TestOptions()).value();
  Apply(store.get(), "t", Range(0, 500), 1, &now, /*create=*/true);
  const Model kept = now;
  ASSERT_TRUE(store->Checkpoint("old").ok());
  Snapshot view = store->GetCheckpointSnapshot("old").value();
  ASSERT_TRUE(store->DeleteCheckpoint("old").ok());
  EXPECT_TRUE(store->ListCheckpoints().empty());
  for (int i = 0; i < 3; ++i) {  // churn + checkpoints that would reuse its slots
    Apply(store.get(), "t", Range(0, 500), 1, &now);
    ASSERT_TRUE(store->Checkpoint().ok());
  }
  EXPECT_EQ(Read(view, "t"), kept);
  view = Snapshot();  // released: the next checkpoint reclaims its objects
  Apply(store.get(), "t", Range(0, 10), 1, &now);
  ASSERT_TRUE(store->Checkpoint().ok());
  EXPECT_EQ(Read(store->GetSnapshot(), "t"), now);
  ASSERT_TRUE(store->Close().ok());
  FsckObjects(dir.path());
}

TEST(RetainedCheckpoints, BackupIsAnIndependentCompleteStore) {
  testutil::TempDir dir;
  Model now;
  const std::string db = dir.path() + "/db", bk1 = dir.path() + "/bk1", bk2 = dir.path() + "/bk2";
  auto store = Store::Open(db,
                           [] {
                             Options o = TestOptions();
                             o.create_if_missing = true;
                             return o;
                           }())
                   .value();
  Apply(store.get(), "t", Range(0, 300), 2, &now, /*create=*/true);
  {
    WriteBatch b = store->NewBatch();
    auto d = b.CreateTree<double>("d");
    b.Add(d, 1.5, 1);
    b.Add(d, -2.25, 4);
    ASSERT_TRUE(store->Commit(b).ok());
  }
  ASSERT_TRUE(store->Checkpoint("snap").ok());
  const Model at_snap = now;
  Apply(store.get(), "t", Range(0, 300, 7), -2, &now);
  // Online, while the store runs: the newest commit, and the retained checkpoint.
  ASSERT_TRUE(store->Backup(store->GetSnapshot(), bk1).ok());
  ASSERT_TRUE(store->Backup(store->GetCheckpointSnapshot("snap").value(), bk2).ok());
  EXPECT_TRUE(store->Backup(store->GetSnapshot(), bk1).IsInvalidArgument());  // exists
  EXPECT_TRUE(store->Backup(Snapshot(), dir.path() + "/x").IsInvalidArgument());
  Apply(store.get(), "t", Range(0, 5), 1, &now);  // the source goes on
  ASSERT_TRUE(store->Close().ok());
  auto b1 = Store::Open(bk1, TestOptions()).value();
  EXPECT_EQ(Read(b1->GetSnapshot(), "t"), [&] {
    Model m = at_snap;
    for (int64_t k : Range(0, 300, 7)) m.erase(k);
    return m;
  }());
  EXPECT_TRUE(b1->ListCheckpoints().empty());  // retained checkpoints are not copied
  auto b2 = Store::Open(bk2, TestOptions()).value();
  EXPECT_EQ(Read(b2->GetSnapshot(), "t"), at_snap);
  auto d = b2->GetSnapshot().Tree<double>("d").value();
  EXPECT_EQ(d.count(), 5u);
  EXPECT_EQ(d.select(0).value().value(), -2.25);
  ASSERT_TRUE(b1->Close().ok());
  ASSERT_TRUE(b2->Close().ok());
  FsckObjects(bk1);
  FsckObjects(bk2);
  // A leftover partial directory (a backup that failed or was killed) is emptied by the next
  // backup to that target — unless another backup holds it (Busy) or it holds a file that is
  // not a store's (refused, the file untouched). Before, it blocked every later backup until it
  // was removed by hand (found by an adversarial run).
  testutil::TempDir other;
  auto src = Store::Open(bk2, TestOptions()).value();
  const std::string partial = other.path() + "/b.partial";
  {
    Options o = TestOptions();
    o.create_if_missing = true;
    auto killed = Store::Open(partial, o).value();  // a store half written, still open
    std::ofstream(partial + "/BACKUP-PARTIAL");     // as Backup marks its copy
    WriteBatch batch = killed->NewBatch();
    batch.Add(batch.CreateTree<int64_t>("half"), 1, 1);
    ASSERT_TRUE(killed->Commit(batch).ok());
    EXPECT_TRUE(src->Backup(src->GetSnapshot(), other.path() + "/b").IsBusy());
    ASSERT_TRUE(killed->Close().ok());
  }
  std::ofstream(partial + "/notes.txt") << "mine";
  EXPECT_TRUE(src->Backup(src->GetSnapshot(), other.path() + "/b").IsInvalidArgument());
  EXPECT_TRUE(std::filesystem::exists(partial + "/notes.txt"));
  ASSERT_TRUE(std::filesystem::remove(partial + "/notes.txt"));
  ASSERT_TRUE(src->Backup(src->GetSnapshot(), other.path() + "/b").ok());
  EXPECT_FALSE(std::filesystem::exists(partial));
  auto b = Store::Open(other.path() + "/b", TestOptions()).value();
  EXPECT_EQ(Read(b->GetSnapshot(), "t"), Read(src->GetSnapshot(), "t"));
  EXPECT_TRUE(b->GetSnapshot().Tree<int64_t>("half").status().IsNotFound());
  EXPECT_FALSE(std::filesystem::exists(other.path() + "/b/BACKUP-PARTIAL"));
  ASSERT_TRUE(b->Close().ok());
  // A backup killed after it created its copy and before it marked it leaves an unmarked store
  // that was never written: it holds nothing, and the next backup empties it (it refused, and
  // every later backup to the target failed until it was removed by hand; adversarial round
  // 17). One that was written to, unmarked, is still refused, its files untouched.
  const std::string partial_c = other.path() + "/c.partial";
  {
    Options o = TestOptions();
    o.create_if_missing = true;
    ASSERT_TRUE(Store::Open(partial_c, o).value()->Close().ok());  // created, never written
  }
  ASSERT_TRUE(src->Backup(src->GetSnapshot(), other.path() + "/c").ok());
  EXPECT_FALSE(std::filesystem::exists(partial_c));
  auto c = Store::Open(other.path() + "/c", TestOptions()).value();
  EXPECT_EQ(Read(c->GetSnapshot(), "t"), Read(src->GetSnapshot(), "t"));
  ASSERT_TRUE(c->Close().ok());
  const std::string partial_d = other.path() + "/d.partial";
  {
    Options o = TestOptions();
    o.create_if_missing = true;
    o.checkpoint_on_close = false;
    auto written = Store::Open(partial_d, o).value();
    WriteBatch batch = written->NewBatch();
    batch.Add(batch.CreateTree<int64_t>("kept"), 1, 1);
    ASSERT_TRUE(written->Commit(batch).ok());
    ASSERT_TRUE(written->Close().ok());
  }
  EXPECT_TRUE(src->Backup(src->GetSnapshot(), other.path() + "/d").IsInvalidArgument());
  auto kept = Store::Open(partial_d, TestOptions()).value();
  EXPECT_EQ(kept->GetSnapshot().Tree<int64_t>("kept").value().weight(1).value(), 1);
  ASSERT_TRUE(kept->Close().ok());
  ASSERT_TRUE(src->Close().ok());
}

// A store in `dir` through `env` holding one tree "t" with weight 2 at key 5.
std::unique_ptr<Store> SourceStore(const std::string& dir, Env* env) {
  Options o = TestOptions();
  o.env = env;
  auto src = Store::Open(dir, o).value();
  WriteBatch batch = src->NewBatch();
  batch.Add(batch.CreateTree<int64_t>("t"), 5, 2);
  EXPECT_TRUE(src->Commit(batch).ok());
  return src;
}

// An Env that, when a backup deletes its copy's marker and when it renames the copy into place,
// records whether another holder could take the copy's directory lock at that moment.
class LockProbeEnv final : public testutil::ForwardingEnv {
 public:
  std::vector<bool> lock_free_at;  // one per probe: true if the lock could be taken
  Status DeleteFile(const std::string& p) override {
    const std::string marker = "/BACKUP-PARTIAL";
    if (p.ends_with(marker)) Probe(p.substr(0, p.size() - marker.size()));
    return ForwardingEnv::DeleteFile(p);
  }
  Status RenameFile(const std::string& a, const std::string& b) override {
    if (a.ends_with(".partial")) Probe(a);
    return ForwardingEnv::RenameFile(a, b);
  }

 private:
  void Probe(const std::string& dir) {
    auto lock = target()->LockDir(dir, LockMode::kExclusive);
    lock_free_at.push_back(lock.ok());
  }
};

// A finished copy stays locked from its close through its rename: another backup to the same
// target cannot take it for a stale partial copy and empty it in between (found by an
// adversarial run: it did, and the first backup renamed an empty directory into place and
// returned OK).
TEST(RetainedCheckpoints, BackupHoldsItsCopyLockedUntilTheRename) {
  testutil::TempDir tmp;
  LockProbeEnv env;
  auto src = SourceStore(tmp.path() + "/src", &env);
  ASSERT_TRUE(src->Backup(src->GetSnapshot(), tmp.path() + "/bk").ok());
  EXPECT_EQ(env.lock_free_at, (std::vector<bool>{false, false}));
  auto b = Store::Open(tmp.path() + "/bk", TestOptions()).value();
  EXPECT_EQ(b->GetSnapshot().Tree<int64_t>("t").value().weight(5).value(), 2);
  ASSERT_TRUE(b->Close().ok());
  ASSERT_TRUE(src->Close().ok());
}

// An Env whose second exclusive lock of a "*.partial" directory (a backup re-taking its closed
// copy's lock) first runs `hook`, and that fails every DeleteFile inside that directory after
// the first `deletes_allowed` ones while the hook runs (a second backup killed half way through
// emptying the copy).
class RacingBackupEnv final : public testutil::ForwardingEnv {
 public:
  std::function<void()> hook;
  int deletes_allowed = 2;
  Status DeleteFile(const std::string& p) override {
    if (in_hook_ && p.find(".partial/") != std::string::npos && deletes_allowed-- <= 0) {
      return Status::IOError("injected: the second backup was killed");
    }
    return ForwardingEnv::DeleteFile(p);
  }
  Result<std::unique_ptr<FileLock>> LockDir(const std::string& d, LockMode m) override {
    if (d.ends_with(".partial") && m == LockMode::kExclusive && ++partial_locks_ == 2 && hook) {
      in_hook_ = true;
      hook();
      in_hook_ = false;
    }
    return ForwardingEnv::LockDir(d, m);
  }

 private:
  int partial_locks_ = 0;
  bool in_hook_ = false;
};

// A second backup to the same target that takes the first one's closed copy for a stale one
// and is killed half way through emptying it: the first must not rename what is left into
// place (found by an adversarial run: with the marker deleted last, the half-emptied copy was
// renamed and the backup returned OK; now the cleanup deletes the marker first and the first
// backup, finding it gone under its lock, fails).
TEST(RetainedCheckpoints, ABackupNeverRenamesACopyAnotherBackupBeganEmptying) {
  testutil::TempDir tmp;
  RacingBackupEnv env;
  auto src = SourceStore(tmp.path() + "/src", &env);
  const std::string to = tmp.path() + "/bk";
  Status second;
  env.hook = [&] { second = src->Backup(src->GetSnapshot(), to); };
  const Status first = src->Backup(src->GetSnapshot(), to);
  EXPECT_FALSE(second.ok()) << "the injected kill did not happen";
  EXPECT_FALSE(first.ok()) << "renamed a copy that another backup began emptying";
  if (std::filesystem::exists(to)) {
    // Whatever is there must be a whole backup.
    auto b = Store::Open(to, TestOptions());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ((*b)->GetSnapshot().Tree<int64_t>("t").value().weight(5).value(), 2);
    ASSERT_TRUE((*b)->Close().ok());
  }
  ASSERT_TRUE(src->Close().ok());
}

// Only a directory a backup made is ever emptied: a closed store that happens to be named
// "<to>.partial", a link of that name (to a store, or dangling) and a plain file are refused
// with InvalidArgument and left as they were (found by an adversarial run: the store, or the
// link's target, was emptied and overwritten by the backup, which returned OK).
TEST(RetainedCheckpoints, BackupNeverEmptiesAPartialNameThatNoBackupMade) {
  testutil::TempDir tmp;
  const std::string src_dir = tmp.path() + "/src";
  const std::string victim = tmp.path() + "/victim";
  for (const std::string& dir : {src_dir, victim}) {
    auto s = Store::Open(dir, TestOptions()).value();
    WriteBatch batch = s->NewBatch();
    batch.Add(batch.CreateTree<int64_t>(dir == victim ? "precious" : "t"), 7, 3);
    ASSERT_TRUE(s->Commit(batch).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto src = Store::Open(src_dir, TestOptions()).value();
  const auto victim_files = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(victim)) {
      names.push_back(e.path().filename().string() + ":" + std::to_string(e.file_size()));
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  const std::vector<std::string> before = victim_files();
  // A link named "<to>.partial" to a closed store.
  std::filesystem::create_directory_symlink(victim, tmp.path() + "/a.partial");
  Status st = src->Backup(src->GetSnapshot(), tmp.path() + "/a");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/a"));
  // A dangling link.
  std::filesystem::create_directory_symlink(tmp.path() + "/nowhere", tmp.path() + "/c.partial");
  st = src->Backup(src->GetSnapshot(), tmp.path() + "/c");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/nowhere"));
  // A plain file.
  std::ofstream(tmp.path() + "/d.partial") << "mine";
  st = src->Backup(src->GetSnapshot(), tmp.path() + "/d");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  // The store itself under that name.
  std::filesystem::rename(victim, tmp.path() + "/e.partial");
  st = src->Backup(src->GetSnapshot(), tmp.path() + "/e");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  std::filesystem::rename(tmp.path() + "/e.partial", victim);
  EXPECT_EQ(victim_files(), before);
  auto v = Store::Open(victim, TestOptions()).value();
  EXPECT_EQ(v->GetSnapshot().Tree<int64_t>("precious").value().weight(7).value(), 3);
  ASSERT_TRUE(v->Close().ok());
  ASSERT_TRUE(src->Close().ok());
}

}  // namespace
}  // namespace cowtree
