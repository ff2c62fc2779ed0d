// Public API (include/cowtree/): Store, WriteBatch, TreeHandle validation, atomic replace (also
// replayed from the log and checked by fsck), reopen, read-only, WriteOptions::sync and
// Result::value() on an error.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <thread>
#include <vector>

#include "cowtree/cowtree.h"
#include "persistence/env.h"
#include "recovery/fsck.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {

// Forges handles to check Commit's validation (store.h: friend struct ApiTestPeer).
struct ApiTestPeer {
  template <TreeKey To, TreeKey From>
  static TreeHandle<To> Retype(const TreeHandle<From>& h) {
    return TreeHandle<To>(h.store_serial_, h.tree_id_, h.name_);
  }
};

namespace {

using testutil::TempDir;

Options TestOptions() {
  Options o;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& dir, Options o = TestOptions()) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

// The (key, weight) entries of an int64 tree, ascending.
std::vector<std::pair<int64_t, int64_t>> Entries(const TreeReader<int64_t>& r) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (auto c = r.SeekToFirst(); c.valid(); c.Next()) out.emplace_back(c.key(), c.weight());
  return out;
}

TEST(ApiStore, CreateWriteReadDropAndNotFound) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = store->NewBatch();
  auto a = b.CreateTree<int64_t>("a");
  auto d = b.CreateTree<double>("d");
  b.Add(a, 5, 2);
  b.Add(a, -7, 1);
  b.Add(d, 1.5, 3);
  ASSERT_TRUE(store->Commit(b).ok());
  EXPECT_TRUE(b.empty());              // a committed batch is cleared...
  ASSERT_TRUE(store->Commit(b).ok());  // ...so committing it again applies nothing twice
  b.Add(a, 5, 0);                      // weight 0: ignored
  EXPECT_TRUE(b.empty());
  Snapshot before_drop = store->GetSnapshot();
  auto ra = before_drop.Tree<int64_t>("a");
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->count(), 3u);
  EXPECT_EQ(*ra->weight(5), 2);
  Result<std::vector<TreeDescription>> listed = before_drop.ListTrees();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].key_type, KeyType::kDouble);

  WriteBatch drop = store->NewBatch();
  drop.DropTree(a);
  ASSERT_TRUE(store->Commit(drop).ok());
  EXPECT_TRUE(store->GetSnapshot().Tree<int64_t>("a").status().IsNotFound());
  EXPECT_TRUE(store->Tree<int64_t>("a").status().IsNotFound());
  // The older snapshot still sees it, through a new reader too.
  EXPECT_EQ(before_drop.Tree<int64_t>("a")->count(), 3u);
  EXPECT_EQ(ra->count(), 3u);
  EXPECT_TRUE(store->Close().ok());
}

// Options::log_zero_fill_bytes reaches the log writer: a bad value is InvalidArgument naming
// it; on (the default), a strict commit leaves the log file zero-filled past its last frame, to
// the next MiB plus one; off, the file ends at its last frame. Either way every commit is read
// back after a reopen.
TEST(ApiStore, LogZeroFillBytesIsValidatedAndReachesTheLog) {
  {
    TempDir dir;
    Options bad = TestOptions();
    bad.log_zero_fill_bytes = (1ull << 30) + 1;
    auto refused = Store::Open(dir.path(), bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(refused.status().IsInvalidArgument());
    EXPECT_NE(refused.status().message().find("log_zero_fill_bytes"), std::string::npos);
  }
  for (uint64_t fill : {uint64_t{1} << 20, uint64_t{0}}) {
    SCOPED_TRACE(fill);
    TempDir dir;
    Options o = TestOptions();
    o.durability = Durability::kStrict;
    o.log_zero_fill_bytes = fill;
    auto store = OpenOrDie(dir.path(), o);
    for (int64_t k = 0; k < 20; ++k) {
      WriteBatch b = store->NewBatch();
      auto t = k == 0 ? b.CreateTree<int64_t>("t") : *store->Tree<int64_t>("t");
      b.Add(t, k, 1);
      ASSERT_TRUE(store->Commit(b).ok());
    }
    uint64_t log_bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.path().filename().string().rfind("log-", 0) == 0) {
        log_bytes = std::max<uint64_t>(log_bytes, e.file_size());
      }
    }
    if (fill != 0) {
      EXPECT_EQ(log_bytes, 2u << 20);
    } else {
      EXPECT_GT(log_bytes, 0u);
      EXPECT_LT(log_bytes, 64u << 10);
    }
    ASSERT_TRUE(store->Close().ok());
    auto reopened = OpenOrDie(dir.path(), o);
    EXPECT_EQ(reopened->GetSnapshot().Tree<int64_t>("t")->count(), 20u);
    EXPECT_TRUE(reopened->Close().ok());
  }
}

