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
// What the directory is decides first (recovery/store_dir.h, shared with fsck): an empty or
// missing directory, or one holding only what an interrupted creation leaves, becomes a new store
// if options.create_if_missing; a directory that lost its SUPERBLOCK but holds anything an open
// store wrote (a log with records, a later manifest, data files) is refused with Corruption —
// never taken for a creation; a foreign directory is refused with InvalidArgument. Nothing in a
// refused directory is changed.
//
// Locking: the store directory itself is flock'ed (exclusive for a writer, shared for
// options.read_only), so deleting or replacing any file inside it cannot let a second writer in.
//
// Nothing is written before everything recovery relies on is verified: superblock, manifest, OT
// checkpoint and deltas, the whole log, free space, catalog, every tree's summaries and the redo
// records. Only then does Open extend a partial data-file segment, truncate the torn log tail
// and start the coordinator. A Corruption result therefore leaves the directory byte-identical
// — with one exception: under a limited budget (options.cache_bytes), once the dirty leaves of
// the redo replayed so far pass the budget's dirty trigger, Open opens the log for append and
// checkpoints the replayed prefix, as often as needed (OpenReport::checkpoints_during_replay),
// so that the replay's memory stays within the budget whatever budget the store was written
// under. Each such checkpoint publishes a state recovery itself would reach (a prefix of the
// commits); a record that fails to apply after one leaves the store at that prefix plus the
// records not applied (Corruption, as before; fsck names the record).
// After a replay of at least options.recovery_checkpoint_log_bytes Open checkpoints (bounded
// recovery time whatever the kill pattern). options.read_only writes nothing at all.
//
// Memory of the redo: the log is read once, a file at a time, before the store's files are open
// (the OT deltas must all be applied before free space and the catalog are read), and the redo
// commits can be applied only after that. Open keeps their payloads from that first read while
// they (with their ~56-byte records) total at most options.recovery_redo_held_bytes_max; past it,
// it keeps only their count and epochs and reads the log a second time (from the same start, same
// rules) to apply them, checking that the second read finds exactly the commits the first one did
// (Corruption otherwise). Either way one log file (≤ log_file_size_max_bytes + one record) is in
// memory at a time; the second read costs a sequential read of the redo
// (OpenReport::redo_read_twice).
//
// Errors: NotFound (no store and !create_if_missing or read_only), Busy (the directory is
// locked by a writer, or by readers for a writer), Corruption (names the file, offset and what
// was expected; nothing is written), IOError.
// Thread-safety: Open may be called from any thread; one writable Runtime per directory (the
// directory lock enforces it across processes).
#pragma once

#include <memory>
#include <string>

#include "persistence/runtime.h"

namespace cowtree::recovery {

struct OpenReport {
  bool created = false;  // a new store was created
  uint64_t superblock_generation = 0;
  int superblock_copy = -1;                        // index of the copy used
  std::vector<std::string> bad_superblock_copies;  // messages for copies that did not verify
  uint64_t checkpoint_epoch = 0;
  uint64_t ot_entries_loaded = 0;  // from the OT checkpoint
  uint64_t ot_delta_ops_applied = 0;
  uint64_t ot_delta_records_ignored = 0;  // epoch > C: checkpoint whose superblock never landed
  uint64_t trees_loaded = 0;  // catalog entries read (handles; no tree is restored by Open)
  uint64_t commits_replayed = 0;
  uint64_t recovered_epoch = 0;
  uint64_t redo_bytes_replayed = 0;        // frame bytes of the commits replayed
  bool redo_read_twice = false;  // the redo passed recovery_redo_held_bytes_max (see above)
  bool checkpointed_after_replay = false;  // see RuntimeOptions::recovery_checkpoint_log_bytes
  uint64_t checkpoints_during_replay = 0;  // under a budget (see above)
  ReplayStats replay;
  uint64_t elapsed_us = 0;
};

Result<std::unique_ptr<Runtime>> Open(const std::string& dir, const RuntimeOptions& options,
                                      OpenReport* report = nullptr);

}  // namespace cowtree::recovery
