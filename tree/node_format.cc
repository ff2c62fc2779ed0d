// Leaf body format_versions 3 and 2 (delta-encoded keys, zigzag weights; version 3 omits the
// weights when all are 1) and the version dispatch of DecodeLeaf. Layout and rules:
// tree/node_format.h, docs/node_format.md.
#include "tree/node_format.h"

#include <cstring>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "tree/leaf_pool.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kWhat = "leaf body";

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

// Reads one varint of the entries area [*pos, end) as field `field` of entry `i`: the
// word-at-a-time parse, else the checked one (which names what is wrong).
Status ReadVarint(std::string_view body, size_t end, const char* field, size_t i, size_t* pos,
                  uint64_t* value) {
  if (ParseShortVarint64(body.data(), end, pos, value)) [[likely]] {
    return Status::OK();
  }
  const size_t at = *pos;
  const VarintParse r = ParseVarint64(body.data(), end, pos, value);
  if (r == VarintParse::kOk) return Status::OK();
  return FormatCorruption(
      kWhat, at, std::string(field) + " " + std::to_string(i) + " varint " + VarintProblem(r, end));
}

// Appends weight i (zigzag zz != 0) to `leaf`, whose weights stay implicit while all are 1.
void AddWeight(size_t i, uint64_t zz, LeafData* leaf) {
  if (zz == ZigZag(1) && leaf->implicit_unit_weights()) return;
  if (leaf->implicit_unit_weights()) {
    leaf->weights.reserve(leaf->keys.capacity());  // a pooled object stays in its class
    leaf->weights.assign(i, 1);
  }
  leaf->weights.push_back(UnZigZag(zz));
}

// True if every weight of `leaf` is 1 (implicit or held).
bool AllUnitWeights(const LeafData& leaf) {
  if (leaf.implicit_unit_weights()) return true;
  for (int64_t w : leaf.weights) {
    if (w != 1) return false;
  }
  return true;
}

