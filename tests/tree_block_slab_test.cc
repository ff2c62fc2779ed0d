// tree/block_slab.h: blocks of one class are distinct and reused, slabs whose blocks are all
// free give their pages back, frees from another thread, a child forked while other threads
// allocate, and a wrong free asserts.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "tree/block_cache.h"
#include "tree/block_slab.h"

namespace cowtree::tree {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSlabsBypassed = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSlabsBypassed = true;
#else
constexpr bool kSlabsBypassed = false;
#endif
#else
constexpr bool kSlabsBypassed = false;
#endif

// Pages of [p, p + bytes) resident now (mincore).
size_t ResidentPages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in(bytes / page);
  EXPECT_EQ(mincore(const_cast<void*>(p), bytes, in.data()), 0);
  return static_cast<size_t>(
      std::count_if(in.begin(), in.end(), [](unsigned char c) { return c & 1; }));
}

// Sanitizer builds bypass the slabs (operator new): no block is counted as a slab's.
void ExpectBypassed() {
  void* p = SlabAllocate(112);
  EXPECT_EQ(GetSlabStats().live_bytes, 0u);
  EXPECT_EQ(GetSlabStats().mapped_bytes, 0u);
  SlabFree(p, 112);
}

void* SlabOf(void* p) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{kSlabBytes} - 1));
}

TEST(BlockSlab, BlocksAreDistinctAlignedAndKeepTheirBytes) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint8_t*, size_t>> blocks;
  for (int i = 0; i < 20000; ++i) {
    const size_t bytes = kSlabClassBytes * (1 + rng() % (kSlabBlockBytesMax / kSlabClassBytes));
    auto* p = static_cast<uint8_t*>(SlabAllocate(bytes));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    std::memset(p, static_cast<int>(i & 0xff), bytes);
    blocks.emplace_back(p, bytes);
  }
  // No two blocks overlap: sorted by address, each ends before the next begins.
  std::vector<std::pair<uint8_t*, size_t>> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    ASSERT_LE(sorted[i - 1].first + sorted[i - 1].second, sorted[i].first);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto [p, bytes] = blocks[i];
    for (size_t b = 0; b < bytes; ++b) ASSERT_EQ(p[b], static_cast<uint8_t>(i & 0xff)) << i;
  }
  for (const auto& [p, bytes] : blocks) SlabFree(p, bytes);
}

TEST(BlockSlab, FreedBlocksAreReusedBeforeNewSlabs) {
  if (kSlabsBypassed) return ExpectBypassed();
  constexpr size_t kBytes = 112;
  std::vector<void*> blocks;
  for (int i = 0; i < 100000; ++i) blocks.push_back(SlabAllocate(kBytes));
  const SlabStats full = GetSlabStats();
  // Free 90 % of them in random order, then allocate as many again: the holes take them.
  std::mt19937_64 rng(11);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  std::vector<void*> kept(blocks.begin(), blocks.begin() + 10000);
  for (size_t i = 10000; i < blocks.size(); ++i) SlabFree(blocks[i], kBytes);
  for (int i = 0; i < 90000; ++i) kept.push_back(SlabAllocate(kBytes));
  const SlabStats again = GetSlabStats();
  EXPECT_LE(again.slabs_in_use, full.slabs_in_use);
  EXPECT_EQ(again.live_bytes, full.live_bytes);
  for (void* p : kept) SlabFree(p, kBytes);
}

