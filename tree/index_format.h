// On-disk body of a summary index chunk (CWSI) and the 40-byte child reference shared with the
// tree descriptor (tree/summary_format.h). Byte-by-byte description, CRC coverage, worked
// example and edge cases: docs/summary_chunk.md "Summary index chunk".
//
// A tree's summary index is a tree of chunks: level 0 are the summary chunks (CWSC, one
// summary per leaf), level L >= 1 are index chunks whose refs name level L - 1 chunks, and the
// descriptor's refs name the chunks of level index_height - 1. Every ref carries the totals of
// the subtree it names, so each chunk is checked against its parent when read.
//
// Index chunk body (n = ref_count; all integers little-endian):
//   offset     width  field           value
//   0          4      magic           "CWSI" (LE u32 0x49535743)
//   4          2      format_version  1
//   6          1      key_type        1 int64, 2 double (must equal the descriptor's)
//   7          1      level           1..kIndexHeightMax - 1 (its refs name level - 1 chunks)
//   8          4      ref_count       n >= 1
//   12         4      reserved        0 (checked)
//   16 + 40j   40     ref j           child_id u64 (NodeID raw), first_key u64, leaf_count u64,
//                                     entry_count u64, pos_sum u64
//   16 + 40n   4      crc32c          CRC32C of bytes [0, 16 + 40n)
//
// Contract
// - EncodeIndexChunk asserts its input is what DecodeIndexChunk accepts.
// - DecodeIndexChunk verifies size, magic, version, exact size, crc32c (before any semantic
//   field), reserved zero, key_type, level, ref_count >= 1 and every ref (CheckIndexRefs).
// - CheckIndexRefs (shared with the descriptor): child ids valid, leaf_count >= 1,
//   leaf_count <= entry_count <= leaf_count * kLeafCapacityMax, pos_sum <= entry_count *
//   (2^63 - 1), first keys strictly increasing; the sums of leaf_count, entry_count and pos_sum
//   (128-bit) are returned. Which totals a chunk must have is its parent's business
//   (tree/summary_index.h).
// - Every failure is a Corruption naming the structure, byte offset and the expected value.
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
#include "tree/key_codec.h"
#include "tree/tree_shape.h"

namespace cowtree::tree {

inline constexpr uint32_t kIndexChunkMagic = MagicFromChars("CWSI");
inline constexpr uint16_t kIndexChunkFormatVersion = 1;
inline constexpr size_t kIndexKeyTypeOffset = 6;
inline constexpr size_t kIndexLevelOffset = 7;
inline constexpr size_t kIndexRefCountOffset = 8;
inline constexpr size_t kIndexReservedOffset = 12;
inline constexpr size_t kIndexHeaderBytes = 16;
static_assert(kIndexChunkMagic == 0x49535743);
static_assert(kIndexReservedOffset + 4 == kIndexHeaderBytes);

// The 40-byte ref record (index chunks and descriptor version 2).
inline constexpr size_t kIndexRefBytes = 40;
inline constexpr size_t kRefFirstKeyOffset = 8;
inline constexpr size_t kRefLeafCountOffset = 16;
inline constexpr size_t kRefEntryCountOffset = 24;
inline constexpr size_t kRefPosSumOffset = 32;
static_assert(kRefPosSumOffset + 8 == kIndexRefBytes);

// Chunk levels below a descriptor: 1 (refs name summary chunks) .. kIndexHeightMax. With the
// smallest ref limit (2) that is 2^31 summary chunks; with the default (817) far beyond 2^64.
inline constexpr uint32_t kIndexHeightMax = 32;

// Default limit of refs per index chunk (and per descriptor): the largest n whose body
// (20 + 40 n bytes) plus the object store's 32-byte envelope fits one 32 KiB size class.
inline constexpr size_t kIndexRefsMax = 817;

constexpr size_t IndexChunkBodyBytes(size_t ref_count) {
  return kIndexHeaderBytes + kIndexRefBytes * ref_count + 4;
}
static_assert(IndexChunkBodyBytes(kIndexRefsMax) + 32 <= 32768);
static_assert(IndexChunkBodyBytes(kIndexRefsMax + 1) + 32 > 32768);

// A reference to one child chunk, with the totals of the subtree it names.
struct IndexRef {
  NodeID child_id;
  uint64_t first_key = 0;    // first key of the subtree's first leaf summary
  uint64_t leaf_count = 0;   // leaf summaries in the subtree
  uint64_t entry_count = 0;  // sum of their entry counts
  uint64_t pos_sum = 0;      // sum of their positive sums
  friend bool operator==(const IndexRef&, const IndexRef&) = default;
};

struct IndexChunk {
  KeyType key_type = KeyType::kInt64;
  uint32_t level = 1;
  std::vector<IndexRef> refs;  // in key order
  friend bool operator==(const IndexChunk&, const IndexChunk&) = default;
};

// Sums of a run of refs (128-bit: a corrupt chunk may overflow u64).
struct RefTotals {
  unsigned __int128 leaf_count = 0;
  unsigned __int128 entry_count = 0;
  unsigned __int128 pos_sum = 0;
};

std::string EncodeIndexChunk(const IndexChunk& chunk);
Result<IndexChunk> DecodeIndexChunk(std::string_view body);

// Appends / reads one 40-byte ref.
void PutIndexRef(std::string* out, const IndexRef& ref);
IndexRef DecodeIndexRef(const char* p);

// Checks refs[j] (encoded at base_offset + 40 j of the structure `what`) as the header says;
// sums them into *totals.
Status CheckIndexRefs(std::string_view what, size_t base_offset, std::span<const IndexRef> refs,
                      RefTotals* totals);

}  // namespace cowtree::tree
