// What a directory is, before anything in it is opened: the one classification that Open,
// fsck and dump share, so that they agree on every state (an empty directory, a creation cut
// short by a crash or ENOSPC, a store, a store that lost its SUPERBLOCK, a foreign directory).
//
// The rule (docs/fsck.md "What a directory is"):
//   - kStore: SUPERBLOCK exists (whatever its state: reading it may still fail).
//   - kEmpty: no entries at all (or only a legacy LOCK file of an older version).
//   - kInterruptedCreation: only files that store creation makes before it renames SUPERBLOCK
//     into place (log-000001.log with nothing after its header, MANIFEST-000001.json, their .tmp
//     names, SUPERBLOCK.tmp). Nothing was ever acknowledged: creation starts over.
//   - kLostSuperblock: no SUPERBLOCK, but store files that creation alone never leaves behind —
//     a log holding any byte past its header (a commit may have been acknowledged), any other
//     log, manifest, data or OT checkpoint file. Never taken for a creation: Open refuses it
//     (Corruption), fsck reports it and `fsck --repair` rebuilds the SUPERBLOCK where it can.
//   - kForeign: anything else (files cowtree never makes). Refused, never touched.
//
// Errors: IOError from the Env (listing the directory, sizing LOG-000001). NotFound if `dir`
// does not exist. Thread-safety: reentrant; the answer may be stale by the time it is used, so
// Open checks it again under the directory lock.
#pragma once

#include <string>
#include <vector>

#include "persistence/env.h"
#include "persistence/status.h"

namespace cowtree::recovery {

enum class StoreDirState : uint8_t {
  kEmpty,
  kInterruptedCreation,
  kStore,
  kLostSuperblock,
  kForeign,
};

const char* StoreDirStateName(StoreDirState state);

struct StoreDirInfo {
  StoreDirState state = StoreDirState::kEmpty;
  std::vector<std::string> names;  // every entry of the directory, sorted
  // kLostSuperblock / kForeign: one sentence naming the file that decided it.
  std::string reason;
};

Result<StoreDirInfo> ClassifyStoreDir(Env* env, const std::string& dir);

// The files store creation writes before SUPERBLOCK appears (the kInterruptedCreation set).
const std::vector<std::string>& CreationFileNames();

}  // namespace cowtree::recovery
