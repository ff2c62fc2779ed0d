#include "persistence/superblock.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/node_id.h"

namespace cowtree {
namespace {

std::string Off(uint64_t base, size_t field) { return std::to_string(base + field); }

// Invariants every copy satisfies; returns "" if fine, else what is wrong.
std::string CheckInvariants(const SuperblockData& d) {
  if (d.generation == 0) return "generation is 0 (generations start at 1)";
  if (d.log_replay_file_number == 0) return "log_replay_file_number is 0 (log files start at 1)";
  if (d.store_id.is_zero()) return "store_id is zero (every store has a random non-zero id)";
  if (d.catalog_root != 0 && !NodeID::FromRaw(d.catalog_root).valid()) {
    return "catalog_root " + std::to_string(d.catalog_root) + " is not a valid NodeID (tag 0)";
  }
  return "";
}

}  // namespace

std::string EncodeSuperblock(const SuperblockData& d) {
  COWTREE_ASSERT(CheckInvariants(d).empty());
  std::string out(kSuperblockCopySize, '\0');  // reserved bytes are zero
  char* p = out.data();
  EncodeFixed64(p + kSbMagicOffset, kSuperblockMagic);
  EncodeFixed32(p + kSbVersionOffset, kSuperblockFormatVersion);
  EncodeFixed32(p + kSbCopySizeOffset, static_cast<uint32_t>(kSuperblockCopySize));
  EncodeFixed64(p + kSbGenerationOffset, d.generation);
  EncodeFixed64(p + kSbCheckpointEpochOffset, d.checkpoint_epoch);
  EncodeFixed64(p + kSbManifestGenerationOffset, d.manifest_generation);
  EncodeFixed64(p + kSbOtCheckpointIdOffset, d.ot_checkpoint_id);
  EncodeFixed64(p + kSbLogReplayFileNumberOffset, d.log_replay_file_number);
  EncodeFixed64(p + kSbLogReplayOffsetOffset, d.log_replay_offset_bytes);
  EncodeFixed64(p + kSbCatalogRootOffset, d.catalog_root);
  EncodeFixed64(p + kSbOtHandleCountOffset, d.ot_handle_count);
  d.store_id.EncodeTo(p + kSbStoreIdOffset);
  EncodeFixed32(p + kSbCrcOffset, Crc32c(p, kSbCrcOffset));
  // Assert before writing: the bytes decode back to exactly what we meant to persist.
  Result<SuperblockData> check = DecodeSuperblock(out, 0);
  COWTREE_ASSERT(check.ok() && *check == d);
  return out;
}

Result<SuperblockData> DecodeSuperblock(std::string_view copy, uint64_t base) {
  const std::string where = "superblock copy at offset " + std::to_string(base);
  if (copy.size() < kSuperblockCopySize) {
    return Status::Corruption(where + ": short file: " + std::to_string(copy.size()) +
                              " bytes, expected " + std::to_string(kSuperblockCopySize));
  }
  const char* p = copy.data();
  if (DecodeFixed64(p + kSbMagicOffset) != kSuperblockMagic) {
    const bool zero = std::all_of(p, p + kSuperblockCopySize, [](char c) { return c == 0; });
    return Status::Corruption(where + ": bad magic at offset " + Off(base, kSbMagicOffset) +
                              ", expected \"CWTSUPB1\"" +
                              (zero ? " (all zero: copy never written)" : ""));
  }
  const uint32_t stored_crc = DecodeFixed32(p + kSbCrcOffset);
  const uint32_t actual_crc = Crc32c(p, kSbCrcOffset);
  if (stored_crc != actual_crc) {
    return Status::Corruption(where + ": bad CRC at offset " + Off(base, kSbCrcOffset) +
                              ": stored " + std::to_string(stored_crc) + ", computed " +
                              std::to_string(actual_crc) + " over bytes [0, 4092)");
  }
  const uint32_t version = DecodeFixed32(p + kSbVersionOffset);
  if (version < kSuperblockFormatVersion) {
    return Status::Corruption(where + ": format_version " + std::to_string(version) +
                              " at offset " + Off(base, kSbVersionOffset) +
                              ": a store written by an older cowtree; this build reads only "
                              "format_version " +
                              std::to_string(kSuperblockFormatVersion) +
                              " (no migration: export the data with the older build)");
  }
  if (version != kSuperblockFormatVersion) {
    return Status::Corruption(where + ": unknown format_version " + std::to_string(version) +
                              " at offset " + Off(base, kSbVersionOffset) + ", expected " +
                              std::to_string(kSuperblockFormatVersion));
  }
  const uint32_t copy_size = DecodeFixed32(p + kSbCopySizeOffset);
  if (copy_size != kSuperblockCopySize) {
    return Status::Corruption(where + ": copy_size_bytes " + std::to_string(copy_size) +
                              " at offset " + Off(base, kSbCopySizeOffset) + ", expected " +
                              std::to_string(kSuperblockCopySize));
  }
  for (size_t i = kSbReservedOffset; i < kSbCrcOffset; ++i) {
    if (p[i] != 0) {
      return Status::Corruption(where + ": reserved byte at offset " + Off(base, i) +
                                " is not zero");
    }
  }
  SuperblockData d;
  d.generation = DecodeFixed64(p + kSbGenerationOffset);
  d.checkpoint_epoch = DecodeFixed64(p + kSbCheckpointEpochOffset);
  d.manifest_generation = DecodeFixed64(p + kSbManifestGenerationOffset);
  d.ot_checkpoint_id = DecodeFixed64(p + kSbOtCheckpointIdOffset);
  d.log_replay_file_number = DecodeFixed64(p + kSbLogReplayFileNumberOffset);
  d.log_replay_offset_bytes = DecodeFixed64(p + kSbLogReplayOffsetOffset);
  d.catalog_root = DecodeFixed64(p + kSbCatalogRootOffset);
  d.ot_handle_count = DecodeFixed64(p + kSbOtHandleCountOffset);
  d.store_id = StoreId::FromBytes(p + kSbStoreIdOffset);
  const std::string bad = CheckInvariants(d);
  if (!bad.empty()) return Status::Corruption(where + ": " + bad);
  return d;
}

Status WriteSuperblock(Env* env, const std::string& dir, const SuperblockData& data) {
  const std::string copy = EncodeSuperblock(data);
  const std::string path = JoinPath(dir, kSuperblockFileName);
  const bool existed = env->FileExists(path);
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kCreate));
  // One copy, fdatasync, then its twin: a crash or a torn write can damage at most the copy
  // being written, and the previous generation's pair is never touched.
  for (size_t i = 0; i < kSuperblockCopiesPerGeneration; ++i) {
    const size_t index = (data.generation % 2) * kSuperblockCopiesPerGeneration + i;
    COWTREE_ASSERT(SuperblockCopyHolds(index, data.generation));
    COWTREE_RETURN_IF_ERROR(file->WriteAt(index * kSuperblockCopySize, copy));
    COWTREE_RETURN_IF_ERROR(file->Sync());
  }
  if (!existed) COWTREE_RETURN_IF_ERROR(env->SyncDir(dir));
  return Status::OK();
}

