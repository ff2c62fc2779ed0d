// What the `cowtree` command adds to a NoSpace error (ENOSPC from the store's file system).
//
// A full file system is the user's to fix, and the bare error (e.g. "NoSpace: checkpoint after
// recovery: checkpoint aborted, nothing published; the runtime stays writable: ...") does not
// say what is safe. Measured on a full 64 MiB tmpfs: every command that writes fails at open
// (recovery's checkpoint, or the first commit), while query, stat, fsck, dump and backup (to
// another file system) work, and nothing committed is lost (fsck clean).
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "persistence/status.h"

namespace cowtree::tools {

// "" unless st is NoSpace, or wraps one (a log writer poisoned by ENOSPC is "Poisoned: ...:
// NoSpace: pwrite ..."); else "; " + the advice (one line, no trailing newline): for a file of
// a backup's "<to>.partial" copy, the backup's file system; for a run of `ingest --spill-dir`,
// the spill directory's; else the store's.
inline std::string NoSpaceAdvice(const Status& st) {
  if (!st.IsNoSpace() && st.message().find("NoSpace: ") == std::string::npos) {
    return std::string();
  }
  if (st.message().find(".partial/") != std::string::npos) {
    // The file that failed is in a backup's partial copy (api/backup.cc): the target's file
    // system is full, not the store's (found by an adversarial run: the advice blamed the
    // store).
    return "; the backup's file system is full: the store is untouched and the backup was not "
           "made; free space there (or choose another target) and re-run (the partial copy is "
           "emptied by the next backup to the same target)";
  }
  if (st.message().find("/cowtree-loader-") != std::string::npos) {
    // A run of `ingest --spill-dir` (api/run_spill.h) could not be written: the spill
    // directory's file system is full (found by an adversarial run: the advice blamed the
    // store's).
    return "; the --spill-dir file system is full: the store is intact, and this batch's rows "
           "were not committed; free space there (or choose another --spill-dir) and re-run "
           "with --resume";
  }
  return "; the store's file system is full: what was committed is intact (fsck checks it); "
         "free space there and re-run. query, stat, fsck, dump and backup only read the store "
         "and still work";
}

}  // namespace cowtree::tools