// Decodes the varint area of a version 2 or 3 body whose header and CRC were verified.
// unit_weights: version 3 with kLeafFlagUnitWeights (no weights run). must_hold_weight:
// version 3 without it (a weight other than 1 must follow, else the flag was due).
Status DecodeEntries(std::string_view body, KeyType expected, uint32_t n, bool unit_weights,
                     bool must_hold_weight, LeafData* leaf) {
  const size_t end = body.size() - kLeafCrcBytes;
  leaf->keys.resize(n);
  uint64_t key = DecodeFixed64(body.data() + kLeafFirstKeyOffset);
  size_t pos = kLeafHeaderBytes;
  // The common case first, with pos in a register: short minimal gaps and valid keys. It
  // stops at the first entry it cannot take (leaving pos and key before it); the checked loop
  // below goes on from there and names any problem.
  size_t first_checked = 0;
  if (IsCanonicalKey(expected, key)) {
    leaf->keys[0] = key;
    uint64_t* const keys = leaf->keys.data();
    const char* const p = body.data();
    size_t i = 1;
    for (; i < n; ++i) {
      size_t next = pos;
      uint64_t gap = 0;
      if (!ParseShortVarint64(p, end, &next, &gap)) break;
      if (gap == 0 || gap > ~uint64_t{0} - key || !IsCanonicalKey(expected, key + gap)) break;
      key += gap;
      keys[i] = key;
      pos = next;
    }
    first_checked = i;
  }
  for (size_t i = first_checked; i < n; ++i) {
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
  // Weights of 1 (zigzag 2) are held implicitly (LeafData) until the first other one. The
  // common case first again (short minimal varints, not zero), then the checked loop.
  size_t first_weight_checked = unit_weights ? n : 0;
  for (; first_weight_checked < n; ++first_weight_checked) {
    size_t next = pos;
    uint64_t zz = 0;
    if (!ParseShortVarint64(body.data(), end, &next, &zz) || zz == 0) break;
    AddWeight(first_weight_checked, zz, leaf);
    pos = next;
  }
  for (size_t i = first_weight_checked; i < n; ++i) {
    const size_t at = pos;
    uint64_t zz = 0;
    COWTREE_RETURN_IF_ERROR(ReadVarint(body, end, "weight", i, &pos, &zz));
    if (zz == 0) {
      return FormatCorruption(kWhat, at, "weight " + std::to_string(i) + " is 0, expected nonzero");
    }
    AddWeight(i, zz, leaf);
  }
  if (pos != end) {
    return FormatCorruption(kWhat, pos,
                            "entries end at offset " + std::to_string(pos) +
                                ", expected at offset " + std::to_string(end) +
                                " (24 + entries_bytes): " + std::to_string(end - pos) +
                                " unused bytes");
  }
  if (must_hold_weight && leaf->implicit_unit_weights()) {
    return FormatCorruption(kWhat, kLeafFlagsOffset,
                            "every weight is 1 but flags bit 0 (unit weights) is clear, expected "
                            "the flag set and no weights run (one encoding per leaf)");
  }
  uint64_t pos_sum = 0;
  if (!LeafPositiveSum(*leaf, &pos_sum)) {
    return FormatCorruption(kWhat, kLeafHeaderBytes, "positive weight sum overflows uint64");
  }
  return Status::OK();
}

// Versions 2 and 3 (`version`), after the magic and version checks.
Result<std::shared_ptr<const LeafData>> DecodeLeafVarint(std::string_view body, KeyType expected,
                                                         uint16_t version, LeafDataPool* pool) {
  COWTREE_DASSERT(version == kLeafFormatVersion || version == kLeafFormatVersionV2);
  const char* p = body.data();
  if (body.size() < LeafBodyBytes(0)) {
    return FormatCorruption(kWhat, body.size(),
                            "version " + std::to_string(version) + " body ends after " +
                                std::to_string(body.size()) + " bytes, expected at least " +
                                std::to_string(LeafBodyBytes(0)) + " (24-byte header + crc32c)");
  }
  const uint32_t entries_bytes = DecodeFixed32(p + kLeafEntriesBytesOffset);
  if (body.size() != LeafBodyBytes(entries_bytes)) {
    return FormatCorruption(kWhat, kLeafEntriesBytesOffset,
                            "entries_bytes " + std::to_string(entries_bytes) + " needs a body of " +
                                std::to_string(LeafBodyBytes(entries_bytes)) + " bytes, found " +
                                std::to_string(body.size()));
  }
  COWTREE_RETURN_IF_ERROR(CheckTrailingCrc(kWhat, body));
  const bool v3 = version == kLeafFormatVersion;
  COWTREE_RETURN_IF_ERROR(
      CheckLeafKeyTypeAndCount(body, expected, v3 ? kLeafFlagUnitWeights : uint8_t{0}));
  const bool unit_weights = v3 && (p[kLeafFlagsOffset] & kLeafFlagUnitWeights) != 0;
  const uint32_t n = DecodeFixed32(p + kLeafEntryCountOffset);  // 1..kLeafCapacityMax (checked)
  std::shared_ptr<LeafData> leaf = pool != nullptr ? pool->Make(n) : std::make_shared<LeafData>();
  COWTREE_RETURN_IF_ERROR(
      DecodeEntries(body, expected, n, unit_weights, v3 && !unit_weights, leaf.get()));
  // Implicit unit weights: a recycled object's unused weights buffer would be charged with the
  // content for its whole life (LeafDataPool's contract).
  if (leaf->implicit_unit_weights() && leaf->weights.capacity() != 0) {
    std::vector<int64_t>().swap(leaf->weights);
  }
  return std::shared_ptr<const LeafData>(std::move(leaf));
}

// Body size in versions 2 and 3; weights_run false: version 3 with the unit weights flag.
size_t VarintLeafBytes(const LeafData& leaf, bool weights_run) {
  size_t entries_bytes = 0;
  for (size_t i = 1; i < leaf.keys.size(); ++i) {
    entries_bytes += Varint64Bytes(leaf.keys[i] - leaf.keys[i - 1]);
  }
  if (weights_run && leaf.implicit_unit_weights()) {
    entries_bytes += leaf.keys.size() * Varint64Bytes(ZigZag(1));
  }
  if (weights_run) {
    for (int64_t w : leaf.weights) entries_bytes += Varint64Bytes(ZigZag(w));
  }
  return LeafBodyBytes(entries_bytes);
}

// One pass over the entries, writing into a per-thread buffer sized for the longest body and
// checking on the way what EncodeLeaf's contract promises (always on: nothing invalid reaches
// the disk); the result is then copied out at its exact size, so that a body kept in memory
// (an inline tree's catalog entry) holds no slack.
std::string EncodeVarintLeaf(KeyType key_type, const LeafData& leaf, uint16_t version) {
  const size_t n = leaf.keys.size();
  COWTREE_ASSERT(n >= 1 && n <= kLeafCapacityMax &&
                 (leaf.implicit_unit_weights() || leaf.weights.size() == n));
  COWTREE_ASSERT(IsValidKeyType(static_cast<uint8_t>(key_type)));
  const bool unit_flag = version == kLeafFormatVersion && AllUnitWeights(leaf);
  const bool weights_run = !unit_flag;
  const size_t longest = LeafBodyBytes(kVarint64BytesMax * (n - 1 + (weights_run ? n : 0)));
  thread_local std::string scratch;  // grows to the longest body encoded on this thread
  if (scratch.size() < longest) scratch.resize(longest);
  char* const body = scratch.data();
  EncodeFixed32(body + kLeafMagicOffset, kLeafMagic);
  EncodeFixed16(body + kLeafVersionOffset, version);
  body[kLeafKeyTypeOffset] = static_cast<char>(key_type);
  body[kLeafFlagsOffset] = static_cast<char>(unit_flag ? kLeafFlagUnitWeights : 0);
  EncodeFixed32(body + kLeafEntryCountOffset, static_cast<uint32_t>(n));
  EncodeFixed64(body + kLeafFirstKeyOffset, leaf.keys[0]);
  const uint64_t* keys = leaf.keys.data();
  COWTREE_ASSERT(IsCanonicalKey(key_type, keys[0]));
  char* p = body + kLeafHeaderBytes;
  for (size_t i = 1; i < n; ++i) {
    COWTREE_ASSERT(keys[i - 1] < keys[i] && IsCanonicalKey(key_type, keys[i]));
    p = EncodeVarint64(p, keys[i] - keys[i - 1]);
  }
  if (weights_run && leaf.implicit_unit_weights()) {
    p = static_cast<char*>(std::memset(p, static_cast<char>(ZigZag(1)), n)) + n;
  } else if (weights_run) {
    for (int64_t w : leaf.weights) {
      COWTREE_ASSERT(w != 0);
      p = EncodeVarint64(p, ZigZag(w));
    }
  }
  const size_t entries_bytes = static_cast<size_t>(p - (body + kLeafHeaderBytes));
  EncodeFixed32(body + kLeafEntriesBytesOffset, static_cast<uint32_t>(entries_bytes));
  const size_t total = LeafBodyBytes(entries_bytes);
  COWTREE_ASSERT(total <= longest && total <= LeafBodyBytesMax(n) &&
                 (version != kLeafFormatVersion || total >= LeafBodyBytesMin(n)));
  EncodeFixed32(p, Crc32c(body, total - kLeafCrcBytes));
  COWTREE_DASSERT(version != kLeafFormatVersion || total == EncodedLeafBytes(leaf));
  return std::string(body, total);
}

}  // namespace

