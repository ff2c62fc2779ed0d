// SegmentAllocator with fake Envs: O(1) allocate/free over thousands of segments (size-only
// in-memory files), fdatasync failures (returned, sticky, never retried), misuse asserts.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "persistence/file_names.h"
#include "persistence/segment_allocator.h"
#include "tests/segment_test_util.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using testutil::TempDir;

using segment_test::SmallOptions;

using segment_test::Payload;

using segment_test::OpenOrDie;

// A minimal in-memory Env (sizes only) so that the O(1) test can have thousands of segments
// without touching the disk.
class SizeOnlyFile final : public File {
 public:
  explicit SizeOnlyFile(std::string path) : path_(std::move(path)) {}
  Status ReadAt(uint64_t, size_t, char*, size_t* n) override {
    *n = 0;
    return Status::OK();
  }
  Status WriteAt(uint64_t, std::string_view) override { return Status::OK(); }
  Status Sync() override { return Status::OK(); }
  Result<uint64_t> Size() override { return size_; }
  Status Truncate(uint64_t s) override {
    size_ = s;
    return Status::OK();
  }
  Status Allocate(uint64_t off, uint64_t len, bool keep) override {
    if (!keep) size_ = std::max(size_, off + len);
    return Status::OK();
  }
  Status PunchHole(uint64_t, uint64_t) override { return Status::NotSupported("no"); }
  Result<std::unique_ptr<MappedRegion>> Map(uint64_t, size_t) override {
    return Status::NotSupported("no");
  }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  uint64_t size_ = 0;
};

class SizeOnlyEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode) override {
    return std::unique_ptr<File>(new SizeOnlyFile(path));
  }
  Status DeleteFile(const std::string&) override { return Status::OK(); }
  Status RenameFile(const std::string&, const std::string&) override { return Status::OK(); }
  Status SyncDir(const std::string&) override { return Status::OK(); }
  Status CreateDir(const std::string&) override { return Status::OK(); }
  Status ListDir(const std::string&, std::vector<std::string>*) override { return Status::OK(); }
  bool FileExists(const std::string&) override { return false; }
  Result<uint64_t> FileSize(const std::string&) override { return uint64_t{0}; }
  Result<std::unique_ptr<FileLock>> LockDir(const std::string&, LockMode) override {
    return Status::NotSupported("no");
  }
  uint64_t NowMicros() override { return 0; }
};

// Nanoseconds per (Free of a random used slot + Allocate) with `segments` full segments. The
// freed slot is the only free one, so Allocate must return it.
double NanosPerFreeAllocate(uint64_t segments) {
  SizeOnlyEnv env;
  auto a = OpenOrDie(&env, "/mem", SmallOptions());
  std::vector<ObjectAddress> addrs;
  // Every slot but the header's (slot 0 of the file): the segments are full.
  for (uint64_t i = 0; i + 1 < segments * 16; ++i) addrs.push_back(*a->Allocate(4096));
  std::mt19937_64 rng(7);
  constexpr int kOps = 20000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kOps; ++i) {
    const size_t k = rng() % addrs.size();
    a->Free(addrs[k]);
    ObjectAddress got = *a->Allocate(4096);
    if (got.offset_bytes != addrs[k].offset_bytes) ADD_FAILURE() << "did not reuse the free slot";
  }
  const auto ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  return ns.count() / kOps;
}

TEST(SegmentAllocatorTest, AllocateAndFreeAreConstantTime) {
  const double small = NanosPerFreeAllocate(1);
  const double large = NanosPerFreeAllocate(16384);  // 262144 slots
  // A scan over segments would be ~16384x slower; allow generous noise (and cache effects).
  EXPECT_LT(large, 10 * small + 2000) << "1 segment: " << small << " ns, 16384: " << large;
}

// Env wrapper whose data-file fdatasync fails on demand.
class FailingSyncEnv final : public Env {
 public:
  class Wrapped final : public File {
   public:
    Wrapped(std::unique_ptr<File> f, FailingSyncEnv* env) : f_(std::move(f)), env_(env) {}
    Status ReadAt(uint64_t o, size_t n, char* out, size_t* r) override {
      return f_->ReadAt(o, n, out, r);
    }
    Status WriteAt(uint64_t o, std::string_view d) override { return f_->WriteAt(o, d); }
    Status Sync() override {
      ++env_->syncs;
      if (env_->fail_sync) return Status::IOError("injected fdatasync failure", 5);
      return f_->Sync();
    }
    Status StartWriteback(uint64_t o, uint64_t l) override {
      ++env_->writeback_hints;
      env_->last_writeback_range = {o, l};
      if (env_->fail_writeback) return Status::IOError("injected sync_file_range failure", 5);
      return f_->StartWriteback(o, l);
    }
    Result<uint64_t> Size() override { return f_->Size(); }
    Status Truncate(uint64_t s) override { return f_->Truncate(s); }
    Status Allocate(uint64_t o, uint64_t l, bool k) override { return f_->Allocate(o, l, k); }
    Status PunchHole(uint64_t o, uint64_t l) override { return f_->PunchHole(o, l); }
    Result<std::unique_ptr<MappedRegion>> Map(uint64_t o, size_t l) override {
      return f_->Map(o, l);
    }
    const std::string& path() const override { return f_->path(); }

