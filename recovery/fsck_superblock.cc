// fsck pass: the four superblock copies (two per generation) (docs/superblock.md), decoded one by
// one so that each bad copy is named, and the copy recovery would use (the newest that verifies).
//
// Severity of a copy that does not verify while the other one does: kWarning. The bad copy is
// either older than the good one (harmless) or a newer generation whose write was torn by a
// crash (the checkpoint never committed: a normal crash state, which the crash-point sweeps
// require fsck to accept) — or, rarely, a published newer copy that rotted, in which case the
// fallback to the older checkpoint is only safe if everything it references is still intact,
// which the later passes verify (a deleted log file or a reused slot shows up as an error
// there). No copy verifies: kError, and nothing else can be checked.
#include <algorithm>

#include "persistence/coding.h"
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {
namespace {

SuperblockCopyView ReadCopy(File* file, size_t index) {
  SuperblockCopyView v;
  v.index = index;
  v.offset_bytes = index * kSuperblockCopySize;
  std::string buf(kSuperblockCopySize, '\0');
  size_t got = 0;
  Status read = file->ReadAt(v.offset_bytes, buf.size(), buf.data(), &got);
  if (!read.ok()) {
    v.status = read;
    return v;
  }
  buf.resize(got);
  v.never_written = std::all_of(buf.begin(), buf.end(), [](char c) { return c == 0; });
  if (got >= kSbGenerationOffset + 8)
    v.raw_generation = DecodeFixed64(buf.data() + kSbGenerationOffset);
  Result<SuperblockData> d = DecodeSuperblock(buf, v.offset_bytes);
  if (!d.ok()) {
    v.status = d.status();
    return v;
  }
  if (!SuperblockCopyHolds(index, d->generation)) {
    v.status =
        Status::Corruption("superblock copy at offset " + std::to_string(v.offset_bytes) +
                           ": generation " + std::to_string(d->generation) + " belongs in copies " +
                           std::to_string(2 * (d->generation % 2)) + " and " +
                           std::to_string(2 * (d->generation % 2) + 1) + " (a misdirected write)");
    return v;
  }
  v.data = *d;
  return v;
}

}  // namespace

void CheckSuperblock(Context& ctx) {
  const std::string name = kSuperblockFileName;
  const std::string path = JoinPath(ctx.dir, name);
  Result<std::unique_ptr<File>> file = ctx.env->OpenFile(path, OpenMode::kReadOnly);
  if (!file.ok()) {
    ctx.Add(FsckSeverity::kError, "superblock", name, 0, 0,
            file.status().IsNotFound() ? "SUPERBLOCK is missing but the directory holds store files"
                                       : "cannot open: " + file.status().ToString());
    return;
  }
  Result<uint64_t> size = (*file)->Size();
  ctx.superblock_file_bytes = size.ok() ? *size : 0;
  for (size_t i = 0; i < kSuperblockCopies; ++i) ctx.copies[i] = ReadCopy(file->get(), i);

  // Verifying copies must name one store, and two copies of one generation must agree:
  // recovery refuses the store otherwise (ReadSuperblock).
  for (const auto& a : ctx.copies) {
    for (const auto& b : ctx.copies) {
      if (!a.data || !b.data || a.index >= b.index) continue;
      if (!(a.data->store_id == b.data->store_id)) {
        ctx.Add(FsckSeverity::kError, "superblock", name, b.offset_bytes + kSbStoreIdOffset, 0,
                "copies " + std::to_string(a.index) + " and " + std::to_string(b.index) +
                    " name two different stores (recovery refuses the store)");
        return;
      }
      if (a.data->generation == b.data->generation && !(*a.data == *b.data)) {
        ctx.Add(FsckSeverity::kError, "superblock", name, b.offset_bytes, 0,
                "copies " + std::to_string(a.index) + " and " + std::to_string(b.index) +
                    " carry generation " + std::to_string(a.data->generation) +
                    " with different contents (recovery refuses the store)");
        return;
      }
    }
  }
  int best = -1;
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    if (ctx.copies[i].data &&
        (best < 0 || ctx.copies[i].data->generation > ctx.copies[best].data->generation)) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    std::string why;
    for (const auto& c : ctx.copies) {
      ctx.Add(FsckSeverity::kError, "superblock", name, c.offset_bytes, 0,
              "copy " + std::to_string(c.index) + " does not verify: " + c.status.message());
    }
    ctx.Add(FsckSeverity::kError, "superblock", name, 0, 0,
            "no superblock copy verifies: recovery refuses the store; nothing else can be checked");
    return;
  }
  ctx.sb = ctx.copies[best].data;
  ctx.sb_copy = best;
  const uint64_t good_generation = ctx.sb->generation;
  for (const auto& c : ctx.copies) {
    if (c.data || static_cast<int>(c.index) == best) continue;
    // Before the second checkpoint the other pair was never written.
    if (c.never_written && good_generation == 1) continue;
    const bool twin = SuperblockCopyHolds(c.index, good_generation);
    const bool older = c.raw_generation < good_generation;
    ctx.superblock_copy_findings.push_back(
        ctx.Add(FsckSeverity::kWarning, "superblock", name, c.offset_bytes, 0,
                "copy " + std::to_string(c.index) + " at offset " + std::to_string(c.offset_bytes) +
                    " does not verify (" + c.status.message() + "); recovery uses copy " +
                    std::to_string(best) + " (generation " + std::to_string(good_generation) + ")" +
                    (twin    ? "; the bad copy is the twin of the copy in use (same "
                               "generation): nothing is lost"
                     : older ? "; the bad copy is an older one"
                             : "; the bad copy may be a newer checkpoint whose write was torn by "
                               "a crash (it never committed)")));
  }
  if (ctx.superblock_file_bytes > kSuperblockFileBytes) {
    ctx.Add(FsckSeverity::kWarning, "superblock", name, kSuperblockFileBytes, 0,
            "file has " + std::to_string(ctx.superblock_file_bytes) + " bytes, expected " +
                std::to_string(kSuperblockFileBytes) +
                " (trailing bytes are not part of any copy)");
  }
}

}  // namespace cowtree::recovery::fsck
