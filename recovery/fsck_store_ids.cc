// fsck pass: which file carries the odd store id. Every file of a store names the store's
// random 128-bit id (docs/superblock.md, docs/log_format.md, docs/manifest.md,
// docs/data_files.md), and every other pass compares a file's id with the SUPERBLOCK's. So a
// SUPERBLOCK copied from another store made every genuine file "belong to another store" —
// four errors naming the manifest, the log and the OT checkpoint, and the data file called
// torn — and nothing said the SUPERBLOCK was the odd one: an operator following the messages
// would have removed the store's data (adversarial round 17). This pass reads the store id of
// the manifest the SUPERBLOCK names, of the log files and of the data files (headers only), and
// when one of them differs from the SUPERBLOCK's, of the OT checkpoint the SUPERBLOCK names —
// each file verified on its own, any store's id accepted — and when most of them (at least
// three) agree on one id that is not the SUPERBLOCK's, it says so in an error on the
// SUPERBLOCK, naming the files that carry the SUPERBLOCK's id with it.
#include <algorithm>

#include "persistence/data_file_format.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/manifest.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/superblock.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {
namespace {

// The first `bytes` bytes of dir/name (fewer if the file is shorter).
Result<std::string> ReadPrefix(Context& ctx, const std::string& name, size_t bytes) {
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                           ctx.env->OpenFile(JoinPath(ctx.dir, name), OpenMode::kReadOnly));
  std::string out(bytes, '\0');
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(file->ReadAt(0, bytes, out.data(), &got));
  out.resize(got);
  return out;
}

struct FileId {
  std::string file;
  StoreId id;
};

// The ids of the files that verify on their own: the manifest the superblock names, every log
// file and every data file.
std::vector<FileId> OtherFilesIds(Context& ctx) {
  std::vector<FileId> out;
  const SuperblockData& sb = *ctx.sb;
  if (sb.manifest_generation != 0) {
    Result<Manifest> m = ReadManifest(ctx.env, ctx.dir, sb.manifest_generation, StoreId());
    if (m.ok()) out.push_back({ManifestFileName(sb.manifest_generation), m->store_id});
  }
  for (const std::string& name : ctx.names) {
    FileKind kind;
    uint64_t number = 0;
    if (!ParseFileName(name, &kind, &number)) continue;
    if (kind == FileKind::kLog) {
      Result<std::string> h = ReadPrefix(ctx, name, kLogFileHeaderSize);
      if (h.ok() && VerifyLogFileHeader(*h, number, StoreId(), name).ok()) {
        out.push_back({name, StoreId::FromBytes(h->data() + kLogHeaderStoreIdOffset)});
      }
    } else if (kind == FileKind::kData) {
      Result<std::string> h = ReadPrefix(ctx, name, kDataFileHeaderBytes);
      if (h.ok() && VerifyDataFileHeader(*h, static_cast<uint32_t>(number), StoreId(), name).ok()) {
        out.push_back({name, StoreId::FromBytes(h->data() + kDataHeaderStoreIdOffset)});
      }
    }
  }
  return out;
}

}  // namespace

void CheckStoreIds(Context& ctx) {
  COWTREE_ASSERT(ctx.sb.has_value());
  const StoreId& sb_id = ctx.sb->store_id;
  std::vector<FileId> others = OtherFilesIds(ctx);
  const auto carries_sb_id = [&](const FileId& f) { return f.id == sb_id; };
  if (std::all_of(others.begin(), others.end(), carries_sb_id)) return;  // the common case
  if (ctx.sb->ot_checkpoint_id != 0) {
    Result<OtCheckpointContents> otc =
        ReadOtCheckpoint(ctx.env, ctx.dir, ctx.sb->ot_checkpoint_id, StoreId());
    if (otc.ok()) {
      others.push_back({OtCheckpointFileName(ctx.sb->ot_checkpoint_id), otc->store_id()});
    }
  }
  // The id most of the other files carry: the SUPERBLOCK is the odd one only if that is not its
  // own, at least three files carry it, and they are more than the rest (a SUPERBLOCK swapped
  // in with the manifest of its store: adversarial round 18).
  StoreId majority;
  size_t most = 0;
  for (const FileId& f : others) {
    const size_t n = static_cast<size_t>(
        std::count_if(others.begin(), others.end(), [&](const FileId& g) { return g.id == f.id; }));
    if (n > most) {
      most = n;
      majority = f.id;
    }
  }
  if (majority == sb_id || most < 3 || 2 * most <= others.size()) return;
  std::string agreeing;
  std::string with_sb;
  for (const FileId& f : others) {
    std::string& list = f.id == majority ? agreeing : with_sb;
    if (f.id == majority || f.id == sb_id) list += (list.empty() ? "" : ", ") + f.file;
  }
  ctx.Add(
      FsckSeverity::kError, "superblock", kSuperblockFileName,
      static_cast<uint64_t>(std::max(ctx.sb_copy, 0)) * kSuperblockCopySize + kSbStoreIdOffset, 0,
      "store id " + sb_id.ToHex() + " is another store's: " + std::to_string(most) + " of the " +
          std::to_string(others.size()) + " other files that verify carry " + majority.ToHex() +
          " (" + agreeing + ")" +
          (with_sb.empty()
               ? std::string()
               : "; the SUPERBLOCK's id is also in: " + with_sb + " (from the same other store)") +
          ". So the SUPERBLOCK is most likely from another store, and the findings that call "
          "the others another store's follow from it. Restore this store's SUPERBLOCK (a "
          "backup) rather than removing the other files");
}

}  // namespace cowtree::recovery::fsck
