// Per-thread caches of small fixed-size blocks, and an allocator using them: for the
// objects the writer creates and frees once per touched leaf (LeafBox with its shared_ptr
// control block, the control blocks of pooled LeafData / InternalNode).
//
// Why. glibc's fast bins serve such blocks, but every reuse reads the freed block's link word
// (a cache miss on a block freed thousands of allocations ago); the thread cache (tcache)
// holds only 7 blocks per size. These caches keep the free blocks' addresses in a per-thread
// array, so an allocation touches no cold memory before the constructor writes it.
//
// Contract
// - AllocateBlock(bytes) returns storage for `bytes` bytes aligned to
//   __STDCPP_DEFAULT_NEW_ALIGNMENT__ (a cached block of the same 16-byte class, or a new one
//   from that class's slabs, tree/block_slab.h: apart from the malloc heap, so that these
//   long-lived blocks do not pin heap pages among freed leaf contents); FreeBlock(p, bytes)
//   takes it back with the same `bytes` (cached by the calling thread, or returned to its
//   slab). Blocks may be freed by any thread, not only the one that allocated them. Sizes 0 and
//   above kBlockBytesMax are never cached: ::operator new / delete. Throws std::bad_alloc when
//   no slab can be mapped, as ::operator new would.
// - Each thread caches at most kThreadCacheBytesMax bytes; its cache is freed at thread exit.
// - CachingAllocator<T>: a stateless std allocator over these functions (for
//   std::allocate_shared and the allocator argument of std::shared_ptr's constructor).
// Thread-safety: the caches are thread_local; the slabs behind them take their own locks.
#pragma once

#include <cstddef>
#include <new>

namespace cowtree::tree {

inline constexpr size_t kBlockBytesMax = 256;
inline constexpr size_t kThreadCacheBytesMax = size_t{2} << 20;

void* AllocateBlock(size_t bytes);
void FreeBlock(void* p, size_t bytes);
// Bytes of free blocks the calling thread's cache holds now (<= kThreadCacheBytesMax).
size_t ThreadCachedBlockBytes();

template <typename T>
class CachingAllocator {
 public:
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

  CachingAllocator() = default;
  template <typename U>
  CachingAllocator(const CachingAllocator<U>&) {}  // NOLINT: allocators convert implicitly

  T* allocate(size_t n) { return static_cast<T*>(AllocateBlock(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { FreeBlock(p, n * sizeof(T)); }

  template <typename U>
  bool operator==(const CachingAllocator<U>&) const {
    return true;
  }
};

}  // namespace cowtree::tree
