#include "persistence/object_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"

namespace cowtree {
namespace {

uint32_t EnvelopeCrc(const char* header, std::string_view body) {
  return Crc32cExtend(Crc32c(header, kObjectCrcOffset), body.data(), body.size());
}

Status Bad(std::string_view where, const ObjectExpectation& e, const std::string& what) {
  return Status::Corruption(std::string(where) + ": object " + DescribeNodeId(e.id) + ": " + what);
}

}  // namespace

uint32_t EncodeObject(NodeID id, ObjectKind kind, uint64_t birth_epoch, std::string_view body,
                      std::string* out) {
  COWTREE_ASSERT(id.valid());
  COWTREE_ASSERT(static_cast<uint8_t>(kind) != 0);
  COWTREE_ASSERT(body.size() <= kMaxObjectBodyBytes);
  char header[kObjectHeaderBytes];
  EncodeFixed32(header + kObjectMagicOffset, kObjectMagic);
  EncodeFixed16(header + kObjectVersionOffset, kObjectFormatVersion);
  header[kObjectKindOffset] = static_cast<char>(kind);
  header[kObjectReservedOffset] = 0;
  EncodeFixed32(header + kObjectBodyLengthOffset, static_cast<uint32_t>(body.size()));
  EncodeFixed64(header + kObjectNodeIdOffset, id.raw());
  EncodeFixed64(header + kObjectBirthEpochOffset, birth_epoch);
  const uint32_t crc = EnvelopeCrc(header, body);
  EncodeFixed32(header + kObjectCrcOffset, crc);
  out->append(header, kObjectHeaderBytes);
  out->append(body);
  return crc;
}

Result<std::string_view> DecodeObject(std::string_view stored, const ObjectExpectation& e,
                                      std::string_view where) {
  const char* p = stored.data();
  if (stored.size() < kObjectHeaderBytes) {
    return Bad(
        where, e,
        "stored length " + std::to_string(stored.size()) + " is shorter than the 32-byte header");
  }
  if (const uint32_t magic = DecodeFixed32(p + kObjectMagicOffset); magic != kObjectMagic) {
    return Bad(where, e,
               "bad magic " + std::to_string(magic) + ", expected 'CWOB' (" +
                   std::to_string(kObjectMagic) + ")");
  }
  if (const uint16_t v = DecodeFixed16(p + kObjectVersionOffset); v != kObjectFormatVersion) {
    return Bad(where, e,
               "format version " + std::to_string(v) + ", expected " +
                   std::to_string(kObjectFormatVersion));
  }
  if (p[kObjectReservedOffset] != 0) {
    return Bad(where, e, "reserved header byte 7 is not zero");
  }
  const uint32_t body_length = DecodeFixed32(p + kObjectBodyLengthOffset);
  if (uint64_t{body_length} + kObjectHeaderBytes != stored.size() ||
      stored.size() != e.stored_length_bytes) {
    return Bad(where, e,
               "body length " + std::to_string(body_length) + " + 32 does not match " +
                   "the object table's stored length " + std::to_string(e.stored_length_bytes));
  }
  const std::string_view body = stored.substr(kObjectHeaderBytes);
  const uint32_t stored_crc = DecodeFixed32(p + kObjectCrcOffset);
  if (const uint32_t crc = EnvelopeCrc(p, body); crc != stored_crc) {
    return Bad(where, e,
               "CRC32C mismatch: stored " + std::to_string(stored_crc) + ", computed " +
                   std::to_string(crc));
  }
  if (const NodeID id = NodeID::FromRaw(DecodeFixed64(p + kObjectNodeIdOffset)); id != e.id) {
    return Bad(where, e, "slot holds " + DescribeNodeId(id) + ", not the expected object");
  }
  if (const auto kind = static_cast<uint8_t>(p[kObjectKindOffset]);
      kind != static_cast<uint8_t>(e.kind)) {
    return Bad(where, e,
               "kind " + std::to_string(kind) + ", expected " +
                   std::to_string(static_cast<uint8_t>(e.kind)));
  }
  if (const uint64_t birth = DecodeFixed64(p + kObjectBirthEpochOffset); birth != e.birth_epoch) {
    return Bad(
        where, e,
        "birth epoch " + std::to_string(birth) + ", expected " + std::to_string(e.birth_epoch));
  }
  if (stored_crc != e.crc32c) {
    return Bad(where, e,
               "envelope CRC " + std::to_string(stored_crc) + " differs from the object table's " +
                   std::to_string(e.crc32c));
  }
  return body;
}

}  // namespace cowtree
