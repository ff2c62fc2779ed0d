// Whether the POSIX Env may try io_uring for the log's write+fdatasync. Opt-in: only with
// COWTREE_IO_URING=1 in the environment (read once per process); it is then tried once per
// file and falls back to syscalls if io_uring_queue_init fails. Default: pwrite + fdatasync.
// Why opt-in (docs/log_format.md "Group commit"): io_uring always runs an fsync on an io-wq
// worker thread, so every group paid two extra thread hand-offs; measured on a loaded 2-core
// host (kernel 6.18, ext4) strict commits/s were 3-4x lower with it at 4..64 committers and
// equal at 1.
#pragma once

namespace cowtree {
bool IoUringAllowed();
}  // namespace cowtree
