// fsck passes: the manifest the superblock names (docs/manifest.md) and the files of the store
// directory that neither the manifest nor an interrupted operation explains.
#include <algorithm>

#include "persistence/data_file_format.h"
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {
namespace {

bool Listed(const std::vector<std::string>& names, const std::string& name) {
  return std::binary_search(names.begin(), names.end(), name);
}

void CheckListedFiles(Context& ctx, const Manifest& m, const std::string& manifest_name) {
  const SuperblockData& sb = *ctx.sb;
  for (const ManifestDataFile& f : m.data_files) {
    auto it = ctx.data_file_bytes.find(f.size_class_bytes);
    if (it == ctx.data_file_bytes.end()) {
      ctx.Add(FsckSeverity::kError, "manifest", manifest_name, 0, 0,
              "lists data file " + f.name + " (" + std::to_string(f.size_bytes) +
                  " bytes), which does not exist");
    } else if (it->second < f.size_bytes) {
      ctx.Add(FsckSeverity::kError, "file", f.name, it->second, 0,
              "data file has " + std::to_string(it->second) + " bytes; the manifest (" +
                  manifest_name + ") recorded " + std::to_string(f.size_bytes) +
                  " (a data file never shrinks)");
    }
  }
  bool names_ot = sb.ot_checkpoint_id == 0;
  for (const ManifestOtCheckpoint& c : m.ot_checkpoints) {
    if (c.id == sb.ot_checkpoint_id) {
      names_ot = true;
      continue;  // LoadOtCheckpoint reads it (and reports it if missing)
    }
    if (!Listed(ctx.names, c.name)) {
      ctx.Add(FsckSeverity::kWarning, "manifest", manifest_name, 0, 0,
              "lists OT checkpoint " + c.name + ", which does not exist (the superblock names " +
                  (sb.ot_checkpoint_id == 0 ? std::string("none")
                                            : OtCheckpointFileName(sb.ot_checkpoint_id)) +
                  ", so recovery does not need it)");
    }
  }
  if (!names_ot) {
    ctx.Add(FsckSeverity::kError, "manifest", manifest_name, 0, 0,
            "does not list " + OtCheckpointFileName(sb.ot_checkpoint_id) +
                ", the OT checkpoint the superblock names");
  }
  for (const ManifestLogFile& l : m.log_files) {
    if (Listed(ctx.names, l.name)) continue;
    if (l.number >= sb.log_replay_file_number) {
      ctx.Add(FsckSeverity::kError, "manifest", manifest_name, 0, 0,
              "lists log file " + l.name + " (epochs " + std::to_string(l.first_epoch) + ".." +
                  std::to_string(l.last_epoch) + "), which does not exist; recovery replays from " +
                  LogFileName(sb.log_replay_file_number));
    } else {
      ctx.Add(FsckSeverity::kInfo, "manifest", manifest_name, 0, 0,
              "lists log file " + l.name +
                  ", which does not exist (older than the replay "
                  "position: not needed)");
    }
  }
}

// The header in slot 0 (docs/data_files.md "File header"): as SegmentAllocator::Open checks
// it, a listed file must carry one naming this store and its class; an adopted one (no live
// object can be in it) may have none or a torn one (recovery rewrites it before the first
// write): an info finding.
void CheckDataFileHeader(Context& ctx, const std::string& name, uint32_t class_bytes, bool listed) {
  std::string header;
  Result<std::unique_ptr<File>> file =
      ctx.env->OpenFile(JoinPath(ctx.dir, name), OpenMode::kReadOnly);
  Status st = file.status();
  if (st.ok()) {
    header.resize(kDataFileHeaderBytes);
    size_t got = 0;
    st = (*file)->ReadAt(0, header.size(), header.data(), &got);
    header.resize(got);
  }
  if (st.ok()) {
    st = VerifyDataFileHeader(header, class_bytes, ctx.sb->store_id, name);
  }
  if (!st.ok() && !listed) {
    // A header that verifies but names another store is not torn (adversarial round 17).
    const bool foreign = VerifyDataFileHeader(header, class_bytes, StoreId(), name).ok();
    ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
            std::string(foreign ? "header of another store" : "header not written yet or torn") +
                " (" + st.message() + ")" +
                (ctx.manifest.has_value()
                     ? "; not listed by the manifest: recovery rewrites it before the first write"
                     : "; the manifest could not be read to tell whether it lists the file"));
  } else if (!st.ok()) {
    ctx.Add(FsckSeverity::kError, "file", name, OffsetInMessage(st.message()), 0, st.message());
  }
}

}  // namespace

