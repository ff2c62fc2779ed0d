// OT-delta payload: the object-table changes of one checkpoint, carried in a delta-log record
// (the log frame adds length, type, epoch and CRC32C). Byte layout: docs/object_table.md
// ("OT-delta payload").
//
//   header (8 bytes):  format_version u16 = 1 | reserved u16 = 0 | op_count u32
//   op_count ops, each starting with: type u8 | reserved 7 bytes = 0
//     kUpsert (56 bytes): + the 48-byte OT record (NodeID + entry, docs/object_table.md)
//     kRetire (24 bytes): + node_id u64 | retire_epoch u64
//
// Contract
// - EncodeOtDelta asserts each op is valid (upsert: ValidateOtRecord; retire: valid id and
//   retire_epoch != kNotRetired).
// - DecodeOtDelta validates version, reserved bytes, op types, every record and that the
//   payload ends exactly after op_count ops; Corruption names the op index and byte offset.
// - ApplyOtDelta (recovery) applies ops in order to a table in its loading phase: upsert sets
//   the entry (ObjectTable::ReplayUpsert), retire REMOVES it (ObjectTable::ReplayRemove) —
//   unless a retained checkpoint of `retained` references the object: then it stays, retired
//   (ObjectTable::ReplayRetire; docs/retained_checkpoints.md). It
//   does not filter: the caller applies exactly the records whose own log epoch is covered by
//   the published checkpoint and not by the OT checkpoint (never filter by an object's birth
//   epoch). Corruption if an op contradicts the table.
// - Thread-safety: pure functions; ApplyOtDelta is single-threaded like the table's loading.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "persistence/retained_epochs.h"
#include <string_view>
#include <vector>

#include "persistence/node_id.h"
#include "persistence/object_table.h"
#include "persistence/ot_entry.h"
#include "persistence/status.h"

namespace cowtree {

struct OtDeltaOp {
  enum Type : uint8_t { kUpsert = 1, kRetire = 2 };
  Type type = kUpsert;
  NodeID id;
  OtEntry entry;              // kUpsert: the object's new entry
  uint64_t retire_epoch = 0;  // kRetire: epoch at which the object was superseded

  friend bool operator==(const OtDeltaOp&, const OtDeltaOp&) = default;
};

inline constexpr uint16_t kOtDeltaFormatVersion = 1;
inline constexpr size_t kOtDeltaHeaderBytes = 8;
inline constexpr size_t kOtDeltaOpPrefixBytes = 8;  // type + 7 reserved
inline constexpr size_t kOtDeltaUpsertBytes = kOtDeltaOpPrefixBytes + kOtRecordBytes;
inline constexpr size_t kOtDeltaRetireBytes = kOtDeltaOpPrefixBytes + 16;
static_assert(kOtDeltaUpsertBytes == 56 && kOtDeltaRetireBytes == 24);

std::string EncodeOtDelta(std::span<const OtDeltaOp> ops);
Result<std::vector<OtDeltaOp>> DecodeOtDelta(std::string_view payload);
Status ApplyOtDelta(ObjectTable& table, const std::vector<OtDeltaOp>& ops,
                    const RetainedEpochs& retained = RetainedEpochs());

}  // namespace cowtree
