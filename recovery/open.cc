#include "recovery/open.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <system_error>

#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "persistence/manifest.h"
#include "persistence/object_store.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/superblock.h"
#include "recovery/cold_index_builder.h"
#include "recovery/store_dir.h"
#include "recovery/store_reader.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::recovery {
namespace {

tree::SummaryIndexLimits IndexLimitsOf(const RuntimeOptions& o) {
  tree::SummaryIndexLimits l;
  if (o.summary_chunk_entries_max != 0) l.summaries_per_chunk = o.summary_chunk_entries_max;
  if (o.summary_index_refs_max != 0) l.refs_per_chunk = o.summary_index_refs_max;
  return l;
}

Status ValidateOptions(const RuntimeOptions& o) {
  if (o.log_file_size_max_bytes < (1u << 16) || o.log_file_size_max_bytes > (1ull << 40)) {
    return Status::InvalidArgument("log_file_size_max_bytes must be in [64 KiB, 1 TiB]");
  }
  if (o.log_zero_fill_bytes > (1ull << 30)) {
    return Status::InvalidArgument("log_zero_fill_bytes must be at most 1 GiB");
  }
  if (o.sync_interval_ms == 0 || o.flush_interval_ms == 0) {
    return Status::InvalidArgument("sync_interval_ms and flush_interval_ms must be > 0");
  }
  COWTREE_RETURN_IF_ERROR(ValidateRuntimeOptions(o));
  COWTREE_RETURN_IF_ERROR(IndexLimitsOf(o).Validate());
  return tree::ValidateShape(o.leaf_capacity_entries, o.fanout, o.leaf_capacity_bytes);
}

LogWriterOptions WriterOptions(const RuntimeOptions& o, const StoreId& store_id) {
  LogWriterOptions w;
  w.store_id = store_id;
  w.file_size_max_bytes = o.log_file_size_max_bytes;
  w.zero_fill_bytes = o.log_zero_fill_bytes;
  return w;
}

ObjectStoreOptions StoreOptions(const RuntimeOptions& o, const StoreId& store_id) {
  ObjectStoreOptions s;
  s.allocator.store_id = store_id;
  s.allocator.segment_size_bytes = o.segment_size_bytes;
  s.allocator.mmap_window_bytes = o.mmap_window_bytes;
  s.allocator.mmap_windows_max = o.mmap_windows_max;
  s.allocator.read_only = o.read_only;
  // Objects are read with pread, with or without a budget: pages of a mapping count in RSS
  // (10 M random keys after a full read: 206 MB = 20.6 B per entry through the mmap windows,
  // 111 MB = 11.1 B with pread), and with the reused read buffer (ObjectStore::ReadObjectInto)
  // pread is as fast: full read 0.240 vs 0.251 s, first query 7.6 vs 6.5 ms, medians of 4
  // alternated rounds of `side_by_side --workloads=ingest --systems=cowtree` (docs/benchmarks.md).
  s.allocator.read_via_mmap = false;
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

// The directory the store's files are named in for as long as it is open: `dir` with every
// symbolic link in it resolved (the target of a store directory that is a link, or that lies
// under one), taken once, before the lock. Every file the runtime creates later (superblock,
// manifest, log, checkpoints) is named by this path, so repointing the link while the store is
// open cannot split it between two directories (found by an adversarial run: a link repointed
// to an empty directory got the new superblock and manifest while the data files stayed in the
// old one, and neither opened again). `dir` itself is kept when no link is involved (messages
// name the path the caller gave), and when the path cannot be resolved (an Env whose files are
// not on this file system).
std::string ResolvedStoreDir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.find('\0') != std::string::npos) return dir;  // refused by the Env, as given
  std::error_code ec;
  fs::path given = dir;
  while (given.has_filename() == false && given.has_parent_path() && given != given.root_path()) {
    given = given.parent_path();  // "a/b/" names a/b
  }
  // The longest existing prefix is resolved (a store about to be created may not exist yet).
  const fs::path resolved = fs::weakly_canonical(given, ec);
  if (ec) return dir;
  const fs::path lexical = fs::absolute(given, ec).lexically_normal();
  if (ec || resolved == lexical) return dir;
  return resolved.string();
}

