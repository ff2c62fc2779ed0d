// Tests of LogWriter (persistence/log_writer.h) under concurrency and failure: group commit
// shares fdatasyncs between threads, and a failed fdatasync or write poisons the writer and is
// never retried. Uses a tiny fault-injecting Env defined here (the full one lives in testutil/).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "testutil/forwarding_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

// ---- A minimal fault-injecting Env: forwards to Env::Default(), can fail or slow down
// fdatasync and writes of every file it opened. (The full one lives in testutil/.) ----
struct Faults {
  std::atomic<bool> fail_sync{false};
  std::atomic<bool> fail_write_nospace{false};
  std::atomic<int> sync_delay_us{0};
  std::atomic<int> syncs{0};  // fdatasyncs that reached the wrapper (incl. WriteAtAndSync)
  // While set, an fdatasync blocks (counted in syncs_held) before failing or succeeding: a
  // group's sync "in flight" for as long as a test needs.
  std::atomic<bool> hold_sync{false};
  std::atomic<int> syncs_held{0};
};

class FaultyFile final : public File {
 public:
  FaultyFile(std::unique_ptr<File> base, Faults* faults)
      : base_(std::move(base)), faults_(faults) {}
  Status ReadAt(uint64_t offset, size_t length, char* out, size_t* read) override {
    return base_->ReadAt(offset, length, out, read);
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    if (faults_->fail_write_nospace) {
      return Status::FromErrno("pwrite " + path() + " at offset " + std::to_string(offset), ENOSPC);
    }
    return base_->WriteAt(offset, data);
  }
  Status Sync() override {
    faults_->syncs += 1;
    if (int us = faults_->sync_delay_us.load(); us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
    if (faults_->hold_sync) {
      faults_->syncs_held += 1;
      while (faults_->hold_sync) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (faults_->fail_sync) return Status::FromErrno("fdatasync " + path(), EIO);
    return base_->Sync();
  }
  Status WriteAtAndSync(uint64_t offset, std::string_view data) override {
    COWTREE_RETURN_IF_ERROR(WriteAt(offset, data));
    return Sync();
  }
  Result<uint64_t> Size() override { return base_->Size(); }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  Status Allocate(uint64_t offset, uint64_t length, bool keep_size) override {
    return base_->Allocate(offset, length, keep_size);
  }
  Status PunchHole(uint64_t offset, uint64_t length) override {
    return base_->PunchHole(offset, length);
  }
  Result<std::unique_ptr<MappedRegion>> Map(uint64_t offset, size_t length) override {
    return base_->Map(offset, length);
  }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<File> base_;
  Faults* faults_;
};

class FaultyEnv final : public testutil::ForwardingEnv {
 public:
  Faults faults;
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> f, ForwardingEnv::OpenFile(path, mode));
    return std::unique_ptr<File>(new FaultyFile(std::move(f), &faults));
  }
};

class LogWriterFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_log_writer_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Path(uint64_t number) const { return JoinPath(dir_, LogFileName(number)); }
  uint64_t FileSize(uint64_t number) { return *env_->FileSize(Path(number)); }

  std::unique_ptr<LogWriter> Create(LogWriterOptions options = testutil::ExampleLogOptions(),
                                    Env* env = nullptr) {
    auto w = LogWriter::Create(env ? env : env_, dir_, 1, options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  struct Replayed {
    std::vector<std::string> payloads;
    std::vector<LogRecord> records;  // payload views invalid after replay: use payloads
    ReplayStats stats;
    Status status;
  };
  Replayed Replay(LogPosition start = {1, 0},
                  WalRecoveryMode mode = WalRecoveryMode::kTolerateCorruptedTailRecords) {
    Replayed r;
    r.status = ReplayLog(
        env_, dir_, start, mode,
        [&r](const LogRecord& rec) {
          r.payloads.emplace_back(rec.payload);
          r.records.push_back(rec);
          return Status::OK();
        },
        &r.stats);
    return r;
  }

  Env* env_ = Env::Default();
  std::string dir_;
};

void GroupCommit(LogWriter* w, int threads, int commits_per_thread) {
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < commits_per_thread; ++i) {
        const std::string payload = std::to_string(t) + ":" + std::to_string(i);
        auto p = w->Append(LogRecordType::kCommit, static_cast<uint64_t>(t * 1000 + i), payload);
        if (!p.ok() || !w->Sync(*p).ok() || w->synced_end() < *p) failures += 1;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(LogWriterFaultsTest, GroupCommitSharesFdatasync) {
  FaultyEnv env;
  env.faults.sync_delay_us = 2000;  // a slow disk makes followers queue up behind the leader
  auto w = Create(testutil::ExampleLogOptions(), &env);
  constexpr int kThreads = 8, kCommits = 25;
  GroupCommit(w.get(), kThreads, kCommits);
  const LogWriterStats s = w->stats();
  EXPECT_EQ(s.sync_requests, static_cast<uint64_t>(kThreads * kCommits));
  EXPECT_LT(s.syncs, static_cast<uint64_t>(kThreads * kCommits) / 2) << "no group commit";
  ASSERT_TRUE(w->Close().ok());

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  std::set<std::string> seen(r.payloads.begin(), r.payloads.end());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kCommits));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kCommits; ++i) {
      EXPECT_TRUE(seen.count(std::to_string(t) + ":" + std::to_string(i))) << t << ":" << i;
    }
  }
}

