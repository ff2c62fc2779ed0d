// The object envelope: how one object is stored in its data-file slot. Byte layout, what the
// CRC covers, a worked hex example and edge cases: docs/data_files.md.
//
//   offset  width  field               value
//   0       4      magic               "CWOB" (LE u32 0x424F5743)
//   4       2      format_version      1
//   6       1      kind                ObjectKind, != 0
//   7       1      reserved            0 (checked)
//   8       4      body_length_bytes   <= kMaxObjectBodyBytes
//   12      8      node_id             the NodeID the OT maps to this slot (raw u64)
//   20      8      birth_epoch         epoch at which the object was written
//   28      4      crc32c              CRC32C of bytes [0, 28) followed by the body
//   32      ...    body
// All integers little-endian. The same crc32c is kept in the OT entry (payload_crc32c) so that a
// reader (and fsck) can tell a stale slot from the object the OT names.
//
// Contract
// - EncodeObject asserts its inputs (valid id, kind != 0, body fits the largest class) and
//   returns the CRC it stored.
// - DecodeObject verifies every field against what the OT says (ObjectExpectation) and returns
//   the body as a view into `stored`, or Corruption naming `where` (file + offset), the NodeID,
//   the field and the expected value. It never returns bytes that failed a check.
// - Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/node_id.h"
#include "persistence/ot_entry.h"
#include "persistence/status.h"

namespace cowtree {

inline constexpr uint32_t kObjectMagic = 0x424F5743;  // bytes "CWOB"
inline constexpr uint16_t kObjectFormatVersion = 1;
inline constexpr size_t kObjectHeaderBytes = 32;
inline constexpr size_t kObjectMagicOffset = 0;
inline constexpr size_t kObjectVersionOffset = 4;
inline constexpr size_t kObjectKindOffset = 6;
inline constexpr size_t kObjectReservedOffset = 7;
inline constexpr size_t kObjectBodyLengthOffset = 8;
inline constexpr size_t kObjectNodeIdOffset = 12;
inline constexpr size_t kObjectBirthEpochOffset = 20;
inline constexpr size_t kObjectCrcOffset = 28;
static_assert(kObjectCrcOffset + 4 == kObjectHeaderBytes);
// Largest body: the envelope must fit the largest size class (256 KiB).
inline constexpr uint32_t kMaxObjectBodyBytes = kMaxSizeClassBytes - kObjectHeaderBytes;

// Appends header + body to *out; returns the envelope CRC.
uint32_t EncodeObject(NodeID id, ObjectKind kind, uint64_t birth_epoch, std::string_view body,
                      std::string* out);

// What the OT says about the object in a slot.
struct ObjectExpectation {
  NodeID id;
  ObjectKind kind;
  uint64_t birth_epoch;
  uint32_t stored_length_bytes;  // OtEntry::address.length_bytes (header + body)
  uint32_t crc32c;               // OtEntry::payload_crc32c
};

// Verifies `stored` (exactly the slot's stored_length_bytes) and returns the body.
Result<std::string_view> DecodeObject(std::string_view stored, const ObjectExpectation& expect,
                                      std::string_view where);

}  // namespace cowtree
