// The superblock: the store's commit point. File SUPERBLOCK holds four 4096-byte copies at
// offsets 0, 4096, 8192 and 12288, two per generation: generation G is written to copies
// 2·(G % 2) and 2·(G % 2) + 1 (each in its own 4 KiB sector, each fdatasync'd before the next),
// so the pair that describes the previous checkpoint is never touched while the next one is
// written, and any single damaged sector leaves a verifying copy of the newest generation.
// Open picks the newest generation any copy of which verifies. Byte layout, CRC coverage and a
// worked example: docs/superblock.md.
//
// Copy layout (little-endian; offsets in bytes):
//    0 magic u64 "CWTSUPB1"          8 format_version u32 = 2    12 copy_size_bytes u32 = 4096
//   16 generation u64 (>= 1)        24 checkpoint_epoch u64     32 manifest_generation u64
//   40 ot_checkpoint_id u64         48 log_replay_file_number u64
//   56 log_replay_offset_bytes u64  64 catalog_root u64         72 ot_handle_count u64
//   80 store_id 16 bytes (never all zero)
//   96 .. 4091 reserved, zero       4092 crc32c u32 over bytes [0, 4092)
// Format version 1 (two copies, no store id) is refused with a Corruption that says so.
//
// Contract
// - EncodeSuperblock asserts the invariants (a violation is our bug) and returns 4096 bytes.
// - DecodeSuperblock verifies magic, CRC, version, copy size, reserved bytes and invariants;
//   Corruption names the offset (file_offset_for_messages + field offset) and the reason.
// - WriteSuperblock(env, dir, data): writes ONLY the two copies of data.generation's pair,
//   one after the other, each followed by fdatasync; if it created the file, also SyncDir(dir).
//   Returns when durable. The caller guarantees generations increase by one per write and that
//   everything the copy references is durable before the call.
// - ReadSuperblock(env, dir): NotFound if SUPERBLOCK is missing; otherwise reads all copies and
//   reports each copy's status (so fsck can name a bad copy) and the newest valid one.
//   A copy in the other generation's pair (a misdirected write) is unusable and reported in
//   its status. Corruption if no copy is usable, if two verifying copies of one generation
//   differ, or if copies name two stores. If `expected`
//   is given (non-zero), copies of another store are refused.
// - Thread-safety: functions are reentrant; callers serialize writers (one checkpoint at a
//   time).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "persistence/env.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

inline constexpr uint64_t kSuperblockMagic = 0x3142505553545743ull;  // "CWTSUPB1" on disk
inline constexpr uint32_t kSuperblockFormatVersion = 2;
inline constexpr size_t kSuperblockCopySize = 4096;
inline constexpr size_t kSuperblockCopies = 4;
inline constexpr size_t kSuperblockCopiesPerGeneration = 2;
inline constexpr size_t kSuperblockFileBytes = kSuperblockCopies * kSuperblockCopySize;
// Whether copy `index` is one of the two copies that hold `generation`.
inline bool SuperblockCopyHolds(size_t index, uint64_t generation) {
  return index / kSuperblockCopiesPerGeneration == generation % 2;
}

inline constexpr size_t kSbMagicOffset = 0;
inline constexpr size_t kSbVersionOffset = 8;
inline constexpr size_t kSbCopySizeOffset = 12;
inline constexpr size_t kSbGenerationOffset = 16;
inline constexpr size_t kSbCheckpointEpochOffset = 24;
inline constexpr size_t kSbManifestGenerationOffset = 32;
inline constexpr size_t kSbOtCheckpointIdOffset = 40;
inline constexpr size_t kSbLogReplayFileNumberOffset = 48;
inline constexpr size_t kSbLogReplayOffsetOffset = 56;
inline constexpr size_t kSbCatalogRootOffset = 64;
inline constexpr size_t kSbOtHandleCountOffset = 72;
inline constexpr size_t kSbStoreIdOffset = 80;
inline constexpr size_t kSbReservedOffset = 96;
inline constexpr size_t kSbCrcOffset = 4092;
static_assert(kSbCrcOffset + 4 == kSuperblockCopySize);
static_assert(kSbOtHandleCountOffset + 8 == kSbStoreIdOffset);
static_assert(kSbStoreIdOffset + StoreId::kBytes == kSbReservedOffset);

struct SuperblockData {
  uint64_t generation = 0;               // >= 1, +1 per write; selects the copy pair (G % 2)
  uint64_t checkpoint_epoch = 0;         // every commit with epoch <= this is in the checkpoint
  uint64_t manifest_generation = 0;      // MANIFEST-<n>.json describing the files; 0 = none yet
  uint64_t ot_checkpoint_id = 0;         // ot-<n>.otc; 0 = none (empty object table)
  uint64_t log_replay_file_number = 0;   // replay starts here (>= 1)
  uint64_t log_replay_offset_bytes = 0;  // ... at this offset (< 32 = just after the header)
  uint64_t catalog_root = 0;             // NodeID raw of the catalog root; 0 = empty catalog
  uint64_t ot_handle_count = 0;  // informational: OT handles ever allocated (live, reserved or
                                 // free-listed) as of the checkpoint
  StoreId store_id;              // the store's identity (never zero)
  friend bool operator==(const SuperblockData&, const SuperblockData&) = default;
};

// 4096 bytes of one copy. Asserts generation >= 1, log_replay_file_number >= 1, a non-zero
// store id and that catalog_root is 0 or a valid NodeID (non-zero tag).
std::string EncodeSuperblock(const SuperblockData& data);

// Decodes one 4096-byte copy (a shorter input is "short file").
Result<SuperblockData> DecodeSuperblock(std::string_view copy, uint64_t file_offset_for_messages);

Status WriteSuperblock(Env* env, const std::string& dir, const SuperblockData& data);

// Creates SUPERBLOCK atomically (store creation, fsck's rebuild): the whole file is written
// under a temporary name (O_EXCL after removing a leftover), fdatasync'd, renamed into place and
// the directory fsynced, so a crash leaves either no SUPERBLOCK or a complete one — never one
// whose copies do not verify. Same layout as WriteSuperblock. IOError/NoSpace from the Env.
Status WriteNewSuperblock(Env* env, const std::string& dir, const SuperblockData& data);

struct SuperblockCopyStatus {
  Status status;                       // OK, or Corruption naming copy index, offset, reason
  std::optional<SuperblockData> data;  // set if status is OK
};

struct SuperblockReadResult {
  SuperblockData newest;  // the newest copy that verifies
  size_t newest_copy_index = 0;
  std::array<SuperblockCopyStatus, kSuperblockCopies> copies;
};

Result<SuperblockReadResult> ReadSuperblock(Env* env, const std::string& dir,
                                            const StoreId& expected = StoreId());

}  // namespace cowtree
