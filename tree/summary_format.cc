#include "tree/summary_format.h"

#include "persistence/assert.h"
#include "persistence/coding.h"

namespace cowtree::tree {
namespace {

constexpr std::string_view kChunk = "summary chunk body";
constexpr std::string_view kDesc = "tree descriptor body";

// Semantic checks of one summary at record offset `off` (shared by encode and decode).
Status CheckSummary(const PersistedSummary& s, size_t i, size_t off, const PersistedSummary* prev) {
  if (prev != nullptr && s.first_key <= prev->first_key) {
    return FormatCorruption(
        kChunk, off,
        "summary " + std::to_string(i) + " first_key " + std::to_string(s.first_key) +
            ", expected greater than the previous first_key " + std::to_string(prev->first_key));
  }
  if (s.entry_count == 0 || s.entry_count > kLeafCapacityMax) {
    return FormatCorruption(kChunk, off + kChunkRecordEntryCountOffset,
                            "summary " + std::to_string(i) + " entry_count " +
                                std::to_string(s.entry_count) + ", expected 1.." +
                                std::to_string(kLeafCapacityMax));
  }
  if (!s.leaf_id.valid()) {
    return FormatCorruption(kChunk, off + kChunkRecordLeafIdOffset,
                            "summary " + std::to_string(i) + " leaf_id " +
                                std::to_string(s.leaf_id.raw()) + " is not a valid NodeID");
  }
  return Status::OK();
}

std::string U128(unsigned __int128 v) {
  if (v <= UINT64_MAX) return std::to_string(static_cast<uint64_t>(v));
  return "(more than 2^64)";
}

// Version 1 refs (24 bytes: chunk_id, summary_count u32, reserved, first_key): ids valid,
// counts >= 1 summing to leaf_count, first keys strictly increasing.
Status CheckDescriptorV1Refs(const TreeDescriptor& d) {
  uint64_t total = 0;
  for (size_t j = 0; j < d.refs.size(); ++j) {
    const IndexRef& c = d.refs[j];
    const size_t off = kDescHeaderBytes + kDescRefBytesV1 * j;
    if (!c.child_id.valid()) {
      return FormatCorruption(kDesc, off,
                              "chunk " + std::to_string(j) + " chunk_id " +
                                  std::to_string(c.child_id.raw()) + " is not a valid NodeID");
    }
    if (c.leaf_count == 0) {
      return FormatCorruption(kDesc, off + 8,
                              "chunk " + std::to_string(j) + " summary_count 0, expected >= 1");
    }
    if (j > 0 && c.first_key <= d.refs[j - 1].first_key) {
      return FormatCorruption(kDesc, off + 16,
                              "chunk " + std::to_string(j) + " first_key " +
                                  std::to_string(c.first_key) +
                                  ", expected greater than the previous chunk's " +
                                  std::to_string(d.refs[j - 1].first_key));
    }
    total += c.leaf_count;  // each < 2^32, at most 2^32 chunks: no overflow
  }
  if (total != d.leaf_count) {
    return FormatCorruption(kDesc, kDescLeafCountOffset,
                            "leaf_count " + std::to_string(d.leaf_count) +
                                ", but the chunks' summary counts sum to " + std::to_string(total));
  }
  return Status::OK();
}

// Semantic checks of a descriptor (shared by encode and decode). Offsets are those of the
// encoded form of d.format_version.
Status CheckDescriptor(const TreeDescriptor& d) {
  if (!IsValidKeyType(static_cast<uint8_t>(d.key_type))) {
    return FormatCorruption(kDesc, kDescKeyTypeOffset,
                            "key_type " + std::to_string(static_cast<int>(d.key_type)) +
                                ", expected 1 (int64) or 2 (double)");
  }
  if (d.index_height < 1 || d.index_height > kIndexHeightMax ||
      (d.refs.empty() && d.index_height != 1)) {
    return FormatCorruption(kDesc, kDescIndexHeightOffset,
                            "index_height " + std::to_string(d.index_height) + ", expected " +
                                (d.refs.empty() ? std::string("1 (empty tree)")
                                                : "1.." + std::to_string(kIndexHeightMax)));
  }
  if (!TreeShape{d.leaf_capacity_entries, d.fanout}.Validate().ok()) {
    return FormatCorruption(kDesc, kDescLeafCapacityOffset,
                            "shape (leaf_capacity_entries " +
                                std::to_string(d.leaf_capacity_entries) + ", fanout " +
                                std::to_string(d.fanout) + ") outside the limits");
  }
  if ((d.leaf_count == 0) != d.refs.empty()) {
    return FormatCorruption(kDesc, kDescRefCountOffset,
                            "ref_count " + std::to_string(d.refs.size()) +
                                " inconsistent with leaf_count " + std::to_string(d.leaf_count));
  }
  if (d.entry_count < d.leaf_count ||
      static_cast<unsigned __int128>(d.entry_count) >
          static_cast<unsigned __int128>(d.leaf_count) * kLeafCapacityMax) {
    return FormatCorruption(kDesc, kDescEntryCountOffset,
                            "entry_count " + std::to_string(d.entry_count) + ", expected " +
                                std::to_string(d.leaf_count) + ".." + std::to_string(d.leaf_count) +
                                " * " + std::to_string(kLeafCapacityMax));
  }
  if (!d.ref_totals_known()) return CheckDescriptorV1Refs(d);
  RefTotals t;
  COWTREE_RETURN_IF_ERROR(CheckIndexRefs(kDesc, kDescHeaderBytes, d.refs, &t));
  if (t.leaf_count != d.leaf_count) {
    return FormatCorruption(kDesc, kDescLeafCountOffset,
                            "leaf_count " + std::to_string(d.leaf_count) +
                                ", but the refs' leaf counts sum to " + U128(t.leaf_count));
  }
  if (t.entry_count != d.entry_count) {
    return FormatCorruption(kDesc, kDescEntryCountOffset,
                            "entry_count " + std::to_string(d.entry_count) +
                                ", but the refs' entry counts sum to " + U128(t.entry_count));
  }
  if (t.pos_sum != d.positive_count) {
    return FormatCorruption(kDesc, kDescPositiveCountOffset,
                            "positive_count " + std::to_string(d.positive_count) +
                                ", but the refs' positive sums add up to " + U128(t.pos_sum));
  }
  return Status::OK();
}

// Size, magic, version, exact size from the count at count_offset, CRC. Returns the count.
Status CheckEnvelope(std::string_view what, std::string_view body, uint32_t magic_expected,
                     uint16_t version_expected, size_t header_bytes, size_t count_offset,
                     size_t record_bytes, uint32_t* count) {
  if (body.size() < header_bytes + 4) {
    return FormatCorruption(what, body.size(),
                            "body ends after " + std::to_string(body.size()) +
                                " bytes, expected at least " + std::to_string(header_bytes + 4) +
                                " (header + crc32c)");
  }
  const uint32_t magic = DecodeFixed32(body.data());
  if (magic != magic_expected) {
    return FormatCorruption(what, 0,
                            "magic " + Hex32(magic) + ", expected " + Hex32(magic_expected));
  }
  const uint16_t version = DecodeFixed16(body.data() + 4);
  if (version != version_expected) {
    return FormatCorruption(what, 4,
                            "format_version " + std::to_string(version) + ", expected " +
                                std::to_string(version_expected));
  }
  *count = DecodeFixed32(body.data() + count_offset);
  const size_t expected_size = header_bytes + record_bytes * size_t{*count} + 4;
  if (body.size() != expected_size) {
    return FormatCorruption(what, count_offset,
                            "count " + std::to_string(*count) + " needs a body of " +
                                std::to_string(expected_size) + " bytes, found " +
                                std::to_string(body.size()));
  }
  return CheckTrailingCrc(what, body);
}

}  // namespace

std::string EncodeSummaryChunk(std::span<const PersistedSummary> summaries) {
  COWTREE_ASSERT(!summaries.empty() && summaries.size() <= UINT32_MAX);
  std::string out;
  out.reserve(SummaryChunkBodyBytes(summaries.size()));
  PutFixed32(&out, kSummaryChunkMagic);
  PutFixed16(&out, kSummaryChunkFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(summaries.size()));
  PutFixed32(&out, 0);
  for (size_t i = 0; i < summaries.size(); ++i) {
    const PersistedSummary& s = summaries[i];
    COWTREE_ASSERT(CheckSummary(s, i, out.size(), i > 0 ? &summaries[i - 1] : nullptr).ok());
    PutFixed64(&out, s.first_key);
    PutFixed64(&out, s.pos_sum);
    PutFixed32(&out, s.entry_count);
    PutFixed32(&out, 0);
    PutFixed64(&out, s.leaf_id.raw());
  }
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == SummaryChunkBodyBytes(summaries.size()));
  return out;
}

