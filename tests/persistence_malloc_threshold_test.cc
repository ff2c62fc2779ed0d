// PinMallocMmapThreshold (include/cowtree/options.h, persistence/memory_budget.h): after a
// large mapped block is freed, glibc serves the next block of a few hundred KiB from the heap
// (its dynamic threshold rose); with the threshold pinned, that block is mapped and given back
// to the OS when freed. Each case runs in a forked child, since mallopt changes the process.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "persistence/memory_budget.h"

namespace cowtree {
namespace {

void Touch(void* p, size_t bytes) {
  std::memset(p, 1, bytes);
  asm volatile("" : : "r"(p) : "memory");  // keeps the compiler from eliding malloc/free
}

// In a child: frees a mapped 4 MiB block (which raises an unpinned threshold to 4 MiB), then
// reports (exit code) whether a 512 KiB block is mapped: 0 mapped, 1 from the heap, 2 the pin
// was refused.
int MidBlockIsMapped(bool pin) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (pin && !PinMallocMmapThreshold()) _exit(2);
    void* big = std::malloc(size_t{4} << 20);
    Touch(big, size_t{4} << 20);
    std::free(big);
    const struct mallinfo2 before = mallinfo2();
    void* mid = std::malloc(size_t{512} << 10);
    Touch(mid, size_t{512} << 10);
    const struct mallinfo2 after = mallinfo2();
    const bool mapped = after.hblks == before.hblks + 1 && after.hblkhd > before.hblkhd;
    std::free(mid);
    _exit(mapped ? 0 : 1);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  return WEXITSTATUS(status);
}

TEST(MallocThreshold, PinnedThresholdKeepsMidSizedBlocksOutOfTheHeap) {
  // glibc only (mallinfo2, mallopt), as is the Debian target. The unpinned control needs
  // glibc's dynamic threshold, which any of MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
  // MALLOC_TOP_PAD_, MALLOC_MMAP_MAX_ or malloc GLIBC_TUNABLES in the environment turns off.
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  for (const char* var : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                          "MALLOC_MMAP_MAX_"}) {
    EXPECT_EQ(std::getenv(var), nullptr) << var << " fixes glibc's thresholds: unset it";
  }
  EXPECT_TRUE(tunables == nullptr || std::strstr(tunables, "malloc") == nullptr)
      << "GLIBC_TUNABLES sets malloc tunables: unset them";
  // Unpinned (the control: shows that the check can fail): the freed 4 MiB block raised the
  // threshold, so 512 KiB come from the heap.
  EXPECT_EQ(MidBlockIsMapped(/*pin=*/false), 1);
  EXPECT_EQ(MidBlockIsMapped(/*pin=*/true), 0);
}

}  // namespace
}  // namespace cowtree