// Options::cache_bytes reaches the runtime: a bad value is InvalidArgument naming it, and a
// store under the smallest budget answers every read (leaves evicted and read back).
TEST(ApiStore, CacheBytesIsValidatedAndABudgetedStoreAnswersEverything) {
  TempDir dir;
  Options bad = TestOptions();
  bad.cache_bytes = 1000;
  auto refused = Store::Open(dir.path(), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalidArgument());
  EXPECT_NE(refused.status().message().find("cache_bytes"), std::string::npos);
  Options o = TestOptions();
  o.cache_bytes = 1 << 20;
  auto store = OpenOrDie(dir.path(), o);
  constexpr int64_t kKeys = 50000;  // ~9 k leaves of 8: fixed bytes alone pass 1 MiB
  WriteBatch b = store->NewBatch();
  auto t = b.CreateTree<int64_t>("t");
  for (int64_t k = 0; k < kKeys; ++k) b.Add(t, (k * 7919) % kKeys, 1);
  ASSERT_TRUE(store->Commit(b).ok());
  ASSERT_TRUE(store->Checkpoint().ok());
  auto r = store->GetSnapshot().Tree<int64_t>("t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count(), static_cast<uint64_t>(kKeys));
  for (int64_t k = 0; k < kKeys; k += 37) EXPECT_EQ(*r->weight(k), 1) << k;
  int64_t next = 0;
  for (auto c = r->SeekToFirst(); c.valid(); c.Next()) ASSERT_EQ(c.key(), next++);
  EXPECT_EQ(next, kKeys);
  EXPECT_TRUE(store->Close().ok());
}

TEST(ApiStore, WrongKeyTypeOrDroppedHandleIsInvalidArgumentAndChangesNothing) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = store->NewBatch();
  auto ints = b.CreateTree<int64_t>("ints");
  auto dbls = b.CreateTree<double>("dbls");
  b.Add(ints, 1, 1);
  b.Add(dbls, 1.0, 1);
  ASSERT_TRUE(store->Commit(b).ok());
  const uint64_t seq = store->GetSnapshot().sequence();

  // Lookups with the wrong key type.
  EXPECT_TRUE(store->Tree<int64_t>("dbls").status().IsInvalidArgument());
  EXPECT_TRUE(store->GetSnapshot().Tree<double>("ints").status().IsInvalidArgument());

  // An int64 handle naming the double tree: the whole batch is refused, the valid op too.
  WriteBatch wrong = store->NewBatch();
  wrong.Add(ints, 2, 1);
  wrong.Add(ApiTestPeer::Retype<int64_t>(dbls), 7, 1);
  Status st = store->Commit(wrong);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("double"), std::string::npos) << st.message();

  // A default handle, a handle of another Store object.
  WriteBatch dflt = store->NewBatch();
  dflt.Add(TreeHandle<int64_t>(), 1, 1);
  EXPECT_TRUE(store->Commit(dflt).IsInvalidArgument());
  TempDir other_dir;
  auto other = OpenOrDie(other_dir.path());
  WriteBatch ob = other->NewBatch();
  auto other_ints = ob.CreateTree<int64_t>("ints");
  ASSERT_TRUE(other->Commit(ob).ok());
  WriteBatch foreign = store->NewBatch();
  foreign.Add(other_ints, 1, 1);
  EXPECT_TRUE(store->Commit(foreign).IsInvalidArgument());

  // A dropped handle (dropped, then the name re-created: the old handle stays dead).
  WriteBatch drop = store->NewBatch();
  drop.DropTree(ints);
  auto ints2 = drop.CreateTree<int64_t>("ints");
  ASSERT_TRUE(store->Commit(drop).ok());
  WriteBatch stale = store->NewBatch();
  stale.Add(ints2, 3, 1);
  stale.Add(ints, 4, 1);
  st = store->Commit(stale);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  WriteBatch stale_drop = store->NewBatch();
  stale_drop.DropTree(ints);
  EXPECT_TRUE(store->Commit(stale_drop).IsInvalidArgument());
  // A handle whose creation failed (name exists) is refused too.
  WriteBatch dup = store->NewBatch();
  auto never = dup.CreateTree<int64_t>("dbls");
  EXPECT_TRUE(store->Commit(dup).IsInvalidArgument());
  WriteBatch use_never = store->NewBatch();
  use_never.Add(never, 1, 1);
  EXPECT_TRUE(store->Commit(use_never).IsInvalidArgument());

  // Nothing changed since the replace: ints2 empty, dbls as committed.
  Snapshot s = store->GetSnapshot();
  EXPECT_EQ(s.sequence(), seq + 1);
  EXPECT_EQ(s.Tree<int64_t>("ints")->entry_count(), 0u);
  EXPECT_EQ(s.Tree<double>("dbls")->count(), 1u);
  EXPECT_TRUE(other->Close().ok());
  EXPECT_TRUE(store->Close().ok());
}

