#include "persistence/ot_entry.h"

#include <bit>
#include <cstring>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/file_names.h"

namespace cowtree {

int SizeClassIndex(uint32_t size_class_bytes) {
  COWTREE_ASSERT(IsValidSizeClass(size_class_bytes));
  return std::countr_zero(size_class_bytes) - std::countr_zero(kMinSizeClassBytes);
}

std::string DescribeAddress(const ObjectAddress& a) {
  std::string file = IsValidSizeClass(a.size_class_bytes)
                         ? DataFileName(a.size_class_bytes)
                         : "size class " + std::to_string(a.size_class_bytes);
  return file + " offset " + std::to_string(a.offset_bytes) + " length " +
         std::to_string(a.length_bytes);
}

std::string DescribeNodeId(NodeID id) {
  return "NodeID(handle=" + std::to_string(id.handle()) +
         ", tag=" + std::to_string(static_cast<int>(id.tag())) + ")";
}

Status ValidateObjectAddress(const ObjectAddress& a) {
  if (!IsValidSizeClass(a.size_class_bytes)) {
    return Status::Corruption("size class " + std::to_string(a.size_class_bytes) +
                              " is not a power of two in [" + std::to_string(kMinSizeClassBytes) +
                              ", " + std::to_string(kMaxSizeClassBytes) + "]");
  }
  // A power of two (checked above): a mask, not a division (this runs several times per OT
  // record at open).
  if ((a.offset_bytes & (uint64_t{a.size_class_bytes} - 1)) != 0) {
    return Status::Corruption("offset " + std::to_string(a.offset_bytes) +
                              " is not a multiple of the size class " +
                              std::to_string(a.size_class_bytes));
  }
  if (a.length_bytes == 0 || a.length_bytes > a.size_class_bytes) {
    return Status::Corruption("length " + std::to_string(a.length_bytes) + " is not in [1, " +
                              std::to_string(a.size_class_bytes) + "] (the size class)");
  }
  return Status::OK();
}

Status ValidateOtRecord(NodeID id, const OtEntry& e) {
  if (!id.valid()) {
    return Status::Corruption("NodeID raw value " + std::to_string(id.raw()) +
                              " has tag 0 (invalid)");
  }
  Status st = ValidateObjectAddress(e.address);
  if (!st.ok()) return st.WithContext(DescribeNodeId(id));
  if (static_cast<uint8_t>(e.kind) == 0) {
    return Status::Corruption(DescribeNodeId(id) + ": object kind 0 is invalid");
  }
  if (e.retire_epoch != kNotRetired && e.retire_epoch < e.birth_epoch) {
    return Status::Corruption(DescribeNodeId(id) + ": retire epoch " +
                              std::to_string(e.retire_epoch) + " is before birth epoch " +
                              std::to_string(e.birth_epoch));
  }
  return Status::OK();
}

void EncodeOtRecord(NodeID id, const OtEntry& e, char* dst) {
  COWTREE_ASSERT(ValidateOtRecord(id, e).ok());
  EncodeFixed64(dst + kOtRecordNodeIdOffset, id.raw());
  EncodeFixed64(dst + kOtRecordOffsetOffset, e.address.offset_bytes);
  EncodeFixed64(dst + kOtRecordBirthEpochOffset, e.birth_epoch);
  EncodeFixed64(dst + kOtRecordRetireEpochOffset, e.retire_epoch);
  EncodeFixed32(dst + kOtRecordSizeClassOffset, e.address.size_class_bytes);
  EncodeFixed32(dst + kOtRecordLengthOffset, e.address.length_bytes);
  EncodeFixed32(dst + kOtRecordPayloadCrcOffset, e.payload_crc32c);
  dst[kOtRecordKindOffset] = static_cast<char>(e.kind);
  std::memset(dst + kOtRecordReservedOffset, 0, kOtRecordBytes - kOtRecordReservedOffset);
}

Result<OtRecord> DecodeOtRecord(const char* src) {
  OtRecord r;
  r.id = NodeID::FromRaw(DecodeFixed64(src + kOtRecordNodeIdOffset));
  r.entry.address.offset_bytes = DecodeFixed64(src + kOtRecordOffsetOffset);
  r.entry.birth_epoch = DecodeFixed64(src + kOtRecordBirthEpochOffset);
  r.entry.retire_epoch = DecodeFixed64(src + kOtRecordRetireEpochOffset);
  r.entry.address.size_class_bytes = DecodeFixed32(src + kOtRecordSizeClassOffset);
  r.entry.address.length_bytes = DecodeFixed32(src + kOtRecordLengthOffset);
  r.entry.payload_crc32c = DecodeFixed32(src + kOtRecordPayloadCrcOffset);
  r.entry.kind = static_cast<ObjectKind>(static_cast<uint8_t>(src[kOtRecordKindOffset]));
  for (size_t i = kOtRecordReservedOffset; i < kOtRecordBytes; ++i) {
    if (src[i] != 0) {
      return Status::Corruption("OT record reserved byte " + std::to_string(i) + " is " +
                                std::to_string(static_cast<uint8_t>(src[i])) + ", expected 0");
    }
  }
  Status st = ValidateOtRecord(r.id, r.entry);
  if (!st.ok()) return st.WithContext("OT record");
  return r;
}

Result<OtRecord> DecodeOtRecord(const char* src, std::string_view where) {
  Result<OtRecord> r = DecodeOtRecord(src);
  if (!r.ok()) return r.status().WithContext(where);
  return r;
}

}  // namespace cowtree
