#include "tree/shared_cell.h"

#include <cstdint>
#include <functional>

namespace cowtree::tree {
namespace {

constexpr size_t kStripes = 256;

struct alignas(64) PaddedMutex {
  std::mutex mu;
};

PaddedMutex g_stripes[kStripes];

}  // namespace

std::mutex& SharedCellLock(const void* address) {
  // Cells are at least 16 bytes apart; mix the bits so neighbors use different stripes.
  const auto a = reinterpret_cast<uintptr_t>(address);
  const size_t h = std::hash<uintptr_t>()(a >> 4) * 0x9E3779B97F4A7C15ull >> 56;
  return g_stripes[h % kStripes].mu;
}

}  // namespace cowtree::tree
