// Whether the POSIX Env may try io_uring. COWTREE_IO_URING=0 in the environment disables it
// (for comparisons and for hosts where io_uring is undesirable); otherwise it is tried once per
// file and falls back to syscalls if io_uring_queue_init fails.
#pragma once

namespace cowtree {
bool IoUringAllowed();
}  // namespace cowtree