   private:
    std::unique_ptr<File> f_;
    FailingSyncEnv* env_;
  };
  Result<std::unique_ptr<File>> OpenFile(const std::string& p, OpenMode m) override {
    COWTREE_ASSIGN_OR_RETURN(auto f, Env::Default()->OpenFile(p, m));
    return std::unique_ptr<File>(new Wrapped(std::move(f), this));
  }
  Status DeleteFile(const std::string& p) override { return Env::Default()->DeleteFile(p); }
  Status RenameFile(const std::string& a, const std::string& b) override {
    return Env::Default()->RenameFile(a, b);
  }
  Status SyncDir(const std::string& d) override { return Env::Default()->SyncDir(d); }
  Status CreateDir(const std::string& d) override { return Env::Default()->CreateDir(d); }
  Status ListDir(const std::string& d, std::vector<std::string>* n) override {
    return Env::Default()->ListDir(d, n);
  }
  bool FileExists(const std::string& p) override { return Env::Default()->FileExists(p); }
  Result<uint64_t> FileSize(const std::string& p) override { return Env::Default()->FileSize(p); }
  Result<std::unique_ptr<FileLock>> LockDir(const std::string& d, LockMode m) override {
    return Env::Default()->LockDir(d, m);
  }
  uint64_t NowMicros() override { return Env::Default()->NowMicros(); }
  bool fail_sync = false;
  int syncs = 0;
  bool fail_writeback = false;
  int writeback_hints = 0;
  std::pair<uint64_t, uint64_t> last_writeback_range{1, 1};
};

TEST(SegmentAllocatorTest, SyncFailureIsReturnedAndNeverRetried) {
  TempDir dir;
  FailingSyncEnv env;
  auto a = OpenOrDie(&env, dir.path(), SmallOptions());
  ObjectAddress addr = *a->Allocate(4096);
  ASSERT_TRUE(a->Write(addr, Payload(1, 4096)).ok());
  ASSERT_TRUE(a->SyncDirty().ok());
  EXPECT_EQ(env.syncs, 1);
  ASSERT_TRUE(a->SyncDirty().ok());  // nothing dirty: no fdatasync
  EXPECT_EQ(env.syncs, 1);
  ASSERT_TRUE(a->Write(addr, Payload(2, 4096)).ok());
  env.fail_sync = true;
  Status st = a->SyncDirty();
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_NE(st.message().find("data-4k.dat"), std::string::npos);
  env.fail_sync = false;
  ASSERT_TRUE(a->Write(addr, Payload(3, 4096)).ok());
  EXPECT_TRUE(a->SyncDirty().IsIOError());  // sticky
  EXPECT_EQ(env.syncs, 2);                  // and never retried
}

TEST(SegmentAllocatorTest, EarlyWritebackHintsPerIntervalOfDirtiedPagesAndIgnoresFailures) {
  TempDir dir;
  FailingSyncEnv env;
  SegmentAllocatorOptions o = SmallOptions();
  o.writeback_interval_bytes = 4 * 4096;  // every 4 pages dirtied in one file
  auto a = OpenOrDie(&env, dir.path(), o);
  auto write = [&](uint32_t length, uint64_t seed) {
    ObjectAddress addr = *a->Allocate(length);
    EXPECT_TRUE(a->Write(addr, Payload(seed, length)).ok());
    return addr;
  };
  // A 1 KiB object dirties one page: the 4th write of the file passes the interval.
  for (int i = 0; i < 3; ++i) write(1024, i);
  EXPECT_EQ(env.writeback_hints, 0);
  write(1024, 3);
  EXPECT_EQ(env.writeback_hints, 1);
  EXPECT_EQ(env.last_writeback_range, std::make_pair(uint64_t{0}, uint64_t{0}));  // whole file
  // An 8 KiB object dirties two pages; counts are per file (the 8 KiB class has its own).
  write(8192, 4);
  write(8192, 5);
  EXPECT_EQ(env.writeback_hints, 2);
  // SyncDirty restarts the count: 3 pages before it and 3 after give no hint.
  for (int i = 0; i < 3; ++i) write(1024, 10 + i);
  ASSERT_TRUE(a->SyncDirty().ok());
  for (int i = 0; i < 3; ++i) write(1024, 20 + i);
  EXPECT_EQ(env.writeback_hints, 2);
  // A failed hint fails nothing: the write succeeds and reads back, the fdatasync still runs.
  env.fail_writeback = true;
  const ObjectAddress last = write(1024, 30);
  EXPECT_EQ(env.writeback_hints, 3);
  std::string buffer;
  Result<std::string_view> back = a->ReadInto(last, &buffer);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Payload(30, 1024));
  const int syncs = env.syncs;
  ASSERT_TRUE(a->SyncDirty().ok());
  EXPECT_EQ(env.syncs, syncs + 1);
  EXPECT_EQ(a->stats().writebacks_started, 3u);
  // Interval 0: never a hint.
  o.writeback_interval_bytes = 0;
  TempDir dir2;
  auto b = OpenOrDie(&env, dir2.path(), o);
  for (int i = 0; i < 64; ++i) {
    ObjectAddress addr = *b->Allocate(4096);
    ASSERT_TRUE(b->Write(addr, Payload(i, 4096)).ok());
  }
  EXPECT_EQ(env.writeback_hints, 3);
  EXPECT_EQ(b->stats().writebacks_started, 0u);
}

TEST(SegmentAllocatorDeathTest, MisuseAsserts) {
  TempDir dir;
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
  ObjectAddress addr = *a->Allocate(4096);
  a->Free(addr);
  EXPECT_DEATH(a->Free(addr), "assertion failed");                           // double free
  EXPECT_DEATH((void)a->Write(addr, Payload(1, 4096)), "assertion failed");  // not allocated
}

}  // namespace
}  // namespace cowtree
