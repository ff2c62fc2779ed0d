// Fuzz target: the object envelope (persistence/object_format.h DecodeObject,
// docs/data_files.md) checked against what the object table expects.
//
// Input: flags byte, 25 bytes of expectation (node_id u64, kind u8, birth_epoch u64,
//   stored_length u32, crc32c u32, little-endian), then the stored slot bytes.
//   bit 0: recompute the envelope CRC (header [0, 28) + body) at offset 28;
//   bit 1: take id, kind and birth epoch of the expectation from the stored header;
//   bit 2: take the expected length from the stored size and the expected CRC from the stored
//          one (what the OT records for an object written correctly).
// Properties
// - DecodeObject either fails with Corruption or returns a body that is exactly
//   stored[32, end) (a view into `stored`), and then the stored bytes are exactly
//   EncodeObject(expected id, kind, birth epoch, body), whose returned CRC is the expected one
//   (nothing in an accepted envelope can differ from what the encoder writes).
#include "persistence/object_format.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzObject(const uint8_t* data, size_t size) {
  FuzzInput in;
  constexpr size_t kExpectationBytes = 25;
  if (!SplitInput(data, size, &in) || in.bytes.size() < kExpectationBytes) return 0;
  const char* e = in.bytes.data();
  ObjectExpectation expect{NodeID::FromRaw(DecodeFixed64(e)), static_cast<ObjectKind>(e[8]),
                           DecodeFixed64(e + 9), DecodeFixed32(e + 17), DecodeFixed32(e + 21)};
  std::string stored = in.bytes.substr(kExpectationBytes);
  if (in.flag(0) && stored.size() >= kObjectHeaderBytes) {
    uint32_t crc = Crc32c(stored.data(), kObjectCrcOffset);
    crc = Crc32cExtend(crc, stored.data() + kObjectHeaderBytes, stored.size() - kObjectHeaderBytes);
    EncodeFixed32(stored.data() + kObjectCrcOffset, crc);
  }
  if (in.flag(1) && stored.size() >= kObjectHeaderBytes) {
    expect.id = NodeID::FromRaw(DecodeFixed64(stored.data() + kObjectNodeIdOffset));
    expect.kind = static_cast<ObjectKind>(stored[kObjectKindOffset]);
    expect.birth_epoch = DecodeFixed64(stored.data() + kObjectBirthEpochOffset);
  }
  if (in.flag(2) && stored.size() >= kObjectHeaderBytes) {
    expect.stored_length_bytes = static_cast<uint32_t>(stored.size());
    expect.crc32c = DecodeFixed32(stored.data() + kObjectCrcOffset);
  }

  const ExactBytes exact(stored);
  Result<std::string_view> body = DecodeObject(exact.view(), expect, "fuzz slot");
  if (!body.ok()) {
    FUZZ_CHECK_CORRUPTION(body.status());
    return 0;
  }
  FUZZ_CHECK(stored.size() >= kObjectHeaderBytes);
  FUZZ_CHECK(body->data() == exact.data() + kObjectHeaderBytes &&
                 body->size() == stored.size() - kObjectHeaderBytes,
             "body is not the bytes after the header");
  FUZZ_CHECK(stored.size() == expect.stored_length_bytes);
  // EncodeObject asserts what the object table guarantees about its own entries (valid id,
  // kind != 0, body within the largest size class); expectations outside that are not ones
  // the store can produce, so only the decode itself is checked for them.
  if (!expect.id.valid() || static_cast<uint8_t>(expect.kind) == 0 ||
      body->size() > kMaxObjectBodyBytes) {
    return 0;
  }
  std::string encoded;
  const uint32_t crc = EncodeObject(expect.id, expect.kind, expect.birth_epoch, *body, &encoded);
  FUZZ_CHECK(crc == expect.crc32c, "encoder CRC differs from the accepted one");
  FUZZ_CHECK(encoded == stored, "re-encoded envelope differs: " + Hex(encoded) + " vs " +
                                    Hex(stored));
  return 0;
}

}  // namespace cowtree::fuzz