Result<std::vector<PersistedSummary>> DecodeSummaryChunk(std::string_view body) {
  uint32_t n = 0;
  COWTREE_RETURN_IF_ERROR(CheckEnvelope(kChunk, body, kSummaryChunkMagic,
                                        kSummaryChunkFormatVersion, kChunkHeaderBytes,
                                        kChunkCountOffset, kChunkRecordBytes, &n));
  const char* p = body.data();
  if (DecodeFixed16(p + kChunkReserved16Offset) != 0) {
    return FormatCorruption(kChunk, kChunkReserved16Offset, "reserved u16 not 0");
  }
  if (DecodeFixed32(p + kChunkReserved32Offset) != 0) {
    return FormatCorruption(kChunk, kChunkReserved32Offset, "reserved u32 not 0");
  }
  if (n == 0) return FormatCorruption(kChunk, kChunkCountOffset, "summary_count 0, expected >= 1");
  std::vector<PersistedSummary> out(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t off = kChunkHeaderBytes + kChunkRecordBytes * i;
    PersistedSummary& s = out[i];
    s.first_key = DecodeFixed64(p + off);
    s.pos_sum = DecodeFixed64(p + off + 8);
    s.entry_count = DecodeFixed32(p + off + kChunkRecordEntryCountOffset);
    if (DecodeFixed32(p + off + kChunkRecordReservedOffset) != 0) {
      return FormatCorruption(kChunk, off + kChunkRecordReservedOffset,
                              "summary " + std::to_string(i) + " reserved u32 not 0");
    }
    s.leaf_id = NodeID::FromRaw(DecodeFixed64(p + off + kChunkRecordLeafIdOffset));
    COWTREE_RETURN_IF_ERROR(CheckSummary(s, i, off, i > 0 ? &out[i - 1] : nullptr));
  }
  return out;
}