void CheckManifest(Context& ctx) {
  const SuperblockData& sb = *ctx.sb;
  if (sb.manifest_generation == 0) {
    ctx.Add(FsckSeverity::kError, "superblock", kSuperblockFileName,
            ctx.sb_copy * kSuperblockCopySize + kSbManifestGenerationOffset, 0,
            "the superblock names no manifest (manifest_generation 0)");
    return;
  }
  const std::string name = ManifestFileName(sb.manifest_generation);
  Result<Manifest> m = ReadManifest(ctx.env, ctx.dir, sb.manifest_generation, sb.store_id);
  if (!m.ok()) {
    ctx.Add(FsckSeverity::kError, "manifest", name, OffsetInMessage(m.status().message()), 0,
            m.status().IsNotFound() ? "missing: the superblock (generation " +
                                          std::to_string(sb.generation) + ") names it"
                                    : m.status().message());
    return;
  }
  ctx.manifest = *m;
  CheckListedFiles(ctx, *m, name);
}

void CheckFiles(Context& ctx) {
  const SuperblockData& sb = *ctx.sb;
  for (const std::string& name : ctx.names) {
    FileKind kind;
    uint64_t number = 0;
    if (!ParseFileName(name, &kind, &number)) {
      ctx.Add(FsckSeverity::kWarning, "file", name, 0, 0,
              "unknown file: not a cowtree file name (reported, never deleted)");
      continue;
    }
    switch (kind) {
      case FileKind::kSuperblock:
      case FileKind::kLock:
        break;
      case FileKind::kTemp:
        ctx.leftover_findings.emplace_back(
            ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                    "leftover of an interrupted atomic replace (recovery deletes it)"),
            name);
        break;
      case FileKind::kManifest:
        if (number < sb.manifest_generation) {
          ctx.leftover_findings.emplace_back(
              ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                      "obsolete manifest (the superblock names generation " +
                          std::to_string(sb.manifest_generation) +
                          "); the next checkpoint deletes it"),
              name);
        } else if (number > sb.manifest_generation) {
          ctx.leftover_findings.emplace_back(
              ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                      "manifest of a checkpoint whose superblock never landed (interrupted); "
                      "ignored"),
              name);
        }
        break;
      case FileKind::kOtCheckpoint:
        if (number < sb.ot_checkpoint_id) {
          ctx.leftover_findings.emplace_back(
              ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                      "obsolete OT checkpoint; the next checkpoint deletes it"),
              name);
        } else if (number > sb.ot_checkpoint_id) {
          ctx.leftover_findings.emplace_back(
              ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                      "OT checkpoint of a checkpoint whose superblock never landed "
                      "(interrupted); ignored"),
              name);
        }
        break;
      case FileKind::kLog:
        if (number < sb.log_replay_file_number) {
          ctx.leftover_findings.emplace_back(
              ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                      "obsolete log file (before the replay position " +
                          LogFileName(sb.log_replay_file_number) +
                          "); the next checkpoint deletes it"),
              name);
        }
        break;  // later ones: CheckLog (replayed, or after a gap)
      case FileKind::kData: {
        const bool listed =
            ctx.manifest.has_value() &&
            std::any_of(ctx.manifest->data_files.begin(), ctx.manifest->data_files.end(),
                        [&](const ManifestDataFile& f) { return f.name == name; });
        if (!listed && ctx.manifest.has_value()) {
          ctx.Add(FsckSeverity::kInfo, "file", name, 0, 0,
                  "data file not in the manifest (created before a crash); recovery adopts it");
        }
        CheckDataFileHeader(ctx, name, static_cast<uint32_t>(number), listed);
        break;
      }
    }
  }
}

}  // namespace cowtree::recovery::fsck
