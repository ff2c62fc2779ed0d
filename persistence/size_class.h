// Size classes of the segment allocator and of the data files (docs/data_files.md): powers of
// two from 1 KiB to 256 KiB, one data file each. The one definition of these constants.
// The 1 and 2 KiB classes hold compact leaves (docs/node_format.md: a leaf of 240 random int64
// keys encodes to ~1.7 KB) and other small objects without the slack of a 4 KiB slot.
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>

namespace cowtree {

inline constexpr uint32_t kMinSizeClassBytes = 1024;
inline constexpr uint32_t kMaxSizeClassBytes = 256 * 1024;
// 1, 2, 4, 8, 16, 32, 64, 128, 256 KiB.
inline constexpr int kSizeClassCount = 9;

// True iff size_class_bytes is a power of two in [kMinSizeClassBytes, kMaxSizeClassBytes].
constexpr bool IsValidSizeClass(uint64_t size_class_bytes) {
  return size_class_bytes >= kMinSizeClassBytes && size_class_bytes <= kMaxSizeClassBytes &&
         (size_class_bytes & (size_class_bytes - 1)) == 0;
}
// 0 for 1 KiB ... 8 for 256 KiB. Requires IsValidSizeClass.
int SizeClassIndex(uint32_t size_class_bytes);
constexpr uint32_t SizeClassBytesAt(int index) { return kMinSizeClassBytes << index; }
static_assert(SizeClassBytesAt(kSizeClassCount - 1) == kMaxSizeClassBytes);
static_assert(kMinSizeClassBytes % 1024 == 0);  // data file names count whole KiB

}  // namespace cowtree