// Creates the files of an empty store: log 1, manifest 1, superblock generation 1 (last: the
// superblock is what makes the directory a store). Finally fsyncs the PARENT directory too: the
// store directory's own entry is durable only then (we may have just created it, or the caller
// did without syncing), and without it a power loss after acknowledged strict commits could
// lose the whole store.
Status CreateStore(Env* env, const std::string& dir, const RuntimeOptions& options) {
  const StoreId store_id = StoreId::Random();
  COWTREE_ASSIGN_OR_RETURN(auto log,
                           LogWriter::Create(env, dir, 1, WriterOptions(options, store_id)));
  COWTREE_RETURN_IF_ERROR(log->Close());
  Manifest m;
  m.generation = 1;
  m.store_id = store_id;
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
  sb.store_id = store_id;
  // The SUPERBLOCK appears atomically (tmp + fdatasync + rename + dir fsync): a crash leaves no
  // SUPERBLOCK (an interrupted creation: nothing committed) or a complete one, never one whose
  // copies never verify.
  COWTREE_RETURN_IF_ERROR(WriteNewSuperblock(env, dir, sb));
  const std::string parent = ParentDir(dir);
  return parent.empty() ? Status::OK() : env->SyncDir(parent);
}

struct PendingCommit {
  uint64_t epoch;
  LogPosition end;
  std::string payload;
};

// The redo commits (epoch > C) found by the first read of the log: their payloads while they
// fit in RuntimeOptions::recovery_redo_held_bytes_max, else only their count and last epoch
// (recovery/open.h "Memory of the redo").
struct RedoCommits {
  std::vector<PendingCommit> held;  // all of them, in log order, unless dropped
  bool dropped = false;             // payloads past the limit: read the log again
  uint64_t count = 0;
  uint64_t last_epoch = 0;  // 0: none
  uint64_t held_bytes = 0;
};

// Decides what `dir` is and leaves it locked (exclusive, or shared for a read-only open) and,
// where allowed, holding a freshly created empty store. Writes nothing unless it creates.
Result<std::unique_ptr<FileLock>> LockStoreDir(Env* env, const std::string& dir,
                                               const RuntimeOptions& options, OpenReport* report) {
  Result<StoreDirInfo> info = ClassifyStoreDir(env, dir);
  if (info.status().IsNotFound()) {
    if (!options.create_if_missing || options.read_only) {
      return Status::NotFound(dir + ": no such store directory");
    }
    COWTREE_RETURN_IF_ERROR(env->CreateDir(dir));
    info = ClassifyStoreDir(env, dir);
  }
  if (!info.ok()) return info.status();
  // Refuse before touching anything (not even the lock is taken on a foreign directory).
  if (info->state == StoreDirState::kLostSuperblock) {
    return Status::Corruption(dir + ": " + info->reason +
                              "; refusing to open (run `cowtree fsck --db DIR --repair`)");
  }
  if (info->state == StoreDirState::kForeign) {
    return Status::InvalidArgument(dir + ": " + info->reason);
  }
  if (info->state != StoreDirState::kStore && (!options.create_if_missing || options.read_only)) {
    return Status::NotFound(dir + ": no cowtree store here");
  }
  if (info->state == StoreDirState::kStore && options.error_if_exists) {
    return Status::InvalidArgument(dir + ": store already exists");
  }
  COWTREE_ASSIGN_OR_RETURN(
      auto lock, env->LockDir(dir, options.read_only ? LockMode::kShared : LockMode::kExclusive));
  if (info->state == StoreDirState::kStore) return lock;
  // Classify again under the lock: another process may have created the store meanwhile, or
  // written to one whose SUPERBLOCK was then lost.
  COWTREE_ASSIGN_OR_RETURN(StoreDirInfo locked, ClassifyStoreDir(env, dir));
  if (locked.state == StoreDirState::kStore) return lock;
  if (locked.state != StoreDirState::kEmpty &&
      locked.state != StoreDirState::kInterruptedCreation) {
    return Status::Corruption(dir + ": " + locked.reason);
  }
  for (const std::string& n : CreationFileNames()) {
    if (std::binary_search(locked.names.begin(), locked.names.end(), n)) {
      COWTREE_RETURN_IF_ERROR(env->DeleteFile(JoinPath(dir, n)));
    }
  }
  COWTREE_RETURN_IF_ERROR(CreateStore(env, dir, options));
  report->created = true;
  return lock;
}

