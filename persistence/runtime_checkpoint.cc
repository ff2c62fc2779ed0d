// The checkpoint protocol (DESIGN.md "Data flow"):
//   1. freeze epoch C under the writer lock (commits after C continue: the checkpoint reads
//      the immutable epoch-C versions); 2. write dirty objects into free slots (never a slot
//      a published checkpoint uses) and fdatasync the data files; 3. log OT deltas tagged C
//      (or write a full OT checkpoint) and fdatasync the log; 4. write the manifest if the file
//      set changed; 5. write the next superblock copy = the commit point; 6. publish in memory,
//      reclaim what no snapshot or checkpoint can see, delete log files recovery no longer needs.
// A NoSpace before the superblock aborts the checkpoint cleanly (objects written are discarded,
// retirements undone, leaves stay dirty; if its OT deltas reached the log, the next checkpoint
// writes a full OT checkpoint) and the runtime stays writable: the next checkpoint retries.
// Every other failure (EIO, a failed fdatasync) poisons the runtime; reopen recovers from the
// last published superblock plus the redo log.
#include <algorithm>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/runtime.h"

namespace cowtree {
namespace {

constexpr size_t kOtDeltaOpsPerRecord = 65536;
constexpr uint64_t kOtCheckpointMinOps = 1024;
constexpr uint64_t kRotateAtCheckpointBytes = 4ull << 20;
constexpr uint64_t kRotateAtForcedCheckpointBytes = 64ull << 10;

}  // namespace

Status Runtime::Checkpoint() {
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  return CheckpointInternal();
}

// The checkpoint itself, without the lifecycle registration (Close calls it after every write
// in flight has finished).
Status Runtime::CheckpointInternal() {
  MutexLock ck(&checkpoint_mu_);
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  bool recoverable = false;
  Status st = CheckpointLocked(&recoverable);
  if (!st.ok() && !recoverable) Poison(st);
  return st;
}

Status Runtime::AbortCheckpoint(const Status& cause, const std::vector<NodeID>& retired,
                                const std::vector<OtDeltaOp>& taken, bool deltas_logged) {
  for (NodeID id : retired) store_->Unretire(id);
  // Compaction's relocations go back to their old slots (the objects stay live).
  const std::vector<NodeID> relocated = store_->UndoUnpublishedRelocations();
  std::vector<OtDeltaOp> upserts = taken;
  for (const OtDeltaOp& op : store_->TakeDeltas()) upserts.push_back(op);
  for (const OtDeltaOp& op : upserts) {
    if (op.type != OtDeltaOp::kUpsert) continue;
    if (std::find(relocated.begin(), relocated.end(), op.id) != relocated.end()) continue;
    store_->DiscardUnpublished(op.id);
  }
  // OT deltas of this attempt that reached the log must never be replayed: the next published
  // checkpoint writes a full OT checkpoint, which moves the replay start past them.
  if (deltas_logged) force_ot_checkpoint_ = true;
  return cause.WithContext("checkpoint aborted, nothing published; the runtime stays writable");
}

Status Runtime::CheckpointLocked(bool* recoverable, bool force) {
  *recoverable = false;
  struct Item {
    std::shared_ptr<TreeSlot> slot;
    std::unique_ptr<FrozenTree> frozen;
    NodeID descriptor;
  };
  std::vector<Item> items;
  std::vector<std::shared_ptr<TreeSlot>> dropped;
  uint64_t checkpoint_epoch = 0;
  LogPosition redo_position;
  uint64_t log_bytes_at_freeze = 0;
  // ---- 1. Freeze epoch C. ----
  {
    MutexLock w(&write_mu_);
    checkpoint_epoch = applied_epoch_;
    if (checkpoint_epoch == superblock_.checkpoint_epoch && !force) {
      return Status::OK();  // nothing committed since the last published checkpoint
    }
    redo_position = log_->end();
    // Start a new log file at the freeze point once the current one is big enough, so that
    // the file holding the redo this checkpoint covers can be deleted after the superblock
    // (smaller store, and reopen scans nothing it does not need).
    // A forced (compaction) checkpoint rotates whenever the file holds more than a little, so
    // that the redo it covers is deleted too.
    const uint64_t rotate_at =
        force ? kRotateAtForcedCheckpointBytes
              : std::min<uint64_t>(kRotateAtCheckpointBytes, options_.log_file_size_max_bytes / 4);
    if (redo_position.offset_bytes >= rotate_at) {
      COWTREE_RETURN_IF_ERROR(log_->Rotate());
      redo_position = log_->end();
    }
    log_bytes_at_freeze = log_bytes_since_checkpoint_.load();
    ReaderLock g(&catalog_mu_);
    for (const auto& [id, slot] : trees_) {
      if (slot->drop_epoch <= checkpoint_epoch) {
        if (!slot->drop_published) dropped.push_back(slot);
        continue;
      }
      items.push_back(Item{slot, slot->tree->Freeze(checkpoint_epoch), slot->descriptor});
    }
  }
  const uint64_t c = checkpoint_epoch;
  // A NoSpace before the superblock is recoverable: undo and keep the runtime writable. Every
  // other failure (EIO, a failed fdatasync) poisons it.
  std::vector<NodeID> retired;
  std::vector<OtDeltaOp> taken;
  bool retired_marked = false, deltas_logged = false;
  auto fail = [&](const Status& st) COWTREE_REQUIRES(checkpoint_mu_) -> Status {
    if (!st.IsNoSpace()) return st;
    *recoverable = true;
    return AbortCheckpoint(st, retired_marked ? retired : std::vector<NodeID>(), taken,
                           deltas_logged);
  };

  // ---- 2. Write dirty objects. ----
  bool catalog_changed = !catalog_root_id_.valid() || !dropped.empty();
  for (Item& item : items) {
    if (item.frozen == nullptr) {
      COWTREE_ASSERT(item.descriptor.valid());  // a never-checkpointed tree is always dirty
      continue;
    }
    Result<TreeCheckpointResult> r = item.frozen->Write(store_.get(), c);
    if (!r.ok()) return fail(r.status());
    COWTREE_ASSERT(r->descriptor.valid());
    item.descriptor = r->descriptor;
    retired.insert(retired.end(), r->retired.begin(), r->retired.end());
    catalog_changed = true;
  }
  for (const auto& slot : dropped) {
    auto objects = slot->tree->PersistedObjects();
    retired.insert(retired.end(), objects.begin(), objects.end());
  }
  CatalogWrite catalog;
  catalog.root_id = catalog_root_id_;
  if (catalog_changed) {
    std::vector<CatalogEntry> entries;
    entries.reserve(items.size());
    for (const Item& item : items) {
      entries.push_back(CatalogEntry{item.slot->id, item.descriptor, item.slot->create_epoch,
                                     item.slot->type_id, item.slot->name, item.slot->params});
    }
    if (Status st = WriteCatalog(c, entries, &retired, &catalog); !st.ok()) return fail(st);
  }
  // Retired in memory now (so that an OT checkpoint leaves them out), logged below with C.
  for (NodeID id : retired) store_->Retire(id, c, /*record_delta=*/false);
  retired_marked = true;
  COWTREE_RETURN_IF_ERROR(store_->Sync());  // a failed fdatasync is never recoverable

  // ---- 3. OT deltas (or a whole OT checkpoint), then fdatasync the log. ----
  taken = store_->TakeDeltas();
  std::vector<OtDeltaOp> deltas = taken;
  for (NodeID id : retired) deltas.push_back(OtDeltaOp{OtDeltaOp::kRetire, id, OtEntry{}, c});
  uint64_t ot_checkpoint_id = superblock_.ot_checkpoint_id;
  uint64_t ot_checkpoint_epoch = ot_checkpoint_epoch_;
  std::optional<LogPosition> ot_delta_start = ot_delta_start_;
  uint64_t ot_delta_ops = ot_delta_ops_since_checkpoint_ + deltas.size();
  const bool write_ot_checkpoint =
      ot_checkpoint_id == 0 || force_ot_checkpoint_ ||
      ot_delta_ops >= std::max<uint64_t>(kOtCheckpointMinOps, store_->stats().live_objects / 4) ||
      (ot_delta_start.has_value() && ot_delta_start->file_number < redo_position.file_number);
  if (write_ot_checkpoint) {
    ot_checkpoint_id += 1;
    ot_checkpoint_epoch = c;
    Status st =
        WriteOtCheckpoint(env_, dir_, ot_checkpoint_id, c, store_->table(), superblock_.store_id);
    if (!st.ok()) return fail(st);
    ot_delta_start.reset();
    ot_delta_ops = 0;
  } else {
    for (size_t i = 0; i < deltas.size(); i += kOtDeltaOpsPerRecord) {
      const size_t n = std::min(kOtDeltaOpsPerRecord, deltas.size() - i);
      const std::string payload = EncodeOtDelta(std::span<const OtDeltaOp>(deltas.data() + i, n));
      COWTREE_ASSIGN_OR_RETURN(LogPosition end, log_->Append(LogRecordType::kOtDelta, c, payload));
      deltas_logged = true;
      const uint64_t frame_bytes = kFrameOverheadBytes + payload.size();
      COWTREE_ASSERT(end.offset_bytes >= frame_bytes);
      if (!ot_delta_start.has_value()) {
        ot_delta_start = LogPosition{end.file_number, end.offset_bytes - frame_bytes};
      }
    }
  }
  COWTREE_RETURN_IF_ERROR(log_->Sync(log_->end()));

  // ---- 4. Manifest (if the file set changed). ----
  LogPosition replay = redo_position;
  if (ot_delta_start.has_value() && *ot_delta_start < replay) replay = *ot_delta_start;
  if (Status st = WriteManifestIfChanged(replay.file_number, ot_checkpoint_id, ot_checkpoint_epoch);
      !st.ok()) {
    return fail(st);
  }

  // ---- 5. Superblock: the commit point. ----
  SuperblockData next = superblock_;
  next.generation = superblock_.generation + 1;
  next.checkpoint_epoch = c;
  next.manifest_generation = manifest_.generation;
  next.ot_checkpoint_id = ot_checkpoint_id;
  next.log_replay_file_number = replay.file_number;
  next.log_replay_offset_bytes = replay.offset_bytes;
  next.catalog_root = catalog.root_id.raw();
  next.ot_handle_count = store_->table().handle_count();
  COWTREE_RETURN_IF_ERROR(WriteSuperblock(env_, dir_, next));

  // ---- 6. Publish, reclaim, delete what recovery no longer needs. ----
  superblock_ = next;
  published_checkpoint_epoch_.store(c);
  published_generation_.store(next.generation);
  if (catalog_changed) {
    catalog_root_id_ = catalog.root_id;
    catalog_root_ = std::move(catalog.root);
    catalog_chunks_ = std::move(catalog.chunks);
  }
  ot_checkpoint_epoch_ = ot_checkpoint_epoch;
  ot_delta_start_ = ot_delta_start;
  ot_delta_ops_since_checkpoint_ = ot_delta_ops;
  if (write_ot_checkpoint) force_ot_checkpoint_ = false;
  for (Item& item : items) {
    if (item.frozen != nullptr) item.frozen->OnPublished();
    item.slot->descriptor = item.descriptor;
  }
  for (const auto& slot : dropped) slot->drop_published = true;
  store_->PublishRelocations();  // every relocation before the freeze is in this checkpoint
  ForgetDroppedTrees();
  store_->Reclaim(pins_->SafeEpoch(visible_epoch_));
  // Versions no snapshot can see hold leaves that are neither current nor evictable: drop
  // them for every tree, including trees that receive no more commits.
  ReleaseOldVersionsOfAllTrees();
  budget_->EnforceBudget();  // the leaves just written are clean: evict down to the budget
  DeleteObsoleteFiles(replay.file_number);
  log_bytes_since_checkpoint_.fetch_sub(
      std::min(log_bytes_at_freeze, log_bytes_since_checkpoint_.load()));
  checkpoints_written_.fetch_add(1);
  return Status::OK();
}

// Catalog chunks keep the tree-id boundaries of the previous checkpoint where possible, so an
// unchanged chunk (same entries) is reused and only changed chunks are rewritten.
Status Runtime::WriteCatalog(uint64_t checkpoint_epoch, const std::vector<CatalogEntry>& entries,
                             std::vector<NodeID>* retired, CatalogWrite* out) {
  std::vector<std::vector<CatalogEntry>> groups;
  size_t old_index = 0;
  for (const CatalogEntry& e : entries) {
    // Advance to the old chunk whose range [first_tree_id, next first) contains e.tree_id.
    bool new_group = groups.empty() || groups.back().size() >= kCatalogChunkEntriesMax;
    while (old_index + 1 < catalog_chunks_.size() &&
           catalog_chunks_[old_index + 1].second.front().tree_id <= e.tree_id) {
      ++old_index;
      new_group = true;
    }
    if (new_group) groups.emplace_back();
    groups.back().push_back(e);
  }
  std::vector<bool> reused(catalog_chunks_.size(), false);
  CatalogRoot& root = out->root;
  root = CatalogRoot();
  out->chunks.clear();
  for (auto& group : groups) {
    NodeID id;
    for (size_t i = 0; i < catalog_chunks_.size(); ++i) {
      if (!reused[i] && catalog_chunks_[i].second == group) {
        reused[i] = true;
        id = catalog_chunks_[i].first;
        break;
      }
    }
    if (!id.valid()) {
      COWTREE_ASSIGN_OR_RETURN(id, store_->WriteObject(ObjectKind::kCatalogChunk, checkpoint_epoch,
                                                       EncodeCatalogChunk(group)));
    }
    root.chunks.push_back(
        CatalogChunkRef{id, static_cast<uint32_t>(group.size()), group.front().tree_id});
    root.tree_count += group.size();
    out->chunks.emplace_back(id, std::move(group));
  }
  root.next_tree_id = next_tree_id_.load();
  if (!entries.empty()) COWTREE_ASSERT(root.next_tree_id > entries.back().tree_id);
  COWTREE_ASSIGN_OR_RETURN(
      out->root_id,
      store_->WriteObject(ObjectKind::kCatalogRoot, checkpoint_epoch, EncodeCatalogRoot(root)));
  for (size_t i = 0; i < catalog_chunks_.size(); ++i) {
    if (!reused[i]) retired->push_back(catalog_chunks_[i].first);
  }
  if (catalog_root_id_.valid()) retired->push_back(catalog_root_id_);
  return Status::OK();
}

Status Runtime::WriteManifestIfChanged(uint64_t replay_file_number, uint64_t ot_checkpoint_id,
                                       uint64_t ot_checkpoint_epoch) {
  Manifest m;
  m.generation = manifest_.generation;
  m.store_id = superblock_.store_id;
  for (const DataFileInfo& f : store_->data_files()) {
    m.data_files.push_back(
        ManifestDataFile{DataFileName(f.size_class_bytes), f.size_class_bytes, f.size_bytes});
  }
  if (ot_checkpoint_id != 0) {
    m.ot_checkpoints.push_back(ManifestOtCheckpoint{OtCheckpointFileName(ot_checkpoint_id),
                                                    ot_checkpoint_id, ot_checkpoint_epoch});
  }
  {
    MutexLock w(&write_mu_);  // commits update log_file_epochs_
    const uint64_t last_file = log_->end().file_number;
    for (uint64_t n = replay_file_number; n <= last_file; ++n) {
      auto it = log_file_epochs_.find(n);
      const uint64_t first = it == log_file_epochs_.end() ? 0 : it->second.first;
      const uint64_t last = it == log_file_epochs_.end() ? 0 : it->second.second;
      m.log_files.push_back(ManifestLogFile{LogFileName(n), n, first, last});
    }
  }
  auto same_files = [](const Manifest& a, const Manifest& b) {
    if (a.data_files.size() != b.data_files.size() ||
        a.ot_checkpoints.size() != b.ot_checkpoints.size() ||
        a.log_files.size() != b.log_files.size()) {
      return false;
    }
    for (size_t i = 0; i < a.data_files.size(); ++i) {
      if (a.data_files[i].name != b.data_files[i].name ||
          a.data_files[i].size_bytes != b.data_files[i].size_bytes) {
        return false;
      }
    }
    for (size_t i = 0; i < a.ot_checkpoints.size(); ++i) {
      if (a.ot_checkpoints[i].id != b.ot_checkpoints[i].id) return false;
    }
    for (size_t i = 0; i < a.log_files.size(); ++i) {
      if (a.log_files[i].number != b.log_files[i].number) return false;
    }
    return true;
  };
  if (manifest_.generation != 0 && same_files(m, manifest_)) return Status::OK();
  m.generation = manifest_.generation + 1;
  COWTREE_RETURN_IF_ERROR(WriteManifest(env_, dir_, m));
  manifest_ = std::move(m);
  return Status::OK();
}

void Runtime::ForgetDroppedTrees() {
  const uint64_t safe = pins_->SafeEpoch(visible_epoch_);
  WriterLock g(&catalog_mu_);
  for (auto it = trees_.begin(); it != trees_.end();) {
    const TreeSlot& s = *it->second;
    if (s.drop_published && s.drop_epoch <= safe) {
      auto& ids = names_[s.name];
      ids.erase(std::remove(ids.begin(), ids.end(), s.id), ids.end());
      if (ids.empty()) names_.erase(s.name);
      it = trees_.erase(it);
    } else {
      ++it;
    }
  }
}

// Best effort: a file that cannot be deleted now is deleted by a later checkpoint (fsck lists
// it as not in the manifest meanwhile). Only files of our own kinds are ever deleted.
void Runtime::DeleteObsoleteFiles(uint64_t replay_file_number) {
  std::vector<std::string> names;
  if (!env_->ListDir(dir_, &names).ok()) return;
  bool deleted = false;
  for (const std::string& name : names) {
    FileKind kind;
    uint64_t number = 0;
    if (!ParseFileName(name, &kind, &number)) continue;
    bool obsolete = false;
    switch (kind) {
      case FileKind::kLog:
        obsolete = number < replay_file_number;
        break;
      case FileKind::kOtCheckpoint:
        obsolete = number != superblock_.ot_checkpoint_id;
        break;
      case FileKind::kManifest:
        obsolete = number != manifest_.generation;
        break;
      default:
        break;
    }
    if (obsolete && env_->DeleteFile(JoinPath(dir_, name)).ok()) deleted = true;
  }
  if (deleted) {
    (void)env_->SyncDir(dir_);
    MutexLock w(&write_mu_);
    for (auto it = log_file_epochs_.begin();
         it != log_file_epochs_.end() && it->first < replay_file_number;) {
      it = log_file_epochs_.erase(it);
    }
  }
}

}  // namespace cowtree