TEST(ApiStore, WeightOverflowIsInvalidArgument) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = store->NewBatch();
  auto t = b.CreateTree<int64_t>("t");
  b.Add(t, 1, INT64_MAX);
  ASSERT_TRUE(store->Commit(b).ok());
  WriteBatch over = store->NewBatch();
  over.Add(t, 1, 1);
  EXPECT_TRUE(store->Commit(over).IsInvalidArgument());
  EXPECT_EQ(*store->GetSnapshot().Tree<int64_t>("t")->weight(1), INT64_MAX);
}

// Moved-from objects are errors or still usable, never a crash (a moved-from WriteBatch or
// TreeReader crashed with SIGSEGV: found by an adversarial run). bugprone-use-after-move is
// what this test does on purpose.
TEST(ApiStore, MovedFromBatchesAndReadersAreSafe) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = store->NewBatch();
  auto t = b.CreateTree<int64_t>("t");
  b.Add(t, 1, 2);
  WriteBatch taken = std::move(b);
  EXPECT_TRUE(b.empty());               // NOLINT(bugprone-use-after-move)
  auto u = b.CreateTree<int64_t>("u");  // NOLINT(bugprone-use-after-move)
  b.Add(t, 5, 1);                       // NOLINT(bugprone-use-after-move)
  b.Add(u, 5, 1);                       // NOLINT(bugprone-use-after-move)
  b.DropTree(t);                        // NOLINT(bugprone-use-after-move)
  b.Clear();                            // NOLINT(bugprone-use-after-move)
  const Status st = store->Commit(b);   // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("moved from"), std::string::npos) << st.message();
  ASSERT_TRUE(store->Commit(taken).ok());
  auto reader = store->GetSnapshot().Tree<int64_t>("t");
  ASSERT_TRUE(reader.ok());
  TreeReader<int64_t> moved = std::move(*reader);
  EXPECT_EQ(reader->count(), 2u);  // NOLINT(bugprone-use-after-move): moving copies
  EXPECT_EQ(*reader->weight(1), 2);
  EXPECT_EQ(moved.count(), 2u);
  TreeReader<int64_t> assigned = moved;
  assigned = std::move(moved);
  EXPECT_EQ(moved.entry_count(), 1u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(*assigned.median(), 1.0);
  EXPECT_FALSE(store->GetSnapshot().Tree<int64_t>("u").ok());  // nothing of b was committed
}

