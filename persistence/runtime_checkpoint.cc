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
#include <map>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/runtime.h"

namespace cowtree {
namespace {

// Ops per kOtDelta record: ~56 B each encoded, so a record's payload (built in memory, then
// copied into the log's buffer) stays ~224 KiB whatever the checkpoint's size.
constexpr size_t kOtDeltaOpsPerRecord = 4096;
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
  return CheckpointOrPoisonLocked();
}

Status Runtime::StallCheckpoint() {
  MutexLock ck(&checkpoint_mu_);
  // The checkpoint this thread waited for may have written enough (committers that stalled
  // together need one checkpoint, not one each).
  if (!budget_->DirtyOverStallLimit()) return Status::OK();
  return CheckpointOrPoisonLocked();
}

bool Runtime::ReplayCheckpointDue() const {
  return budget_ != nullptr && budget_->DirtyOverTrigger();
}

Status Runtime::CheckpointDuringReplay() {
  COWTREE_ASSERT(!started_ && log_ != nullptr);
  MutexLock ck(&checkpoint_mu_);
  return CheckpointOrPoisonLocked();
}

Status Runtime::LogStallCheckpoint() {
  MutexLock ck(&checkpoint_mu_);
  // As StallCheckpoint: the checkpoint this thread waited for may have reset the count.
  if (log_bytes_since_checkpoint_.load() < 2 * EffectiveCheckpointLogBytes(options_)) {
    return Status::OK();
  }
  return CheckpointOrPoisonLocked();
}

Status Runtime::CheckpointOrPoisonLocked() {
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
  };
  std::vector<Item> items;  // the trees this checkpoint writes
  std::vector<std::shared_ptr<TreeSlot>> dropped;
  // Trees created inline up to C and not written since: listed from their slot's inline body.
  std::vector<std::shared_ptr<TreeSlot>> created_inline;
  std::vector<TreeId> dirty;  // trees created, written or dropped up to C (sorted, unique)
  uint64_t checkpoint_epoch = 0;
  LogPosition redo_position;
  uint64_t log_bytes_at_freeze = 0;
  // ---- 1. Freeze epoch C. ----
  bool nothing_committed = false;
  {
    MutexLock w(&write_mu_);
    checkpoint_epoch = applied_epoch_;
    nothing_committed = checkpoint_epoch == superblock_.checkpoint_epoch && !force;
  }
  if (nothing_committed) {
    // Nothing committed since the last published checkpoint: nothing to write, but snapshots
    // may have been released since it, so what they kept can be freed now rather than after
    // the next commit and checkpoint.
    ReclaimUnreferenced();
    return Status::OK();
  }
  {
    MutexLock w(&write_mu_);
    checkpoint_epoch = applied_epoch_;
    redo_position = log_->end();
    // During the replay at open, the log's end lies past the redo not replayed yet: the
    // checkpoint covers the records up to the last one replayed, and rotating would start a
    // new file after that redo, not at the freeze point.
    const bool during_replay = replay_redo_end_.has_value();
    if (during_replay) redo_position = *replay_redo_end_;
    // Start a new log file at the freeze point once the current one is big enough, so that
    // the file holding the redo this checkpoint covers can be deleted after the superblock
    // (smaller store, and reopen scans nothing it does not need).
    // A forced (compaction) checkpoint rotates whenever the file holds more than a little, so
    // that the redo it covers is deleted too.
    const uint64_t rotate_at =
        force ? kRotateAtForcedCheckpointBytes
              : std::min<uint64_t>(kRotateAtCheckpointBytes, options_.log_file_size_max_bytes / 4);
    if (!during_replay && redo_position.offset_bytes >= rotate_at) {
      COWTREE_RETURN_IF_ERROR(log_->Rotate());
      redo_position = log_->end();
    }
    log_bytes_at_freeze = log_bytes_since_checkpoint_.load();
    // Only the trees a commit touched since the last freeze can differ from the published
    // catalog: O(changed trees), not O(trees), per checkpoint.
    dirty.swap(dirty_trees_);
    ++dirty_generation_;  // trees written from now on count for the next checkpoint
    dirty_tree_count_ = 0;
    dirty_trees_over_limit_.store(false);
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    ReaderLock g(&catalog_mu_);
    for (TreeId id : dirty) {
      auto it = trees_.find(id);
      COWTREE_ASSERT(it != trees_.end());  // forgotten only after a published drop
      const std::shared_ptr<TreeSlot>& slot = it->second;
      if (slot->drop_epoch <= checkpoint_epoch) {
        if (!slot->drop_published) dropped.push_back(slot);
        continue;
      }
      // A dirty tree was created or written by a commit: it is restored, or it was created
      // inline and is unchanged since (a commit that writes it restores it first).
      std::unique_ptr<FrozenTree> frozen;
      if (slot->restored.load(std::memory_order_acquire)) {
        frozen = slot->tree->Freeze(checkpoint_epoch);
      } else {
        COWTREE_ASSERT(slot->created_inline && !slot->published);
      }
      if (frozen != nullptr) {
        items.push_back(Item{slot, std::move(frozen)});
      } else if (!slot->published) {
        // New since the published catalog and unchanged since its create: its inline body is
        // its state at C (NextCatalogChunk copies it from the slot).
        COWTREE_ASSERT(slot->created_inline);
        created_inline.push_back(slot);
      }
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
    {  // the next checkpoint redoes this one's work
      MutexLock w(&write_mu_);
      dirty_trees_.insert(dirty_trees_.end(), dirty.begin(), dirty.end());
    }
    return AbortCheckpoint(st, retired_marked ? retired : std::vector<NodeID>(), taken,
                           deltas_logged);
  };

  // ---- 2. Write dirty objects. ----
  bool catalog_changed = !catalog_root_id_.valid() || !dropped.empty();
  std::map<TreeId, PersistedTreeRef> written;  // the new state of the trees written
  std::vector<TreeId> changed;                 // written or dropped: their chunks are rebuilt
  for (Item& item : items) {
    Result<TreeCheckpointResult> r = item.frozen->Write(store_.get(), c);
    if (!r.ok()) return fail(r.status());
    COWTREE_ASSERT(r->persisted.descriptor.valid() ||
                   r->persisted.inline_body.size() <= kCatalogInlineBytesMax);
    retired.insert(retired.end(), r->retired.begin(), r->retired.end());
    changed.push_back(item.slot->id);
    written.emplace(item.slot->id, std::move(r->persisted));
    catalog_changed = true;
  }
  for (const auto& slot : created_inline) {
    changed.push_back(slot->id);
    catalog_changed = true;
  }
  for (const auto& slot : dropped) {
    changed.push_back(slot->id);
    if (!slot->published) continue;  // created and dropped between two checkpoints
    // The objects of a tree dropped before its first access: restore it to list them (an
    // inline tree has none).
    if (slot->persisted.is_inline()) continue;
    Result<std::shared_ptr<HostedTree>> tree = RestoredTree(slot.get());
    if (!tree.ok()) return fail(tree.status());
    auto objects = (*tree)->PersistedObjects();
    retired.insert(retired.end(), objects.begin(), objects.end());
  }
  std::sort(changed.begin(), changed.end());
  CatalogWrite catalog;
  catalog.root_id = catalog_root_id_;
  catalog.root = catalog_root_;
  if (catalog_changed) {
    if (Status st = WriteCatalog(c, changed, written, &retired, &catalog); !st.ok()) {
      return fail(st);
    }
  }
  // Retired in memory now (so that an OT checkpoint leaves them out), logged below with C.
  for (NodeID id : retired) store_->Retire(id, c, /*record_delta=*/false);
  retired_marked = true;
  COWTREE_RETURN_IF_ERROR(store_->Sync());  // a failed fdatasync is never recoverable

  // ---- 3. OT deltas (or a whole OT checkpoint), then fdatasync the log. ----
  taken = store_->TakeDeltas();
  // The ops logged: `taken` (upserts), then one kRetire per retired object. Not concatenated
  // into one vector: at ~80 B per op, a checkpoint of 10^4..10^5 leaves would hold that copy
  // (and its growth) at the peak of the process's RSS (docs/memory_budget.md).
  const size_t delta_count = taken.size() + retired.size();
  uint64_t ot_checkpoint_id = superblock_.ot_checkpoint_id;
  uint64_t ot_checkpoint_epoch = ot_checkpoint_epoch_;
  std::optional<LogPosition> ot_delta_start = ot_delta_start_;
  uint64_t ot_delta_ops = ot_delta_ops_since_checkpoint_ + delta_count;
  const bool write_ot_checkpoint =
      ot_checkpoint_id == 0 || force_ot_checkpoint_ ||
      ot_delta_ops >= std::max<uint64_t>(kOtCheckpointMinOps, store_->stats().live_objects / 4) ||
      (ot_delta_start.has_value() && ot_delta_start->file_number < redo_position.file_number);
  if (write_ot_checkpoint) {
    ot_checkpoint_id += 1;
    ot_checkpoint_epoch = c;
    Status st = WriteOtCheckpoint(env_, dir_, ot_checkpoint_id, c, store_->table(),
                                  superblock_.store_id, retained_epochs_->Current());
    if (!st.ok()) return fail(st);
    ot_delta_start.reset();
    ot_delta_ops = 0;
  } else {
    std::vector<OtDeltaOp> chunk;  // the ops of one record that are not in `taken`
    for (size_t i = 0; i < delta_count; i += kOtDeltaOpsPerRecord) {
      const size_t n = std::min(kOtDeltaOpsPerRecord, delta_count - i);
      std::span<const OtDeltaOp> ops;
      if (i + n <= taken.size()) {
        ops = std::span<const OtDeltaOp>(taken.data() + i, n);
      } else {
        chunk.clear();
        for (size_t k = i; k < i + n; ++k) {
          chunk.push_back(k < taken.size() ? taken[k]
                                           : OtDeltaOp{OtDeltaOp::kRetire,
                                                       retired[k - taken.size()], OtEntry{}, c});
        }
        ops = chunk;
      }
      COWTREE_ASSERT(ops.size() == n);
      const std::string payload = EncodeOtDelta(ops);
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
  // Never smaller than before: the OT checkpoint named may be an older one, whose records of a
  // deleted retained checkpoint this process skipped at open (adversarial round 18).
  next.ot_handle_count = std::max(superblock_.ot_handle_count, store_->table().handle_count());
  COWTREE_RETURN_IF_ERROR(WriteSuperblock(env_, dir_, next));

  // ---- 6. Publish, reclaim, delete what recovery no longer needs. ----
  superblock_ = next;
  published_checkpoint_epoch_.store(c);
  // A forced checkpoint (compaction) with nothing committed since publishes the same epoch again.
  COWTREE_ASSERT(!published_checkpoint_epochs_.empty() && published_checkpoint_epochs_.back() <= c);
  if (published_checkpoint_epochs_.back() < c) published_checkpoint_epochs_.push_back(c);
  published_generation_.store(next.generation);
  if (catalog_changed) {
    catalog_root_id_ = catalog.root_id;
    catalog_root_ = std::move(catalog.root);
    catalog_chunks_.store(catalog_root_.chunks.size(), std::memory_order_relaxed);
    catalog_root_pages_.store(catalog_root_.pages.size(), std::memory_order_relaxed);
  }
  ot_checkpoint_epoch_ = ot_checkpoint_epoch;
  ot_delta_start_ = ot_delta_start;
  ot_delta_ops_since_checkpoint_ = ot_delta_ops;
  if (write_ot_checkpoint) force_ot_checkpoint_ = false;
  for (Item& item : items) item.frozen->OnPublished();
  {
    // Under catalog_mu_: GetStats reads `persisted` of slots it sees unrestored, and a slot
    // can be restored, written and checkpointed meanwhile.
    WriterLock g(&catalog_mu_);
    if (catalog_changed) {
      published_chunks_ = catalog_root_.chunks;  // where cold trees are now
      ++catalog_generation_;                     // entries read from older chunks may be stale
    }
    for (Item& item : items) {
      auto w = written.find(item.slot->id);
      COWTREE_ASSERT(w != written.end());
      item.slot->persisted = std::move(w->second);
      item.slot->published = true;
    }
    for (const auto& slot : created_inline) slot->published = true;  // `persisted` as listed
  }
  for (const auto& slot : dropped) {
    slot->drop_published = true;
    drops_to_forget_.push_back(slot);
  }
  store_->PublishRelocations();  // every relocation before the freeze is in this checkpoint
  ForgetDroppedTrees();
  ReclaimUnreferenced();
  // Versions no snapshot can see hold leaves that are neither current nor evictable: drop
  // them for every tree, including trees that receive no more commits.
  ReleaseOldVersionsOfAllTrees();
  DemoteIdleTrees();         // after the release: trees that keep one version only
  budget_->EnforceBudget();  // the leaves just written are clean: evict down to the budget
  DeleteObsoleteFiles(replay.file_number);
  log_bytes_since_checkpoint_.fetch_sub(
      std::min(log_bytes_at_freeze, log_bytes_since_checkpoint_.load()));
  checkpoints_written_.fetch_add(1);
  store_->RecycleDeltas(std::move(taken));  // logged and published: the next checkpoint's ops
  return Status::OK();
}

// The next chunk's entries: trees live at C with ids in [first, end) (catalog_mu_ shared, held
// for one chunk only: commits after C may add trees meanwhile; they are skipped by their create
// epoch), merged in id order from the hot trees (trees_) and the cold ones (entries of the old
// chunk `old` that are not hot: copied as they are; a tree promoted meanwhile is hot by now
// and carries the same state). Memory and lock hold time stay bounded by one chunk whatever
// the number of trees.
std::vector<CatalogEntry> Runtime::NextCatalogChunk(
    TreeId first, TreeId end, uint64_t checkpoint_epoch,
    const std::map<TreeId, PersistedTreeRef>& written,
    const std::vector<CatalogEntryView>& old) const {
  std::vector<CatalogEntry> out;
  size_t bytes = kCatalogChunkOverheadBytes;
  const size_t entries_max = options_.catalog_chunk_entries_max != 0
                                 ? options_.catalog_chunk_entries_max
                                 : kCatalogChunkEntriesMax;
  const auto add = [&](CatalogEntry e) {
    const size_t entry_bytes = CatalogEntryBytes(e);
    if (!out.empty() &&
        (out.size() >= entries_max || bytes + entry_bytes > kCatalogChunkBodyBytesTarget)) {
      return false;
    }
    bytes += entry_bytes;
    out.push_back(std::move(e));
    return true;
  };
  ReaderLock g(&catalog_mu_);
  auto hot = trees_.lower_bound(first);
  auto cold = std::lower_bound(old.begin(), old.end(), first,
                               [](const CatalogEntryView& e, TreeId v) { return e.tree_id < v; });
  for (;;) {
    const TreeId hot_id = hot != trees_.end() && hot->first < end ? hot->first : UINT64_MAX;
    // Skip the old entry of a hot tree (its slot decides). The hot ids in [first, hot_id) are
    // merged already and the old entries passed them (one equal to a hot id is skipped before
    // that hot tree is merged), so an old entry below hot_id is not hot: it is still cold
    // (only a promotion takes a tree out of cold_; a forgotten tree is in no published
    // chunk). No lookup per old entry: with a million trees the checkpoint after a Step that
    // touched every chunk merges a million old entries.
    while (cold != old.end() && cold->tree_id < end && cold->tree_id == hot_id) ++cold;
    COWTREE_DASSERT(cold == old.end() || cold->tree_id >= end || cold->tree_id > hot_id ||
                    (trees_.count(cold->tree_id) == 0 &&
                     cold_.Contains(cold->tree_id, ColdTreeIndex::NameHash(cold->name))));
    const TreeId cold_id = cold != old.end() && cold->tree_id < end ? cold->tree_id : UINT64_MAX;
    if (hot_id == UINT64_MAX && cold_id == UINT64_MAX) break;
    if (cold_id < hot_id) {
      if (!add(cold->ToEntry())) break;
      ++cold;
      continue;
    }
    const TreeSlot& slot = *hot->second;
    ++hot;
    if (slot.create_epoch > checkpoint_epoch || slot.drop_epoch <= checkpoint_epoch) continue;
    CatalogEntry e{slot.id, NodeID(), slot.create_epoch, slot.type_id, slot.name, slot.params, ""};
    auto w = written.find(slot.id);
    // Every tree live at C was either written now, or listed by the published catalog, or
    // created inline and unchanged up to C (its slot holds the body: Runtime::TreeSlot).
    COWTREE_ASSERT(w != written.end() || slot.published || slot.created_inline);
    const PersistedTreeRef& ref = w != written.end() ? w->second : slot.persisted;
    e.descriptor = ref.descriptor;
    e.inline_body = ref.inline_body;
    if (!add(std::move(e))) break;
  }
  return out;
}

// Catalog chunks keep the tree-id boundaries of the previous checkpoint: a chunk whose range
// [first_tree_id, next chunk's first_tree_id) holds no changed tree is reused as is (no read,
// no comparison); a chunk that does is rebuilt from the live trees of its range (the last
// chunk's range is open: new trees join it), cut at 1024 entries or
// kCatalogChunkBodyBytesTarget bytes. So a checkpoint costs O(changed chunks), whatever the
// number of trees.
Status Runtime::WriteCatalog(uint64_t checkpoint_epoch, const std::vector<TreeId>& changed,
                             const std::map<TreeId, PersistedTreeRef>& written,
                             std::vector<NodeID>* retired, CatalogWrite* out) {
  const std::vector<CatalogChunkRef>& old = catalog_root_.chunks;
  // Ranges of the old chunks; with no chunk yet, one range holding every id.
  struct Range {
    TreeId first, end;
    const CatalogChunkRef* chunk;  // null: no old chunk (first catalog)
  };
  std::vector<Range> ranges;
  if (old.empty()) ranges.push_back(Range{0, UINT64_MAX, nullptr});
  for (size_t i = 0; i < old.size(); ++i) {
    ranges.push_back(Range{i == 0 ? 0 : old[i].first_tree_id,
                           i + 1 < old.size() ? old[i + 1].first_tree_id : UINT64_MAX, &old[i]});
  }
  CatalogRoot& root = out->root;
  root = CatalogRoot();
  size_t next_changed = 0;
  std::string old_chunk_buffer;  // reused by every rebuilt chunk's old entries
  for (const Range& range : ranges) {
    while (next_changed < changed.size() && changed[next_changed] < range.first) ++next_changed;
    const bool dirty = next_changed < changed.size() && changed[next_changed] < range.end;
    if (!dirty && range.chunk != nullptr) {
      root.chunks.push_back(*range.chunk);
      root.tree_count += range.chunk->entry_count;
      continue;
    }
    // The old chunk's entries: the cold trees of the range are copied from it.
    std::vector<CatalogEntryView> old_entries;
    if (range.chunk != nullptr) {
      retired->push_back(range.chunk->chunk_id);
      COWTREE_ASSIGN_OR_RETURN(
          const std::string_view old_body,
          store_->ReadObjectOnceInto(range.chunk->chunk_id, ObjectKind::kCatalogChunk,
                                     &old_chunk_buffer));
      if (Status st = ParseCatalogChunk(old_body, &old_entries); !st.ok()) {
        return Status::Corruption("catalog chunk " + std::to_string(range.chunk->chunk_id.raw()) +
                                  " does not decode: " + st.message());
      }
    }
    for (TreeId next = range.first;;) {
      std::vector<CatalogEntry> group =
          NextCatalogChunk(next, range.end, checkpoint_epoch, written, old_entries);
      if (group.empty()) break;
      COWTREE_ASSIGN_OR_RETURN(NodeID id,
                               store_->WriteObject(ObjectKind::kCatalogChunk, checkpoint_epoch,
                                                   EncodeCatalogChunk(group)));
      root.chunks.push_back(
          CatalogChunkRef{id, static_cast<uint32_t>(group.size()), group.front().tree_id});
      root.tree_count += group.size();
      next = group.back().tree_id + 1;
    }
  }
  root.next_tree_id = next_tree_id_.load();
  if (!root.chunks.empty()) COWTREE_ASSERT(root.next_tree_id > root.chunks.back().first_tree_id);
  COWTREE_RETURN_IF_ERROR(WriteCatalogRootPages(checkpoint_epoch, &root));
  COWTREE_ASSIGN_OR_RETURN(
      out->root_id,
      store_->WriteObject(ObjectKind::kCatalogRoot, checkpoint_epoch, EncodeCatalogRoot(root)));
  if (catalog_root_id_.valid()) retired->push_back(catalog_root_id_);
  for (const CatalogRootPageRef& p : catalog_root_.pages) retired->push_back(p.page_id);
  return Status::OK();
}

// A root of more chunk references than one object holds (catalog_root_chunks_max) gets two
// levels: the references are written as root pages of up to that many each, and the root lists
// the pages (docs/catalog.md). Every page is rewritten whenever the catalog changes: 24 bytes
// per chunk, ~0.24 MB per 10 000 chunks (~6 M small inline trees).
Status Runtime::WriteCatalogRootPages(uint64_t checkpoint_epoch, CatalogRoot* root) {
  const size_t per_object = options_.catalog_root_chunks_max != 0 ? options_.catalog_root_chunks_max
                                                                  : kCatalogRootChunksMax;
  root->pages.clear();
  const size_t chunks = root->chunks.size();
  if (chunks <= per_object) return Status::OK();
  // Pages of per_object references, or larger ones when that would need more pages than a
  // root lists (only with a lowered catalog_root_chunks_max, or past 8 * 10^7 chunks).
  const size_t pages_max = std::min(per_object, kCatalogRootPagesMax);
  const size_t per_page = std::max(per_object, (chunks + pages_max - 1) / pages_max);
  if (per_page > kCatalogRootChunksMax) {
    return Status::InvalidArgument("the catalog has " + std::to_string(chunks) +
                                   " chunks: more than a two-level catalog root holds (" +
                                   std::to_string(kCatalogRootPagesMax) + " pages of " +
                                   std::to_string(kCatalogRootChunksMax) + ")");
  }
  const size_t page_count = (chunks + per_page - 1) / per_page;
  COWTREE_ASSERT(page_count <= pages_max);
  for (size_t begin = 0; begin < chunks; begin += per_page) {
    const std::span<const CatalogChunkRef> run(root->chunks.data() + begin,
                                               std::min(per_page, chunks - begin));
    CatalogRootPageRef page;
    page.chunk_count = static_cast<uint32_t>(run.size());
    page.first_tree_id = run.front().first_tree_id;
    for (const CatalogChunkRef& c : run) page.tree_count += c.entry_count;
    COWTREE_ASSIGN_OR_RETURN(page.page_id,
                             store_->WriteObject(ObjectKind::kCatalogRootPage, checkpoint_epoch,
                                                 EncodeCatalogRootPage(run)));
    root->pages.push_back(page);
  }
  COWTREE_ASSERT(root->pages.size() == page_count);
  return Status::OK();
}

Status Runtime::WriteManifestIfChanged(uint64_t replay_file_number, uint64_t ot_checkpoint_id,
                                       uint64_t ot_checkpoint_epoch) {
  Manifest m;
  m.generation = manifest_.generation;
  m.store_id = superblock_.store_id;
  m.retained_checkpoints = manifest_.retained_checkpoints;
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
  std::vector<std::shared_ptr<TreeSlot>> keep;
  WriterLock g(&catalog_mu_);
  for (auto& slot : drops_to_forget_) {
    if (slot->drop_epoch > safe) {
      keep.push_back(std::move(slot));
      continue;
    }
    auto it = names_.find(slot->name);
    COWTREE_ASSERT(it != names_.end());
    if (it->second == slot.get()) {  // the head: its successor (if any) becomes the head
      TreeSlot* older = slot->older_same_name;
      names_.erase(it);
      if (older != nullptr) names_.emplace(std::string_view(older->name), older);
    } else {
      TreeSlot* s = it->second;
      while (s->older_same_name != slot.get()) {
        s = s->older_same_name;
        COWTREE_ASSERT(s != nullptr);
      }
      s->older_same_name = slot->older_same_name;
    }
    trees_.erase(slot->id);
  }
  drops_to_forget_ = std::move(keep);
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
