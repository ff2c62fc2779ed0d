#include "persistence/ot_checkpoint.h"

#include <cstring>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"

namespace cowtree {
namespace {

// Header field offsets (see ot_checkpoint.h).
constexpr size_t kMagicOffset = 0;
constexpr size_t kVersionOffset = 8;
constexpr size_t kReserved1Offset = 12;
constexpr size_t kIdOffset = 16;
constexpr size_t kEpochOffset = 24;
constexpr size_t kCountOffset = 32;
constexpr size_t kStoreIdOffset = 40;
constexpr size_t kReserved2Offset = 56;
static_assert(kStoreIdOffset + StoreId::kBytes == kReserved2Offset);
static_assert(kReserved2Offset + 4 == kOtCheckpointHeaderCrcOffset);
// Footer field offsets, relative to the footer.
constexpr size_t kFooterCountOffset = 0;
constexpr size_t kFooterEntriesCrcOffset = 8;
constexpr size_t kFooterMagicOffset = 12;
constexpr size_t kFooterReservedOffset = 16;
static_assert(kFooterReservedOffset + 4 == kOtCheckpointFooterCrcOffset);

constexpr size_t kWriteBufferBytes = 1 << 20;
// LoadInto uses a second thread from this many records on.
constexpr uint64_t kParallelLoadRecordsMin = 1 << 16;

Status Bad(const std::string& path, uint64_t offset, const std::string& what) {
  return Status::Corruption("OT checkpoint " + path + " offset " + std::to_string(offset) + ": " +
                            what);
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

Status WriteOtCheckpoint(Env* env, const std::string& dir, uint64_t id, uint64_t epoch,
                         const ObjectTable& table, const StoreId& store_id,
                         const RetainedEpochs& retained) {
  COWTREE_ASSERT(id >= 1 && !store_id.is_zero());
  const std::string path = JoinPath(dir, OtCheckpointFileName(id));
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kCreate));
  COWTREE_RETURN_IF_ERROR(file->Truncate(0));

  // Records first (streamed in 1 MiB writes), then the header and footer with the counts.
  std::string buffer;
  buffer.reserve(kWriteBufferBytes + kOtRecordBytes);
  uint64_t offset = kOtCheckpointHeaderBytes;
  uint64_t count = 0;
  uint32_t entries_crc = Crc32c(nullptr, 0);
  uint64_t last_handle = 0;
  Status status;
  auto flush = [&]() {
    if (!status.ok() || buffer.empty()) return;
    entries_crc = Crc32cExtend(entries_crc, buffer.data(), buffer.size());
    status = file->WriteAt(offset, buffer);
    offset += buffer.size();
    buffer.clear();
  };
  table.ForEachLive([&](NodeID node, const OtEntry& entry) {
    // Dead as of `epoch`, unless a retained checkpoint still references it.
    if (entry.retired() && entry.retire_epoch <= epoch &&
        !retained.Sees(entry.birth_epoch, entry.retire_epoch)) {
      return;
    }
    COWTREE_ASSERT(count == 0 || node.handle() > last_handle);  // strictly increasing
    last_handle = node.handle();
    char record[kOtRecordBytes];
    EncodeOtRecord(node, entry, record);  // asserts validity
    buffer.append(record, kOtRecordBytes);
    ++count;
    if (buffer.size() >= kWriteBufferBytes) flush();
  });
  flush();
  COWTREE_RETURN_IF_ERROR(status);
  COWTREE_ASSERT(offset == kOtCheckpointHeaderBytes + count * kOtRecordBytes);

