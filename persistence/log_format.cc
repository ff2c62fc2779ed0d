#include "persistence/log_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"

namespace cowtree {

const char* LogRecordTypeName(LogRecordType type) {
  switch (type) {
    case LogRecordType::kCommit:
      return "commit";
    case LogRecordType::kOtDelta:
      return "ot-delta";
    case LogRecordType::kCheckpointBegin:
      return "checkpoint-begin";
    case LogRecordType::kCheckpointEnd:
      return "checkpoint-end";
    case LogRecordType::kCatalog:
      return "catalog";
  }
  return "unknown";
}

std::string LogPosition::ToString() const {
  std::string name = file_number >= 1 ? LogFileName(file_number) : std::string("log-<none>");
  return name + "@" + std::to_string(offset_bytes);
}

std::string EncodeLogFileHeader(uint64_t file_number, const StoreId& store_id) {
  COWTREE_ASSERT(file_number >= 1 && !store_id.is_zero());
  std::string out(kLogFileHeaderSize, '\0');
  char* p = out.data();
  EncodeFixed64(p + kLogHeaderMagicOffset, kLogFileMagic);
  EncodeFixed32(p + kLogHeaderVersionOffset, kLogFormatVersion);
  EncodeFixed32(p + kLogHeaderReserved1Offset, 0);
  EncodeFixed64(p + kLogHeaderFileNumberOffset, file_number);
  store_id.EncodeTo(p + kLogHeaderStoreIdOffset);
  EncodeFixed32(p + kLogHeaderReserved2Offset, 0);
  EncodeFixed32(p + kLogHeaderCrcOffset, Crc32c(p, kLogHeaderCrcOffset));
  // Assert before writing: the bytes we are about to persist decode to what we meant.
  COWTREE_ASSERT(VerifyLogFileHeader(out, file_number, store_id, "<encoder>").ok());
  return out;
}

StoreId LogFileHeaderStoreId(std::string_view header_bytes) {
  COWTREE_ASSERT(header_bytes.size() >= kLogFileHeaderSize);
  return StoreId::FromBytes(header_bytes.data() + kLogHeaderStoreIdOffset);
}

Status VerifyLogFileHeader(std::string_view bytes, uint64_t expected_file_number,
                           const StoreId& expected_store_id,
                           const std::string& file_name_for_messages) {
  const std::string& f = file_name_for_messages;
  if (bytes.size() < kLogFileHeaderSize) {
    return Status::Corruption(
        f + ": log file header at offset 0: short file: " + std::to_string(bytes.size()) +
        " bytes, expected " + std::to_string(kLogFileHeaderSize));
  }
  const char* p = bytes.data();
  const uint64_t magic = DecodeFixed64(p + kLogHeaderMagicOffset);
  if (magic != kLogFileMagic) {
    return Status::Corruption(f +
                              ": log file header at offset 0: bad magic, expected \"CWTLOG01\"");
  }
  const uint32_t stored_crc = DecodeFixed32(p + kLogHeaderCrcOffset);
  const uint32_t actual_crc = Crc32c(p, kLogHeaderCrcOffset);
  if (stored_crc != actual_crc) {
    return Status::Corruption(
        f + ": log file header: bad CRC at offset " + std::to_string(kLogHeaderCrcOffset) +
        ": stored " + std::to_string(stored_crc) + ", computed " + std::to_string(actual_crc));
  }
  const uint32_t version = DecodeFixed32(p + kLogHeaderVersionOffset);
  if (version < kLogFormatVersion) {
    // Version 1 had 16-byte frame headers; versions 1 and 2 carry no store id.
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderVersionOffset) + ": log format version " +
                              std::to_string(version) +
                              " was written by an older cowtree (this build reads version " +
                              std::to_string(kLogFormatVersion) + ", which names its store)");
  }
  if (version != kLogFormatVersion) {
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderVersionOffset) +
                              ": unknown format_version " + std::to_string(version) +
                              ", expected " + std::to_string(kLogFormatVersion));
  }
  if (DecodeFixed32(p + kLogHeaderReserved1Offset) != 0) {
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderReserved1Offset) +
                              ": reserved bytes not zero");
  }
  if (DecodeFixed32(p + kLogHeaderReserved2Offset) != 0) {
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderReserved2Offset) +
                              ": reserved bytes not zero");
  }
  const uint64_t number = DecodeFixed64(p + kLogHeaderFileNumberOffset);
  if (number != expected_file_number) {
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderFileNumberOffset) + ": file_number " +
                              std::to_string(number) + ", expected " +
                              std::to_string(expected_file_number) + " (the name's number)");
  }
  const StoreId id = StoreId::FromBytes(p + kLogHeaderStoreIdOffset);
  if (id.is_zero()) {
    return Status::Corruption(f + ": log file header at offset " +
                              std::to_string(kLogHeaderStoreIdOffset) + ": store id is zero");
  }
  if (!expected_store_id.is_zero() && !(id == expected_store_id)) {
    return Status::Corruption(StoreIdMismatch(f, kLogHeaderStoreIdOffset, id, expected_store_id));
  }
  return Status::OK();
}

