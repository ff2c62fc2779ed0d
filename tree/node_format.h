// On-disk body of a leaf, and the umbrella header of the tree's on-disk formats (this header
// also brings in the summary chunk / tree descriptor formats and the chunk planner).
// Byte-by-byte description, CRC coverage, a worked hex example and edge cases:
// docs/node_format.md (leaf) and docs/summary_chunk.md (summary chunk, tree descriptor).
//
// Leaf body (all integers little-endian; n = entry_count):
//   offset     width  field           value
//   0          4      magic           "CWLF" (LE u32 0x464C5743)
//   4          2      format_version  1
//   6          1      key_type        KeyType (1 int64, 2 double)
//   7          1      reserved        0 (checked)
//   8          4      entry_count     n, 1..kLeafCapacityMax
//   12         4      reserved        0 (checked)
//   16         8n     keys            ordered key codes, strictly increasing
//   16+8n      8n     weights         int64, != 0
//   16+16n     4      crc32c          CRC32C of bytes [0, 16+16n)
// Total 20 + 16n bytes. The object store wraps this body in its own envelope (magic, NodeID,
// CRC); the body is still self-describing so that a misdirected or stale read is detected here.
//
// Contract
// - EncodeLeaf asserts its input is a valid leaf of `key_type` (1..kLeafCapacityMax entries,
//   strictly increasing canonical keys, no zero weight): checked right before writing.
// - DecodeLeaf verifies, in this order, size >= 20, magic, format_version, exact size for
//   entry_count, crc32c, key_type == expected, reserved bytes zero, entry_count in range, keys
//   strictly increasing and canonical, weights != 0; any failure is a Corruption naming the
//   offset and what was expected. It never returns data that failed a check.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "persistence/status.h"
#include "tree/chunk_plan.h"
#include "tree/format_util.h"
#include "tree/key_codec.h"
#include "tree/leaf.h"
#include "tree/summary_format.h"

namespace cowtree::tree {

inline constexpr uint32_t kLeafMagic = MagicFromChars("CWLF");
inline constexpr uint16_t kLeafFormatVersion = 1;
inline constexpr size_t kLeafMagicOffset = 0;
inline constexpr size_t kLeafVersionOffset = 4;
inline constexpr size_t kLeafKeyTypeOffset = 6;
inline constexpr size_t kLeafReserved8Offset = 7;
inline constexpr size_t kLeafEntryCountOffset = 8;
inline constexpr size_t kLeafReserved32Offset = 12;
inline constexpr size_t kLeafHeaderBytes = 16;
inline constexpr size_t kLeafEntryBytes = 16;  // one key (8) + one weight (8)
inline constexpr size_t kLeafCrcBytes = 4;
static_assert(kLeafMagic == 0x464C5743);
static_assert(kLeafVersionOffset == kLeafMagicOffset + 4);
static_assert(kLeafKeyTypeOffset == kLeafVersionOffset + 2);
static_assert(kLeafReserved8Offset == kLeafKeyTypeOffset + 1);
static_assert(kLeafEntryCountOffset == kLeafReserved8Offset + 1);
static_assert(kLeafReserved32Offset == kLeafEntryCountOffset + 4);
static_assert(kLeafHeaderBytes == kLeafReserved32Offset + 4);

// Body size of a leaf of `entry_count` entries.
constexpr size_t LeafBodyBytes(size_t entry_count) {
  return kLeafHeaderBytes + kLeafEntryBytes * entry_count + kLeafCrcBytes;
}
static_assert(LeafBodyBytes(2) == 52);

std::string EncodeLeaf(KeyType key_type, const LeafData& leaf);
Result<std::shared_ptr<const LeafData>> DecodeLeaf(std::string_view body, KeyType expected);

}  // namespace cowtree::tree
