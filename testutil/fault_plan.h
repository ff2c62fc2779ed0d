// FaultPlan: counts the I/O operations of a FaultInjectionEnv and decides, for each one, whether
// it runs, fails with an injected errno, or hits the crash point. It knows nothing about files;
// the Env asks it once per operation, before doing anything.
//
// Contract
// - Every Env/File call that touches the simulated file system is one operation. Numbers are
//   1-based and monotonic for the life of the Env: the n-th operation is the one that makes
//   op_count() == n. Mutating operations (those that can change what is on disk: creating
//   opens, WriteAt, Sync, Truncate, Allocate, PunchHole, DeleteFile, RenameFile, SyncDir,
//   CreateDir) also get a mutating number; Syncs also get a sync number.
//   WriteAtAndSync is two operations (a write, then a sync).
// - Rules: FailOp (once at k, or every op from k on), FailSyncWithEio (the k-th Sync fails with
//   EIO and its file loses its unsynced data), FailRandomOps (each op in scope fails with
//   probability 1/one_in, from a seeded generator), CrashAtOp/CrashNow (the k-th mutating op and
//   everything after it fail as "simulated crash" until Resume()). The crash point wins over
//   every other rule; then the first matching rule in the order above.
// - Space: SetSpaceLimitBytes / SetNoSpace are checked by the Env (which knows the sizes)
//   through SpaceFault().
// - Every injected failure is described in one line (operation number, mutating number, kind,
//   path, offset, length, errno, rule, seed) available from last_fault().
// - Thread-safety: none; the Env calls it under its mutex.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "testutil/deterministic_rng.h"

namespace cowtree::testutil {

enum class OpKind : uint8_t {
  kOpen,        // OpenFile without creating
  kCreate,      // OpenFile with kCreate / kCreateExclusive (mutating)
  kRead,        // File::ReadAt
  kSize,        // File::Size
  kMap,         // File::Map
  kWrite,       // File::WriteAt (mutating)
  kWriteZeros,  // File::WriteZeros (mutating)
  kSync,        // File::Sync (mutating)
  kTruncate,    // File::Truncate (mutating)
  kAllocate,    // File::Allocate (mutating)
  kPunchHole,   // File::PunchHole (mutating)
  kDelete,      // Env::DeleteFile (mutating)
  kRename,      // Env::RenameFile (mutating)
  kSyncDir,     // Env::SyncDir (mutating)
  kCreateDir,   // Env::CreateDir (mutating)
  kListDir,     // Env::ListDir
  kExists,      // Env::FileExists (counted, never failed: it has no way to report an error)
  kFileSize,    // Env::FileSize
  kLock,        // Env::LockDir (not mutating: it creates nothing)
};

const char* OpKindName(OpKind kind);
bool IsMutating(OpKind kind);

enum class FailMode : uint8_t {
  kOnce,        // only operation k fails
  kPersistent,  // operation k and every later one in scope fail
};

// Which numbering k refers to.
enum class OpScope : uint8_t {
  kAnyOp,       // op_count(): every operation
  kMutatingOp,  // mutating_op_count(): only mutating operations
};

// One operation as the Env describes it to the plan.
struct OpInfo {
  OpKind kind = OpKind::kOpen;
  std::string path;  // for a rename: "from -> to"
  uint64_t offset_bytes = 0;
  uint64_t length_bytes = 0;
};

// The plan's verdict.
struct OpVerdict {
  enum class Action : uint8_t { kRun, kFail, kCrashed };
  Action action = Action::kRun;
  int errno_value = 0;         // kFail
  bool drop_unsynced = false;  // kFail of a Sync by FailSyncWithEio: the dirty data is gone
  std::string description;     // kFail / kCrashed: the one-line fault description
  uint64_t op_number = 0;      // this operation's number (op_count() after counting it)
};

class FaultPlan {
 public:
  FaultPlan() = default;

  // Counts the operation and decides its fate.
  OpVerdict Admit(const OpInfo& op);
  // For an operation Admit() let run that would raise the stored bytes from stored_bytes by
  // growth_bytes: the ENOSPC description if the space rules refuse it.
  std::optional<std::string> SpaceFault(const OpInfo& op, uint64_t stored_bytes,
                                        uint64_t growth_bytes);

  void FailOp(uint64_t k, FailMode mode, int errno_value, OpScope scope);
  void FailSyncWithEio(uint64_t k);
  void FailRandomOps(uint64_t one_in, uint64_t seed, int errno_value, OpScope scope);
  void SetNoSpace(bool no_space) { no_space_ = no_space; }
  void SetSpaceLimitBytes(uint64_t limit_bytes) { space_limit_bytes_ = limit_bytes; }
  void CrashAtOp(uint64_t k) { crash_at_mutating_op_ = k; }
  void CrashNow(const std::string& why);
  // After a simulated crash: I/O runs again and the crash point is disarmed.
  void Resume();
  // Removes every rule (failures, space, crash point) and resumes; counters are kept.
  void Clear();

  // True if SpaceFault can refuse anything (so the Env computes sizes only then).
  bool space_rules_active() const { return no_space_ || space_limit_bytes_ != kUnlimited; }
  bool crashed() const { return crashed_; }
  uint64_t op_count() const { return op_count_; }
  uint64_t mutating_op_count() const { return mutating_op_count_; }
  uint64_t sync_count() const { return sync_count_; }
  uint64_t fault_count() const { return fault_count_; }
  const std::string& last_fault() const { return last_fault_; }
  // Records a fault the Env injected itself (crash reports, EIO side effects).
  void RecordFault(std::string description);

  static constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

 private:
  struct FailRule {
    uint64_t k;
    FailMode mode;
    int errno_value;
    OpScope scope;
  };
  std::string Describe(const OpInfo& op) const;

  uint64_t op_count_ = 0;
  uint64_t mutating_op_count_ = 0;
  uint64_t sync_count_ = 0;
  uint64_t fault_count_ = 0;
  std::string last_fault_;

  std::vector<FailRule> fail_rules_;
  std::vector<uint64_t> eio_syncs_;
  uint64_t random_one_in_ = 0;  // 0: off
  uint64_t random_seed_ = 0;
  int random_errno_ = 0;
  OpScope random_scope_ = OpScope::kMutatingOp;
  std::optional<DeterministicRng> random_rng_;
  bool no_space_ = false;
  uint64_t space_limit_bytes_ = kUnlimited;
  uint64_t crash_at_mutating_op_ = 0;  // 0: none
  bool crashed_ = false;
  std::string crash_description_;
};

}  // namespace cowtree::testutil