  char header[kOtCheckpointHeaderBytes] = {};
  EncodeFixed64(header + kMagicOffset, kOtCheckpointMagic);
  EncodeFixed32(header + kVersionOffset, kOtCheckpointFormatVersion);
  EncodeFixed64(header + kIdOffset, id);
  EncodeFixed64(header + kEpochOffset, epoch);
  EncodeFixed64(header + kCountOffset, count);
  store_id.EncodeTo(header + kStoreIdOffset);
  EncodeFixed32(header + kOtCheckpointHeaderCrcOffset,
                Crc32c(header, kOtCheckpointHeaderCrcOffset));
  char footer[kOtCheckpointFooterBytes] = {};
  EncodeFixed64(footer + kFooterCountOffset, count);
  EncodeFixed32(footer + kFooterEntriesCrcOffset, entries_crc);
  EncodeFixed32(footer + kFooterMagicOffset, kOtCheckpointFooterMagic);
  EncodeFixed32(footer + kOtCheckpointFooterCrcOffset,
                Crc32c(footer, kOtCheckpointFooterCrcOffset));
  COWTREE_RETURN_IF_ERROR(file->WriteAt(offset, std::string_view(footer, sizeof(footer))));
  COWTREE_RETURN_IF_ERROR(file->WriteAt(0, std::string_view(header, sizeof(header))));
  COWTREE_RETURN_IF_ERROR(file->Sync());
  return env->SyncDir(dir);
}

Result<OtCheckpointContents> ReadOtCheckpoint(Env* env, const std::string& dir, uint64_t id,
                                              const StoreId& expected) {
  const std::string path = JoinPath(dir, OtCheckpointFileName(id));
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kReadOnly));
  COWTREE_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  if (size < kOtCheckpointHeaderBytes + kOtCheckpointFooterBytes) {
    return Bad(path, 0,
               "file of " + std::to_string(size) + " bytes is shorter than header + " + "footer (" +
                   std::to_string(kOtCheckpointHeaderBytes + kOtCheckpointFooterBytes) + " bytes)");
  }
  OtCheckpointContents out;
  COWTREE_ASSIGN_OR_RETURN(out.region_, file->Map(0, static_cast<size_t>(size)));
  out.path_ = path;
  const char* p = out.region_->data();

  // Header.
  if (DecodeFixed64(p + kMagicOffset) != kOtCheckpointMagic) {
    return Bad(path, kMagicOffset, "bad magic, expected \"CWTOTCK1\"");
  }
  const uint32_t header_crc = DecodeFixed32(p + kOtCheckpointHeaderCrcOffset);
  if (const uint32_t crc = Crc32c(p, kOtCheckpointHeaderCrcOffset); crc != header_crc) {
    return Bad(path, kOtCheckpointHeaderCrcOffset,
               "header CRC32C mismatch: stored " + std::to_string(header_crc) + ", computed " +
                   std::to_string(crc));
  }
  if (const uint32_t v = DecodeFixed32(p + kVersionOffset); v < kOtCheckpointFormatVersion) {
    return Bad(path, kVersionOffset,
               "format version " + std::to_string(v) +
                   " was written by an older cowtree (this build reads version " +
                   std::to_string(kOtCheckpointFormatVersion) + ", which names its store)");
  }
  if (const uint32_t v = DecodeFixed32(p + kVersionOffset); v != kOtCheckpointFormatVersion) {
    return Bad(path, kVersionOffset,
               "format version " + std::to_string(v) + ", expected " +
                   std::to_string(kOtCheckpointFormatVersion));
  }
  if (!AllZero(p + kReserved1Offset, 4)) return Bad(path, kReserved1Offset, "reserved not zero");
  if (!AllZero(p + kReserved2Offset, 4)) return Bad(path, kReserved2Offset, "reserved not zero");
  out.store_id_ = StoreId::FromBytes(p + kStoreIdOffset);
  if (out.store_id_.is_zero()) return Bad(path, kStoreIdOffset, "store id is zero");
  if (!expected.is_zero() && !(out.store_id_ == expected)) {
    return Status::Corruption(
        StoreIdMismatch("OT checkpoint " + path, kStoreIdOffset, out.store_id_, expected));
  }
  out.checkpoint_id_ = DecodeFixed64(p + kIdOffset);
  if (out.checkpoint_id_ != id) {
    return Bad(
        path, kIdOffset,
        "checkpoint id " + std::to_string(out.checkpoint_id_) + ", expected " + std::to_string(id));
  }
  out.epoch_ = DecodeFixed64(p + kEpochOffset);
  out.entry_count_ = DecodeFixed64(p + kCountOffset);
  const uint64_t max_count = (size - kOtCheckpointHeaderBytes) / kOtRecordBytes;
  if (out.entry_count_ > max_count || OtCheckpointFileBytes(out.entry_count_) != size) {
    return Bad(path, kCountOffset,
               "header entry count " + std::to_string(out.entry_count_) + " needs a file of " +
                   (out.entry_count_ > max_count
                        ? std::string("more bytes")
                        : std::to_string(OtCheckpointFileBytes(out.entry_count_)) + " bytes") +
                   ", the file has " + std::to_string(size) + " (truncated or extended)");
  }

  // Footer.
  const uint64_t records_end = kOtCheckpointHeaderBytes + out.entry_count_ * kOtRecordBytes;
  const char* f = p + records_end;
  const uint32_t footer_crc = DecodeFixed32(f + kOtCheckpointFooterCrcOffset);
  if (const uint32_t crc = Crc32c(f, kOtCheckpointFooterCrcOffset); crc != footer_crc) {
    return Bad(path, records_end + kOtCheckpointFooterCrcOffset,
               "footer CRC32C mismatch: stored " + std::to_string(footer_crc) + ", computed " +
                   std::to_string(crc));
  }
  if (DecodeFixed32(f + kFooterMagicOffset) != kOtCheckpointFooterMagic) {
    return Bad(path, records_end + kFooterMagicOffset, "bad footer magic, expected \"CWTF\"");
  }
  if (!AllZero(f + kFooterReservedOffset, 4)) {
    return Bad(path, records_end + kFooterReservedOffset, "footer reserved not zero");
  }
  if (const uint64_t n = DecodeFixed64(f + kFooterCountOffset); n != out.entry_count_) {
    return Bad(path, records_end + kFooterCountOffset,
               "footer entry count " + std::to_string(n) + " differs from the header's " +
                   std::to_string(out.entry_count_));
  }
  const uint32_t entries_crc = DecodeFixed32(f + kFooterEntriesCrcOffset);
  if (const uint32_t crc =
          Crc32c(p + kOtCheckpointHeaderBytes, records_end - kOtCheckpointHeaderBytes);
      crc != entries_crc) {
    return Bad(path, kOtCheckpointHeaderBytes,
               "entries CRC32C mismatch: stored " + std::to_string(entries_crc) + ", computed " +
                   std::to_string(crc));
  }

  // Records: each valid, handles strictly increasing.
  uint64_t last_handle = 0;
  for (uint64_t i = 0; i < out.entry_count_; ++i) {
    const uint64_t at = kOtCheckpointHeaderBytes + i * kOtRecordBytes;
    Result<OtRecord> decoded = DecodeOtRecord(p + at);
    if (!decoded.ok()) {
      return decoded.status().WithContext("OT checkpoint " + path + " offset " +
                                          std::to_string(at) + " (record " + std::to_string(i) +
                                          ")");
    }
    const OtRecord& r = decoded.value();
    if (i > 0 && r.id.handle() <= last_handle) {
      return Bad(path, at,
                 "record " + std::to_string(i) + " handle " + std::to_string(r.id.handle()) +
                     (r.id.handle() == last_handle ? " duplicates" : " is below") +
                     " the previous handle " + std::to_string(last_handle) +
                     " (records must be in strictly increasing handle order)");
    }
    last_handle = r.id.handle();
  }
  return out;
}

