// On-disk bodies of a tree's checkpoint index: summary chunks and the tree descriptor.
// Byte-by-byte description, CRC coverage, worked example and edge cases: docs/summary_chunk.md.
//
// Summary chunk body (n = summary_count; all integers little-endian):
//   offset     width  field           value
//   0          4      magic           "CWSC" (LE u32 0x43535743)
//   4          2      format_version  1
//   6          2      reserved        0 (checked)
//   8          4      summary_count   n >= 1
//   12         4      reserved        0 (checked)
//   16 + 32i   32     summary i       first_key u64, pos_sum u64, entry_count u32,
//                                     reserved u32 (0), leaf_id u64 (NodeID raw)
//   16 + 32n   4      crc32c          CRC32C of bytes [0, 16 + 32n)
//
// Tree descriptor body, version 2 (c = ref_count; docs/summary_chunk.md):
//   0   4  magic "CWTD" (LE u32 0x44545743)    4   2  format_version 2
//   6   1  key_type                            7   1  index_height h (1..kIndexHeightMax)
//   8   4  leaf_capacity_entries (at write)    12  4  fanout (at write; informational)
//   16  8  positive_count (N)                  24  8  entry_count
//   32  8  leaf_count                          40  4  ref_count c
//   44  4  reserved 0
//   48 + 40j  40  ref j (tree/index_format.h IndexRef): names a chunk of level h - 1 (a summary
//                 chunk when h = 1, else an index chunk) with its subtree's totals
//   48 + 40c  4   crc32c of bytes [0, 48 + 40c)
// Version 1 (read, never written): byte 7 reserved 0, 24-byte refs {chunk_id u64,
// summary_count u32, reserved u32, first_key u64}, always one level.
//
// Contract
// - Encode* assert their input is valid (what Decode* would accept); checked right before
//   writing.
// - DecodeSummaryChunk verifies size, magic, version, exact size, crc32c, reserved zero,
//   summary_count >= 1, and per summary: entry_count in 1..kLeafCapacityMax, reserved zero,
//   valid leaf_id, first keys strictly increasing within the chunk. (Order across chunks and
//   canonical keys are checked by BuildFromSummaries, which sees the whole list.)
// - DecodeTreeDescriptor verifies size, magic, version (1 or 2), exact size, crc32c, key_type,
//   reserved zero, shape within limits, index_height in 1..kIndexHeightMax (1 when empty),
//   ref_count == 0 iff leaf_count == 0, leaf_count <= entry_count <= leaf_count *
//   kLeafCapacityMax, every ref (tree/index_format.h CheckIndexRefs; version 1: ids valid,
//   summary_count >= 1, first keys strictly increasing), and that the refs' totals equal the
//   header's (version 1: leaf_count only). Children are checked against their refs by the
//   reader of the index (tree/summary_index.h).
// - Every failure is a Corruption naming the structure, offset and what was expected.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/node_id.h"
#include "persistence/status.h"
#include "tree/format_util.h"
#include "tree/index_format.h"
#include "tree/key_codec.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

inline constexpr uint32_t kSummaryChunkMagic = MagicFromChars("CWSC");
inline constexpr uint16_t kSummaryChunkFormatVersion = 1;
inline constexpr size_t kChunkCountOffset = 8;
inline constexpr size_t kChunkReserved16Offset = 6;
inline constexpr size_t kChunkReserved32Offset = 12;
inline constexpr size_t kChunkHeaderBytes = 16;
inline constexpr size_t kChunkRecordBytes = 32;
inline constexpr size_t kChunkRecordEntryCountOffset = 16;
inline constexpr size_t kChunkRecordReservedOffset = 20;
inline constexpr size_t kChunkRecordLeafIdOffset = 24;
static_assert(kSummaryChunkMagic == 0x43535743);
static_assert(kChunkReserved32Offset + 4 == kChunkHeaderBytes);
static_assert(kChunkRecordLeafIdOffset + 8 == kChunkRecordBytes);

constexpr size_t SummaryChunkBodyBytes(size_t summary_count) {
  return kChunkHeaderBytes + kChunkRecordBytes * summary_count + 4;
}

inline constexpr uint32_t kTreeDescriptorMagic = MagicFromChars("CWTD");
inline constexpr uint16_t kTreeDescriptorFormatVersion = 2;
inline constexpr uint16_t kTreeDescriptorFormatVersionV1 = 1;  // read, never written
inline constexpr size_t kDescKeyTypeOffset = 6;
inline constexpr size_t kDescIndexHeightOffset = 7;  // version 1: reserved 0
inline constexpr size_t kDescLeafCapacityOffset = 8;
inline constexpr size_t kDescFanoutOffset = 12;
inline constexpr size_t kDescPositiveCountOffset = 16;
inline constexpr size_t kDescEntryCountOffset = 24;
inline constexpr size_t kDescLeafCountOffset = 32;
inline constexpr size_t kDescRefCountOffset = 40;
inline constexpr size_t kDescReserved32Offset = 44;
inline constexpr size_t kDescHeaderBytes = 48;
inline constexpr size_t kDescRefBytesV1 = 24;
static_assert(kTreeDescriptorMagic == 0x44545743);
static_assert(kDescReserved32Offset + 4 == kDescHeaderBytes);

constexpr size_t TreeDescriptorBodyBytes(size_t ref_count) {
  return kDescHeaderBytes + kIndexRefBytes * ref_count + 4;
}
static_assert(TreeDescriptorBodyBytes(kIndexRefsMax) + 32 <= 32768);

struct TreeDescriptor {
  uint16_t format_version = kTreeDescriptorFormatVersion;  // 1: decoded from an older store
  KeyType key_type = KeyType::kInt64;
  uint32_t index_height = 1;           // chunk levels below the descriptor
  uint32_t leaf_capacity_entries = 0;  // shape at write time (informational)
  uint32_t fanout = 0;
  uint64_t positive_count = 0;
  uint64_t entry_count = 0;
  uint64_t leaf_count = 0;
  // In key order; each names a chunk of level index_height - 1. Version 1: entry_count and
  // pos_sum are 0 (not stored; only the descriptor's totals are checked).
  std::vector<IndexRef> refs;
  bool ref_totals_known() const { return format_version >= 2; }
  friend bool operator==(const TreeDescriptor&, const TreeDescriptor&) = default;
};

std::string EncodeSummaryChunk(std::span<const PersistedSummary> summaries);
Result<std::vector<PersistedSummary>> DecodeSummaryChunk(std::string_view body);

// Writes version 2 (asserts format_version == 2).
std::string EncodeTreeDescriptor(const TreeDescriptor& descriptor);
Result<TreeDescriptor> DecodeTreeDescriptor(std::string_view body);

}  // namespace cowtree::tree