TEST_F(LogWriterFaultsTest, GroupCommitOnRealEnvWithRotation) {
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.file_size_max_bytes = 4096;
  auto w = Create(options);
  GroupCommit(w.get(), 4, 50);
  EXPECT_LE(w->stats().syncs, 200u + w->stats().files_created);
  ASSERT_TRUE(w->Close().ok());
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.records.size(), 200u);
  EXPECT_GT(r.stats.last_file_number, 1u);
  // synced_offset_bytes under concurrency and rotation: never past the frame (replay checks
  // that), and at least what the thread knew: each thread's Sync(p) returned before its next
  // Append, so a later frame of that thread in the same file records >= p.
  std::map<uint64_t, LogPosition> last_end_of_thread;
  for (size_t i = 0; i < r.records.size(); ++i) {
    const LogRecord& rec = r.records[i];
    const uint64_t thread = rec.epoch / 1000;
    auto it = last_end_of_thread.find(thread);
    if (it != last_end_of_thread.end() && it->second.file_number == rec.start.file_number) {
      EXPECT_GE(rec.synced_offset_bytes, it->second.offset_bytes) << "record " << i;
    }
    EXPECT_LE(rec.synced_offset_bytes, rec.start.offset_bytes);
    last_end_of_thread[thread] = rec.end;
  }
}

