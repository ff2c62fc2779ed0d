// Size classes of the segment allocator and of the data files (docs/data_files.md): powers of
// two from 4 KiB to 256 KiB, one data file each. The one definition of these constants.
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>

namespace cowtree {

inline constexpr uint32_t kMinSizeClassBytes = 4 * 1024;
inline constexpr uint32_t kMaxSizeClassBytes = 256 * 1024;
// 4, 8, 16, 32, 64, 128, 256 KiB.
inline constexpr int kSizeClassCount = 7;

// True iff size_class_bytes is a power of two in [kMinSizeClassBytes, kMaxSizeClassBytes].
constexpr bool IsValidSizeClass(uint64_t size_class_bytes) {
  return size_class_bytes >= kMinSizeClassBytes && size_class_bytes <= kMaxSizeClassBytes &&
         (size_class_bytes & (size_class_bytes - 1)) == 0;
}
// 0 for 4 KiB ... 6 for 256 KiB. Requires IsValidSizeClass.
int SizeClassIndex(uint32_t size_class_bytes);
constexpr uint32_t SizeClassBytesAt(int index) { return kMinSizeClassBytes << index; }

}  // namespace cowtree
