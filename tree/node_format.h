// On-disk body of a leaf, and the umbrella header of the tree's on-disk formats (this header
// also brings in the summary chunk / tree descriptor formats and the chunk planner).
// Byte-by-byte description, CRC coverage, a worked hex example and edge cases:
// docs/node_format.md (leaf) and docs/summary_chunk.md (summary chunk, tree descriptor).
//
// Leaf body, format_version 3 (written by this build; all fixed integers little-endian;
// n = entry_count, E = entries_bytes):
//   offset     width  field           value
//   0          4      magic           "CWLF" (LE u32 0x464C5743)
//   4          2      format_version  3
//   6          1      key_type        KeyType (1 int64, 2 double)
//   7          1      flags           bit 0 kLeafFlagUnitWeights: every weight is 1 and the
//                                     weights run is omitted; bits 1..7 zero (checked)
//   8          4      entry_count     n, 1..kLeafCapacityMax
//   12         4      entries_bytes   E, the length of the varint area below
//   16         8      first_key       ordered code of key 0
//   24         E      key_gaps        n - 1 LEB128 varints: code[i] - code[i-1] >= 1
//                     weights         then n zigzag LEB128 varints, != 0 (absent with bit 0;
//                                     with bit 0 clear at least one weight is not 1)
//   24+E       4      crc32c          CRC32C of bytes [0, 24+E)
// Total 28 + E bytes; a weight of +-1 costs one byte (none when all are 1), a key gap below
// 2^42 six bytes.
// Format_version 2 (older builds; still read, never written): the same layout with byte 7
// reserved (0) and the weights run always present. Format_version 1 (older builds; still
// read, never written): 16-byte header (bytes 12..16 reserved 0), 8-byte key codes, 8-byte
// weights, crc32c: 20 + 16n bytes.
// The object store wraps the body in its own envelope (magic, NodeID, CRC); the body is still
// self-describing so that a misdirected or stale read is detected here.
//
// Contract
// - EncodeLeaf asserts its input is a valid leaf of `key_type` (1..kLeafCapacityMax entries,
//   strictly increasing canonical keys, no zero weight) and writes version 3, with the unit
//   weights flag exactly when every weight is 1 (implicit or held), so that each leaf has one
//   encoding.
// - DecodeLeaf reads versions 1, 2 and 3. It verifies, in this order, size >= 20, magic,
//   format_version, exact size for the header's counts, crc32c, key_type == expected, byte 7
//   (reserved zero in versions 1 and 2; in version 3 no flag but bit 0), entry_count in range,
//   then the entries: every varint complete, at most 10 bytes, within 64 bits and in its
//   shortest form; key gaps >= 1 and not past 2^64 - 1; keys canonical; weights != 0; the
//   varints end exactly at 24 + E; in version 3 without the flag, not every weight is 1; the
//   positive weight sum fits in uint64. Any failure is a Corruption naming the offset and what
//   was expected. It never returns data that failed a check.
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
#include "tree/leaf_varint.h"
#include "tree/summary_format.h"

