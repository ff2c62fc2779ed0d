// Leaf body format_version 2 (delta-encoded keys, zigzag weights) and the version dispatch of
// DecodeLeaf. Layout and rules: tree/node_format.h, docs/node_format.md.
#include "tree/node_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "tree/leaf_pool.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kWhat = "leaf body";

// Asserts (always on) that `leaf` is a valid leaf of key_type: what EncodeLeaf promises.
void AssertEncodable(KeyType key_type, const LeafData& leaf) {
  const size_t n = leaf.keys.size();
  COWTREE_ASSERT(n >= 1 && n <= kLeafCapacityMax &&
                 (leaf.implicit_unit_weights() || leaf.weights.size() == n));
  COWTREE_ASSERT(IsValidKeyType(static_cast<uint8_t>(key_type)));
  for (size_t i = 0; i < n; ++i) {
    COWTREE_ASSERT(i == 0 || leaf.keys[i - 1] < leaf.keys[i]);
    COWTREE_ASSERT(IsCanonicalKey(key_type, leaf.keys[i]));
    COWTREE_ASSERT(leaf.weight(i) != 0);
  }
}

std::string VarintProblem(VarintParse r, size_t entries_end) {
  switch (r) {
    case VarintParse::kTruncated:
      return "runs past the end of the entries area at offset " + std::to_string(entries_end);
    case VarintParse::kTooLong:
      return "is longer than 10 bytes, expected at most 10";
    case VarintParse::kOverflow:
      return "does not fit in 64 bits (10th byte > 1)";
    case VarintParse::kNotMinimal:
      return "is not in its shortest form (last byte 0), expected the minimal encoding";
    case VarintParse::kOk:
      break;
  }
  return "ok";
}

// Reads one varint of the entries area [*pos, end) as field `field` of entry `i`.
Status ReadVarint(std::string_view body, size_t end, const char* field, size_t i, size_t* pos,
                  uint64_t* value) {
  const size_t at = *pos;
  const VarintParse r = ParseVarint64(body.data(), end, pos, value);
  if (r == VarintParse::kOk) return Status::OK();
  return FormatCorruption(
      kWhat, at, std::string(field) + " " + std::to_string(i) + " varint " + VarintProblem(r, end));
}

// Decodes the varint area of a version 2 body whose header and CRC were verified.
Status DecodeEntriesV2(std::string_view body, KeyType expected, uint32_t n, LeafData* leaf) {
  const size_t end = body.size() - kLeafCrcBytes;
  leaf->keys.resize(n);
  uint64_t key = DecodeFixed64(body.data() + kLeafFirstKeyOffset);
  size_t pos = kLeafHeaderBytes;
  for (size_t i = 0; i < n; ++i) {
    const size_t at = i == 0 ? kLeafFirstKeyOffset : pos;
    if (i > 0) {
      uint64_t gap = 0;
      COWTREE_RETURN_IF_ERROR(ReadVarint(body, end, "key gap", i, &pos, &gap));
      if (gap == 0) {
        return FormatCorruption(kWhat, at,
                                "key gap " + std::to_string(i) +
                                    " is 0, expected >= 1 (key codes strictly increasing)");
      }
      if (gap > ~uint64_t{0} - key) {
        return FormatCorruption(kWhat, at,
                                "key gap " + std::to_string(i) + " of " + std::to_string(gap) +
                                    " after code " + std::to_string(key) +
                                    " passes 2^64 - 1, expected a code that fits 64 bits");
      }
      key += gap;
    }
    if (!IsCanonicalKey(expected, key)) {
      return FormatCorruption(kWhat, at,
                              "key " + std::to_string(i) + " code " + std::to_string(key) +
                                  " is not a canonical " + std::string(KeyTypeName(expected)) +
                                  " key");
    }
    leaf->keys[i] = key;
  }
  // Weights of 1 (zigzag 2) are held implicitly (LeafData) until the first other one.
  for (size_t i = 0; i < n; ++i) {
    const size_t at = pos;
    uint64_t zz = 0;
    COWTREE_RETURN_IF_ERROR(ReadVarint(body, end, "weight", i, &pos, &zz));
    if (zz == 0) {
      return FormatCorruption(kWhat, at, "weight " + std::to_string(i) + " is 0, expected nonzero");
    }
    if (zz == ZigZag(1) && leaf->implicit_unit_weights()) continue;
    if (leaf->implicit_unit_weights()) {
      leaf->weights.reserve(leaf->keys.capacity());  // a pooled object stays in its class
      leaf->weights.assign(i, 1);
    }
    leaf->weights.push_back(UnZigZag(zz));
  }
  if (pos != end) {
    return FormatCorruption(kWhat, pos,
                            "entries end at offset " + std::to_string(pos) +
                                ", expected at offset " + std::to_string(end) +
                                " (24 + entries_bytes): " + std::to_string(end - pos) +
                                " unused bytes");
  }
  uint64_t pos_sum = 0;
  if (!LeafPositiveSum(*leaf, &pos_sum)) {
    return FormatCorruption(kWhat, kLeafHeaderBytes, "positive weight sum overflows uint64");
  }
  return Status::OK();
}

