// Runtime, the commit path, read top down: Commit validates the batch, applies it to the trees
// (ApplyCommit, runtime_catalog.cc), appends one redo record, publishes it, then waits for the
// durability its mode asks for. ReplayCommit is the same path for recovery, without the log.
// Snapshots, stats and eviction are here too; the checkpoint protocol is in
// runtime_checkpoint.cc, the lifecycle in runtime_lifecycle.cc, the background threads in
// runtime_coordinator.cc.
#include "persistence/runtime.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/commit_record.h"

namespace cowtree {

void Runtime::AdvanceVisible(uint64_t epoch) {
  uint64_t cur = visible_epoch_.load(std::memory_order_acquire);
  while (cur < epoch &&
         !visible_epoch_.compare_exchange_weak(cur, epoch, std::memory_order_acq_rel)) {
  }
}

Status Runtime::Commit(const RuntimeWriteBatch& batch, uint64_t* epoch_out, bool sync) {
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  if (batch.empty()) {
    if (epoch_out != nullptr) *epoch_out = visible_epoch();
    return Status::OK();
  }
  CommitRecordView record;
  record.creates = batch.creates();
  record.drops = batch.drops();
  record.ops.reserve(batch.sections().size());
  for (const auto& [id, ops] : batch.sections()) record.ops.push_back(CommitOps{id, ops});
  // Every limit is checked before any state changes: a caller error is InvalidArgument with
  // nothing changed, never an assertion and never a poisoned store.
  COWTREE_RETURN_IF_ERROR(ValidateCommitRecord(record));
  // Per-thread scratch reused across commits (EncodeCommitRecord clears it; see the frame
  // scratch in LogWriter::Append for why); capacity above 16 MiB is released after use.
  thread_local std::string payload;
  struct ScratchTrim {
    ~ScratchTrim() {
      if (payload.capacity() > (size_t{16} << 20)) std::string().swap(payload);
    }
  } trim;
  EncodeCommitRecord(record, &payload);

  LogPosition end;
  LogPosition synced_commit_before;  // sync_commit_end_ as this commit found it
  uint64_t epoch = 0;
  std::vector<std::shared_ptr<HostedTree>> written;  // trees this commit applied ops to
  const bool sync_in_lax_mode = sync && options_.durability != Durability::kStrict;
  {
    MutexLock w(&write_mu_);
    COWTREE_RETURN_IF_ERROR(CheckWritable());
    epoch = applied_epoch_ + 1;
    PreparedCommit prepared;
    Status st = ApplyCommit(record, epoch, &prepared);
    if (!st.ok()) {
      UndoCommit(&prepared);
      return st;
    }
    auto appended = log_->Append(LogRecordType::kCommit, epoch, payload);
    if (!appended.ok()) {
      UndoCommit(&prepared);
      Poison(appended.status());
      return appended.status();
    }
    end = *appended;
    synced_commit_before = sync_commit_end_;
    if (sync_in_lax_mode) sync_commit_end_ = end;
    PublishCommit(&prepared, epoch);
    written = std::move(prepared.applied);
    applied_epoch_ = epoch;
    auto& range = log_file_epochs_[end.file_number];
    if (range.first == 0) range.first = epoch;
    range.second = epoch;
  }
  log_bytes_since_checkpoint_.fetch_add(payload.size() + 32, std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);

  Status durable;
  switch (sync ? Durability::kStrict : options_.durability) {
    case Durability::kStrict:
      durable = log_->Sync(end);
      break;
    case Durability::kBalanced:
      durable = log_->Flush(end);
      break;
    case Durability::kEventual:
      break;
  }
  // A synced commit before this one may still wait for its fdatasync: making this commit
  // visible would make that one visible too, so wait for it (it returns at once if the log is
  // synced past it already). In kStrict every commit syncs past it anyway.
  if (durable.ok() && !sync && options_.durability != Durability::kStrict &&
      synced_commit_before != LogPosition{}) {
    durable = log_->Sync(synced_commit_before);
  }
  if (!durable.ok()) {
    Poison(durable);
    return durable;
  }
  if (sync_in_lax_mode) {
    MutexLock w(&write_mu_);
    if (sync_commit_end_ == end) sync_commit_end_ = LogPosition{};  // synced: nothing to wait for
  }
  AdvanceVisible(epoch);
  // Only the first commit after a background sync reads the clock.
  if (!sync && options_.durability != Durability::kStrict &&
      oldest_unsynced_ack_us_.load(std::memory_order_relaxed) == 0) {
    uint64_t none = 0;
    oldest_unsynced_ack_us_.compare_exchange_strong(none, env_->NowMicros(),
                                                    std::memory_order_acq_rel);
  }
  if (epoch_out != nullptr) *epoch_out = epoch;
  // The version before this commit is unreachable now unless a snapshot pins it: drop it, so
  // that its superseded leaves are freed now rather than at the tree's next commit.
  for (const auto& tree : written) tree->ReleaseOldVersions();
  written.clear();
  if (budget_->DirtyOverStallLimit()) {
    // Write stall: dirty leaves outgrew what the coordinator's checkpoints keep up with, or
    // what eviction cannot free (fixed, node and dirty bytes) left no room for the next
    // commit (MemoryBudget::DirtyOverStallLimit). A failure poisons the runtime (or, for
    // NoSpace, leaves it writable); this commit is acknowledged either way, later commits
    // report the poison.
    (void)StallCheckpoint();
  }
  const uint64_t checkpoint_log_bytes = EffectiveCheckpointLogBytes(options_);
  const uint64_t log_bytes = log_bytes_since_checkpoint_.load(std::memory_order_relaxed);
  if (checkpoint_log_bytes != 0 && log_bytes >= checkpoint_log_bytes) {
    coordinator_cv_.Signal();
    // Under a budget the redo a reopen would hold is bounded too: a commit past twice the
    // threshold (no coordinator, or one that falls behind) checkpoints itself.
    if (options_.cache_bytes != 0 && log_bytes >= 2 * checkpoint_log_bytes) {
      (void)LogStallCheckpoint();
    }
  }
  return Status::OK();
}

Status Runtime::ReplayCommit(std::string_view payload, uint64_t epoch, LogPosition record_end) {
  COWTREE_ASSIGN_OR_RETURN(CommitRecordView record, DecodeCommitRecord(payload));
  MutexLock w(&write_mu_);
  if (epoch <= applied_epoch_) {
    return Status::Corruption("log: commit epoch " + std::to_string(epoch) +
                              " not above the previous epoch " + std::to_string(applied_epoch_));
  }
  PreparedCommit prepared;
  Status st = ApplyCommit(record, epoch, &prepared);
  if (!st.ok()) {
    UndoCommit(&prepared);
    // Restoring a tree it touches (or reading its catalog entry) failed to read: not damage.
    if (st.IsIOError() || st.IsNoSpace()) return st;
    // A record that was accepted when it was committed must apply again: anything else means
    // the log or the checkpoint is damaged.
    return Status::Corruption("log: replaying commit epoch " + std::to_string(epoch) + ": " +
                              st.ToString());
  }
  PublishCommit(&prepared, epoch);
  for (const CommitCreate& c : record.creates) {
    if (c.tree_id >= next_tree_id_.load()) next_tree_id_.store(c.tree_id + 1);
  }
  applied_epoch_ = epoch;
  replay_redo_end_ = record_end;
  auto& range = log_file_epochs_[record_end.file_number];
  if (range.first == 0) range.first = epoch;
  range.second = epoch;
  visible_epoch_.store(epoch, std::memory_order_release);
  log_bytes_since_checkpoint_.fetch_add(payload.size() + 32, std::memory_order_relaxed);
  return Status::OK();
}

void Runtime::ReleaseOldVersionsOfAllTrees() {
  std::vector<std::shared_ptr<HostedTree>> trees;
  {
    ReaderLock g(&catalog_mu_);
    trees.reserve(trees_.size());
    for (const auto& [id, slot] : trees_) {
      // A tree not restored yet (lazy restore) has no versions to release.
      if (slot->restored.load(std::memory_order_acquire)) trees.push_back(slot->tree);
    }
  }
  for (const auto& tree : trees) tree->ReleaseOldVersions();
}

uint64_t Runtime::EvictClean() {
  ReaderLock g(&catalog_mu_);
  uint64_t released = 0;
  for (const auto& [id, slot] : trees_) {
    if (slot->restored.load(std::memory_order_acquire)) released += slot->tree->EvictClean();
  }
  return released;
}

Status Runtime::SyncLog() {
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  Status st = log_->Sync(log_->end());
  if (!st.ok()) Poison(st);
  return st;
}

RuntimeStats Runtime::GetStats() const {
  RuntimeStats s;
  // A tree demoted between the cold walk and the hot one is in neither: count again.
  while (!CountTrees(&s)) {
  }
  s.visible_epoch = visible_epoch();
  s.checkpoints_written = checkpoints_written_.load();
  s.checkpoint_epoch = published_checkpoint_epoch_.load();
  s.superblock_generation = published_generation_.load();
  s.commits = commits_.load();
  s.log_bytes_since_checkpoint = log_bytes_since_checkpoint_.load();
  s.max_durability_lag_us = max_durability_lag_us_.load();
  s.memory = budget_->stats();
  const ObjectStoreStats store = store_->stats();
  s.live_objects = store.live_objects;
  s.snapshot_objects = store.snapshot_objects;
  s.snapshot_bytes = store.snapshot_bytes;
  s.checkpoint_scratch_bytes = store.delta_buffer_bytes;
  s.catalog_chunks = catalog_chunks_.load(std::memory_order_relaxed);
  s.catalog_root_pages = catalog_root_pages_.load(std::memory_order_relaxed);
  s.trees_restored = trees_restored_.load(std::memory_order_relaxed);
  s.trees_created_inline = trees_created_inline_.load(std::memory_order_relaxed);
  s.trees_demoted = trees_demoted_.load(std::memory_order_relaxed);
  s.demotion_sweeps = demotion_sweeps_.load(std::memory_order_relaxed);
  std::vector<std::string> names;
  if (env_->ListDir(dir_, &names).ok()) {
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      auto size = env_->FileSize(JoinPath(dir_, n));
      if (size.ok()) s.file_bytes.emplace_back(n, *size);
    }
  }
  return s;
}