// Everything read from the files before any tree is built.
struct LoadedStore {
  SuperblockData sb;
  Manifest manifest;
  std::unique_ptr<ObjectStore> store;
  uint64_t ot_epoch = 0;
  std::optional<LogPosition> ot_delta_start;
  uint64_t ot_delta_ops = 0;
  RedoCommits redo;
};

// Superblock → manifest → OT checkpoint + OT deltas of checkpoints <= C → free space from the
// live OT; collects the redo records with epoch > C. Reads only.
Result<LoadedStore> LoadStore(Env* env, const std::string& dir, const RuntimeOptions& options,
                              OpenReport& report) {
  LoadedStore out;
  COWTREE_ASSIGN_OR_RETURN(SuperblockReadResult sbr, ReadSuperblock(env, dir));
  const SuperblockData sb = sbr.newest;
  out.sb = sb;
  report.superblock_generation = sb.generation;
  report.superblock_copy = sbr.newest_copy_index;
  for (const auto& copy : sbr.copies) {
    if (!copy.status.ok()) report.bad_superblock_copies.push_back(copy.status.message());
  }
  report.checkpoint_epoch = sb.checkpoint_epoch;
  // A file the superblock names that is missing is damage, not "no store" (NotFound).
  const auto missing_is_corruption = [](Status st) {
    return st.IsNotFound() ? Status::Corruption(st.message() + " (named by the superblock)") : st;
  };
  Result<Manifest> manifest = ReadManifest(env, dir, sb.manifest_generation, sb.store_id);
  if (!manifest.ok()) return missing_is_corruption(manifest.status());
  out.manifest = std::move(manifest).value();
  for (const ManifestRetainedCheckpoint& c : out.manifest.retained_checkpoints) {
    if (c.epoch > sb.checkpoint_epoch) {
      return Status::Corruption(
          ManifestFileName(sb.manifest_generation) + ": retained checkpoint '" + c.name +
          "' has epoch " + std::to_string(c.epoch) + ", past the superblock's checkpoint epoch " +
          std::to_string(sb.checkpoint_epoch));
    }
  }
  // Retired objects a retained checkpoint references stay in the table (and keep their slots).
  const RetainedEpochs retained = RetainedEpochsOf(out.manifest);

  std::vector<DataFileInfo> data_files;
  for (const ManifestDataFile& f : out.manifest.data_files) {
    data_files.push_back(DataFileInfo{f.size_class_bytes, f.size_bytes});
  }
  auto table = std::make_unique<ObjectTable>();
  if (sb.ot_checkpoint_id != 0) {
    Result<OtCheckpointContents> read =
        ReadOtCheckpoint(env, dir, sb.ot_checkpoint_id, sb.store_id);
    if (!read.ok()) return missing_is_corruption(read.status());
    OtCheckpointContents otc = std::move(read).value();
    if (otc.epoch() > sb.checkpoint_epoch) {
      return Status::Corruption(
          OtCheckpointFileName(sb.ot_checkpoint_id) + ": epoch " + std::to_string(otc.epoch()) +
          " is past the superblock's checkpoint epoch " + std::to_string(sb.checkpoint_epoch));
    }
    out.ot_epoch = otc.epoch();
    report.ot_entries_loaded = otc.entry_count();
    COWTREE_RETURN_IF_ERROR(otc.LoadInto(*table, retained));
  }
  const LogPosition replay_start{sb.log_replay_file_number, sb.log_replay_offset_bytes};
  Status replayed = ReplayLog(
      env, dir, replay_start, options.wal_recovery_mode,
      [&](const LogRecord& r) -> Status {
        if (r.type == LogRecordType::kOtDelta) {
          // Filter by the RECORD's epoch (DESIGN.md pitfall), never by an object's birth.
          switch (ClassifyOtDelta(r.epoch, out.ot_epoch, sb.checkpoint_epoch)) {
            case OtDeltaDisposition::kInOtCheckpoint:
              return Status::OK();
            case OtDeltaDisposition::kUnpublished:
              ++report.ot_delta_records_ignored;
              return Status::OK();
            case OtDeltaDisposition::kApply:
              break;
          }
          COWTREE_ASSIGN_OR_RETURN(std::vector<OtDeltaOp> ops, DecodeOtDelta(r.payload));
          Status st = ApplyOtDelta(*table, ops, retained);
          if (!st.ok()) return st.WithContext("OT delta at " + r.start.ToString());
          if (!out.ot_delta_start.has_value()) out.ot_delta_start = r.start;
          out.ot_delta_ops += ops.size();
          report.ot_delta_ops_applied += ops.size();
        } else if (r.type == LogRecordType::kCommit && r.epoch > sb.checkpoint_epoch) {
          // Commit epochs are consecutive (Runtime::Commit takes the next one only for a
          // record it appends): a gap means frames are missing, e.g. a log file that is not the
          // last was cut at a frame boundary, which no crash produces.
          RedoCommits& redo = out.redo;
          const uint64_t previous = redo.count == 0 ? sb.checkpoint_epoch : redo.last_epoch;
          if (r.epoch != previous + 1) {
            return Status::Corruption(LogFileName(r.start.file_number) + " at offset " +
                                      std::to_string(r.start.offset_bytes) + ": " +
                                      CommitEpochGapMessage(previous, r.epoch));
          }
          ++redo.count;
          redo.last_epoch = r.epoch;
          if (!redo.dropped) {
            // The payload and its PendingCommit (the limit holds for small commits too).
            redo.held_bytes += r.payload.size() + sizeof(PendingCommit);
            if (redo.held_bytes > options.recovery_redo_held_bytes_max) {
              redo.dropped = true;
              std::vector<PendingCommit>().swap(redo.held);
            } else {
              redo.held.push_back(PendingCommit{r.epoch, r.end, std::string(r.payload)});
            }
          }
        }
        return Status::OK();
      },
      &report.replay, sb.store_id);
  if (replayed.IsNotFound()) {
    return Status::Corruption(LogFileName(replay_start.file_number) +
                              ": log file named by the superblock is missing");
  }
  COWTREE_RETURN_IF_ERROR(replayed);
  // Free space is rebuilt from the live OT entries here, before anything can be written; no
  // entry may be retired past the checkpoint (no OT delta past it was applied).
  ObjectStoreOptions store_options = StoreOptions(options, sb.store_id);
  store_options.retire_epoch_max = sb.checkpoint_epoch;
  COWTREE_ASSIGN_OR_RETURN(
      out.store, ObjectStore::Open(env, dir, store_options, data_files, std::move(table)));
  return out;
}

