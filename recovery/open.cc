#include "recovery/open.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "persistence/manifest.h"
#include "persistence/object_store.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/superblock.h"
#include "tree/os_tree_type.h"

namespace cowtree::recovery {
namespace {

Status ValidateOptions(const RuntimeOptions& o) {
  if (o.log_file_size_max_bytes < (1u << 16) || o.log_file_size_max_bytes > (1ull << 40)) {
    return Status::InvalidArgument("log_file_size_max_bytes must be in [64 KiB, 1 TiB]");
  }
  if (o.sync_interval_ms == 0 || o.flush_interval_ms == 0) {
    return Status::InvalidArgument("sync_interval_ms and flush_interval_ms must be > 0");
  }
  if (o.mmap_window_bytes < (64u << 10) || (o.mmap_window_bytes & (o.mmap_window_bytes - 1)) != 0) {
    return Status::InvalidArgument("mmap_window_bytes must be a power of two >= 64 KiB");
  }
  return tree::ValidateShape(o.leaf_capacity_entries, o.fanout);
}

LogWriterOptions WriterOptions(const RuntimeOptions& o) {
  LogWriterOptions w;
  w.file_size_max_bytes = o.log_file_size_max_bytes;
  return w;
}

ObjectStoreOptions StoreOptions(const RuntimeOptions& o) {
  ObjectStoreOptions s;
  s.allocator.mmap_window_bytes = o.mmap_window_bytes;
  s.allocator.mmap_windows_max = o.mmap_windows_max;
  return s;
}

// The directory holding `dir` ("." for a bare name); "" for the root.
std::string ParentDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return dir.size() > 1 ? "/" : "";
  return dir.substr(0, slash);
}

// Creates the files of an empty store: log 1, manifest 1, superblock generation 1 (last: the
// superblock is what makes the directory a store). Finally fsyncs the PARENT directory too: the
// store directory's own entry is durable only then (we may have just created it, or the caller
// did without syncing), and without it a power loss after acknowledged strict commits could
// lose the whole store.
Status CreateStore(Env* env, const std::string& dir, const RuntimeOptions& options) {
  COWTREE_ASSIGN_OR_RETURN(auto log, LogWriter::Create(env, dir, 1, WriterOptions(options)));
  COWTREE_RETURN_IF_ERROR(log->Close());
  Manifest m;
  m.generation = 1;
  m.log_files.push_back(ManifestLogFile{LogFileName(1), 1, 0, 0});
  COWTREE_RETURN_IF_ERROR(WriteManifest(env, dir, m));
  SuperblockData sb;
  sb.generation = 1;
  sb.checkpoint_epoch = 0;
  sb.manifest_generation = 1;
  sb.ot_checkpoint_id = 0;
  sb.log_replay_file_number = 1;
  sb.log_replay_offset_bytes = kLogFileHeaderSize;
  sb.catalog_root = 0;
  // The SUPERBLOCK appears atomically: written in full under a temporary name, fdatasync'd,
  // then renamed. Writing it in place (WriteSuperblock) would let a crash leave a SUPERBLOCK
  // whose copies never verify (created but not yet written, or torn), i.e. a store that can
  // never be opened again although nothing was ever committed to it. Layout as WriteSuperblock:
  // generation G in copy G % 2, the other copy zero.
  std::string image(kSuperblockCopySize * kSuperblockCopies, '\0');
  image.replace((sb.generation % kSuperblockCopies) * kSuperblockCopySize, kSuperblockCopySize,
                EncodeSuperblock(sb));
  const std::string tmp = JoinPath(dir, TempFileName(kSuperblockFileName));
  COWTREE_RETURN_IF_ERROR(env->WriteStringToFileSync(tmp, image));
  COWTREE_RETURN_IF_ERROR(env->RenameFile(tmp, JoinPath(dir, kSuperblockFileName)));
  COWTREE_RETURN_IF_ERROR(env->SyncDir(dir));
  const std::string parent = ParentDir(dir);
  return parent.empty() ? Status::OK() : env->SyncDir(parent);
}

struct PendingCommit {
  uint64_t epoch;
  LogPosition end;
  std::string payload;
};

}  // namespace