TEST(BlockSlab, SlabsWhoseBlocksAreAllFreeGiveTheirPagesBack) {
  if (kSlabsBypassed) return ExpectBypassed();
  constexpr size_t kBytes = 208;  // the first test leaves its slabs empty: one kept at most
  // Blocks of another class until a new region is mapped: every released slab is taken again
  // and the region has unused slabs, which the check at the end needs.
  std::vector<void*> filler;
  for (const uint64_t mapped = GetSlabStats().mapped_bytes;
       GetSlabStats().mapped_bytes == mapped;) {
    filler.push_back(SlabAllocate(256));
  }
  const SlabStats before = GetSlabStats();
  std::vector<void*> blocks;
  const size_t per_slab = (kSlabBytes - 64) / kBytes;
  for (size_t i = 0; i < per_slab * 40; ++i) {
    blocks.push_back(SlabAllocate(kBytes));
    std::memset(blocks.back(), 1, kBytes);  // the pages are touched, as by the objects
  }
  std::set<void*> slabs;
  for (void* p : blocks) slabs.insert(SlabOf(p));
  ASSERT_GE(slabs.size(), 40u);
  size_t resident = 0;
  for (void* s : slabs) resident += ResidentPages(s, kSlabBytes);
  EXPECT_EQ(resident, slabs.size() * kSlabBytes / static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  const SlabStats full = GetSlabStats();
  EXPECT_EQ(full.live_bytes - before.live_bytes, blocks.size() * kBytes);

  for (void* p : blocks) SlabFree(p, kBytes);
  const SlabStats after = GetSlabStats();
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  // All but the one empty slab the class keeps were given back, and their pages are gone.
  EXPECT_GE(after.slabs_released - before.slabs_released, slabs.size() - 1);
  EXPECT_LE(after.slabs_in_use, before.slabs_in_use + 1);
  size_t still_resident_slabs = 0;
  for (void* s : slabs) still_resident_slabs += ResidentPages(s, kSlabBytes) > 0 ? 1 : 0;
  EXPECT_LE(still_resident_slabs, 1u);

  // Released slabs are taken again before the current region's unused ones: the new blocks
  // lie in slabs given back above.
  const uint64_t mapped = GetSlabStats().mapped_bytes;
  for (size_t i = 0; i < per_slab * 20; ++i) {
    blocks[i] = SlabAllocate(kBytes);
    EXPECT_EQ(slabs.count(SlabOf(blocks[i])), 1u) << i;
  }
  EXPECT_EQ(GetSlabStats().mapped_bytes, mapped);
  for (size_t i = 0; i < per_slab * 20; ++i) SlabFree(blocks[i], kBytes);
  for (void* p : filler) SlabFree(p, 256);
}

TEST(BlockSlab, OneEmptySlabIsKeptSoThatAllocFreeCyclesDoNotReleaseSlabs) {
  if (kSlabsBypassed) return ExpectBypassed();
  constexpr size_t kBytes = 224;  // the first test leaves its slabs empty: one kept at most
  void* first = SlabAllocate(kBytes);
  SlabFree(first, kBytes);  // the class's one slab is now its kept empty slab
  const uint64_t released = GetSlabStats().slabs_released;
  const uint64_t in_use = GetSlabStats().slabs_in_use;
  for (int i = 0; i < 1000; ++i) {
    void* p = SlabAllocate(kBytes);
    EXPECT_EQ(SlabOf(p), SlabOf(first));
    SlabFree(p, kBytes);
  }
  EXPECT_EQ(GetSlabStats().slabs_released, released);
  EXPECT_EQ(GetSlabStats().slabs_in_use, in_use);
  // A second empty slab of the class is given back: fill two slabs, then free everything.
  const size_t per_slab = (kSlabBytes - 64) / kBytes;
  std::vector<void*> blocks;
  for (size_t i = 0; i < 2 * per_slab; ++i) blocks.push_back(SlabAllocate(kBytes));
  for (void* p : blocks) SlabFree(p, kBytes);
  EXPECT_EQ(GetSlabStats().slabs_released, released + 1);
  EXPECT_EQ(GetSlabStats().slabs_in_use, in_use);
}

TEST(BlockSlab, BlocksFreedByOtherThreads) {
  const SlabStats before = GetSlabStats();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::vector<std::vector<void*>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) {
        void* p = SlabAllocate(48);
        std::memset(p, t, 48);
        made[t].push_back(p);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  threads.clear();
  // Each thread frees the blocks another thread made, while the others allocate and free.
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (void* p : made[(t + 1) % kThreads]) {
        ASSERT_EQ(*static_cast<uint8_t*>(p), static_cast<uint8_t>((t + 1) % kThreads));
        SlabFree(p, 48);
        SlabFree(SlabAllocate(64), 64);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(GetSlabStats().live_bytes, before.live_bytes);
}

// A fork while other threads allocate and free: the child can allocate (no slab lock is left
// held by a thread that does not exist there).
TEST(BlockSlab, AChildForkedWhileOtherThreadsAllocateCanAllocate) {
  // Sanitizer builds allocate with ::operator new, whose sanitizer allocator is not fork-safe
  // while other threads allocate: there the bypass is what is checked.
  if (kSlabsBypassed) return ExpectBypassed();
  std::atomic<bool> stop{false};
  std::vector<std::thread> churn;
  struct JoinAtExit {  // the threads end whatever the assertions below do
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~JoinAtExit() {
      stop->store(true);
      for (std::thread& th : *threads) th.join();
    }
  } join_at_exit{&stop, &churn};
  for (int t = 0; t < 2; ++t) {
    churn.emplace_back([&stop] {
      std::vector<void*> held;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i) held.push_back(SlabAllocate(112));
        for (void* p : held) SlabFree(p, 112);
        held.clear();
      }
    });
  }
  for (int round = 0; round < 50; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0) << "fork: " << std::strerror(errno);
    if (pid == 0) {
      alarm(10);  // a deadlock ends the child with SIGALRM instead of hanging the test
      std::vector<void*> blocks;
      for (int i = 0; i < 10000; ++i) blocks.push_back(SlabAllocate(112));
      for (void* p : blocks) SlabFree(p, 112);
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "round " << round << " status " << status;
  }
}

TEST(BlockSlabDeathTest, AFreeOfAnotherClassAsserts) {
  if (kSlabsBypassed) return ExpectBypassed();
  void* p = SlabAllocate(32);
  EXPECT_DEATH(SlabFree(p, 48), "assertion failed");
  SlabFree(p, 32);
}

TEST(BlockCache, BlocksComeFromSlabs) {
  if (kSlabsBypassed) return ExpectBypassed();
  // More than a thread's cache holds, so that blocks go back to their slabs too.
  const size_t n = 2 * kThreadCacheBytesMax / 128;
  const uint64_t live_before = GetSlabStats().live_bytes;
  std::vector<void*> blocks;
  for (size_t i = 0; i < n; ++i) blocks.push_back(AllocateBlock(120));
  EXPECT_GE(GetSlabStats().live_bytes, live_before + (n - kThreadCacheBytesMax / 128) * 128);
  for (void* p : blocks) FreeBlock(p, 120);
  EXPECT_LE(GetSlabStats().live_bytes, live_before + kThreadCacheBytesMax);
}

}  // namespace
}  // namespace cowtree::tree