// Reads the catalog the superblock names through the reader fsck shares
// (recovery/store_reader.h), stopping at the first problem, into the cold index of the
// runtime to be (parts->cold_trees: 16 bytes per tree, no copy of names or entries; the trees
// are promoted and restored on first access). Refuses an unknown tree type or a name used
// twice (Corruption). Returns the number of trees.
Result<uint64_t> ReadCatalog(ObjectStore* store, uint64_t catalog_root_raw, RuntimeParts* parts) {
  CatalogReadHooks hooks;
  hooks.read = [store](NodeID id, ObjectKind kind) { return store->ReadObjectOnce(id, kind); };
  hooks.read_into = [store](NodeID id, ObjectKind kind, std::string* buffer) {
    return store->ReadObjectOnceInto(id, kind, buffer);
  };
  hooks.report = [](const CatalogProblem&) { return false; };  // Open stops at the first
  // Each chunk's trees go into the index as soon as the chunk is parsed (the table sized from
  // the root's tree count, the inserts' cache misses overlapped by InsertBatch's prefetch):
  // no list of every tree, no sort.
  parts->cold_trees = ColdTreeIndex();
  ColdIndexBuilder builder(&parts->cold_trees, [&hooks](NodeID id, std::string* buffer) {
    return hooks.read_into(id, ObjectKind::kCatalogChunk, buffer);
  });
  hooks.root = [&](const CatalogRoot& root) {
    // The count is checked against the chunks' sum when the root is decoded; the index grows
    // anyway if the chunks hold more.
    parts->cold_trees.Reserve(root.tree_count);
  };
  hooks.entries = [&](NodeID chunk, const std::vector<CatalogEntryView>& views) -> Status {
    for (const CatalogEntryView& e : views) {
      bool known_type = false;
      for (const auto& t : parts->types) known_type = known_type || t->type_id() == e.type_id;
      if (!known_type) {
        return Status::Corruption("catalog: tree '" + std::string(e.name) + "' has unknown type " +
                                  std::to_string(e.type_id));
      }
    }
    return builder.AddChunk(chunk, views);
  };
  CatalogContents catalog;
  COWTREE_RETURN_IF_ERROR(ReadCatalogObjects(catalog_root_raw, hooks, &catalog));
  parts->catalog_root = catalog.root;
  return builder.tree_count();
}

}  // namespace