std::string EncodeTreeDescriptor(const TreeDescriptor& d) {
  COWTREE_ASSERT(d.format_version == kTreeDescriptorFormatVersion);
  COWTREE_ASSERT(CheckDescriptor(d).ok());
  COWTREE_ASSERT(d.refs.size() <= UINT32_MAX);
  std::string out;
  out.reserve(TreeDescriptorBodyBytes(d.refs.size()));
  PutFixed32(&out, kTreeDescriptorMagic);
  PutFixed16(&out, kTreeDescriptorFormatVersion);
  PutFixed8(&out, static_cast<uint8_t>(d.key_type));
  PutFixed8(&out, static_cast<uint8_t>(d.index_height));
  PutFixed32(&out, d.leaf_capacity_entries);
  PutFixed32(&out, d.fanout);
  PutFixed64(&out, d.positive_count);
  PutFixed64(&out, d.entry_count);
  PutFixed64(&out, d.leaf_count);
  PutFixed32(&out, static_cast<uint32_t>(d.refs.size()));
  PutFixed32(&out, 0);
  COWTREE_ASSERT(out.size() == kDescHeaderBytes);
  for (const IndexRef& r : d.refs) PutIndexRef(&out, r);
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == TreeDescriptorBodyBytes(d.refs.size()));
  return out;
}

Result<TreeDescriptor> DecodeTreeDescriptor(std::string_view body) {
  uint16_t version = 0;
  if (body.size() >= 6) version = DecodeFixed16(body.data() + 4);
  const bool v1 = version == kTreeDescriptorFormatVersionV1;
  const size_t ref_bytes = v1 ? kDescRefBytesV1 : kIndexRefBytes;
  uint32_t c = 0;
  COWTREE_RETURN_IF_ERROR(
      CheckEnvelope(kDesc, body, kTreeDescriptorMagic,
                    v1 ? kTreeDescriptorFormatVersionV1 : kTreeDescriptorFormatVersion,
                    kDescHeaderBytes, kDescRefCountOffset, ref_bytes, &c));
  const char* p = body.data();
  if (DecodeFixed32(p + kDescReserved32Offset) != 0) {
    return FormatCorruption(kDesc, kDescReserved32Offset, "reserved u32 not 0");
  }
  TreeDescriptor d;
  d.format_version = version;
  d.key_type = static_cast<KeyType>(static_cast<uint8_t>(p[kDescKeyTypeOffset]));
  if (v1) {
    if (p[kDescIndexHeightOffset] != 0) {
      return FormatCorruption(kDesc, kDescIndexHeightOffset, "reserved byte not 0");
    }
    d.index_height = 1;
  } else {
    d.index_height = static_cast<uint8_t>(p[kDescIndexHeightOffset]);
  }
  d.leaf_capacity_entries = DecodeFixed32(p + kDescLeafCapacityOffset);
  d.fanout = DecodeFixed32(p + kDescFanoutOffset);
  d.positive_count = DecodeFixed64(p + kDescPositiveCountOffset);
  d.entry_count = DecodeFixed64(p + kDescEntryCountOffset);
  d.leaf_count = DecodeFixed64(p + kDescLeafCountOffset);
  d.refs.resize(c);
  for (size_t j = 0; j < c; ++j) {
    const size_t off = kDescHeaderBytes + ref_bytes * j;
    if (!v1) {
      d.refs[j] = DecodeIndexRef(p + off);
      continue;
    }
    d.refs[j].child_id = NodeID::FromRaw(DecodeFixed64(p + off));
    d.refs[j].leaf_count = DecodeFixed32(p + off + 8);
    if (DecodeFixed32(p + off + 12) != 0) {
      return FormatCorruption(kDesc, off + 12,
                              "chunk " + std::to_string(j) + " reserved u32 not 0");
    }
    d.refs[j].first_key = DecodeFixed64(p + off + 16);
  }
  COWTREE_RETURN_IF_ERROR(CheckDescriptor(d));
  return d;
}

}  // namespace cowtree::tree
