#include "persistence/ot_delta.h"

#include "persistence/assert.h"
#include "persistence/coding.h"

namespace cowtree {
namespace {

Status BadDelta(size_t offset, const std::string& what) {
  return Status::Corruption("OT delta payload at byte " + std::to_string(offset) + ": " + what);
}

}  // namespace

std::string EncodeOtDelta(std::span<const OtDeltaOp> ops) {
  COWTREE_ASSERT(ops.size() <= UINT32_MAX);
  std::string out;
  out.reserve(kOtDeltaHeaderBytes + ops.size() * kOtDeltaUpsertBytes);
  PutFixed16(&out, kOtDeltaFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(ops.size()));
  for (const OtDeltaOp& op : ops) {
    COWTREE_ASSERT(op.type == OtDeltaOp::kUpsert || op.type == OtDeltaOp::kRetire);
    PutFixed8(&out, op.type);
    out.append(kOtDeltaOpPrefixBytes - 1, '\0');
    if (op.type == OtDeltaOp::kUpsert) {
      char record[kOtRecordBytes];
      EncodeOtRecord(op.id, op.entry, record);  // asserts validity
      out.append(record, kOtRecordBytes);
    } else {
      COWTREE_ASSERT(op.id.valid() && op.retire_epoch != kNotRetired);
      PutFixed64(&out, op.id.raw());
      PutFixed64(&out, op.retire_epoch);
    }
  }
  return out;
}

Result<std::vector<OtDeltaOp>> DecodeOtDelta(std::string_view payload) {
  ByteReader reader(payload);
  uint16_t version = 0, reserved = 0;
  uint32_t count = 0;
  if (!reader.GetFixed16(&version) || !reader.GetFixed16(&reserved) || !reader.GetFixed32(&count)) {
    return BadDelta(0, "payload of " + std::to_string(payload.size()) +
                           " bytes is shorter than the 8-byte header");
  }
  if (version != kOtDeltaFormatVersion) {
    return BadDelta(0, "format version " + std::to_string(version) + ", expected " +
                           std::to_string(kOtDeltaFormatVersion));
  }
  if (reserved != 0) return BadDelta(2, "reserved header bytes are not zero");
  if (uint64_t{count} * kOtDeltaRetireBytes > reader.remaining()) {
    return BadDelta(4, "op count " + std::to_string(count) + " cannot fit in " +
                           std::to_string(reader.remaining()) + " remaining bytes");
  }
  std::vector<OtDeltaOp> ops;
  ops.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = reader.offset();
    const std::string where = "op " + std::to_string(i);
    std::string_view prefix;
    if (!reader.GetBytes(kOtDeltaOpPrefixBytes, &prefix)) {
      return BadDelta(at, where + " is cut short (op count " + std::to_string(count) + ")");
    }
    for (size_t b = 1; b < kOtDeltaOpPrefixBytes; ++b) {
      if (prefix[b] != 0) return BadDelta(at + b, where + ": reserved byte is not zero");
    }
    OtDeltaOp op;
    const auto type = static_cast<uint8_t>(prefix[0]);
    if (type == OtDeltaOp::kUpsert) {
      std::string_view record;
      if (!reader.GetBytes(kOtRecordBytes, &record)) {
        return BadDelta(at, where + ": upsert record is cut short");
      }
      Result<OtRecord> decoded = DecodeOtRecord(record.data());
      if (!decoded.ok()) {
        return decoded.status().WithContext("OT delta payload at byte " + std::to_string(at + 8) +
                                            " " + where);
      }
      const OtRecord& r = decoded.value();
      op.type = OtDeltaOp::kUpsert;
      op.id = r.id;
      op.entry = r.entry;
    } else if (type == OtDeltaOp::kRetire) {
      uint64_t raw = 0, epoch = 0;
      if (!reader.GetFixed64(&raw) || !reader.GetFixed64(&epoch)) {
        return BadDelta(at, where + ": retire op is cut short");
      }
      op.type = OtDeltaOp::kRetire;
      op.id = NodeID::FromRaw(raw);
      op.retire_epoch = epoch;
      if (!op.id.valid()) return BadDelta(at + 8, where + ": retire of a NodeID with tag 0");
      if (epoch == kNotRetired) {
        return BadDelta(at + 16, where + ": retire epoch is the not-retired marker");
      }
    } else {
      return BadDelta(at, where + ": unknown op type " + std::to_string(type) +
                              " (expected 1 upsert or 2 retire)");
    }
    ops.push_back(op);
  }
  if (reader.remaining() != 0) {
    return BadDelta(reader.offset(), std::to_string(reader.remaining()) + " trailing bytes after " +
                                         std::to_string(count) + " ops");
  }
  return ops;
}

Status ApplyOtDelta(ObjectTable& table, const std::vector<OtDeltaOp>& ops,
                    const RetainedEpochs& retained) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const OtDeltaOp& op = ops[i];
    Status st = op.type == OtDeltaOp::kUpsert
                    ? table.ReplayUpsert(op.id, op.entry)
                    : table.ReplayRetire(op.id, op.retire_epoch, retained);
    if (!st.ok()) return st.WithContext("applying OT delta op " + std::to_string(i));
  }
  return Status::OK();
}

}  // namespace cowtree