Result<std::unique_ptr<Runtime>> Open(const std::string& dir, const RuntimeOptions& options_in,
                                      OpenReport* report_out) {
  OpenReport local_report;
  OpenReport& report = report_out != nullptr ? *report_out : local_report;
  report = OpenReport();
  RuntimeOptions options = options_in;
  Env* env = options.env != nullptr ? options.env : Env::Default();
  options.env = env;
  COWTREE_RETURN_IF_ERROR(ValidateOptions(options));
  const uint64_t start_us = env->NowMicros();

  // ---- Directory, lock, and "is this a store?" ----
  std::vector<std::string> names;
  Status listed = env->ListDir(dir, &names);
  if (listed.IsNotFound()) {
    if (!options.create_if_missing) return Status::NotFound(dir + ": no such store directory");
    COWTREE_RETURN_IF_ERROR(env->CreateDir(dir));
    names.clear();
  } else if (!listed.ok()) {
    return listed;
  }
  const bool has_superblock =
      std::find(names.begin(), names.end(), std::string(kSuperblockFileName)) != names.end();
  // The only files CreateStore makes before the SUPERBLOCK (which it renames into place last): a
  // crash during creation leaves a subset of them, and creation simply starts over.
  const std::vector<std::string> creation_files = {
      kLockFileName, LogFileName(1), ManifestFileName(1), TempFileName(ManifestFileName(1)),
      TempFileName(kSuperblockFileName)};
  const bool interrupted_creation = std::all_of(names.begin(), names.end(), [&](const auto& n) {
    return std::find(creation_files.begin(), creation_files.end(), n) != creation_files.end();
  });
  // Refuse a foreign directory before touching it (not even a LOCK file is created there).
  if (!has_superblock && !interrupted_creation) {
    const bool ours = std::any_of(names.begin(), names.end(), [](const std::string& n) {
      FileKind kind;
      uint64_t number;
      return ParseFileName(n, &kind, &number) && kind != FileKind::kLock;
    });
    if (ours) {
      return Status::Corruption(dir + ": " + std::string(kSuperblockFileName) +
                                " is missing but the directory holds store files");
    }
    return Status::InvalidArgument(dir + ": not a cowtree store (no " +
                                   std::string(kSuperblockFileName) +
                                   " file, and the directory is not empty)");
  }
  if (!has_superblock && !options.create_if_missing) {
    return Status::NotFound(dir + ": no cowtree store here");
  }
  COWTREE_ASSIGN_OR_RETURN(auto lock, env->LockFile(JoinPath(dir, kLockFileName)));
  if (!has_superblock) {
    // Re-check under the lock: another process may have created the store meanwhile.
    if (!env->FileExists(JoinPath(dir, kSuperblockFileName))) {
      for (const std::string& n : creation_files) {
        if (n != kLockFileName && env->FileExists(JoinPath(dir, n))) {
          COWTREE_RETURN_IF_ERROR(env->DeleteFile(JoinPath(dir, n)));
        }
      }
      COWTREE_RETURN_IF_ERROR(CreateStore(env, dir, options));
      report.created = true;
    }
  } else if (options.error_if_exists) {
    return Status::InvalidArgument(dir + ": store already exists");
  }

  // ---- Superblock, manifest. ----
  COWTREE_ASSIGN_OR_RETURN(SuperblockReadResult sbr, ReadSuperblock(env, dir));
  const SuperblockData sb = sbr.newest;
  report.superblock_generation = sb.generation;
  report.superblock_copy = sbr.newest_copy_index;
  for (const auto& copy : sbr.copies) {
    if (!copy.status.ok()) report.bad_superblock_copies.push_back(copy.status.message());
  }
  report.checkpoint_epoch = sb.checkpoint_epoch;
  COWTREE_ASSIGN_OR_RETURN(Manifest manifest, ReadManifest(env, dir, sb.manifest_generation));

  // ---- Object store: OT checkpoint + OT deltas of checkpoints <= C. ----
  std::vector<DataFileInfo> data_files;
  for (const ManifestDataFile& f : manifest.data_files) {
    data_files.push_back(DataFileInfo{f.size_class_bytes, f.size_bytes});
  }
  auto table = std::make_unique<ObjectTable>();
  uint64_t ot_epoch = 0;
  if (sb.ot_checkpoint_id != 0) {
    COWTREE_ASSIGN_OR_RETURN(OtCheckpointContents otc,
                             ReadOtCheckpoint(env, dir, sb.ot_checkpoint_id));
    if (otc.epoch() > sb.checkpoint_epoch) {
      return Status::Corruption(
          OtCheckpointFileName(sb.ot_checkpoint_id) + ": epoch " + std::to_string(otc.epoch()) +
          " is past the superblock's checkpoint epoch " + std::to_string(sb.checkpoint_epoch));
    }
    ot_epoch = otc.epoch();
    report.ot_entries_loaded = otc.entry_count();
    COWTREE_RETURN_IF_ERROR(otc.LoadInto(*table));
  }
  std::vector<PendingCommit> commits;
  std::optional<LogPosition> ot_delta_start;
  uint64_t ot_delta_ops = 0;
  const LogPosition replay_start{sb.log_replay_file_number, sb.log_replay_offset_bytes};
  Status replayed = ReplayLog(
      env, dir, replay_start, options.wal_recovery_mode,
      [&](const LogRecord& r) -> Status {
        if (r.type == LogRecordType::kOtDelta) {
          // Filter by the RECORD's epoch (DESIGN.md pitfall), never by an object's birth.
          if (r.epoch <= ot_epoch) return Status::OK();
          if (r.epoch > sb.checkpoint_epoch) {
            ++report.ot_delta_records_ignored;
            return Status::OK();
          }
          COWTREE_ASSIGN_OR_RETURN(std::vector<OtDeltaOp> ops, DecodeOtDelta(r.payload));
          Status st = ApplyOtDelta(*table, ops);
          if (!st.ok()) return st.WithContext("OT delta at " + r.start.ToString());
          if (!ot_delta_start.has_value()) ot_delta_start = r.start;
          ot_delta_ops += ops.size();
          report.ot_delta_ops_applied += ops.size();
        } else if (r.type == LogRecordType::kCommit && r.epoch > sb.checkpoint_epoch) {
          commits.push_back(PendingCommit{r.epoch, r.end, std::string(r.payload)});
        }
        return Status::OK();
      },
      &report.replay);
  if (replayed.IsNotFound()) {
    return Status::Corruption(LogFileName(replay_start.file_number) +
                              ": log file named by the superblock is missing");
  }
  COWTREE_RETURN_IF_ERROR(replayed);
  // Free space is rebuilt from the live OT entries here, before anything can be written.
  COWTREE_ASSIGN_OR_RETURN(
      auto store, ObjectStore::Open(env, dir, StoreOptions(options), data_files, std::move(table)));

  // ---- Runtime + catalog + trees (internal nodes from summaries; leaves lazily). ----
  RuntimeParts parts;
  parts.env = env;
  parts.dir = dir;
  parts.options = options;
  parts.lock = std::move(lock);
  COWTREE_ASSIGN_OR_RETURN(
      parts.log, LogWriter::OpenForAppend(env, dir, report.replay.end, WriterOptions(options)));
  parts.superblock = sb;
  parts.manifest = manifest;
  parts.ot_checkpoint_epoch = ot_epoch;
  parts.ot_delta_start = ot_delta_start;
  parts.ot_delta_ops_since_checkpoint = ot_delta_ops;
  parts.force_ot_checkpoint = report.ot_delta_records_ignored > 0;
  parts.types.push_back(tree::MakeOsTreeType(options.leaf_capacity_entries, options.fanout));
  std::vector<CatalogEntry> entries;
  if (sb.catalog_root != 0) {
    const NodeID root_id = NodeID::FromRaw(sb.catalog_root);
    COWTREE_ASSIGN_OR_RETURN(std::string root_body,
                             store->ReadObject(root_id, ObjectKind::kCatalogRoot));
    COWTREE_ASSIGN_OR_RETURN(parts.catalog_root, DecodeCatalogRoot(root_body));
    for (const CatalogChunkRef& ref : parts.catalog_root.chunks) {
      COWTREE_ASSIGN_OR_RETURN(std::string body,
                               store->ReadObject(ref.chunk_id, ObjectKind::kCatalogChunk));
      COWTREE_ASSIGN_OR_RETURN(std::vector<CatalogEntry> chunk, DecodeCatalogChunk(body));
      if (chunk.size() != ref.entry_count || chunk.front().tree_id != ref.first_tree_id) {
        return Status::Corruption("catalog chunk " + std::to_string(ref.chunk_id.raw()) +
                                  " does not match its reference in the catalog root");
      }
      entries.insert(entries.end(), chunk.begin(), chunk.end());
      parts.catalog_chunks.emplace_back(ref.chunk_id, std::move(chunk));
    }
  }
  parts.store = std::move(store);
  auto runtime = std::make_unique<Runtime>(std::move(parts));
  for (const CatalogEntry& e : entries) {
    TreeType* type = runtime->FindType(e.type_id);
    if (type == nullptr) {
      return Status::Corruption("catalog: tree '" + e.name + "' has unknown type " +
                                std::to_string(e.type_id));
    }
    auto tree = type->Load(e.params, e.descriptor, sb.checkpoint_epoch, runtime.get());
    if (!tree.ok()) return tree.status().WithContext("loading tree '" + e.name + "'");
    COWTREE_RETURN_IF_ERROR(runtime->AddRecoveredTree(e, std::move(tree).value()));
    ++report.trees_loaded;
  }

  // ---- Redo: commits with epoch > C, in log order. ----
  for (const PendingCommit& c : commits) {
    COWTREE_RETURN_IF_ERROR(runtime->ReplayCommit(c.payload, c.epoch, c.end));
    ++report.commits_replayed;
  }
  commits.clear();
  report.recovered_epoch = runtime->visible_epoch();
  runtime->Start();
  report.elapsed_us = env->NowMicros() - start_us;
  return runtime;
}

}  // namespace cowtree::recovery