namespace cowtree::tree {

class LeafDataPool;

inline constexpr uint32_t kLeafMagic = MagicFromChars("CWLF");
inline constexpr uint16_t kLeafFormatVersion = 3;
inline constexpr uint16_t kLeafFormatVersionV2 = 2;          // read only: no flags byte
inline constexpr uint16_t kLeafFormatVersionFixedWidth = 1;  // read only
inline constexpr size_t kLeafMagicOffset = 0;
inline constexpr size_t kLeafVersionOffset = 4;
inline constexpr size_t kLeafKeyTypeOffset = 6;
inline constexpr size_t kLeafFlagsOffset = 7;  // versions 1 and 2: reserved, 0
inline constexpr uint8_t kLeafFlagUnitWeights = 0x01;
inline constexpr size_t kLeafEntryCountOffset = 8;
inline constexpr size_t kLeafEntriesBytesOffset = 12;  // v2, v3; v1: a reserved u32
inline constexpr size_t kLeafFirstKeyOffset = 16;      // v2, v3
inline constexpr size_t kLeafHeaderBytes = 24;         // v2, v3
inline constexpr size_t kLeafCrcBytes = 4;
static_assert(kLeafMagic == 0x464C5743);
static_assert(kLeafVersionOffset == kLeafMagicOffset + 4);
static_assert(kLeafKeyTypeOffset == kLeafVersionOffset + 2);
static_assert(kLeafFlagsOffset == kLeafKeyTypeOffset + 1);
static_assert(kLeafEntryCountOffset == kLeafFlagsOffset + 1);
static_assert(kLeafEntriesBytesOffset == kLeafEntryCountOffset + 4);
static_assert(kLeafFirstKeyOffset == kLeafEntriesBytesOffset + 4);
static_assert(kLeafHeaderBytes == kLeafFirstKeyOffset + 8);

// Version 1 layout (read only): header of 16 bytes, then 8n key bytes and 8n weight bytes.
inline constexpr size_t kLeafV1HeaderBytes = 16;
inline constexpr size_t kLeafV1EntryBytes = 16;  // one key (8) + one weight (8)
constexpr size_t LeafV1BodyBytes(size_t entry_count) {
  return kLeafV1HeaderBytes + kLeafV1EntryBytes * entry_count + kLeafCrcBytes;
}
static_assert(LeafV1BodyBytes(2) == 52);
// The shortest body any version can have (a v1 body of no entries); DecodeLeaf's first check.
inline constexpr size_t kLeafBodyBytesMin = LeafV1BodyBytes(0);

// Versions 2 and 3: body size for an entries area of `entries_bytes`; the largest a body of
// `entry_count` (>= 1) entries can be (every gap and weight 10 bytes), and the smallest a
// version 3 body of them can be (every gap one byte, unit weights: no weights run).
constexpr size_t LeafBodyBytes(size_t entries_bytes) {
  return kLeafHeaderBytes + entries_bytes + kLeafCrcBytes;
}
constexpr size_t LeafBodyBytesMax(size_t entry_count) {
  return LeafBodyBytes(kVarint64BytesMax * (2 * entry_count - 1));
}
constexpr size_t LeafBodyBytesMin(size_t entry_count) { return LeafBodyBytes(entry_count - 1); }
static_assert(LeafBodyBytes(4) == 32);
static_assert(LeafBodyBytesMin(1) == 28 && LeafBodyBytesMin(1) <= LeafBodyBytesMax(1));
static_assert(LeafBodyBytesMax(4096) < 128 * 1024);  // always within the largest size class

// Exact size of EncodeLeaf(key_type, leaf)'s result, without building it.
size_t EncodedLeafBytes(const LeafData& leaf);
std::string EncodeLeaf(KeyType key_type, const LeafData& leaf);
// pool: where the decoded LeafData comes from (LeafDataPool::Make, so that a leaf read again
// under a memory budget reuses the buffers of one evicted before it); null: a plain
// allocation of exactly the entries.
Result<std::shared_ptr<const LeafData>> DecodeLeaf(std::string_view body, KeyType expected,
                                                   LeafDataPool* pool = nullptr);

// Versions 1 (fixed width) and 2 (weights always written), kept so that tests and fuzz seeds
// can produce the bodies of older builds; the library never writes them. Same preconditions
// as EncodeLeaf.
std::string EncodeLeafV1(KeyType key_type, const LeafData& leaf);
std::string EncodeLeafV2(KeyType key_type, const LeafData& leaf);

// Internal to node_format*.cc. DecodeLeafV1: the version 1 decoder, called by DecodeLeaf
// after the magic and version checks. CheckLeafKeyTypeAndCount: the header checks every
// version shares (key_type, byte 7 holds no bit outside `allowed_flags` — 0 for versions 1
// and 2, whose byte 7 is reserved —, entry_count range), run after the CRC.
Result<std::shared_ptr<const LeafData>> DecodeLeafV1(std::string_view body, KeyType expected);
Status CheckLeafKeyTypeAndCount(std::string_view body, KeyType expected, uint8_t allowed_flags);

}  // namespace cowtree::tree