Status WriteNewSuperblock(Env* env, const std::string& dir, const SuperblockData& data) {
  std::string image(kSuperblockFileBytes, '\0');
  const std::string copy = EncodeSuperblock(data);
  for (size_t index = 0; index < kSuperblockCopies; ++index) {
    if (SuperblockCopyHolds(index, data.generation)) {
      image.replace(index * kSuperblockCopySize, kSuperblockCopySize, copy);
    }
  }
  const std::string tmp = JoinPath(dir, TempFileName(kSuperblockFileName));
  COWTREE_RETURN_IF_ERROR(env->WriteNewFileSync(tmp, image));
  COWTREE_RETURN_IF_ERROR(env->RenameFile(tmp, JoinPath(dir, kSuperblockFileName)));
  return env->SyncDir(dir);
}

Result<SuperblockReadResult> ReadSuperblock(Env* env, const std::string& dir,
                                            const StoreId& expected) {
  const std::string path = JoinPath(dir, kSuperblockFileName);
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kReadOnly));
  SuperblockReadResult result;
  std::string older_format;  // the message of a copy of an older format, if any
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    const uint64_t offset = i * kSuperblockCopySize;
    std::string buf(kSuperblockCopySize, '\0');
    size_t got = 0;
    COWTREE_RETURN_IF_ERROR(file->ReadAt(offset, buf.size(), buf.data(), &got));
    buf.resize(got);
    Result<SuperblockData> d = DecodeSuperblock(buf, offset);
    SuperblockCopyStatus& c = result.copies[i];
    if (d.ok() && !SuperblockCopyHolds(i, d->generation)) {
      // A misdirected write: generation G belongs in the pair G % 2. Not usable.
      c.status = Status::Corruption(
          path + ": superblock copy " + std::to_string(i) + " at offset " + std::to_string(offset) +
          ": generation " + std::to_string(d->generation) + " belongs in copies " +
          std::to_string(2 * (d->generation % 2)) + " and " +
          std::to_string(2 * (d->generation % 2) + 1) + " (a misdirected write)");
    } else if (d.ok() && !expected.is_zero() && !(d->store_id == expected)) {
      c.status = Status::Corruption(StoreIdMismatch(
          path + " copy " + std::to_string(i), offset + kSbStoreIdOffset, d->store_id, expected));
    } else if (d.ok()) {
      c.data = *d;
    } else {
      c.status =
          Status::Corruption(path + ": copy " + std::to_string(i) + ": " + d.status().message());
      if (d.status().message().find("older cowtree") != std::string::npos) {
        older_format = c.status.message();
      }
    }
  }
  int best = -1;
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    const auto& c = result.copies[i];
    if (c.data && (best < 0 || c.data->generation > result.copies[best].data->generation)) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    if (!older_format.empty()) return Status::Corruption(older_format);
    std::string why;
    for (const auto& c : result.copies) why += "; " + c.status.message();
    return Status::Corruption(path + ": no superblock copy verifies" + why);
  }
  // All verifying copies name one store, and two verifying copies of one generation (twins)
  // agree — whichever generation (fsck checks the same).
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    for (size_t j = i + 1; j < kSuperblockCopies; ++j) {
      const auto& a = result.copies[i];
      const auto& b = result.copies[j];
      if (!a.data || !b.data) continue;
      if (!(a.data->store_id == b.data->store_id)) {
        // Both verify, so neither is a bad sector: one was written by another store (a copied
        // sector, a swapped file). Which one is this store's cannot be told from here.
        return Status::Corruption(
            path + ": superblock copies name two different stores: copy " + std::to_string(i) +
            " (offset " + std::to_string(i * kSuperblockCopySize + kSbStoreIdOffset) + ") " +
            a.data->store_id.ToHex() + ", copy " + std::to_string(j) + " (offset " +
            std::to_string(j * kSuperblockCopySize + kSbStoreIdOffset) + ") " +
            b.data->store_id.ToHex() +
            "; each verifies, so one was written by another store (compare the store id in the "
            "headers of this directory's log and data files: `cowtree dump`)");
      }
      if (a.data->generation == b.data->generation && !(*a.data == *b.data)) {
        return Status::Corruption(path + ": two copies of generation " +
                                  std::to_string(a.data->generation) + " differ");
      }
    }
  }
  result.newest = *result.copies[best].data;
  result.newest_copy_index = static_cast<size_t>(best);
  return result;
}

}  // namespace cowtree
