// FaultInjectionEnv: an in-memory Env that knows what a power loss would keep, and injects the
// faults of DESIGN.md's fault model: lost unsynced writes and directory operations, reordered
// and torn writes, failing operations, fdatasync EIO that loses the dirty data, ENOSPC, bit rot.
// docs/fault_model.md explains the models and how to replay a failure.
//
// Contract
// - Files: each has current contents (what reads see) and durable contents (what survives a
//   crash). WriteAt/Truncate/Allocate/PunchHole change the current contents and are remembered
//   as unsynced operations; Sync() (fdatasync) makes them durable. WriteAtAndSync is WriteAt then
//   Sync (two operations). OpenFile never truncates; kReadOnly handles refuse writes (EBADF).
// - Names: creates (OpenFile with a create mode, CreateDir, LockFile of a missing file), renames
//   and deletes are durable only after SyncDir(parent); a directory itself only after SyncDir of
//   its parent. Until then a crash may undo them: a created and synced file whose directory
//   entry was never synced disappears; an unsynced rename is undone; an unsynced delete is undone
//   (the file comes back with its durable contents). FileExists/ListDir/FileSize show the
//   current state. Paths: see MemFileSystem ("/db/x" and "db/x" are different files).
// - Map() returns a live read-only view (MAP_SHARED semantics: later writes show through;
//   bytes past the end of the file read as zeros), so SegmentAllocatorOptions::read_via_mmap
//   can stay true.
// - SimulateCrash(model, seed) turns the current state into what the disk would hold after the
//   crash (crash_model.h), then everything continues from that state: Files, FileLocks from
//   before the crash are dead (File calls return IOError "file handle from before the crash";
//   locks are released), the crash point is disarmed and I/O runs again. Deterministic: same
//   operations, model and seed give the same state.
// - Operation numbers, fault rules and their one-line descriptions: fault_plan.h. Every
//   injected failure returns the Status the POSIX Env would (IOError with the errno text,
//   NoSpace for ENOSPC, NotFound for ENOENT on open/unlink/stat/opendir) and leaves the state
//   unchanged, except FailSyncWithEio, whose Sync also drops the file's unsynced operations
//   (current contents revert to the durable ones, as if the kernel had thrown the dirty pages
//   away): a later Sync returns OK but the data is gone, which is what a runtime that retries
//   fsync must be caught doing.
// - Space: stored bytes of a file = max(size, end of its KEEP_SIZE reservations); with
//   SetSpaceLimitBytes(L), an operation that would raise the total over L fails with ENOSPC
//   (WriteAt, Truncate that extends, Allocate) and does nothing; it succeeds again once files
//   are deleted/truncated or the limit is raised. SetNoSpace(true) refuses any growth.
// - The inspection and damage helpers (ReadDurable, FlipBit, ...) are for tests: they are not
//   operations (not counted, never failed, work even after the crash point).
// - NowMicros: the real monotonic clock, unless UseFakeClock() was called (then it returns the
//   fake time, which moves only with AdvanceFakeClockMicros).
// - Thread-safety: every method of the Env, its Files, MappedRegions and FileLocks is
//   thread-safe (one mutex). Files, regions and locks may outlive the Env.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "persistence/env.h"
#include "persistence/status.h"
#include "testutil/crash_model.h"
#include "testutil/fault_plan.h"

namespace cowtree::testutil {

class FaultInjectionEnv final : public Env {
 public:
  FaultInjectionEnv();
  ~FaultInjectionEnv() override;
  FaultInjectionEnv(const FaultInjectionEnv&) = delete;
  FaultInjectionEnv& operator=(const FaultInjectionEnv&) = delete;

  // ---- Env.
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  Status DeleteFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status ListDir(const std::string& dir, std::vector<std::string>* names) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockDir(const std::string& dir, LockMode mode) override;
  uint64_t NowMicros() override;

  // ---- Crashes.
  // Power loss (or kill -9 for kKeepAll) now; returns what was kept, dropped and torn. Also
  // recorded in LastFault(), after the crash point's description if one was reached.
  CrashReport SimulateCrash(CrashModel model, uint64_t seed);
  // The k-th mutating operation (1-based, counting from the Env's creation, see
  // mutating_op_count()) is not performed: it and every later operation fail with IOError
  // "simulated crash ..." until SimulateCrash. k = 0 disarms.
  void CrashAtOp(uint64_t k);
  // As if the crash point were the next operation.
  void CrashNow();
  // True between reaching the crash point and SimulateCrash.
  bool crash_point_reached() const;

  // ---- Failures (each one recorded, see LastFault()).
  // Operation k (in the numbering of scope) fails with errno_value once, or it and every later
  // one in scope fail (kPersistent). Rules accumulate until ClearFaults().
  void FailOp(uint64_t k, FailMode mode, int errno_value, OpScope scope = OpScope::kAnyOp);
  // The k-th Sync (1-based, see sync_count()) fails with EIO and drops its file's unsynced data.
  void FailSyncWithEio(uint64_t k);
  // From now on each operation in scope fails with probability 1/one_in (one_in >= 1), drawn
  // from a generator seeded with seed; one_in = 0 turns it off.
  void FailRandomOps(uint64_t one_in, uint64_t seed, int errno_value,
                     OpScope scope = OpScope::kMutatingOp);
  void SetNoSpace(bool no_space);
  // FaultPlan::kUnlimited (the default) removes the limit.
  void SetSpaceLimitBytes(uint64_t limit_bytes);
  // Removes every failure rule, the space limit and the crash point (and resumes I/O if it was
  // reached). Counters keep counting.
  void ClearFaults();

  uint64_t op_count() const;
  uint64_t mutating_op_count() const;
  uint64_t sync_count() const;
  uint64_t fault_count() const;  // failures injected and crashes simulated so far
  // One line describing the last injected fault (with its rule, k, seed and the operation it
  // hit), empty if none.
  std::string LastFault() const;

  // ---- Damage (bit rot), applied to the durable and the current contents and to unsynced
  // writes covering the byte, so reads, Sync and every crash model see it. The file is looked up
  // in the current namespace, else in the durable one. InvalidArgument if no byte of the range
  // exists in either image or bit is not in [0, 7].
  Status FlipBit(const std::string& path, uint64_t offset_bytes, int bit);
  // XORs each byte of the range with a non-zero byte drawn from seed (each byte changes).
  Status CorruptBytes(const std::string& path, uint64_t offset_bytes, uint64_t length_bytes,
                      uint64_t seed);

  // ---- Inspection of what a kDropUnsynced crash would leave now.
  Status ReadDurable(const std::string& path, std::string* out) const;
  Status ListDurable(const std::string& dir, std::vector<std::string>* names) const;
  uint64_t DurableBytes() const;
  // Stored bytes of the current namespace (what the space limit is checked against).
  uint64_t StoredBytes() const;
  // Unsynced file operations plus unsynced directory operations.
  size_t UnsyncedOpCount() const;

  // ---- Clock.
  void UseFakeClock(uint64_t now_micros);
  void AdvanceFakeClockMicros(uint64_t delta_micros);

  struct Core;  // the state, shared with Files, MappedRegions and FileLocks

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace cowtree::testutil