// The only user of the Runtime's recovery hooks (persistence/runtime.h: private, this class
// is their friend): a Runtime under construction, handed out by Finish() once started.
class RuntimeBuilder {
 public:
  explicit RuntimeBuilder(RuntimeParts parts) : runtime_(new Runtime(std::move(parts))) {}
  Runtime* runtime() { return runtime_.get(); }
  TreeType* FindType(uint8_t type_id) { return runtime_->FindType(type_id); }
  Status ReplayCommit(std::string_view payload, uint64_t epoch, LogPosition record_end) {
    return runtime_->ReplayCommit(payload, epoch, record_end);
  }
  void AttachLog(std::unique_ptr<LogWriter> log) { runtime_->AttachLog(std::move(log)); }
  bool ReplayCheckpointDue() const { return runtime_->ReplayCheckpointDue(); }
  Status CheckpointDuringReplay() { return runtime_->CheckpointDuringReplay(); }
  void Start() { runtime_->Start(); }
  std::unique_ptr<Runtime> Finish() { return std::move(runtime_); }

 private:
  std::unique_ptr<Runtime> runtime_;
};

namespace {

// The second read of the log (recovery/open.h "Memory of the redo"): from the same start and
// under the same mode, it must find exactly the redo commits the first read counted — epochs C +
// 1 .. redo.last_epoch, consecutive — and replays each as it is read. Anything else means the
// log changed between the reads (nothing may write it: the directory is locked) or the device
// returned other bytes: Corruption, nothing written. IOError as the Env returns it.
// after_commit runs after each commit replayed (a checkpoint during the replay: its records go
// past the first read's end, which the second read then reads too).
Status ReplayRedoAgain(Env* env, const std::string& dir, const SuperblockData& sb,
                       const RuntimeOptions& options, const RedoCommits& redo,
                       RuntimeBuilder* builder, OpenReport* report, uint64_t* redo_bytes,
                       const std::function<Status()>& after_commit) {
  COWTREE_ASSERT(redo.dropped && redo.count > 0);
  report->redo_read_twice = true;
  const LogPosition start{sb.log_replay_file_number, sb.log_replay_offset_bytes};
  uint64_t next_epoch = sb.checkpoint_epoch + 1;
  ReplayStats stats;
  const Status replayed = ReplayLog(
      env, dir, start, options.wal_recovery_mode,
      [&](const LogRecord& r) -> Status {
        if (r.type != LogRecordType::kCommit || r.epoch <= sb.checkpoint_epoch) {
          return Status::OK();
        }
        if (r.epoch != next_epoch || r.epoch > redo.last_epoch) {
          return Status::Corruption(
              LogFileName(r.start.file_number) + " at offset " +
              std::to_string(r.start.offset_bytes) + ": the second read of the redo found commit " +
              std::to_string(r.epoch) + " where the first found commits " +
              std::to_string(sb.checkpoint_epoch + 1) + ".." + std::to_string(redo.last_epoch) +
              " (the log changed between the two reads)");
        }
        ++next_epoch;
        COWTREE_RETURN_IF_ERROR(builder->ReplayCommit(r.payload, r.epoch, r.end));
        ++report->commits_replayed;
        *redo_bytes += r.payload.size() + kFrameOverheadBytes;
        return after_commit();
      },
      &stats, sb.store_id);
  COWTREE_RETURN_IF_ERROR(replayed.IsNotFound()
                              ? Status::Corruption(LogFileName(start.file_number) +
                                                   ": log file named by the superblock is missing "
                                                   "at the second read of the redo")
                              : replayed);
  // A checkpoint during the replay appended its own records (no commit) past the first end.
  const bool same_end = stats.end.file_number == report->replay.end.file_number &&
                        stats.end.offset_bytes == report->replay.end.offset_bytes;
  if (next_epoch != redo.last_epoch + 1 || (!same_end && report->checkpoints_during_replay == 0)) {
    return Status::Corruption("the second read of the redo log ended at " + stats.end.ToString() +
                              " after commit " + std::to_string(next_epoch - 1) +
                              ", the first at " + report->replay.end.ToString() + " after commit " +
                              std::to_string(redo.last_epoch) +
                              " (the log changed between the two reads)");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Runtime>> Open(const std::string& dir_in, const RuntimeOptions& options_in,
                                      OpenReport* report_out) {
  const std::string dir = ResolvedStoreDir(dir_in);
  OpenReport local_report;
  OpenReport& report = report_out != nullptr ? *report_out : local_report;
  report = OpenReport();
  RuntimeOptions options = options_in;
  Env* env = options.env != nullptr ? options.env : Env::Default();
  options.env = env;
  if (options.read_only) {
    options.background_thread = false;
    options.checkpoint_on_close = false;
  }
  COWTREE_RETURN_IF_ERROR(ValidateOptions(options));
  const uint64_t start_us = env->NowMicros();

  COWTREE_ASSIGN_OR_RETURN(auto lock, LockStoreDir(env, dir, options, &report));
  COWTREE_ASSIGN_OR_RETURN(LoadedStore loaded, LoadStore(env, dir, options, report));
  const SuperblockData& sb = loaded.sb;

  // ---- Runtime + catalog: a cold index slot per tree; trees are promoted and restored on
  // first access. ----
  RuntimeParts parts;
  parts.env = env;
  parts.dir = dir;
  parts.options = options;
  parts.lock = std::move(lock);
  parts.superblock = sb;
  parts.manifest = loaded.manifest;
  parts.ot_checkpoint_epoch = loaded.ot_epoch;
  parts.ot_delta_start = loaded.ot_delta_start;
  parts.ot_delta_ops_since_checkpoint = loaded.ot_delta_ops;
  parts.force_ot_checkpoint = report.ot_delta_records_ignored > 0;
  parts.types.push_back(tree::MakeOrderStatTreeType(
      tree::TreeShape{options.leaf_capacity_entries, options.fanout, options.leaf_capacity_bytes},
      IndexLimitsOf(options)));
  Result<uint64_t> trees = ReadCatalog(loaded.store.get(), sb.catalog_root, &parts);
  if (!trees.ok() && trees.status().IsNotFound()) {
    // The superblock names a catalog whose objects the object table does not hold: the OT
    // delta that published them (synced before the superblock) is missing — damage, not a crash.
    std::string where;
    if (report.replay.dropped_bytes > 0) {
      where = "; the log's tail from " + LogFileName(report.replay.end.file_number) + " offset " +
              std::to_string(report.replay.end.offset_bytes) + " (" +
              std::to_string(report.replay.dropped_bytes) +
              " bytes that do not verify) must have held the OT delta that published them";
    }
    return Status::Corruption(
        std::string(kSuperblockFileName) + ": the checkpoint at epoch " +
        std::to_string(sb.checkpoint_epoch) + " references objects that the object table (" +
        (sb.ot_checkpoint_id != 0 ? OtCheckpointFileName(sb.ot_checkpoint_id) : "none") +
        " and the log's OT deltas) does not hold" + where +
        " (nothing was changed): " + trees.status().ToString());
  }
  COWTREE_RETURN_IF_ERROR(trees.status());
  report.trees_loaded = *trees;
  parts.store = std::move(loaded.store);
  ObjectStore* store = parts.store.get();
  RuntimeBuilder builder(std::move(parts));
  Runtime* runtime = builder.runtime();

  // ---- Redo: commits with epoch > C, in log order (in memory; under a limited budget,
  // checkpointed as its dirty leaves pass the budget's trigger: open.h). ----
  uint64_t redo_bytes = 0;
  const RedoCommits& redo = loaded.redo;
  bool log_attached = false;
  // The store's first writes: a partial data-file segment extended — NoSpace there (a data file
  // left short by a crash on a full disk, e.g. a new file's header without its first segment)
  // does not keep the store from opening: the first allocation retries it
  // (SegmentAllocator::Allocate) and fails as any write on a full disk does, while reads, and
  // deletes that free space, work — then the torn log tail truncated and the log attached.
  auto attach_log = [&]() -> Status {
    if (Status st = store->PrepareForWrites(); !st.ok() && !st.IsNoSpace()) return st;
    COWTREE_ASSIGN_OR_RETURN(
        auto log,
        LogWriter::OpenForAppend(env, dir, report.replay.end, WriterOptions(options, sb.store_id)));
    builder.AttachLog(std::move(log));
    log_attached = true;
    return Status::OK();
  };
  auto after_commit = [&]() -> Status {
    if (options.read_only || options.cache_bytes == 0 || !builder.ReplayCheckpointDue()) {
      return Status::OK();
    }
    if (!log_attached) COWTREE_RETURN_IF_ERROR(attach_log());
    // A NoSpace abort leaves the runtime writable: the replay goes on in memory.
    const Status st = builder.CheckpointDuringReplay();
    if (st.ok()) ++report.checkpoints_during_replay;
    if (!st.ok() && !st.IsNoSpace()) return st.WithContext("checkpoint during the replay");
    return Status::OK();
  };
  if (!redo.dropped) {
    for (const PendingCommit& c : redo.held) {
      COWTREE_RETURN_IF_ERROR(builder.ReplayCommit(c.payload, c.epoch, c.end));
      ++report.commits_replayed;
      redo_bytes += c.payload.size() + kFrameOverheadBytes;
      COWTREE_RETURN_IF_ERROR(after_commit());
    }
  } else {
    COWTREE_RETURN_IF_ERROR(
        ReplayRedoAgain(env, dir, sb, options, redo, &builder, &report, &redo_bytes, after_commit));
  }
  COWTREE_ASSERT(report.commits_replayed == redo.count);
  loaded.redo = RedoCommits();
  report.recovered_epoch = runtime->visible_epoch();

  // ---- First write: everything the store relies on verified above (open.h contract). ----
  if (!options.read_only) {
    if (!log_attached) COWTREE_RETURN_IF_ERROR(attach_log());
    builder.Start();
    // A store killed again and again before it reached checkpoint_log_bytes would replay an
    // ever longer log at every open: checkpoint now, so recovery time stays bounded whatever
    // the kill pattern (as RocksDB flushes a recovered memtable).
    if (options.recovery_checkpoint_log_bytes != 0 &&
        redo_bytes >= options.recovery_checkpoint_log_bytes) {
      // A NoSpace abort leaves the runtime writable (the redo stays in the log): open anyway.
      const Status st = runtime->Checkpoint();
      if (!st.ok() && !st.IsNoSpace()) return st.WithContext("checkpoint after recovery");
      report.checkpointed_after_replay = st.ok();
    }
  }
  report.redo_bytes_replayed = redo_bytes;
  report.elapsed_us = env->NowMicros() - start_us;
  return builder.Finish();
}

}  // namespace cowtree::recovery
