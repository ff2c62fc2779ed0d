// recovery::Dump*: what `cowtree dump` prints — one structure of a store, decoded, as text or
// JSON (docs/fsck.md "dump").
//
// Contract
// - Read-only: no lock is taken and nothing is written (a dump of a store that a process is
//   writing may show a mix of states; use it on a closed store or accept that).
// - The structures are read by fsck's own readers (recovery/fsck_context.h), so dump shows
//   exactly what fsck checks and recovery reads. Damage met on the way does not stop a dump:
//   it is listed under "problems" (fsck's findings for the passes the dump ran) and the dump
//   shows what could be read.
// - What each dump shows:
//   * superblock: both copies (index, offset, status, every field), the copy recovery uses.
//   * manifest: the manifest the superblock names, as parsed.
//   * ot: the OT checkpoint header (id, epoch, entry count), the OT-delta records applied and
//     ignored, then every live entry after the deltas (NodeID handle/tag, kind, size class,
//     offset, length, birth and retire epochs, CRC) — the table recovery would rebuild.
//   * log: every frame that verifies, in log order, from the start of the replay file (role
//     "history" before the superblock's replay position, "replayed" from it, "untrusted" after
//     a bad region): file@offset, type, epoch, synced offset, payload bytes, and for commit
//     records the creates, drops and op bytes per tree; then the replay's stop reason, end and
//     dropped bytes, as recovery would see them.
//   * tree NAME: the catalog entry, the descriptor, every summary chunk and each leaf's summary
//     (first key, positive sum, entry count, NodeID); with entries, each leaf's entries. This is
//     the tree as of the checkpoint epoch: redo records after it are counted, not applied.
// - Text is "key: value" lines (nested structures indented, a list of flat records one record
//   per line); JSON is one object (RapidJSON, pretty-printed).
// - Errors: NotFound (no such directory, no SUPERBLOCK, no tree NAME), InvalidArgument (not a
//   store), IOError. Damage is never an error (see above).
// Thread-safety: reentrant.
#pragma once

#include <ostream>
#include <string>

#include "persistence/env.h"
#include "persistence/log_reader.h"
#include "persistence/status.h"

namespace cowtree::recovery {

enum class DumpFormat : uint8_t { kText = 0, kJson = 1 };

struct DumpOptions {
  Env* env = nullptr;  // nullptr = Env::Default()
  DumpFormat format = DumpFormat::kText;
  bool entries = false;  // tree: print each leaf's entries
  WalRecoveryMode wal_recovery_mode = WalRecoveryMode::kTolerateCorruptedTailRecords;
};

Status DumpSuperblock(const std::string& dir, const DumpOptions& options, std::ostream& out);
Status DumpManifest(const std::string& dir, const DumpOptions& options, std::ostream& out);
Status DumpObjectTable(const std::string& dir, const DumpOptions& options, std::ostream& out);
Status DumpLog(const std::string& dir, const DumpOptions& options, std::ostream& out);
Status DumpTree(const std::string& dir, const std::string& tree_name, const DumpOptions& options,
                std::ostream& out);

}  // namespace cowtree::recovery