TEST_F(LogWriterFaultsTest, FailedSyncPoisonsAndIsNeverRetried) {
  FaultyEnv env;
  auto w = Create(testutil::ExampleLogOptions(), &env);
  auto p = w->Append(LogRecordType::kCommit, 1, "lost");
  ASSERT_TRUE(p.ok());
  env.faults.fail_sync = true;
  const int syncs_before = env.faults.syncs;
  Status st = w->Sync(*p);
  ASSERT_TRUE(st.IsPoisoned()) << st.ToString();
  EXPECT_NE(st.message().find("fdatasync"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("Input/output error"), std::string::npos) << st.message();
  EXPECT_EQ(env.faults.syncs, syncs_before + 1);

  env.faults.fail_sync = false;  // even if the disk "recovers", nothing is retried
  auto again = w->Append(LogRecordType::kCommit, 2, "refused");
  EXPECT_TRUE(again.status().IsPoisoned());
  EXPECT_EQ(again.status().message(), st.message());
  EXPECT_EQ(w->Flush().message(), st.message());
  EXPECT_TRUE(w->Sync(*p).IsPoisoned());
  EXPECT_TRUE(w->Close().IsPoisoned());
  EXPECT_TRUE(w->poison().IsPoisoned());
  EXPECT_EQ(env.faults.syncs, syncs_before + 1) << "fdatasync was retried after EIO";
  EXPECT_LT(w->synced_end(), *p);
}

// A record that a successful write (Flush) or fdatasync (Sync) covered before the writer was
// poisoned is written or durable: Flush(upto) and Sync(upto) for it return OK, those for
// records after the failure return the poison (log_writer.h "Flush(upto)", "Sync(upto)").
TEST_F(LogWriterFaultsTest, ARecordCoveredBeforeThePoisonIsStillReportedDone) {
  FaultyEnv env;
  auto w = Create(testutil::ExampleLogOptions(), &env);
  auto synced = w->Append(LogRecordType::kCommit, 1, "synced");
  ASSERT_TRUE(synced.ok());
  ASSERT_TRUE(w->Sync(*synced).ok());
  auto written = w->Append(LogRecordType::kCommit, 2, "written");
  ASSERT_TRUE(written.ok());
  ASSERT_TRUE(w->Flush(*written).ok());
  auto lost = w->Append(LogRecordType::kCommit, 3, "lost");
  ASSERT_TRUE(lost.ok());
  env.faults.fail_sync = true;
  ASSERT_TRUE(w->Sync(*lost).IsPoisoned());
  env.faults.fail_sync = false;
  EXPECT_TRUE(w->Sync(*synced).ok());  // durable before the failure
  EXPECT_TRUE(w->Flush(*synced).ok());
  EXPECT_TRUE(w->Flush(*written).ok());         // handed to the OS before the failure
  EXPECT_TRUE(w->Sync(*written).IsPoisoned());  // its fdatasync is the one that failed
  EXPECT_TRUE(w->Flush(*lost).IsPoisoned());    // its write + fdatasync failed as one call
  EXPECT_TRUE(w->Sync(*lost).IsPoisoned());
  EXPECT_TRUE(w->Flush().IsPoisoned());  // no position: the poison
}

TEST_F(LogWriterFaultsTest, FailedWritePoisonsWithNoSpaceText) {
  FaultyEnv env;
  auto w = Create(testutil::ExampleLogOptions(), &env);
  ASSERT_TRUE(w->Append(LogRecordType::kCommit, 1, "x").ok());
  env.faults.fail_write_nospace = true;
  Status st = w->Flush();
  ASSERT_TRUE(st.IsPoisoned()) << st.ToString();
  EXPECT_NE(st.message().find("NoSpace"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
  env.faults.fail_write_nospace = false;
  EXPECT_TRUE(w->Append(LogRecordType::kCommit, 2, "y").status().IsPoisoned());
  EXPECT_TRUE(w->Sync(w->end()).IsPoisoned());
}

TEST_F(LogWriterFaultsTest, FailedSyncWakesWaitingFollowers) {
  FaultyEnv env;
  env.faults.sync_delay_us = 20000;
  auto w = Create(testutil::ExampleLogOptions(), &env);
  env.faults.fail_sync = true;
  const int syncs_before = env.faults.syncs;  // the header's fdatasync in Create
  std::vector<std::thread> pool;
  std::atomic<int> poisoned{0};
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      auto p = w->Append(LogRecordType::kCommit, 1, "z");
      if (!p.ok()) {
        poisoned += p.status().IsPoisoned() ? 1 : 0;
        return;
      }
      poisoned += w->Sync(*p).IsPoisoned() ? 1 : 0;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(poisoned.load(), 4);
  EXPECT_EQ(env.faults.syncs.load(), syncs_before + 1);
}

// Waits (up to ~10 s) until pred() holds.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 100000 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return pred();
}

// PostgreSQL's fsync-failure rule under pipelined group commit: group 1's fdatasync is in
// flight when group 2 appends and queues behind it; that fdatasync fails. Every commit of
// both groups fails, none is synced again, every later call fails, and only a writer reopened
// after replay acknowledges commits again (the commit acknowledged before the failure
// survives).
TEST_F(LogWriterFaultsTest, FailedSyncFailsItsGroupAndQueuedGroupsUntilReopen) {
  FaultyEnv env;
  const LogWriterOptions options = testutil::ExampleLogOptions();
  auto w = Create(options, &env);
  auto acked = w->Append(LogRecordType::kCommit, 1, "acked");
  ASSERT_TRUE(acked.ok());
  ASSERT_TRUE(w->Sync(*acked).ok());
  const int syncs_before = env.faults.syncs;

  std::atomic<int> ok{0}, poisoned{0}, other{0};
  auto commit = [&](uint64_t epoch) {
    auto p = w->Append(LogRecordType::kCommit, epoch, "group member " + std::to_string(epoch));
    const Status st = p.ok() ? w->Sync(*p) : p.status();
    (st.ok() ? ok : st.IsPoisoned() ? poisoned : other) += 1;
  };
  env.faults.hold_sync = true;
  std::vector<std::thread> pool;
  pool.emplace_back(commit, 2);  // group 1: its leader's fdatasync is held in flight
  ASSERT_TRUE(Eventually([&] { return env.faults.syncs_held.load() == 1; }));
  constexpr int kQueued = 5;  // group 2: appends while group 1 syncs, queues as followers
  for (int i = 0; i < kQueued; ++i) pool.emplace_back(commit, 3 + i);
  ASSERT_TRUE(Eventually([&] { return w->stats().sync_requests == 2u + kQueued; }));
  EXPECT_EQ(w->stats().records_appended, 2u + kQueued);
  EXPECT_EQ(ok.load(), 0) << "a commit returned before the fdatasync in flight did";
  env.faults.fail_sync = true;
  env.faults.hold_sync = false;
  for (auto& th : pool) th.join();
  EXPECT_EQ(ok.load(), 0) << "a commit was acknowledged after a failed fdatasync";
  EXPECT_EQ(poisoned.load(), 1 + kQueued);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(env.faults.syncs, syncs_before + 1) << "group 2 was synced after group 1 failed";

  env.faults.fail_sync = false;  // the disk "recovers": the writer still refuses
  EXPECT_TRUE(w->Append(LogRecordType::kCommit, 9, "later").status().IsPoisoned());
  EXPECT_TRUE(w->Sync(*acked).ok());  // synced before the failure: still durable
  EXPECT_TRUE(w->Sync(w->end()).IsPoisoned());
  EXPECT_LT(w->synced_end(), w->end());
  w.reset();

  // Reopen: replay keeps the acknowledged commit (the failed groups may or may not be there:
  // they were never acknowledged), and a new writer acknowledges commits again.
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_GE(r.payloads.size(), 1u);
  EXPECT_EQ(r.payloads[0], "acked");
  auto reopened = LogWriter::OpenForAppend(&env, dir_, r.stats.end, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto p = (*reopened)->Append(LogRecordType::kCommit, 10, "after reopen");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*reopened)->Sync(*p).ok());
  ASSERT_TRUE((*reopened)->Close().ok());
}

// Many committers, a slow disk, small files (rotations), and a thread that flushes: no
// follower is left waiting (each is woken as covered, or to lead), every record is durable
// and replayed. A lost wake-up shows as a hang (ctest timeout).
TEST_F(LogWriterFaultsTest, PipelinedGroupCommitLosesNoWakeUp) {
  FaultyEnv env;
  env.faults.sync_delay_us = 300;
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.file_size_max_bytes = 16384;
  auto w = Create(options, &env);
  std::atomic<bool> stop{false};
  std::thread flusher([&] {
    while (!stop) {
      EXPECT_TRUE(w->Flush().ok());
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  constexpr int kThreads = 32, kCommits = 40;
  GroupCommit(w.get(), kThreads, kCommits);
  stop = true;
  flusher.join();
  const LogWriterStats s = w->stats();
  EXPECT_LT(s.syncs, static_cast<uint64_t>(kThreads * kCommits) / 2) << "no group commit";
  EXPECT_GT(s.files_created, 1u);
  ASSERT_TRUE(w->Close().ok());
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.payloads.size(), static_cast<size_t>(kThreads * kCommits));
}

// The leader wakes the followers its sync covered after it released the writer's mutex (so
// that none wakes only to block on it). Followers whose threads end right after their Sync
// returns must not leave that deferred wake-up pointing at freed memory (each thread's waiter
// is kept alive by the wake-up itself): waves of short-lived committers on a slow disk, run
// under ThreadSanitizer in CI (.ci/run), which reports an access to freed memory as a race.
TEST_F(LogWriterFaultsTest, FollowersWhoseThreadsEndAtOnceAreWokenSafely) {
  FaultyEnv env;
  env.faults.sync_delay_us = 200;
  auto w = Create(testutil::ExampleLogOptions(), &env);
  constexpr int kWaves = 40, kThreads = 12;
  std::atomic<int> failures{0};
  for (int wave = 0; wave < kWaves; ++wave) {
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) {
      pool.emplace_back([&, wave, t] {
        const std::string payload = std::to_string(wave) + ":" + std::to_string(t);
        auto p = w->Append(LogRecordType::kCommit, static_cast<uint64_t>(wave * 100 + t), payload);
        if (!p.ok() || !w->Sync(*p).ok() || w->synced_end() < *p) failures += 1;
      });  // the thread ends here, its waiter with it (unless a wake-up still holds it)
    }
    for (auto& th : pool) th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  const LogWriterStats s = w->stats();
  EXPECT_LT(s.syncs, static_cast<uint64_t>(kWaves * kThreads)) << "no follower ever queued";
  ASSERT_TRUE(w->Close().ok());
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.payloads.size(), static_cast<size_t>(kWaves * kThreads));
}

}  // namespace
}  // namespace cowtree