Result<OtRecord> OtCheckpointContents::record(uint64_t i) const {
  COWTREE_ASSERT(i < entry_count_);
  const uint64_t at = kOtCheckpointHeaderBytes + i * kOtRecordBytes;
  Result<OtRecord> r = DecodeOtRecord(region_->data() + at);
  if (!r.ok()) {
    return r.status().WithContext("OT checkpoint " + path_ + " offset " + std::to_string(at));
  }
  return r;
}

Status OtCheckpointContents::LoadInto(ObjectTable& table, const RetainedEpochs& retained) const {
  // Two threads for a large checkpoint (open is otherwise single-threaded; 10^9 entries in one
  // tree is ~4 M records).
  const size_t threads = entry_count_ >= kParallelLoadRecordsMin ? 2 : 1;
  const char* records = region_->data() + kOtCheckpointHeaderBytes;
  Status st = table.LoadEntries(
      entry_count_,
      [records](uint64_t i) {
        return NodeID::FromRaw(DecodeFixed64(records + i * kOtRecordBytes + kOtRecordNodeIdOffset))
            .handle();
      },
      [&](uint64_t i, OtRecord* out) -> Status {
        COWTREE_ASSIGN_OR_RETURN(const OtRecord r, record(i));
        if (r.entry.retired() && r.entry.retire_epoch <= epoch_ &&
            !retained.Sees(r.entry.birth_epoch, r.entry.retire_epoch)) {
          return Status::OK();  // kept for a retained checkpoint deleted since: free
        }
        *out = r;
        return Status::OK();
      },
      threads);
  if (!st.ok()) return st.WithContext("loading OT checkpoint " + path_);
  return Status::OK();
}

}  // namespace cowtree
