// recovery::Open: opening a store *is* recovery (DESIGN.md "open after crash").
//
//   superblock (newest copy that verifies) → manifest it names → OT checkpoint + OT deltas of
//   checkpoints ≤ C (deltas of a checkpoint whose superblock never landed are ignored; filtered
//   by each delta RECORD's epoch, never by an object's birth epoch) → allocator free maps
//   rebuilt from the live OT entries (before any write) → catalog → trees rebuilt from leaf
//   summaries in O(leaves), leaves loaded lazily → redo records with epoch > C replayed up to
//   the end of the log (the torn tail is truncated; a bad frame followed by valid frames is
//   Corruption under the default WalRecoveryMode) → open for writes.
//
// A directory without a SUPERBLOCK is created as a new store if it is empty (or missing) and
// options.create_if_missing; a non-empty directory without one is refused ("not a cowtree
// store"), and nothing in it is changed.
//
// Errors: NotFound (no store and !create_if_missing), Busy (LOCK held by another process),
// Corruption (names the file, offset and what was expected; nothing is written), IOError.
// Thread-safety: Open may be called from any thread; one Runtime per directory per process
// (the LOCK file enforces one per machine).
#pragma once

#include <memory>
#include <string>

#include "persistence/runtime.h"

namespace cowtree::recovery {

struct OpenReport {
  bool created = false;              // a new store was created
  uint64_t superblock_generation = 0;
  int superblock_copy = -1;          // index of the copy used
  std::vector<std::string> bad_superblock_copies;  // messages for copies that did not verify
  uint64_t checkpoint_epoch = 0;
  uint64_t ot_entries_loaded = 0;    // from the OT checkpoint
  uint64_t ot_delta_ops_applied = 0;
  uint64_t ot_delta_records_ignored = 0;  // epoch > C: checkpoint whose superblock never landed
  uint64_t trees_loaded = 0;
  uint64_t commits_replayed = 0;
  uint64_t recovered_epoch = 0;
  ReplayStats replay;
  uint64_t elapsed_us = 0;
};

Result<std::unique_ptr<Runtime>> Open(const std::string& dir, const RuntimeOptions& options,
                                      OpenReport* report = nullptr);

}  // namespace cowtree::recovery
