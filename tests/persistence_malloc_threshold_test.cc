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
#if !defined(__GLIBC__)
  GTEST_SKIP() << "glibc only: PinMallocMmapThreshold returns false elsewhere";
#endif
  // Setting any of these turns glibc's dynamic threshold off before the test starts, so the
  // unpinned control below could not show the difference.
  for (const char* var : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                          "MALLOC_MMAP_MAX_"}) {
    if (std::getenv(var) != nullptr) GTEST_SKIP() << var << " is set: thresholds are fixed already";
  }
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t != nullptr && std::strstr(t, "malloc")) {
    GTEST_SKIP() << "GLIBC_TUNABLES sets malloc tunables: thresholds may be fixed already";
  }
  // Unpinned (the control: shows that the check can fail): the freed 4 MiB block raised the
  // threshold, so 512 KiB come from the heap.
  EXPECT_EQ(MidBlockIsMapped(/*pin=*/false), 1);
  EXPECT_EQ(MidBlockIsMapped(/*pin=*/true), 0);
}

}  // namespace
}  // namespace cowtree
