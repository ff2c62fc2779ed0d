// OtEntry: what the object table (OT) knows about one object, and its fixed 48-byte on-disk
// record (used by OT checkpoints and OT-delta log payloads). Byte layout, worked example and
// edge cases: docs/object_table.md.
//
// Contract
// - ObjectAddress names a slot of a data file: the file is the data file of size_class_bytes
//   ("data-<N>k.dat"), the slot index is offset_bytes / size_class_bytes, and the object
//   occupies [offset_bytes, offset_bytes + length_bytes) with length_bytes <= size_class_bytes.
//   Size classes are the powers of two in [1 KiB, 256 KiB]; larger objects are not supported
//   in this format version.
// - ObjectKind is an opaque u8 for the substrate: the listed values are the library's own kinds,
//   hosts may use any other non-zero value; 0 is never valid.
// - OtEntry::retire_epoch is kNotRetired for a live object; otherwise the epoch at which the
//   object was superseded (it stays readable by older snapshots until reclaimed). A retired
//   entry always has retire_epoch >= birth_epoch.
// - EncodeOtRecord asserts (COWTREE_ASSERT) that its input is valid: writing a bad record is a
//   bug. DecodeOtRecord validates everything and returns Corruption naming the offending field.
// - Thread-safety: plain values and pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/node_id.h"
#include "persistence/size_class.h"
#include "persistence/status.h"

namespace cowtree {

struct ObjectAddress {
  uint32_t size_class_bytes = 0;  // which data file
  uint64_t offset_bytes = 0;      // byte offset in that file; a multiple of size_class_bytes
  uint32_t length_bytes = 0;      // bytes of the stored object (envelope included)

  // Requires a valid size class (a power of two): a shift, not a division.
  uint64_t slot() const { return offset_bytes >> std::countr_zero(size_class_bytes); }
  friend bool operator==(const ObjectAddress&, const ObjectAddress&) = default;
};

// OK iff the address is well formed (valid class, aligned offset, 0 < length <= class).
// Otherwise Corruption whose message names the field and the expected shape.
Status ValidateObjectAddress(const ObjectAddress& address);
// "data-8k.dat offset 131072 length 5000" — for error messages (file names: DataFileName in
// persistence/file_names.h).
std::string DescribeAddress(const ObjectAddress& address);
// "NodeID(handle=5, tag=2)" — for error messages.
std::string DescribeNodeId(NodeID id);

enum class ObjectKind : uint8_t {
  kLeaf = 1,
  kSummaryChunk = 2,
  kTreeDescriptor = 3,
  kCatalogChunk = 4,
  kCatalogRoot = 5,
  kSummaryIndexChunk = 6,  // a level >= 1 chunk of a tree's summary index (docs/summary_chunk.md)
  kCatalogRootPage = 7,    // a page of a two-level catalog root (docs/catalog.md)
  // 8..255: host-defined. 0: invalid.
};

inline constexpr uint64_t kNotRetired = UINT64_MAX;

struct OtEntry {
  ObjectAddress address;
  ObjectKind kind = ObjectKind::kLeaf;
  uint64_t birth_epoch = 0;             // epoch at which the object was written
  uint64_t retire_epoch = kNotRetired;  // epoch at which it was superseded
  uint32_t payload_crc32c = 0;          // the envelope's CRC (docs/data_files.md)

  bool retired() const { return retire_epoch != kNotRetired; }
  friend bool operator==(const OtEntry&, const OtEntry&) = default;
};

// ---- The 48-byte record: NodeID + OtEntry, little-endian (docs/object_table.md) ----
inline constexpr size_t kOtRecordBytes = 48;
inline constexpr size_t kOtRecordNodeIdOffset = 0;
inline constexpr size_t kOtRecordOffsetOffset = 8;
inline constexpr size_t kOtRecordBirthEpochOffset = 16;
inline constexpr size_t kOtRecordRetireEpochOffset = 24;
inline constexpr size_t kOtRecordSizeClassOffset = 32;
inline constexpr size_t kOtRecordLengthOffset = 36;
inline constexpr size_t kOtRecordPayloadCrcOffset = 40;
inline constexpr size_t kOtRecordKindOffset = 44;
inline constexpr size_t kOtRecordReservedOffset = 45;  // 3 bytes, must be zero
static_assert(kOtRecordReservedOffset + 3 == kOtRecordBytes);

struct OtRecord {
  NodeID id;
  OtEntry entry;
};

// OK iff (id, entry) may be stored: id valid (tag != 0), address valid, kind != 0,
// retire_epoch == kNotRetired or >= birth_epoch. Corruption naming the field otherwise.
Status ValidateOtRecord(NodeID id, const OtEntry& entry);

// Writes exactly kOtRecordBytes to dst. Asserts ValidateOtRecord(id, entry).ok().
void EncodeOtRecord(NodeID id, const OtEntry& entry, char* dst);

// Decodes kOtRecordBytes from src and validates them (including the reserved bytes).
// `where` names the record's location for error messages (e.g. "ot-000007.otc offset 112").
Result<OtRecord> DecodeOtRecord(const char* src, std::string_view where);
// The same without a location: the caller adds it (Status::WithContext) only on failure, so a
// loop over millions of records builds no string per record.
Result<OtRecord> DecodeOtRecord(const char* src);

}  // namespace cowtree
