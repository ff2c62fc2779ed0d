// recovery::Fsck: the consistency checker behind `cowtree fsck` (issue 3). What is checked, in
// which order, every finding, the exit codes and what --repair does: docs/fsck.md.
//
// Checks a store WITHOUT modifying anything (unless options.repair): superblock copies;
// manifest (parses, every file exists with at least its recorded size, nothing outside the
// store, unknown files reported); OT checkpoint; every log frame from the replay position (and
// the frames before it in the replay file); OT <-> allocator (every live slot inside its data
// file, no two live objects overlap; live objects that nothing references = leaks); every
// object's envelope and CRC; every tree (key order, separator keys, subtree sums, leaf
// summaries equal leaf contents, N); the catalog; the redo records past the checkpoint (they
// decode and name trees that exist). Each finding names the structure, the file, the offset or
// NodeID, and what was expected.
//
// Contract
// - Fsck never calls recovery::Open (which truncates torn log tails): it reads every file with
//   the format decoders directly and replays the log exactly as recovery would (same
//   WalRecoveryMode rules, OT deltas filtered by their record epoch: ot_epoch < epoch <= C).
// - What the directory is comes first, from the classifier recovery::Open uses
//   (recovery/store_dir.h), so that the two agree on every state: an interrupted creation is an
//   info finding (exit 0), a directory that lost its SUPERBLOCK is an error naming why, and
//   --repair rebuilds the SUPERBLOCK where the remaining files determine it (docs/fsck.md).
// - Without repair, Fsck performs no mutating file-system operation: it takes a shared flock on
//   the store directory itself (which writes nothing, works on a read-only mount, and is Busy
//   while a writer has the store open). With repair it takes the directory's exclusive flock
//   and writes only what docs/fsck.md lists (truncate a torn or zero log tail, drop leaked
//   objects through a new OT checkpoint + manifest + superblock, rewrite damaged superblock
//   copies, rebuild a lost SUPERBLOCK, delete leftovers of interrupted
//   operations). Repairs run only when the store is otherwise sound enough for them to be safe;
//   a finding that was not repaired stays an error.
// - Severity: kError = damage (exit 4 unless repaired); kWarning = not damage but worth
//   knowing (a leak, an unknown file, a bad superblock copy the other copy makes harmless, a
//   torn log tail recovery drops); kInfo = expected leftovers of interrupted operations
//   (obsolete files, *.tmp) that the next checkpoint or --repair removes.
// - Exit codes follow e2fsck: 0 no error left and nothing repaired (warnings allowed), 1 every
//   error repaired and something was changed, 4 errors left uncorrected, 8 operational error
//   (directory missing or unreadable, lock busy, I/O error): returned by Fsck as a Status.
// Thread-safety: Fsck is reentrant; it takes the directory lock (see above), so it refuses
// (Busy) a store that a Runtime has open.
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
  kInfo = 3,     // leftovers of an interrupted operation (obsolete file, *.tmp)
};
const char* FsckSeverityName(FsckSeverity severity);  // "error", "warning", "info"

struct FsckFinding {
  FsckSeverity severity = FsckSeverity::kError;
  std::string structure;  // "superblock", "manifest", "ot-checkpoint", "log", "object",
                          // "allocator", "catalog", "tree", "file", "redo"
  std::string file;       // file name inside the store ("" if none)
  uint64_t offset_bytes = 0;
  uint64_t node_id = 0;  // NodeID raw, 0 if none
  std::string message;   // what was found and what was expected
  bool repaired = false;
};

// "[error] object data-4k.dat@8192 node=NodeID(handle=5, tag=1): <message>" (+ " (repaired)").
std::string FormatFinding(const FsckFinding& finding);

struct FsckOptions {
  Env* env = nullptr;   // nullptr = Env::Default()
  bool repair = false;  // truncate a torn log tail, reclaim leaked slots, ... (docs/fsck.md)
  WalRecoveryMode wal_recovery_mode = WalRecoveryMode::kTolerateCorruptedTailRecords;
  // Trees of at most this many leaves are also rebuilt from their summaries and checked with
  // tree::CheckInvariants(load_leaves = true), which keeps their summaries and leaves in
  // memory; larger trees are checked by the streaming pass only (summary index and leaves one
  // chunk / one leaf at a time: bounded memory).
  uint64_t invariant_check_max_leaves = 16384;
};

struct FsckReport {
  std::vector<FsckFinding> findings;
  uint64_t objects_checked = 0;  // envelopes verified (each live OT entry once)
  uint64_t leaves_checked = 0;
  uint64_t index_chunks_checked = 0;  // summary chunks and index chunks (all levels) read
  uint64_t trees_checked = 0;
  uint64_t inline_trees_checked = 0;  // of trees_checked: stored inline in the catalog
  uint64_t retained_checkpoints_checked = 0;  // their trees are counted in trees_checked too
  uint64_t log_frames_checked = 0;       // frames that verified, history before the replay position
                                         // included
  uint64_t log_bytes_dropped = 0;        // bytes recovery would drop (torn/zero tail)
  uint64_t ot_entries = 0;               // live OT entries after the OT checkpoint + deltas
  uint64_t commits_past_checkpoint = 0;  // redo records recovery would replay
  // A --repair step could not write (I/O: a read-only mount, a full disk): an operational
  // error (exit bit 8); its finding is a warning ("repair" structure), the store's own
  // findings stay unrepaired.
  bool repair_failed = false;
  size_t errors() const;                 // findings with kError that were not repaired
  size_t warnings() const;               // findings with kWarning that were not repaired
  size_t infos() const;                  // findings with kInfo that were not repaired
  size_t repaired() const;               // findings repaired
  // e2fsck's bits: 4 if errors are left, else 1 if something was repaired, else 0; plus 8 if a
  // repair step failed (repair_failed). (8 alone is also returned by the caller on a Status
  // error.)
  int ExitCode() const;
};

// Operational errors (directory missing/unreadable: NotFound/IOError; LOCK held: Busy; not a
// cowtree store: InvalidArgument) are returned as Status; damage is reported as findings.
Result<FsckReport> Fsck(const std::string& dir, const FsckOptions& options);

}  // namespace cowtree::recovery