void EncodeFrame(LogRecordType type, uint64_t epoch, uint64_t synced_offset_bytes,
                 std::string_view payload, std::string* dst) {
  COWTREE_ASSERT(IsValidLogRecordType(static_cast<uint8_t>(type)));
  COWTREE_ASSERT(payload.size() <= kLogRecordPayloadMax);
  [[maybe_unused]] const size_t start = dst->size();
  char header[kFrameHeaderSize] = {};
  EncodeFixed32(header + kFrameLengthOffset, static_cast<uint32_t>(payload.size()));
  header[kFrameTypeOffset] = static_cast<char>(type);
  // reserved bytes [5, 8) stay zero
  EncodeFixed64(header + kFrameEpochOffset, epoch);
  EncodeFixed64(header + kFrameSyncedOffsetOffset, synced_offset_bytes);
  uint32_t crc = Crc32c(header, kFrameHeaderSize);
  crc = Crc32cExtend(crc, payload.data(), payload.size());
  dst->append(header, kFrameHeaderSize);
  dst->append(payload.data(), payload.size());
  PutFixed32(dst, crc);
  // The smallest offset at which this frame is legal is synced_offset_bytes itself.
  COWTREE_DASSERT(DecodeFrame(std::string_view(*dst).substr(start), synced_offset_bytes).ok());
}

const char* FrameDecodeErrorName(FrameDecodeError error) {
  switch (error) {
    case FrameDecodeError::kNone:
      return "ok";
    case FrameDecodeError::kShortHeader:
      return "short header";
    case FrameDecodeError::kLengthOverLimit:
      return "length over limit";
    case FrameDecodeError::kShortFrame:
      return "short frame";
    case FrameDecodeError::kBadCrc:
      return "bad CRC";
    case FrameDecodeError::kBadReserved:
      return "reserved bytes not zero";
    case FrameDecodeError::kUnknownType:
      return "unknown record type";
    case FrameDecodeError::kSyncedOffsetAhead:
      return "synced offset ahead of the frame";
  }
  return "unknown";
}

Result<FrameView> DecodeFrame(std::string_view bytes, uint64_t frame_offset_bytes,
                              FrameDecodeError* error) {
  auto fail = [error](FrameDecodeError e, std::string detail) -> Status {
    if (error != nullptr) *error = e;
    return Status::Corruption(std::string(FrameDecodeErrorName(e)) + ": " + detail);
  };
  if (error != nullptr) *error = FrameDecodeError::kNone;
  if (bytes.size() < kFrameHeaderSize) {
    return fail(FrameDecodeError::kShortHeader, std::to_string(bytes.size()) +
                                                    " bytes left, a frame header needs " +
                                                    std::to_string(kFrameHeaderSize));
  }
  const char* p = bytes.data();
  const uint32_t length = DecodeFixed32(p + kFrameLengthOffset);
  if (length > kLogRecordPayloadMax) {
    return fail(FrameDecodeError::kLengthOverLimit, "payload length " + std::to_string(length) +
                                                        " exceeds the limit " +
                                                        std::to_string(kLogRecordPayloadMax));
  }
  const uint64_t frame_size = FrameSizeBytes(length);
  if (bytes.size() < frame_size) {
    return fail(FrameDecodeError::kShortFrame, "frame of " + std::to_string(frame_size) +
                                                   " bytes (payload " + std::to_string(length) +
                                                   ") but only " + std::to_string(bytes.size()) +
                                                   " bytes left");
  }
  const size_t crc_offset = kFrameHeaderSize + length;
  const uint32_t stored_crc = DecodeFixed32(p + crc_offset);
  const uint32_t actual_crc = Crc32c(p, crc_offset);
  if (stored_crc != actual_crc) {
    return fail(FrameDecodeError::kBadCrc, "stored crc32c " + std::to_string(stored_crc) +
                                               " at frame offset " + std::to_string(crc_offset) +
                                               ", computed " + std::to_string(actual_crc));
  }
  for (size_t i = 0; i < kFrameReservedBytes; ++i) {
    if (p[kFrameReservedOffset + i] != 0) {
      return fail(FrameDecodeError::kBadReserved, "reserved byte at frame offset " +
                                                      std::to_string(kFrameReservedOffset + i) +
                                                      " is not zero");
    }
  }
  const uint8_t type = static_cast<uint8_t>(p[kFrameTypeOffset]);
  if (!IsValidLogRecordType(type)) {
    return fail(FrameDecodeError::kUnknownType,
                "record type " + std::to_string(type) + " at frame offset " +
                    std::to_string(kFrameTypeOffset) + ", expected 1..5");
  }
  const uint64_t synced_offset = DecodeFixed64(p + kFrameSyncedOffsetOffset);
  if (synced_offset > frame_offset_bytes) {
    return fail(FrameDecodeError::kSyncedOffsetAhead,
                "synced_offset_bytes " + std::to_string(synced_offset) + " at frame offset " +
                    std::to_string(kFrameSyncedOffsetOffset) + " is past the frame's own offset " +
                    std::to_string(frame_offset_bytes) +
                    " (a writer can only have synced bytes before the frame)");
  }
  FrameView view;
  view.type = static_cast<LogRecordType>(type);
  view.epoch = DecodeFixed64(p + kFrameEpochOffset);
  view.synced_offset_bytes = synced_offset;
  view.payload = bytes.substr(kFrameHeaderSize, length);
  view.frame_size_bytes = frame_size;
  return view;
}

}  // namespace cowtree
