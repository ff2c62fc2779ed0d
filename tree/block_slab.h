// Slabs of small fixed-size blocks, apart from the malloc heap: where the blocks of
// tree/block_cache.h (leaf boxes with their shared_ptr control blocks, the control blocks of
// pooled leaf contents and internal nodes) come from when a thread's cache has none.
//
// Why. A leaf box lives as long as its leaf version; leaf contents (2–32 KiB) come and go with
// evictions and checkpoints. From one heap, new boxes land in the holes freed contents leave
// and pin their pages, so the heap keeps free space resident that trims cannot return: the
// `cowtree` command's ingest of 30 M random rows under --cache-mib 64 peaked at 94 MiB with
// 10–14 MiB of free heap resident (docs/memory_budget.md "Small blocks in slabs"). In slabs of
// one block size, a freed box's place is taken by the next box, and a slab whose blocks are all
// free gives its pages back.
//
// Contract
// - SlabAllocate(class_bytes): class_bytes is a multiple of kSlabClassBytes in
//   [kSlabClassBytes, kSlabBlockBytesMax] (asserted). Returns storage of class_bytes bytes,
//   16-byte aligned, or null when no address space can be mapped (the caller turns that into
//   std::bad_alloc, as ::operator new would).
// - SlabFree(p, class_bytes): p was returned by SlabAllocate with the same class_bytes and not
//   freed since. Checked where cheap: a block of another class, a pointer inside a slab that is
//   not a block's start, the block freed last freed again, and (at the next allocation) a freed
//   block written into assert; a pointer whose 64 KiB-aligned base is not a slab is undefined.
//   Any thread may free a block another thread allocated. Never throws.
// - Memory: slabs of kSlabBytes, aligned to their size, carved from regions of kRegionBytes
//   mapped as address space (pages fault in when first used). A class keeps at most one slab
//   whose blocks are all free; a further one gives its pages back (madvise MADV_DONTNEED) and is
//   kept for any class to reuse. Regions are never unmapped (the address space stays reserved
//   for the process's life; its pages do not).
// - Sanitizer builds (AddressSanitizer) bypass the slabs: SlabAllocate is ::operator new and
//   SlabFree ::operator delete, so that use-after-free of these objects stays detectable.
// Thread-safety: all functions, from any thread. Locks: one mutex per class, and the region
// supply's mutex; lock order: a class's mutex, then the supply's (never the other way).
// fork(): pthread_atfork handlers take every slab lock before the fork and release them after
// it in both processes (as glibc does for malloc), so a child may allocate whatever the
// parent's other threads were doing. Process-wide state, never destroyed: blocks may be freed
// during static destruction.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cowtree::tree {

inline constexpr size_t kSlabClassBytes = 16;
inline constexpr size_t kSlabBlockBytesMax = 256;
inline constexpr size_t kSlabBytes = size_t{64} << 10;
inline constexpr size_t kRegionBytes = size_t{4} << 20;

void* SlabAllocate(size_t class_bytes);
void SlabFree(void* p, size_t class_bytes);

// Process-wide counters (for tests and heap accounting).
struct SlabStats {
  uint64_t live_bytes = 0;      // bytes of blocks handed out and not freed
  uint64_t slabs_in_use = 0;    // slabs holding a block or kept empty by their class
  uint64_t slabs_released = 0;  // times an empty slab gave its pages back
  uint64_t mapped_bytes = 0;    // address space of the regions
};
SlabStats GetSlabStats();

}  // namespace cowtree::tree