bool Runtime::CountTrees(RuntimeStats* stats) const {
  RuntimeStats& s = *stats;
  s.tree_count = s.entry_count = s.leaf_count = s.hot_tree_count = 0;
  const uint64_t passes = DemotionPasses();
  auto* env = const_cast<Runtime*>(this);  // TreeEnvironment for PersistedCounts
  // Cold trees: counted from their catalog entries (inline bytes, or at most a descriptor read),
  // without promoting or restoring them. A state that cannot be read counts 0 here (the tree's
  // first access reports the error).
  Result<std::vector<TreeId>> cold = ForEachColdTree([&](const CatalogEntryView& e) {
    ++s.tree_count;
    auto type = types_.find(e.type_id);
    if (type == types_.end()) return;
    PersistedTreeRef ref{e.descriptor, std::string(e.inline_body)};
    Result<TreeCounts> counts = type->second->PersistedCounts(e.params, ref, env);
    if (counts.ok()) {
      s.entry_count += counts->entry_count;
      s.leaf_count += counts->leaf_count;
    }
  });
  const std::vector<TreeId> cold_ids = cold.ok() ? std::move(cold).value() : std::vector<TreeId>();
  {
    ReaderLock g(&catalog_mu_);
    if (demotion_passes_ != passes) return false;
    s.hot_tree_count = trees_.size();
    for (const auto& [id, slot] : trees_) {
      if (slot->drop_epoch != UINT64_MAX) continue;
      if (std::binary_search(cold_ids.begin(), cold_ids.end(), id)) continue;
      ++s.tree_count;
      if (slot->restored.load(std::memory_order_acquire)) {
        s.entry_count += slot->tree->entry_count();
        s.leaf_count += slot->tree->leaf_count();
        continue;
      }
      // Promoted, not restored: counted from its checkpointed state.
      auto type = types_.find(slot->type_id);
      Result<TreeCounts> counts = type->second->PersistedCounts(slot->params, slot->persisted, env);
      if (counts.ok()) {
        s.entry_count += counts->entry_count;
        s.leaf_count += counts->leaf_count;
      }
    }
  }
  return true;
}

}  // namespace cowtree
