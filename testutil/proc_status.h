// Memory figures of the calling process from /proc/self/status, and the RSS bound the memory
// budget documents (docs/memory_budget.md "The constant"), for the tests that assert it.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

namespace cowtree::testutil {

// A "Field:   N kB" line of /proc/self/status (e.g. "VmHWM:", "VmRSS:"), in KiB; 0 if absent.
inline uint64_t ProcStatusKiB(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::stoull(line.substr(n + 1));
  }
  return 0;
}

// What RSS may exceed the budget by (docs/memory_budget.md "The constant"): the process image
// and libraries (~6 MiB), malloc arenas and fragmentation, the commit batch being encoded
// (10 k keys: ~1 MiB in 3 copies), the log buffer, the object table's chunk directory, and
// the thread stacks of the coordinator and syncer.
constexpr uint64_t kRssConstantBytes = 24ull << 20;
// Plus checkpoint scratch, per leaf of the tree being checkpointed: the key-order summary list
// with its box pointers, the persisted summaries and their chunk copies, the set of objects
// still referenced, and the OT checkpoint image (docs/memory_budget.md). Negligible at 1 M
// entries (5 k leaves), ~130 MiB at 100 M (420 k leaves).
constexpr uint64_t kCheckpointScratchBytesPerLeaf = 320;

}  // namespace cowtree::testutil