Result<std::shared_ptr<const LeafData>> DecodeLeafV2(std::string_view body, KeyType expected,
                                                     LeafDataPool* pool) {
  const char* p = body.data();
  if (body.size() < LeafBodyBytes(0)) {
    return FormatCorruption(kWhat, body.size(),
                            "version 2 body ends after " + std::to_string(body.size()) +
                                " bytes, expected at least " + std::to_string(LeafBodyBytes(0)) +
                                " (24-byte header + crc32c)");
  }
  const uint32_t entries_bytes = DecodeFixed32(p + kLeafEntriesBytesOffset);
  if (body.size() != LeafBodyBytes(entries_bytes)) {
    return FormatCorruption(kWhat, kLeafEntriesBytesOffset,
                            "entries_bytes " + std::to_string(entries_bytes) + " needs a body of " +
                                std::to_string(LeafBodyBytes(entries_bytes)) + " bytes, found " +
                                std::to_string(body.size()));
  }
  COWTREE_RETURN_IF_ERROR(CheckTrailingCrc(kWhat, body));
  COWTREE_RETURN_IF_ERROR(CheckLeafKeyTypeAndCount(body, expected));
  const uint32_t n = DecodeFixed32(p + kLeafEntryCountOffset);  // 1..kLeafCapacityMax (checked)
  std::shared_ptr<LeafData> leaf = pool != nullptr ? pool->Make(n) : std::make_shared<LeafData>();
  COWTREE_RETURN_IF_ERROR(DecodeEntriesV2(body, expected, n, leaf.get()));
  // Implicit unit weights: a recycled object's unused weights buffer would be charged with the
  // content for its whole life (LeafDataPool's contract).
  if (leaf->implicit_unit_weights() && leaf->weights.capacity() != 0) {
    std::vector<int64_t>().swap(leaf->weights);
  }
  return std::shared_ptr<const LeafData>(std::move(leaf));
}

}  // namespace

size_t EncodedLeafBytes(const LeafData& leaf) {
  size_t entries_bytes = 0;
  for (size_t i = 1; i < leaf.keys.size(); ++i) {
    entries_bytes += Varint64Bytes(leaf.keys[i] - leaf.keys[i - 1]);
  }
  if (leaf.implicit_unit_weights()) {
    entries_bytes += leaf.keys.size() * Varint64Bytes(ZigZag(1));
  }
  for (int64_t w : leaf.weights) entries_bytes += Varint64Bytes(ZigZag(w));
  return LeafBodyBytes(entries_bytes);
}

std::string EncodeLeaf(KeyType key_type, const LeafData& leaf) {
  AssertEncodable(key_type, leaf);
  const size_t n = leaf.keys.size();
  const size_t total = EncodedLeafBytes(leaf);
  std::string out;
  out.reserve(total);
  PutFixed32(&out, kLeafMagic);
  PutFixed16(&out, kLeafFormatVersion);
  PutFixed8(&out, static_cast<uint8_t>(key_type));
  PutFixed8(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(n));
  PutFixed32(&out, static_cast<uint32_t>(total - LeafBodyBytes(0)));
  PutFixed64(&out, leaf.keys[0]);
  for (size_t i = 1; i < n; ++i) PutVarint64(&out, leaf.keys[i] - leaf.keys[i - 1]);
  if (leaf.implicit_unit_weights()) out.append(n, static_cast<char>(ZigZag(1)));
  for (int64_t w : leaf.weights) PutVarint64(&out, ZigZag(w));
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == total && total <= LeafBodyBytesMax(n));
  return out;
}

Status CheckLeafKeyTypeAndCount(std::string_view body, KeyType expected) {
  const char* p = body.data();
  const auto key_type = static_cast<uint8_t>(p[kLeafKeyTypeOffset]);
  if (key_type != static_cast<uint8_t>(expected)) {
    return FormatCorruption(kWhat, kLeafKeyTypeOffset,
                            "key_type " + std::to_string(key_type) + ", expected " +
                                std::to_string(static_cast<int>(expected)));
  }
  if (p[kLeafReserved8Offset] != 0) {
    return FormatCorruption(kWhat, kLeafReserved8Offset, "reserved byte not 0");
  }
  const uint32_t n = DecodeFixed32(p + kLeafEntryCountOffset);
  if (n == 0 || n > kLeafCapacityMax) {
    return FormatCorruption(
        kWhat, kLeafEntryCountOffset,
        "entry_count " + std::to_string(n) + ", expected 1.." + std::to_string(kLeafCapacityMax));
  }
  return Status::OK();
}

Result<std::shared_ptr<const LeafData>> DecodeLeaf(std::string_view body, KeyType expected,
                                                   LeafDataPool* pool) {
  if (body.size() < kLeafBodyBytesMin) {
    return FormatCorruption(kWhat, body.size(),
                            "body ends after " + std::to_string(body.size()) +
                                " bytes, expected at least " + std::to_string(kLeafBodyBytesMin) +
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
  if (version == kLeafFormatVersion) return DecodeLeafV2(body, expected, pool);
  if (version == kLeafFormatVersionFixedWidth) return DecodeLeafV1(body, expected);
  return FormatCorruption(kWhat, kLeafVersionOffset,
                          "format_version " + std::to_string(version) + ", expected " +
                              std::to_string(kLeafFormatVersion) + " (or " +
                              std::to_string(kLeafFormatVersionFixedWidth) +
                              ", written by older builds)");
}

}  // namespace cowtree::tree
