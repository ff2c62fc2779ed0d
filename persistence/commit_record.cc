#include "persistence/commit_record.h"

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/log_format.h"

namespace cowtree {

uint64_t CommitRecordEncodedBytes(const CommitRecordView& record) {
  uint64_t bytes = kCommitRecordHeaderBytes + 8;  // header + op-section count and reserved
  for (const CommitCreate& c : record.creates) bytes += 16 + c.name.size() + c.params.size();
  bytes += 8 * record.drops.size();
  for (const CommitOps& s : record.ops) bytes += 16 + s.ops.size();
  return bytes;
}

Status ValidateCommitRecord(const CommitRecordView& record) {
  for (const CommitCreate& c : record.creates) {
    if (c.tree_id == 0 || c.type_id == 0) {
      return Status::InvalidArgument("create tree: tree id and type id must be non-zero");
    }
    if (c.name.empty() || c.name.size() > kTreeNameBytesMax) {
      return Status::InvalidArgument("tree name of " + std::to_string(c.name.size()) +
                                     " bytes: a tree name must have 1.." +
                                     std::to_string(kTreeNameBytesMax) + " bytes");
    }
    if (c.params.size() > kTreeParamsBytesMax) {
      return Status::InvalidArgument("tree '" + c.name + "': params of " +
                                     std::to_string(c.params.size()) + " bytes exceed " +
                                     std::to_string(kTreeParamsBytesMax));
    }
  }
  for (TreeId id : record.drops) {
    if (id == 0) return Status::InvalidArgument("drop of tree id 0");
  }
  for (const CommitOps& s : record.ops) {
    if (s.tree_id == 0) return Status::InvalidArgument("ops for tree id 0");
    if (s.ops.size() > UINT32_MAX) {
      return Status::InvalidArgument("ops for tree id " + std::to_string(s.tree_id) + ": " +
                                     std::to_string(s.ops.size()) +
                                     " bytes exceed the 4 GiB - 1 of one op section");
    }
  }
  if (record.creates.size() > UINT32_MAX || record.drops.size() > UINT32_MAX ||
      record.ops.size() > UINT32_MAX) {
    return Status::InvalidArgument("too many creates, drops or op sections in one batch");
  }
  const uint64_t bytes = CommitRecordEncodedBytes(record);
  if (bytes > kLogRecordPayloadMax) {
    return Status::InvalidArgument("batch encodes to " + std::to_string(bytes) +
                                   " bytes, over the " + std::to_string(kLogRecordPayloadMax) +
                                   "-byte limit of one log record (kLogRecordPayloadMax): split "
                                   "it into several commits");
  }
  return Status::OK();
}

void EncodeCommitRecord(const CommitRecordView& record, std::string* out) {
  // The per-field limits are asserted below; the whole-record limit here (callers validated it
  // with ValidateCommitRecord, so this is computed, not re-validated).
  const uint64_t expected_bytes = CommitRecordEncodedBytes(record);
  COWTREE_ASSERT(expected_bytes <= kLogRecordPayloadMax);
  out->clear();
  out->reserve(expected_bytes);
  PutFixed32(out, kCommitRecordMagic);
  PutFixed16(out, kCommitRecordVersion);
  PutFixed16(out, 0);
  PutFixed32(out, static_cast<uint32_t>(record.creates.size()));
  PutFixed32(out, static_cast<uint32_t>(record.drops.size()));
  for (const CommitCreate& c : record.creates) {
    COWTREE_ASSERT(c.tree_id != 0 && c.type_id != 0);
    COWTREE_ASSERT(!c.name.empty() && c.name.size() <= kTreeNameBytesMax);
    COWTREE_ASSERT(c.params.size() <= kTreeParamsBytesMax);
    PutFixed64(out, c.tree_id);
    PutFixed8(out, c.type_id);
    PutFixed8(out, 0);
    PutFixed16(out, static_cast<uint16_t>(c.name.size()));
    PutFixed32(out, static_cast<uint32_t>(c.params.size()));
    out->append(c.name);
    out->append(c.params);
  }
  for (TreeId id : record.drops) {
    COWTREE_ASSERT(id != 0);
    PutFixed64(out, id);
  }
  PutFixed32(out, static_cast<uint32_t>(record.ops.size()));
  PutFixed32(out, 0);
  for (const CommitOps& s : record.ops) {
    COWTREE_ASSERT(s.tree_id != 0);
    COWTREE_ASSERT(s.ops.size() <= UINT32_MAX);
    PutFixed64(out, s.tree_id);
    PutFixed32(out, static_cast<uint32_t>(s.ops.size()));
    PutFixed32(out, 0);
    out->append(s.ops);
  }
  COWTREE_ASSERT(out->size() == expected_bytes);
}

namespace {
Status Bad(const ByteReader& r, const char* what) {
  return Status::Corruption("commit record at payload offset " + std::to_string(r.offset()) + ": " +
                            what);
}
}  // namespace

Result<CommitRecordView> DecodeCommitRecord(std::string_view payload) {
  ByteReader r(payload);
  uint32_t magic = 0, create_count = 0, drop_count = 0, section_count = 0, reserved32 = 0;
  uint16_t version = 0, reserved16 = 0;
  if (!r.GetFixed32(&magic) || !r.GetFixed16(&version) || !r.GetFixed16(&reserved16) ||
      !r.GetFixed32(&create_count) || !r.GetFixed32(&drop_count)) {
    return Bad(r, "short header (expected 16 bytes)");
  }
  if (magic != kCommitRecordMagic) return Status::Corruption("commit record: bad magic");
  if (version != kCommitRecordVersion) {
    return Status::Corruption("commit record: unknown format version " + std::to_string(version));
  }
  if (reserved16 != 0) return Status::Corruption("commit record: reserved header bytes not zero");
  // Each create needs >= 16 bytes, each drop 8: bound counts by the payload size first.
  if (create_count > payload.size() / 16 || drop_count > payload.size() / 8) {
    return Bad(r, "create/drop count larger than the record");
  }
  CommitRecordView view;
  view.creates.reserve(create_count);
  for (uint32_t i = 0; i < create_count; ++i) {
    CommitCreate c;
    uint8_t type_id = 0, reserved8 = 0;
    uint16_t name_length = 0;
    uint32_t params_length = 0;
    std::string_view name, params;
    if (!r.GetFixed64(&c.tree_id) || !r.GetFixed8(&type_id) || !r.GetFixed8(&reserved8) ||
        !r.GetFixed16(&name_length) || !r.GetFixed32(&params_length)) {
      return Bad(r, "short create entry");
    }
    if (c.tree_id == 0 || type_id == 0 || reserved8 != 0 || name_length == 0 ||
        name_length > kTreeNameBytesMax || params_length > kTreeParamsBytesMax) {
      return Bad(r, "invalid create entry (tree id, type, reserved byte or lengths)");
    }
    if (!r.GetBytes(name_length, &name) || !r.GetBytes(params_length, &params)) {
      return Bad(r, "create entry name/params past the end of the record");
    }
    c.type_id = type_id;
    c.name.assign(name);
    c.params.assign(params);
    view.creates.push_back(std::move(c));
  }
  view.drops.reserve(drop_count);
  for (uint32_t i = 0; i < drop_count; ++i) {
    uint64_t id = 0;
    if (!r.GetFixed64(&id)) return Bad(r, "short drop entry");
    if (id == 0) return Bad(r, "drop of tree id 0");
    view.drops.push_back(id);
  }
  if (!r.GetFixed32(&section_count) || !r.GetFixed32(&reserved32)) {
    return Bad(r, "short op-section header");
  }
  if (reserved32 != 0) return Bad(r, "reserved op-section bytes not zero");
  if (section_count > payload.size() / 16) return Bad(r, "op-section count larger than the record");
  view.ops.reserve(section_count);
  for (uint32_t i = 0; i < section_count; ++i) {
    CommitOps s;
    uint32_t ops_length = 0;
    if (!r.GetFixed64(&s.tree_id) || !r.GetFixed32(&ops_length) || !r.GetFixed32(&reserved32)) {
      return Bad(r, "short op-section");
    }
    if (s.tree_id == 0 || reserved32 != 0) return Bad(r, "invalid op-section header");
    if (!r.GetBytes(ops_length, &s.ops)) return Bad(r, "op-section past the end of the record");
    view.ops.push_back(s);
  }
  if (r.remaining() != 0) return Bad(r, "trailing bytes after the last op-section");
  return view;
}

std::string CommitEpochGapMessage(uint64_t previous, uint64_t epoch) {
  if (epoch <= previous) {
    return "commit epoch " + std::to_string(epoch) + " is not above the previous epoch " +
           std::to_string(previous);
  }
  const std::string missing =
      epoch == previous + 2 ? "the commit of epoch " + std::to_string(previous + 1) + " is missing"
                            : "the commits of epochs " + std::to_string(previous + 1) + " to " +
                                  std::to_string(epoch - 1) + " are missing";
  return "commit epoch " + std::to_string(epoch) + " follows epoch " + std::to_string(previous) +
         ": " + missing +
         " (epochs are consecutive in the log: a log file cut short at a frame boundary?)";
}

}  // namespace cowtree
