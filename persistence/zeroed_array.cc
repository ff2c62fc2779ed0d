#include "persistence/zeroed_array.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

#include "persistence/assert.h"

namespace cowtree::zeroed_array_internal {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;

size_t RoundUp(size_t bytes) { return (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1); }

}  // namespace

void* Allocate(size_t bytes) {
  COWTREE_ASSERT(bytes > 0);
  if (bytes < kHugePageBytes) {
    void* p = std::calloc(1, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  // Map one huge page more than needed, then unmap the unaligned head and the tail.
  const size_t size = RoundUp(bytes);
  void* raw = ::mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = aligned + size;
  const uintptr_t map_end = start + size + kHugePageBytes;
  if (map_end > tail) ::munmap(reinterpret_cast<void*>(tail), map_end - tail);
  (void)::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // a hint only
  return reinterpret_cast<void*>(aligned);
}

void Free(void* p, size_t bytes) {
  if (bytes < kHugePageBytes) {
    std::free(p);
    return;
  }
  COWTREE_ASSERT(::munmap(p, RoundUp(bytes)) == 0);
}

}  // namespace cowtree::zeroed_array_internal