// Found by an adversarial run: a Durability outside the enum opened, and a backup into the live
// store's own directory was written there (fsck then warned about an unknown file).
TEST(ApiStore, ABadDurabilityAndABackupInsideTheStoreAreRefused) {
  TempDir dir;
  Options bad;
  bad.durability = static_cast<Durability>(77);
  auto refused = Store::Open(dir.path() + "/db", bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalidArgument()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("durability"), std::string::npos);
  auto store = OpenOrDie(dir.path() + "/db");
  for (const std::string to : {dir.path() + "/db/sub", dir.path() + "/db/", dir.path() + "/db/a/b",
                               dir.path() + "/./db/x"}) {
    const Status st = store->Backup(store->GetSnapshot(), to);
    EXPECT_TRUE(st.IsInvalidArgument()) << to << ": " << st.ToString();
    EXPECT_NE(st.message().find("is inside the store's directory"), std::string::npos) << to;
  }
  // A sibling whose name starts like the store's is not inside it.
  EXPECT_TRUE(store->Backup(store->GetSnapshot(), dir.path() + "/db2").ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/db2"));
}

// Drop + create of one name in one batch: concurrent readers always find the name, and always
// complete (kEntries entries, all of the same generation).
TEST(ApiStore, AtomicReplaceSeenAtomicallyByConcurrentReaders) {
  constexpr int kEntries = 50;
  constexpr int kGenerations = 300;
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = store->NewBatch();
  auto h = b.CreateTree<int64_t>("live");
  for (int k = 0; k < kEntries; ++k) b.Add(h, k, 1);
  ASSERT_TRUE(store->Commit(b).ok());

  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        Snapshot s = store->GetSnapshot();
        auto t = s.Tree<int64_t>("live");
        if (!t.ok() || t->entry_count() != kEntries) {
          ++bad;
          continue;
        }
        const int64_t gen = *t->weight(0);
        int n = 0;
        for (auto c = t->SeekToFirst(); c.valid(); c.Next(), ++n) {
          if (c.key() != n || c.weight() != gen) ++bad;
        }
        if (n != kEntries || t->count() != static_cast<uint64_t>(kEntries * gen)) ++bad;
        ++reads;
      }
    });
  }
  while (reads.load() < 2) std::this_thread::yield();  // both readers running
  for (int gen = 2; gen <= kGenerations; ++gen) {
    if (gen % 16 == 0) std::this_thread::yield();
    WriteBatch r = store->NewBatch();
    r.DropTree(h);
    h = r.CreateTree<int64_t>("live");
    for (int k = 0; k < kEntries; ++k) r.Add(h, k, gen);
    ASSERT_TRUE(store->Commit(r).ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(*store->GetSnapshot().Tree<int64_t>("live")->weight(0), kGenerations);
}

// A replace record replayed from the log (no checkpoint at close) gives the same state, and
// fsck accepts the log.
TEST(ApiStore, AtomicReplaceReplaysFromTheLogAndPassesFsck) {
  TempDir dir;
  Options o = TestOptions();
  o.checkpoint_on_close = false;
  o.checkpoint_log_bytes = 0;
  {
    auto store = OpenOrDie(dir.path(), o);
    WriteBatch b = store->NewBatch();
    auto h = b.CreateTree<int64_t>("t");
    auto keep = b.CreateTree<double>("keep");
    b.Add(h, 1, 1);
    b.Add(keep, -0.5, 4);
    ASSERT_TRUE(store->Commit(b).ok());
    WriteBatch r = store->NewBatch();
    r.DropTree(h);
    auto h2 = r.CreateTree<int64_t>("t");
    r.Add(h2, 2, 5);
    r.Add(h2, 3, -1);
    ASSERT_TRUE(store->Commit(r).ok());
    // Creating the name again without dropping it: refused.
    WriteBatch dup = store->NewBatch();
    dup.CreateTree<int64_t>("t");
    EXPECT_TRUE(store->Commit(dup).IsInvalidArgument());
    ASSERT_TRUE(store->Close().ok());
  }
  auto report = recovery::Fsck(dir.path(), recovery::FsckOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors(), 0u);
  for (const auto& f : report->findings) ADD_FAILURE() << recovery::FormatFinding(f);
  EXPECT_GT(report->commits_past_checkpoint, 0u);
  for (int round = 0; round < 2; ++round) {  // replay, then from a checkpoint
    auto store = OpenOrDie(dir.path(), round == 0 ? o : TestOptions());
    Snapshot s = store->GetSnapshot();
    auto t = s.Tree<int64_t>("t");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(Entries(*t), (std::vector<std::pair<int64_t, int64_t>>{{2, 5}, {3, -1}}));
    EXPECT_EQ(s.Tree<double>("keep")->count(), 4u);
    EXPECT_EQ(s.ListTrees()->size(), 2u);
    ASSERT_TRUE(store->Close().ok());
  }
}

TEST(ApiStore, ReopenPersistsEverythingAndReadOnlyRefusesWrites) {
  TempDir dir;
  Options strict = TestOptions();
  strict.durability = Durability::kEventual;
  {
    auto store = OpenOrDie(dir.path(), strict);
    WriteBatch b = store->NewBatch();
    auto t = b.CreateTree<int64_t>("t");
    auto d = b.CreateTree<double>("d");
    for (int64_t k = -200; k < 200; ++k) b.Add(t, k * 3, k % 5 == 0 ? -1 : 2);
    b.Add(d, std::numeric_limits<double>::quiet_NaN(), 1);
    b.Add(d, -0.0, 2);
    b.Add(d, -std::numeric_limits<double>::infinity(), 1);
    ASSERT_TRUE(store->Commit(b, WriteOptions{.sync = true}).ok());
    ASSERT_TRUE(store->Checkpoint().ok());
    WriteBatch more = store->NewBatch();
    more.Add(t, 1000, 7);
    ASSERT_TRUE(store->Commit(more, WriteOptions{.sync = true}).ok());
    ASSERT_TRUE(store->Sync().ok());
    ASSERT_TRUE(store->Close().ok());
    EXPECT_TRUE(store->Commit(more).IsInvalidArgument());  // closed
  }
  Options ro = TestOptions();
  ro.read_only = true;
  auto store = OpenOrDie(dir.path(), ro);
  Snapshot s = store->GetSnapshot();
  auto t = s.Tree<int64_t>("t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->entry_count(), 401u);
  EXPECT_EQ(*t->weight(1000), 7);
  EXPECT_EQ(*t->weight(-600), -1);
  auto d = s.Tree<double>("d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->entry_count(), 3u);
  EXPECT_EQ(*d->weight(0.0), 2);
  EXPECT_TRUE(std::isnan(**d->select(0, Order::kDescending)));
  auto h = store->Tree<int64_t>("t");
  ASSERT_TRUE(h.ok());
  WriteBatch b = store->NewBatch();
  b.Add(*h, 1, 1);
  Status st = store->Commit(b);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(store->Checkpoint().IsInvalidArgument());
  EXPECT_EQ(*store->GetSnapshot().Tree<int64_t>("t")->weight(1), 0);
  // A second read-only open is allowed; a writer is not.
  auto ro2 = Store::Open(dir.path(), ro);
  EXPECT_TRUE(ro2.ok());
  auto writer = Store::Open(dir.path(), TestOptions());
  EXPECT_TRUE(writer.status().IsBusy()) << writer.status().ToString();
}

// A commit whose fdatasync fails (kStrict, or WriteOptions::sync in any mode) returns the error
// and is not visible, and the batch is left as it was (before, a synced commit of a kBalanced
// or kEventual store became visible and its batch was emptied before the fdatasync failed:
// found by an adversarial run).
TEST(ApiStore, ACommitWhoseSyncFailsIsNotVisibleAndKeepsItsBatch) {
  for (const Durability durability :
       {Durability::kStrict, Durability::kBalanced, Durability::kEventual}) {
    for (const bool sync : {false, true}) {
      if (durability != Durability::kStrict && !sync) continue;  // no fdatasync in the commit
      SCOPED_TRACE(std::string(DurabilityName(durability)) + (sync ? " sync" : ""));
      testutil::FaultInjectionEnv env;
      Options o = TestOptions();
      o.env = &env;
      o.background_thread = false;
      o.durability = durability;
      std::unique_ptr<Store> store = OpenOrDie("/db", o);
      WriteBatch create = store->NewBatch();
      const TreeHandle<int64_t> t = create.CreateTree<int64_t>("t");
      ASSERT_TRUE(store->Commit(create, WriteOptions{true}).ok());
      env.FailSyncWithEio(env.sync_count() + 1);
      WriteBatch b = store->NewBatch();
      b.Add(t, 42, 5);
      uint64_t sequence = 0;
      const Status st = store->Commit(b, WriteOptions{sync}, &sequence);
      EXPECT_FALSE(st.ok());
      EXPECT_FALSE(b.empty()) << "a failed commit leaves its batch as it was";
      EXPECT_EQ(store->GetSnapshot().Tree<int64_t>("t")->count(), 0u) << st.ToString();
      EXPECT_FALSE(store->Commit(b).ok()) << "the store refuses writes until reopened";
    }
  }
}

// The same with another thread committing without sync meanwhile: its commit must not make the
// synced commit visible before that commit's fdatasync returned (it did in ~0.3 % of runs: the
// concurrent commit advanced the visible epoch past the synced one, whose fdatasync then
// failed; found in review). The other thread's commits wait for the pending sync instead.
TEST(ApiStore, AFailedSyncCommitStaysInvisibleUnderConcurrentCommits) {
  int failed = 0;
  for (int iteration = 0; iteration < 1000; ++iteration) {
    testutil::FaultInjectionEnv env;
    Options o = TestOptions();
    o.env = &env;
    o.background_thread = false;
    o.durability = iteration % 2 == 0 ? Durability::kBalanced : Durability::kEventual;
    std::unique_ptr<Store> store = OpenOrDie("/db", o);
    WriteBatch create = store->NewBatch();
    const TreeHandle<int64_t> t = create.CreateTree<int64_t>("t");
    ASSERT_TRUE(store->Commit(create, WriteOptions{true}).ok());
    std::atomic<bool> stop{false};
    std::thread other([&] {
      for (int64_t k = 1000; !stop.load(); ++k) {
        WriteBatch b = store->NewBatch();
        b.Add(t, k, 1);
        if (!store->Commit(b).ok()) break;
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    env.FailSyncWithEio(env.sync_count() + 1);
    WriteBatch b = store->NewBatch();
    b.Add(t, 42, 5);
    const Status st = store->Commit(b, WriteOptions{true});
    stop = true;
    other.join();
    if (st.ok()) continue;  // the other thread's fdatasync took the failure
    ++failed;
    ASSERT_EQ(*store->GetSnapshot().Tree<int64_t>("t")->weight(42), 0)
        << "iteration " << iteration << ": a commit whose fdatasync failed is visible";
  }
  EXPECT_GT(failed, 500);
}

// A path with a NUL byte would be cut at it by the system calls: "db\0x" would open "db".
// Refused as InvalidArgument before anything is created (adversarial round 10: it answered
// Corruption "is a directory" and left an empty "db" behind).
TEST(ApiStore, APathWithANulByteIsInvalidAndCreatesNothing) {
  testutil::TempDir dir;
  const std::string cut = dir.path() + "/db";
  const std::string path = cut + std::string("\0x", 2);
  Options o = TestOptions();
  o.create_if_missing = true;
  const Status st = Store::Open(path, o).status();
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.ToString().find("NUL"), std::string::npos) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(cut));
  // The Env refuses such paths too (a spill directory goes straight to it).
  EXPECT_TRUE(Env::Default()->CreateDir(path).IsInvalidArgument());
  EXPECT_FALSE(std::filesystem::exists(cut));
  std::unique_ptr<Store> store = OpenOrDie(dir.path() + "/ok", o);
  BulkLoader::Options lo;
  lo.spill_dir = path;
  EXPECT_TRUE(BulkLoader::Create(*store, lo).status().IsInvalidArgument());
  EXPECT_FALSE(std::filesystem::exists(cut));
}

// store.h: a commit that returns an error "is not visible". Eight threads of one-key commits
// under random EIO on 1 % of the mutating operations (kStrict; kBalanced with and without
// WriteOptions::sync): once every thread has returned, no key whose commit failed is in the
// snapshot, and every key whose commit returned OK is. Before LogWriter::Sync and Flush
// answered OK for a record an earlier write or fdatasync had covered, a follower whose group
// was synced got Poisoned from a later group's failure while a later OK commit made its epoch
// visible (adversarial round 10: 21 of 40 seeds with a failed commit visible in kBalanced +
// sync, 6 of 40 in kStrict).
TEST(ApiStore, NoCommitThatReturnsAnErrorIsVisibleUnderConcurrentCommitsAndFaults) {
  int failed_total = 0;
  for (int mode = 0; mode < 3; ++mode) {
    for (uint64_t seed = 1; seed <= 15; ++seed) {
      testutil::FaultInjectionEnv env;
      Options o = TestOptions();
      o.env = &env;
      o.background_thread = false;
      o.durability = mode == 2 ? Durability::kStrict : Durability::kBalanced;
      const WriteOptions wo{mode == 1};
      std::unique_ptr<Store> store = OpenOrDie("/db", o);
      WriteBatch create = store->NewBatch();
      const TreeHandle<int64_t> t = create.CreateTree<int64_t>("t");
      ASSERT_TRUE(store->Commit(create, WriteOptions{true}).ok());
      env.FailRandomOps(100, seed, EIO, testutil::OpScope::kMutatingOp);
      constexpr int kThreads = 8;
      constexpr int kCommits = 200;
      std::vector<std::vector<char>> ok(kThreads, std::vector<char>(kCommits, 0));
      std::vector<std::thread> threads;
      for (int th = 0; th < kThreads; ++th) {
        threads.emplace_back([&, th] {
          for (int i = 0; i < kCommits; ++i) {
            WriteBatch b = store->NewBatch();
            b.Add(t, th * 1000 + i, 1);
            ok[th][i] = store->Commit(b, wo).ok() ? 1 : 0;
          }
        });
      }
      for (std::thread& th : threads) th.join();
      env.ClearFaults();
      auto r = store->GetSnapshot().Tree<int64_t>("t");
      ASSERT_TRUE(r.ok());
      for (int th = 0; th < kThreads; ++th) {
        for (int i = 0; i < kCommits; ++i) {
          const int64_t w = *r->weight(th * 1000 + i);
          failed_total += ok[th][i] == 0;
          ASSERT_EQ(w, ok[th][i]) << "mode " << mode << " seed " << seed << " key " << th * 1000 + i
                                  << ": "
                                  << (ok[th][i] ? "an OK commit is not visible"
                                                : "a failed commit is visible");
        }
      }
    }
  }
  EXPECT_GT(failed_total, 1000);  // the faults hit most runs early
}

// Trees not touched since open are listed from their catalog chunks: a chunk that cannot be
// read then makes the listing fail with the IOError, never return a partial list.
TEST(ApiStore, ListTreesReportsAnUnreadableCatalogChunk) {
  testutil::FaultInjectionEnv env;
  Options o = TestOptions();
  o.env = &env;
  o.create_if_missing = true;
  o.background_thread = false;
  constexpr int kTrees = 300;
  {
    std::unique_ptr<Store> store = OpenOrDie("/db", o);
    WriteBatch b = store->NewBatch();
    for (int i = 0; i < kTrees; ++i) b.Add(b.CreateTree<int64_t>("t" + std::to_string(i)), i, 1);
    ASSERT_TRUE(store->Commit(b).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  std::unique_ptr<Store> store = OpenOrDie("/db", o);
  const Snapshot snap = store->GetSnapshot();
  Result<std::vector<TreeDescription>> all = snap.ListTrees();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), static_cast<size_t>(kTrees));
  env.FailOp(env.op_count() + 1, testutil::FailMode::kPersistent, EIO);
  Result<std::vector<TreeDescription>> listed = snap.ListTrees();
  ASSERT_FALSE(listed.ok()) << "listed " << listed->size() << " of " << kTrees << " trees";
  EXPECT_TRUE(listed.status().IsIOError()) << listed.status().ToString();
  env.ClearFaults();
  listed = snap.ListTrees();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), static_cast<size_t>(kTrees));
}

// A snapshot that outlives its Store: what is in memory still reads, what is not is IOError —
// also after another Store opened the directory and reused the slots (found by an adversarial
// run: those reads met the new objects and answered Corruption).
TEST(ApiStore, ASnapshotReadAfterCloseIsAnIOErrorNotCorruption) {
  TempDir dir;
  Options o = TestOptions();
  o.cache_bytes = 1 << 20;  // leaves are evicted: most reads need the disk
  constexpr int64_t kKeys = 50000;
  std::optional<Snapshot> old;
  {
    auto store = OpenOrDie(dir.path(), o);
    WriteBatch b = store->NewBatch();
    auto t = b.CreateTree<int64_t>("t");
    for (int64_t k = 0; k < kKeys; ++k) b.Add(t, k, 1);
    ASSERT_TRUE(store->Commit(b).ok());
    ASSERT_TRUE(store->Checkpoint().ok());
    old.emplace(store->GetSnapshot());
    WriteBatch drop = store->NewBatch();
    drop.DropTree(t);
    ASSERT_TRUE(store->Commit(drop).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  const auto read_all = [&]() -> Status {
    auto r = old->Tree<int64_t>("t");
    if (!r.ok()) return r.status();
    for (int64_t k = 0; k < kKeys; k += 97) {
      auto w = r->weight(k);
      if (!w.ok()) return w.status();
      if (*w != 1) return Status::Corruption("wrong weight at " + std::to_string(k));
    }
    return Status::OK();
  };
  Status st = read_all();
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  // Another Store reuses the space of the dropped tree.
  {
    auto store = OpenOrDie(dir.path(), o);
    WriteBatch b = store->NewBatch();
    auto u = b.CreateTree<int64_t>("u");
    for (int64_t k = 0; k < kKeys; ++k) b.Add(u, k * 3, 2);
    ASSERT_TRUE(store->Commit(b).ok());
    ASSERT_TRUE(store->Checkpoint().ok());
    st = read_all();
    EXPECT_TRUE(st.IsIOError()) << st.ToString();
    ASSERT_TRUE(store->Close().ok());
  }
  old.reset();
}

TEST(ApiStore, OpenErrors) {
  TempDir dir;
  Options o = TestOptions();
  o.create_if_missing = false;
  EXPECT_TRUE(Store::Open(dir.path() + "/missing", o).status().IsNotFound());
  Options bad = TestOptions();
  bad.fanout = 1;
  EXPECT_TRUE(Store::Open(dir.path() + "/bad", bad).status().IsInvalidArgument());
}

TEST(ApiStoreDeathTest, ValueOfAnErrorPrintsTheStatus) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Snapshot s = store->GetSnapshot();
  EXPECT_DEATH((void)s.Tree<int64_t>("nope").value(),
               "Result::value\\(\\) called on an error: NotFound: no tree named 'nope'");
}

}  // namespace
}  // namespace cowtree
