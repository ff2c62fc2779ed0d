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

// Semantic checks of a descriptor (shared by encode and decode). Offsets are those of the
// encoded form.
Status CheckDescriptor(const TreeDescriptor& d) {
  if (!IsValidKeyType(static_cast<uint8_t>(d.key_type))) {
    return FormatCorruption(kDesc, kDescKeyTypeOffset,
                            "key_type " + std::to_string(static_cast<int>(d.key_type)) +
                                ", expected 1 (int64) or 2 (double)");
  }
  if (!TreeShape{d.leaf_capacity_entries, d.fanout}.Validate().ok()) {
    return FormatCorruption(kDesc, kDescLeafCapacityOffset,
                            "shape (leaf_capacity_entries " +
                                std::to_string(d.leaf_capacity_entries) + ", fanout " +
                                std::to_string(d.fanout) + ") outside the limits");
  }
  if ((d.leaf_count == 0) != d.chunks.empty()) {
    return FormatCorruption(kDesc, kDescChunkCountOffset,
                            "chunk_count " + std::to_string(d.chunks.size()) +
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
  uint64_t total = 0;
  for (size_t j = 0; j < d.chunks.size(); ++j) {
    const DescriptorChunk& c = d.chunks[j];
    const size_t off = kDescHeaderBytes + kDescChunkBytes * j;
    if (!c.chunk_id.valid()) {
      return FormatCorruption(kDesc, off,
                              "chunk " + std::to_string(j) + " chunk_id " +
                                  std::to_string(c.chunk_id.raw()) + " is not a valid NodeID");
    }
    if (c.summary_count == 0) {
      return FormatCorruption(kDesc, off + 8,
                              "chunk " + std::to_string(j) + " summary_count 0, expected >= 1");
    }
    if (j > 0 && c.first_key <= d.chunks[j - 1].first_key) {
      return FormatCorruption(kDesc, off + 16,
                              "chunk " + std::to_string(j) + " first_key " +
                                  std::to_string(c.first_key) +
                                  ", expected greater than the previous chunk's " +
                                  std::to_string(d.chunks[j - 1].first_key));
    }
    total += c.summary_count;  // <= 2^32 * chunk count: no overflow for any real size
  }
  if (total != d.leaf_count) {
    return FormatCorruption(kDesc, kDescLeafCountOffset,
                            "leaf_count " + std::to_string(d.leaf_count) +
                                ", but the chunks' summary counts sum to " + std::to_string(total));
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
  COWTREE_ASSERT(CheckDescriptor(d).ok());
  COWTREE_ASSERT(d.chunks.size() <= UINT32_MAX);
  std::string out;
  out.reserve(TreeDescriptorBodyBytes(d.chunks.size()));
  PutFixed32(&out, kTreeDescriptorMagic);
  PutFixed16(&out, kTreeDescriptorFormatVersion);
  PutFixed8(&out, static_cast<uint8_t>(d.key_type));
  PutFixed8(&out, 0);
  PutFixed32(&out, d.leaf_capacity_entries);
  PutFixed32(&out, d.fanout);
  PutFixed64(&out, d.positive_count);
  PutFixed64(&out, d.entry_count);
  PutFixed64(&out, d.leaf_count);
  PutFixed32(&out, static_cast<uint32_t>(d.chunks.size()));
  PutFixed32(&out, 0);
  COWTREE_ASSERT(out.size() == kDescHeaderBytes);
  for (const DescriptorChunk& c : d.chunks) {
    PutFixed64(&out, c.chunk_id.raw());
    PutFixed32(&out, c.summary_count);
    PutFixed32(&out, 0);
    PutFixed64(&out, c.first_key);
  }
  PutTrailingCrc(&out);
  COWTREE_ASSERT(out.size() == TreeDescriptorBodyBytes(d.chunks.size()));
  return out;
}

Result<TreeDescriptor> DecodeTreeDescriptor(std::string_view body) {
  uint32_t c = 0;
  COWTREE_RETURN_IF_ERROR(CheckEnvelope(kDesc, body, kTreeDescriptorMagic,
                                        kTreeDescriptorFormatVersion, kDescHeaderBytes,
                                        kDescChunkCountOffset, kDescChunkBytes, &c));
  const char* p = body.data();
  if (p[kDescReserved8Offset] != 0) {
    return FormatCorruption(kDesc, kDescReserved8Offset, "reserved byte not 0");
  }
  if (DecodeFixed32(p + kDescReserved32Offset) != 0) {
    return FormatCorruption(kDesc, kDescReserved32Offset, "reserved u32 not 0");
  }
  TreeDescriptor d;
  d.key_type = static_cast<KeyType>(static_cast<uint8_t>(p[kDescKeyTypeOffset]));
  d.leaf_capacity_entries = DecodeFixed32(p + kDescLeafCapacityOffset);
  d.fanout = DecodeFixed32(p + kDescFanoutOffset);
  d.positive_count = DecodeFixed64(p + kDescPositiveCountOffset);
  d.entry_count = DecodeFixed64(p + kDescEntryCountOffset);
  d.leaf_count = DecodeFixed64(p + kDescLeafCountOffset);
  d.chunks.resize(c);
  for (size_t j = 0; j < c; ++j) {
    const size_t off = kDescHeaderBytes + kDescChunkBytes * j;
    d.chunks[j].chunk_id = NodeID::FromRaw(DecodeFixed64(p + off));
    d.chunks[j].summary_count = DecodeFixed32(p + off + 8);
    if (DecodeFixed32(p + off + 12) != 0) {
      return FormatCorruption(kDesc, off + 12,
                              "chunk " + std::to_string(j) + " reserved u32 not 0");
    }
    d.chunks[j].first_key = DecodeFixed64(p + off + 16);
  }
  COWTREE_RETURN_IF_ERROR(CheckDescriptor(d));
  return d;
}

Status CheckChunkAgainstDescriptor(const DescriptorChunk& ref,
                                   std::span<const PersistedSummary> summaries) {
  if (summaries.size() != ref.summary_count ||
      (!summaries.empty() && summaries.front().first_key != ref.first_key)) {
    return Status::Corruption(
        "summary chunk " + std::to_string(ref.chunk_id.raw()) + ": " +
        std::to_string(summaries.size()) + " summaries starting at key code " +
        (summaries.empty() ? std::string("-") : std::to_string(summaries.front().first_key)) +
        ", expected " + std::to_string(ref.summary_count) + " starting at " +
        std::to_string(ref.first_key) + " (from the tree descriptor)");
  }
  return Status::OK();
}

}  // namespace cowtree::tree
