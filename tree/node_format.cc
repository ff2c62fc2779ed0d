#include "tree/node_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kWhat = "leaf body";

}  // namespace

std::string EncodeLeaf(KeyType key_type, const LeafData& leaf) {
  const size_t n = leaf.keys.size();
  COWTREE_ASSERT(n >= 1 && n <= kLeafCapacityMax && leaf.weights.size() == n);
  COWTREE_ASSERT(IsValidKeyType(static_cast<uint8_t>(key_type)));
  std::string out;
  out.reserve(LeafBodyBytes(n));
  PutFixed32(&out, kLeafMagic);
  PutFixed16(&out, kLeafFormatVersion);
  PutFixed8(&out, static_cast<uint8_t>(key_type));
  PutFixed8(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(n));
  PutFixed32(&out, 0);
  for (size_t i = 0; i < n; ++i) {
    COWTREE_ASSERT(i == 0 || leaf.keys[i - 1] < leaf.keys[i]);
    COWTREE_ASSERT(IsCanonicalKey(key_type, leaf.keys[i]));
    PutFixed64(&out, leaf.keys[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    COWTREE_ASSERT(leaf.weights[i] != 0);
    PutFixed64(&out, static_cast<uint64_t>(leaf.weights[i]));
  }
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == LeafBodyBytes(n));
  return out;
}

Result<std::shared_ptr<const LeafData>> DecodeLeaf(std::string_view body, KeyType expected) {
  if (body.size() < LeafBodyBytes(0)) {
    return FormatCorruption(kWhat, body.size(),
                            "body ends after " + std::to_string(body.size()) +
                                " bytes, expected at least " + std::to_string(LeafBodyBytes(0)) +
                                " (header + crc32c)");
  }
  const char* p = body.data();
  const uint32_t magic = DecodeFixed32(p + kLeafMagicOffset);
  if (magic != kLeafMagic) {
    return FormatCorruption(
        kWhat, kLeafMagicOffset,
        "magic " + Hex32(magic) + ", expected " + Hex32(kLeafMagic) + " (\"CWLF\")");
  }
  const uint16_t version = DecodeFixed16(p + kLeafVersionOffset);
  if (version != kLeafFormatVersion) {
    return FormatCorruption(kWhat, kLeafVersionOffset,
                            "format_version " + std::to_string(version) + ", expected " +
                                std::to_string(kLeafFormatVersion));
  }
  const uint32_t n = DecodeFixed32(p + kLeafEntryCountOffset);
  if (body.size() != LeafBodyBytes(n)) {
    return FormatCorruption(kWhat, kLeafEntryCountOffset,
                            "entry_count " + std::to_string(n) + " needs a body of " +
                                std::to_string(LeafBodyBytes(n)) + " bytes, found " +
                                std::to_string(body.size()));
  }
  COWTREE_RETURN_IF_ERROR(CheckTrailingCrc(kWhat, body));
  const auto key_type = static_cast<uint8_t>(p[kLeafKeyTypeOffset]);
  if (key_type != static_cast<uint8_t>(expected)) {
    return FormatCorruption(kWhat, kLeafKeyTypeOffset,
                            "key_type " + std::to_string(key_type) + ", expected " +
                                std::to_string(static_cast<int>(expected)));
  }
  if (p[kLeafReserved8Offset] != 0) {
    return FormatCorruption(kWhat, kLeafReserved8Offset, "reserved byte not 0");
  }
  if (DecodeFixed32(p + kLeafReserved32Offset) != 0) {
    return FormatCorruption(kWhat, kLeafReserved32Offset, "reserved u32 not 0");
  }
  if (n == 0 || n > kLeafCapacityMax) {
    return FormatCorruption(
        kWhat, kLeafEntryCountOffset,
        "entry_count " + std::to_string(n) + ", expected 1.." + std::to_string(kLeafCapacityMax));
  }
  auto leaf = std::make_shared<LeafData>();
  leaf->keys.resize(n);
  leaf->weights.resize(n);
  const size_t keys_offset = kLeafHeaderBytes;
  const size_t weights_offset = keys_offset + 8 * size_t{n};
  for (size_t i = 0; i < n; ++i) {
    const size_t off = keys_offset + 8 * i;
    const uint64_t key = DecodeFixed64(p + off);
    if (i > 0 && key <= leaf->keys[i - 1]) {
      return FormatCorruption(kWhat, off,
                              "key " + std::to_string(i) + " code " + std::to_string(key) +
                                  ", expected greater than the previous key code " +
                                  std::to_string(leaf->keys[i - 1]));
    }
    if (!IsCanonicalKey(expected, key)) {
      return FormatCorruption(kWhat, off,
                              "key " + std::to_string(i) + " code " + std::to_string(key) +
                                  " is not a canonical " + std::string(KeyTypeName(expected)) +
                                  " key");
    }
    leaf->keys[i] = key;
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t off = weights_offset + 8 * i;
    const auto w = static_cast<int64_t>(DecodeFixed64(p + off));
    if (w == 0) {
      return FormatCorruption(kWhat, off,
                              "weight " + std::to_string(i) + " is 0, expected nonzero");
    }
    leaf->weights[i] = w;
  }
  uint64_t pos_sum = 0;
  if (!LeafPositiveSum(*leaf, &pos_sum)) {
    return FormatCorruption(kWhat, weights_offset, "positive weight sum overflows uint64");
  }
  return std::shared_ptr<const LeafData>(std::move(leaf));
}

}  // namespace cowtree::tree