size_t EncodedLeafBytes(const LeafData& leaf) {
  return VarintLeafBytes(leaf, /*weights_run=*/!AllUnitWeights(leaf));
}

std::string EncodeLeaf(KeyType key_type, const LeafData& leaf) {
  return EncodeVarintLeaf(key_type, leaf, kLeafFormatVersion);
}

std::string EncodeLeafV2(KeyType key_type, const LeafData& leaf) {
  return EncodeVarintLeaf(key_type, leaf, kLeafFormatVersionV2);
}

Status CheckLeafKeyTypeAndCount(std::string_view body, KeyType expected, uint8_t allowed_flags) {
  const char* p = body.data();
  const auto key_type = static_cast<uint8_t>(p[kLeafKeyTypeOffset]);
  if (key_type != static_cast<uint8_t>(expected)) {
    return FormatCorruption(kWhat, kLeafKeyTypeOffset,
                            "key_type " + std::to_string(key_type) + ", expected " +
                                std::to_string(static_cast<int>(expected)));
  }
  const auto flags = static_cast<uint8_t>(p[kLeafFlagsOffset]);
  if (allowed_flags == 0 && flags != 0) {
    return FormatCorruption(kWhat, kLeafFlagsOffset, "reserved byte not 0");
  }
  if ((flags & ~allowed_flags) != 0) {
    return FormatCorruption(
        kWhat, kLeafFlagsOffset,
        "flags " + Hex8(flags) + " has unknown bits, expected only bit 0 (unit weights)");
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
  if (version == kLeafFormatVersion || version == kLeafFormatVersionV2) {
    return DecodeLeafVarint(body, expected, version, pool);
  }
  if (version == kLeafFormatVersionFixedWidth) return DecodeLeafV1(body, expected);
  return FormatCorruption(
      kWhat, kLeafVersionOffset,
      "format_version " + std::to_string(version) + ", expected " +
          std::to_string(kLeafFormatVersion) + " (or " + std::to_string(kLeafFormatVersionV2) +
          " or " + std::to_string(kLeafFormatVersionFixedWidth) + ", written by older builds)");
}

}  // namespace cowtree::tree
