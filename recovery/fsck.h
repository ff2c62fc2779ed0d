// recovery::Fsck: the consistency checker behind `cowtree fsck` (issue 3).
//
// Checks a store WITHOUT modifying anything (unless options.repair): superblock copies;
// manifest (parses, every file exists with at least its recorded size, nothing outside the
// store, unknown files reported); OT checkpoint; every log frame from the replay position;
// OT <-> allocator (no two live objects overlap; slots used but unreferenced = leaks); every
// object's envelope and CRC; every tree (key order, separator keys, subtree sums, leaf
// summaries equal leaf contents, N); the catalog. Each finding names the structure, the file,
// the offset or NodeID, and what was expected.
//
// Exit codes follow e2fsck: 0 clean, 1 problems found and all repaired (with repair), 4
// problems left uncorrected, 8 operational error (cannot read the directory, lock busy, ...).
// Thread-safety: Fsck may run on a store no process has open (it takes the LOCK file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "persistence/env.h"
#include "persistence/log_reader.h"
#include "persistence/status.h"

namespace cowtree::recovery {

enum class FsckSeverity : uint8_t {
  kError = 1,    // the store is damaged (exit 4 unless repaired)
  kWarning = 2,  // not damage but worth knowing: leaked slot, unknown file, bad older copy
};

struct FsckFinding {
  FsckSeverity severity = FsckSeverity::kError;
  std::string structure;  // "superblock", "manifest", "ot-checkpoint", "log", "object",
                          // "allocator", "catalog", "tree", "file"
  std::string file;       // file name inside the store ("" if none)
  uint64_t offset_bytes = 0;
  uint64_t node_id = 0;   // NodeID raw, 0 if none
  std::string message;    // what was found and what was expected
  bool repaired = false;
};

struct FsckOptions {
  Env* env = nullptr;  // nullptr = Env::Default()
  bool repair = false;  // truncate a torn log tail, reclaim leaked slots, ...
  WalRecoveryMode wal_recovery_mode = WalRecoveryMode::kTolerateCorruptedTailRecords;
};

struct FsckReport {
  std::vector<FsckFinding> findings;
  uint64_t objects_checked = 0;
  uint64_t leaves_checked = 0;
  uint64_t trees_checked = 0;
  uint64_t log_frames_checked = 0;
  size_t errors() const;         // findings with kError that were not repaired
  size_t warnings() const;
  int ExitCode() const;          // 0, 1 or 4 (8 is returned by the caller on a Status error)
};

// Operational errors (directory unreadable, LOCK held: Busy) are returned as Status; damage is
// reported as findings.
Result<FsckReport> Fsck(const std::string& dir, const FsckOptions& options);

}  // namespace cowtree::recovery
