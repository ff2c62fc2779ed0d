// The delta log's on-disk format: file header, frames, record types, positions.
// Byte-by-byte description with a worked example: docs/log_format.md.
//
// File  log-NNNNNN.log = [file header, 48 bytes][frame][frame]...   (no padding, no blocks)
//   header: magic u64 "CWTLOG01" | format_version u32 = 3 | reserved u32 = 0 | file_number u64 |
//           store_id 16 bytes | reserved u32 = 0 | header_crc32c u32 over bytes [0, 44)
//   frame:  length u32 (payload bytes) | type u8 | reserved 3 bytes = 0 | epoch u64 |
//           synced_offset_bytes u64 | payload (length bytes) | crc32c u32 over [length .. end
//           of payload]
// All integers little-endian. A record never spans two files.
//
// synced_offset_bytes (format version 2) is how much of ITS OWN file the writer knew to be
// durable (covered by a successful fdatasync) when it encoded the frame: 0 if nothing yet,
// never more than the frame's own offset (a frame claiming more does not decode:
// kSyncedOffsetAhead). A stale, smaller value is always legal. Replay uses it to tell a hole
// in the unsynced tail (a crash artifact) from bit rot in synced bytes (log_reader.h).
// store_id (format version 3) names the store the file belongs to (persistence/store_id.h): a
// log file copied from another store is refused, never replayed.
// Versions 1 and 2 (no store id; version 1 also had 16-byte frame headers) are refused with a
// Corruption saying the file was written by an older cowtree.
//
// Contract
// - Encoders assert their inputs (a bad input is a bug of ours); decoders never trust bytes:
//   every failure is a Corruption status naming what was expected.
// - Thread-safety: pure functions and value types.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

// Little-endian u64 whose bytes on disk are the 8 ASCII characters of s ("CWTLOG01" → 'C' first).
constexpr uint64_t MagicFromAscii(const char (&s)[9]) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

inline constexpr uint64_t kLogFileMagic = MagicFromAscii("CWTLOG01");
static_assert(kLogFileMagic == 0x3130474F4C545743ull);
inline constexpr uint32_t kLogFormatVersion = 3;

// File header layout (offsets in bytes).
inline constexpr size_t kLogHeaderMagicOffset = 0;
inline constexpr size_t kLogHeaderVersionOffset = 8;
inline constexpr size_t kLogHeaderReserved1Offset = 12;
inline constexpr size_t kLogHeaderFileNumberOffset = 16;
inline constexpr size_t kLogHeaderStoreIdOffset = 24;
inline constexpr size_t kLogHeaderReserved2Offset = 40;
inline constexpr size_t kLogHeaderCrcOffset = 44;
inline constexpr size_t kLogFileHeaderSize = 48;
static_assert(kLogHeaderStoreIdOffset + StoreId::kBytes == kLogHeaderReserved2Offset);
static_assert(kLogHeaderCrcOffset + 4 == kLogFileHeaderSize);

// Frame layout (offsets in bytes from the frame's start).
inline constexpr size_t kFrameLengthOffset = 0;
inline constexpr size_t kFrameTypeOffset = 4;
inline constexpr size_t kFrameReservedOffset = 5;
inline constexpr size_t kFrameReservedBytes = 3;
inline constexpr size_t kFrameEpochOffset = 8;
inline constexpr size_t kFrameSyncedOffsetOffset = 16;
inline constexpr size_t kFrameHeaderSize = 24;  // payload starts here
inline constexpr size_t kFrameTrailerSize = 4;  // crc32c after the payload
inline constexpr size_t kFrameOverheadBytes = kFrameHeaderSize + kFrameTrailerSize;
static_assert(kFrameReservedOffset + kFrameReservedBytes == kFrameEpochOffset);
static_assert(kFrameEpochOffset + 8 == kFrameSyncedOffsetOffset);
static_assert(kFrameSyncedOffsetOffset + 8 == kFrameHeaderSize);
static_assert(kFrameOverheadBytes == 28);

// Largest payload a frame may carry (a limit, not a size every frame has): 64 MiB.
inline constexpr uint32_t kLogRecordPayloadMax = 64u << 20;

