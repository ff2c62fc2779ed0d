#include "tree/index_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kIndex = "summary index chunk body";

std::string U128(unsigned __int128 v) {
  if (v <= UINT64_MAX) return std::to_string(static_cast<uint64_t>(v));
  return "(more than 2^64)";
}

// Header fields of a chunk (shared by encode and decode).
Status CheckHeader(KeyType key_type, uint32_t level, size_t ref_count) {
  if (!IsValidKeyType(static_cast<uint8_t>(key_type))) {
    return FormatCorruption(kIndex, kIndexKeyTypeOffset,
                            "key_type " + std::to_string(static_cast<int>(key_type)) +
                                ", expected 1 (int64) or 2 (double)");
  }
  if (level < 1 || level >= kIndexHeightMax) {
    return FormatCorruption(
        kIndex, kIndexLevelOffset,
        "level " + std::to_string(level) + ", expected 1.." + std::to_string(kIndexHeightMax - 1));
  }
  if (ref_count == 0) {
    return FormatCorruption(kIndex, kIndexRefCountOffset, "ref_count 0, expected >= 1");
  }
  return Status::OK();
}

}  // namespace

void PutIndexRef(std::string* out, const IndexRef& ref) {
  PutFixed64(out, ref.child_id.raw());
  PutFixed64(out, ref.first_key);
  PutFixed64(out, ref.leaf_count);
  PutFixed64(out, ref.entry_count);
  PutFixed64(out, ref.pos_sum);
}

IndexRef DecodeIndexRef(const char* p) {
  IndexRef r;
  r.child_id = NodeID::FromRaw(DecodeFixed64(p));
  r.first_key = DecodeFixed64(p + kRefFirstKeyOffset);
  r.leaf_count = DecodeFixed64(p + kRefLeafCountOffset);
  r.entry_count = DecodeFixed64(p + kRefEntryCountOffset);
  r.pos_sum = DecodeFixed64(p + kRefPosSumOffset);
  return r;
}

Status CheckIndexRefs(std::string_view what, size_t base_offset, std::span<const IndexRef> refs,
                      RefTotals* totals) {
  for (size_t j = 0; j < refs.size(); ++j) {
    const IndexRef& r = refs[j];
    const size_t off = base_offset + kIndexRefBytes * j;
    const std::string name = "ref " + std::to_string(j);
    if (!r.child_id.valid()) {
      return FormatCorruption(
          what, off,
          name + " child_id " + std::to_string(r.child_id.raw()) + " is not a valid NodeID");
    }
    if (j > 0 && r.first_key <= refs[j - 1].first_key) {
      return FormatCorruption(what, off + kRefFirstKeyOffset,
                              name + " first_key " + std::to_string(r.first_key) +
                                  ", expected greater than the previous ref's " +
                                  std::to_string(refs[j - 1].first_key));
    }
    if (r.leaf_count == 0) {
      return FormatCorruption(what, off + kRefLeafCountOffset,
                              name + " leaf_count 0, expected >= 1");
    }
    const unsigned __int128 max_entries =
        static_cast<unsigned __int128>(r.leaf_count) * kLeafCapacityMax;
    if (r.entry_count < r.leaf_count || r.entry_count > max_entries) {
      return FormatCorruption(what, off + kRefEntryCountOffset,
                              name + " entry_count " + std::to_string(r.entry_count) +
                                  ", expected " + std::to_string(r.leaf_count) + ".." +
                                  U128(max_entries) + " (leaf_count .. leaf_count * " +
                                  std::to_string(kLeafCapacityMax) + ")");
    }
    if (static_cast<unsigned __int128>(r.pos_sum) >
        static_cast<unsigned __int128>(r.entry_count) * INT64_MAX) {
      return FormatCorruption(what, off + kRefPosSumOffset,
                              name + " pos_sum " + std::to_string(r.pos_sum) +
                                  ", expected at most entry_count * (2^63 - 1)");
    }
    totals->leaf_count += r.leaf_count;
    totals->entry_count += r.entry_count;
    totals->pos_sum += r.pos_sum;
  }
  return Status::OK();
}

std::string EncodeIndexChunk(const IndexChunk& c) {
  RefTotals totals;
  COWTREE_ASSERT(CheckHeader(c.key_type, c.level, c.refs.size()).ok());
  COWTREE_ASSERT(CheckIndexRefs(kIndex, kIndexHeaderBytes, c.refs, &totals).ok());
  COWTREE_ASSERT(c.refs.size() <= UINT32_MAX);
  std::string out;
  out.reserve(IndexChunkBodyBytes(c.refs.size()));
  PutFixed32(&out, kIndexChunkMagic);
  PutFixed16(&out, kIndexChunkFormatVersion);
  PutFixed8(&out, static_cast<uint8_t>(c.key_type));
  PutFixed8(&out, static_cast<uint8_t>(c.level));
  PutFixed32(&out, static_cast<uint32_t>(c.refs.size()));
  PutFixed32(&out, 0);
  COWTREE_ASSERT(out.size() == kIndexHeaderBytes);
  for (const IndexRef& r : c.refs) PutIndexRef(&out, r);
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == IndexChunkBodyBytes(c.refs.size()));
  return out;
}

Result<IndexChunk> DecodeIndexChunk(std::string_view body) {
  if (body.size() < kIndexHeaderBytes + 4) {
    return FormatCorruption(kIndex, body.size(),
                            "body ends after " + std::to_string(body.size()) +
                                " bytes, expected at least " +
                                std::to_string(kIndexHeaderBytes + 4) + " (header + crc32c)");
  }
  const char* p = body.data();
  if (const uint32_t magic = DecodeFixed32(p); magic != kIndexChunkMagic) {
    return FormatCorruption(kIndex, 0,
                            "magic " + Hex32(magic) + ", expected " + Hex32(kIndexChunkMagic));
  }
  if (const uint16_t v = DecodeFixed16(p + 4); v != kIndexChunkFormatVersion) {
    return FormatCorruption(kIndex, 4,
                            "format_version " + std::to_string(v) + ", expected " +
                                std::to_string(kIndexChunkFormatVersion));
  }
  const uint32_t n = DecodeFixed32(p + kIndexRefCountOffset);
  const size_t expected_size = IndexChunkBodyBytes(n);
  if (body.size() != expected_size) {
    return FormatCorruption(kIndex, kIndexRefCountOffset,
                            "ref_count " + std::to_string(n) + " needs a body of " +
                                std::to_string(expected_size) + " bytes, found " +
                                std::to_string(body.size()));
  }
  COWTREE_RETURN_IF_ERROR(CheckTrailingCrc(kIndex, body));
  if (DecodeFixed32(p + kIndexReservedOffset) != 0) {
    return FormatCorruption(kIndex, kIndexReservedOffset, "reserved u32 not 0");
  }
  IndexChunk c;
  c.key_type = static_cast<KeyType>(static_cast<uint8_t>(p[kIndexKeyTypeOffset]));
  c.level = static_cast<uint8_t>(p[kIndexLevelOffset]);
  COWTREE_RETURN_IF_ERROR(CheckHeader(c.key_type, c.level, n));
  c.refs.resize(n);
  for (size_t j = 0; j < n; ++j)
    c.refs[j] = DecodeIndexRef(p + kIndexHeaderBytes + kIndexRefBytes * j);
  RefTotals totals;
  COWTREE_RETURN_IF_ERROR(CheckIndexRefs(kIndex, kIndexHeaderBytes, c.refs, &totals));
  return c;
}

}  // namespace cowtree::tree
