// When the POSIX Env uses io_uring (one linked write+fdatasync submission) for the log:
//   COWTREE_IO_URING unset (default): for File::WriteAtAndSyncLone only — a sync with no other
//     committer waiting behind it;
//   COWTREE_IO_URING=1: for WriteAtAndSync (group commits) too;
//   COWTREE_IO_URING=0: never.
// The variable is read once per process. io_uring is tried once per file and falls back to
// syscalls if io_uring_queue_init fails.
// Why (docs/log_format.md "Group commit"): io_uring runs every fsync on an io-wq worker thread.
// Measured on a loaded 2-core host (kernel 6.18, ext4 without journal, virtio disk), strict
// commits/s were 3-4x LOWER with it at 4..64 committers, but 1.6x HIGHER for a lone committer.
#pragma once

namespace cowtree {
// Unless COWTREE_IO_URING=0.
bool IoUringAllowed();
// Only with COWTREE_IO_URING=1: io_uring for WriteAtAndSync (group commits) too.
bool IoUringForGroups();
}  // namespace cowtree