enum class LogRecordType : uint8_t {
  kCommit = 1,           // redo record of one commit (per tree type, registered handler)
  kOtDelta = 2,          // object-table changes of a checkpoint (NodeID → address, retirements)
  kCheckpointBegin = 3,  // a checkpoint at epoch C started
  kCheckpointEnd = 4,    // its OT deltas are all in the log
  kCatalog = 5,          // create/drop tree
};
inline constexpr uint8_t kLogRecordTypeMin = 1;
inline constexpr uint8_t kLogRecordTypeMax = 5;
inline constexpr bool IsValidLogRecordType(uint8_t t) {
  return t >= kLogRecordTypeMin && t <= kLogRecordTypeMax;
}
const char* LogRecordTypeName(LogRecordType type);  // "commit", "ot-delta", ...

// A byte position in the log: (file number, offset in that file). Ordered by file number,
// then offset. Positions returned by the log point just past a frame (or just past the header).
struct LogPosition {
  uint64_t file_number = 0;
  uint64_t offset_bytes = 0;
  friend auto operator<=>(const LogPosition&, const LogPosition&) = default;
  std::string ToString() const;  // "log-000002.log@4096"
};

// ---- File header ----

// The 48 header bytes of log file `file_number` of store `store_id` (asserts file_number >= 1
// and a non-zero store id).
std::string EncodeLogFileHeader(uint64_t file_number, const StoreId& store_id);
// Verifies magic, CRC, version (== kLogFormatVersion; older versions get a message saying so),
// reserved bytes, that the stored number equals expected_file_number, and that the store id is
// non-zero and equals expected_store_id (unless that is zero: "any store", for tools that read
// a lone file). bytes may be longer than the header (only the first 48 are read). Corruption
// names file_name_for_messages, the offset and what was expected.
Status VerifyLogFileHeader(std::string_view bytes, uint64_t expected_file_number,
                           const StoreId& expected_store_id,
                           const std::string& file_name_for_messages);
// The store id a verified header carries.
StoreId LogFileHeaderStoreId(std::string_view header_bytes);

// ---- Frames ----

// Appends one frame to *dst. Asserts type valid and payload.size() <= kLogRecordPayloadMax.
// synced_offset_bytes: the writer's synced end in the file the frame goes to (see the top of
// this file); the caller asserts it is <= the offset the frame will occupy (the encoder does
// not know that offset).
void EncodeFrame(LogRecordType type, uint64_t epoch, uint64_t synced_offset_bytes,
                 std::string_view payload, std::string* dst);
inline constexpr uint64_t FrameSizeBytes(size_t payload_bytes) {
  return kFrameOverheadBytes + static_cast<uint64_t>(payload_bytes);
}

// A decoded frame; payload points into the bytes passed to DecodeFrame (same lifetime).
struct FrameView {
  LogRecordType type = LogRecordType::kCommit;
  uint64_t epoch = 0;
  uint64_t synced_offset_bytes = 0;  // <= the frame's own offset (checked by DecodeFrame)
  std::string_view payload;
  uint64_t frame_size_bytes = 0;  // kFrameOverheadBytes + payload.size()
};

// Why a frame did not decode. Checked in this order, so the first that applies is reported:
enum class FrameDecodeError : uint8_t {
  kNone = 0,
  kShortHeader = 1,      // fewer than kFrameHeaderSize (24) bytes left
  kLengthOverLimit = 2,  // length > kLogRecordPayloadMax
  kShortFrame = 3,       // header fine but the payload or CRC runs past the bytes given
  kBadCrc = 4,           // stored CRC differs from the CRC of the bytes
  // The next three are reported only for frames whose CRC verifies, i.e. bytes written exactly
  // like this (a newer format or a bug), never a torn write; replay treats them as Corruption
  // in every mode.
  kBadReserved = 5,        // reserved bytes not zero
  kUnknownType = 6,        // type outside 1..5
  kSyncedOffsetAhead = 7,  // synced_offset_bytes > the frame's own offset in its file
};
const char* FrameDecodeErrorName(FrameDecodeError error);  // "short header", "bad CRC", ...

// Decodes the frame that starts at bytes_at_offset[0], which is offset frame_offset_bytes of
// its log file (needed to check synced_offset_bytes <= frame_offset_bytes); the bytes may
// continue past the frame (the rest is ignored). On failure returns Corruption (message: the
// reason and the numbers involved, without a file name: callers add "log-N.log at offset X")
// and, if error != nullptr, sets *error.
Result<FrameView> DecodeFrame(std::string_view bytes_at_offset, uint64_t frame_offset_bytes,
                              FrameDecodeError* error = nullptr);

}  // namespace cowtree
