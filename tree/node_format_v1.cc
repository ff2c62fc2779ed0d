// Leaf body format_version 1 (fixed-width keys and weights): written by older builds, read by
// this one (docs/node_format.md "Version 1"). The encoder exists for tests and fuzz seeds.
#include "persistence/assert.h"
#include "persistence/coding.h"
#include "tree/node_format.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kWhat = "leaf body";
constexpr size_t kV1Reserved32Offset = 12;

}  // namespace

std::string EncodeLeafV1(KeyType key_type, const LeafData& leaf) {
  const size_t n = leaf.keys.size();
  COWTREE_ASSERT(n >= 1 && n <= kLeafCapacityMax &&
                 (leaf.implicit_unit_weights() || leaf.weights.size() == n));
  COWTREE_ASSERT(IsValidKeyType(static_cast<uint8_t>(key_type)));
  std::string out;
  out.reserve(LeafV1BodyBytes(n));
  PutFixed32(&out, kLeafMagic);
  PutFixed16(&out, kLeafFormatVersionFixedWidth);
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
    COWTREE_ASSERT(leaf.weight(i) != 0);
    PutFixed64(&out, static_cast<uint64_t>(leaf.weight(i)));
  }
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == LeafV1BodyBytes(n));
  return out;
}

Result<std::shared_ptr<const LeafData>> DecodeLeafV1(std::string_view body, KeyType expected) {
  const char* p = body.data();
  const uint32_t n = DecodeFixed32(p + kLeafEntryCountOffset);
  if (body.size() != LeafV1BodyBytes(n)) {
    return FormatCorruption(kWhat, kLeafEntryCountOffset,
                            "entry_count " + std::to_string(n) + " needs a version 1 body of " +
                                std::to_string(LeafV1BodyBytes(n)) + " bytes, found " +
                                std::to_string(body.size()));
  }
  COWTREE_RETURN_IF_ERROR(CheckTrailingCrc(kWhat, body));
  COWTREE_RETURN_IF_ERROR(CheckLeafKeyTypeAndCount(body, expected, /*allowed_flags=*/0));
  if (DecodeFixed32(p + kV1Reserved32Offset) != 0) {
    return FormatCorruption(kWhat, kV1Reserved32Offset, "reserved u32 not 0");
  }
  auto leaf = std::make_shared<LeafData>();
  leaf->keys.resize(n);
  leaf->weights.resize(n);
  const size_t keys_offset = kLeafV1HeaderBytes;
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
