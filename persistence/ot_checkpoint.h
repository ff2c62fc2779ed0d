// OT checkpoint: a binary snapshot of the object table in "ot-NNNNNN.otc" (OtCheckpointFileName),
// written periodically so that OT-delta replay stays bounded, read back by mmap. Byte layout,
// CRC coverage, a worked hex example and edge cases: docs/ot_checkpoint.md.
//
//   header (64 bytes)
//     0   u64  magic "CWTOTCK1"             32  u64  entry_count
//     8   u32  format_version = 2           40  16 bytes store_id (never zero)
//     12  u32  reserved = 0                 56  u32  reserved = 0
//                                           60  u32  header_crc32c (covers bytes [0, 60))
//     16  u64  checkpoint_id (>= 1)
//     24  u64  epoch: the OT state as of this epoch
//   entry_count x 48-byte OT records (docs/object_table.md), strictly increasing handle
//   footer (24 bytes)
//     0   u64  entry_count (again)          16  u32  reserved = 0
//     8   u32  entries_crc32c (all records) 20  u32  footer_crc32c (covers footer [0, 20))
//     12  u32  footer magic "CWTF"
//   file size = 64 + 48 * entry_count + 24, exactly.
//
// Contract
// - WriteOtCheckpoint writes the OT state as of `epoch`: every entry of `table` except those
//   retired at an epoch <= `epoch` that no retained checkpoint of `retained` references
//   (docs/retained_checkpoints.md: those stay, with their retire_epoch) (the others are not
//   part of that state; their slots and handles
//   are free after recovery — including them would make a later reuse of the handle look like a
//   conflict, and would leak their slots), then fdatasyncs the file and fsyncs dir. It writes the
//   final name directly (creating or truncating it): that is safe because the superblock names a
//   checkpoint only after this returns OK, and the caller never reuses the id of a checkpoint a
//   superblock may name. The table must not change meanwhile (the caller holds the writer role).
//   Errors: IOError / NoSpace from the Env.
// - ReadOtCheckpoint maps the file (File::Map) and verifies everything before returning: size,
//   magics, version, reserved bytes, both CRCs, the checkpoint id, entry counts, every record,
//   and the strict handle order (no duplicates). Any failure is Corruption naming the file, the
//   byte offset and what was expected; a missing file is NotFound; I/O failures are IOError.
// - OtCheckpointContents keeps the mapping; it is immutable and safe to share across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "persistence/env.h"
#include "persistence/object_table.h"
#include "persistence/ot_entry.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

namespace ot_checkpoint_internal {
constexpr uint64_t MagicFromChars(const char (&s)[9]) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
}  // namespace ot_checkpoint_internal

inline constexpr uint64_t kOtCheckpointMagic = ot_checkpoint_internal::MagicFromChars("CWTOTCK1");
static_assert(kOtCheckpointMagic == 0x314B43544F545743ull);
inline constexpr uint32_t kOtCheckpointFooterMagic = 0x46545743;  // bytes "CWTF"
inline constexpr uint32_t kOtCheckpointFormatVersion = 2;         // 2: store_id (1 is refused)
inline constexpr size_t kOtCheckpointHeaderBytes = 64;
inline constexpr size_t kOtCheckpointHeaderCrcOffset = 60;
inline constexpr size_t kOtCheckpointFooterBytes = 24;
inline constexpr size_t kOtCheckpointFooterCrcOffset = 20;
static_assert(kOtCheckpointHeaderCrcOffset + 4 == kOtCheckpointHeaderBytes);
static_assert(kOtCheckpointFooterCrcOffset + 4 == kOtCheckpointFooterBytes);

// Bytes of a checkpoint file with entry_count records.
constexpr uint64_t OtCheckpointFileBytes(uint64_t entry_count) {
  return kOtCheckpointHeaderBytes + entry_count * kOtRecordBytes + kOtCheckpointFooterBytes;
}

// A verified, mapped checkpoint.
class OtCheckpointContents {
 public:
  uint64_t checkpoint_id() const { return checkpoint_id_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t entry_count() const { return entry_count_; }
  const StoreId& store_id() const { return store_id_; }
  const std::string& path() const { return path_; }
  // Record i (0 <= i < entry_count), decoded from the mapping and validated again (the file
  // could have been changed on disk after ReadOtCheckpoint): Corruption if it no longer is.
  Result<OtRecord> record(uint64_t i) const;
  // ObjectTable::LoadEntry for every record (through LoadEntries: two threads from 65 536
  // records on, each decoding and loading the records of half the shards). The caller then
  // applies the OT deltas logged after this checkpoint and calls FinishLoad.
  // An entry retired at an epoch <= this checkpoint's epoch that no retained checkpoint of
  // `retained` references (one deleted since) is skipped: its slot and handle are free.
  // (The superblock's ot_handle_count is not a bound on the records' handles: stores written
  // before 2026-12-08 could record a count below the handles of such skipped records, and
  // one that bounded them refused a healthy store; adversarial round 18.)
  Status LoadInto(ObjectTable& table, const RetainedEpochs& retained = RetainedEpochs()) const;

 private:
  friend Result<OtCheckpointContents> ReadOtCheckpoint(Env*, const std::string&, uint64_t,
                                                       const StoreId&);
  std::unique_ptr<MappedRegion> region_;
  std::string path_;
  uint64_t checkpoint_id_ = 0;
  uint64_t epoch_ = 0;
  uint64_t entry_count_ = 0;
  StoreId store_id_;
};

// Writes dir/OtCheckpointFileName(id) (id >= 1) holding every entry of table, as of `epoch`.
// store_id: the store's identity, written into the header (asserted non-zero).
Status WriteOtCheckpoint(Env* env, const std::string& dir, uint64_t id, uint64_t epoch,
                         const ObjectTable& table, const StoreId& store_id,
                         const RetainedEpochs& retained = RetainedEpochs());

// Reads and verifies dir/OtCheckpointFileName(id). expected: the superblock's store id
// (Corruption naming the file if the header's differs); zero accepts any store.
Result<OtCheckpointContents> ReadOtCheckpoint(Env* env, const std::string& dir, uint64_t id,
                                              const StoreId& expected = StoreId());

}  // namespace cowtree
