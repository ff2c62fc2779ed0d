// Retained (named) checkpoints (docs/retained_checkpoints.md; the model is Feldera's
// Checkpointer: a catalog of checkpoints with name, epoch, size and creation time, keep-last-N
// GC with an except list, an intact check — fsck — and point-in-time reads).
//
// A retained checkpoint is an entry of the manifest: the checkpoint epoch C and the catalog root
// of the published state at C. Every object that state references — born at or before C,
// retired after C or not at all — stays in the object table and keeps its slot while the entry
// exists (RetainedEpochs::Sees; ObjectStore::Reclaim, WriteOtCheckpoint and recovery honour it).
// Retaining and deleting write a new manifest generation and then a superblock naming it: the
// superblock is the commit point, as for every checkpoint. Objects are reclaimed only after the
// superblock that no longer lists their checkpoint is durable, so no durable state can name a
// slot that was reused.
#include <algorithm>
#include <chrono>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {
namespace {

const ManifestRetainedCheckpoint* FindRetained(const std::vector<ManifestRetainedCheckpoint>& list,
                                               std::string_view name) {
  for (const ManifestRetainedCheckpoint& c : list) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

uint64_t UnixMillisNow() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void Runtime::ReclaimUnreferenced() {
  // The pinned epochs below the visible one, then the visible one, read together: a pin made
  // after this is of an epoch >= that visible one, whose versions reference no object retired
  // at or before it.
  std::vector<uint64_t> pinned = pins_->ReadableEpochs(visible_epoch_);
  const uint64_t visible = pinned.back();
  pinned.pop_back();
  uint64_t safe = visible;
  if (!pinned.empty() && pinned.front() == 0) {
    // A ColdReadHold reads the current catalog, whatever checkpoint wrote it: keep every retired
    // object (and the pinned epochs, whose intervals then need no update).
    safe = 0;
    pinned.erase(pinned.begin());
  }
  std::vector<SnapshotIntervals::Interval> intervals =
      SnapshotIntervals::Build(pinned, published_checkpoint_epochs_);
  if (intervals != snapshot_intervals_.intervals()) {
    snapshot_intervals_ =
        SnapshotIntervals(std::move(intervals), snapshot_intervals_.version() + 1);
  }
  store_->Reclaim(safe, retained_epochs_->Current(), snapshot_intervals_);
  // Keep the checkpoint epochs a pinned epoch may map to: from C(oldest pin) on, and always the
  // newest (a later pin's C is it or a later one).
  const uint64_t oldest = pinned.empty() ? visible : pinned.front();
  auto keep = std::lower_bound(published_checkpoint_epochs_.begin(),
                               published_checkpoint_epochs_.end(), oldest);
  if (keep == published_checkpoint_epochs_.end()) --keep;
  published_checkpoint_epochs_.erase(published_checkpoint_epochs_.begin(), keep);
}

Status Runtime::PublishRetainedList(std::vector<ManifestRetainedCheckpoint> retained) {
  Manifest m = manifest_;
  m.generation = manifest_.generation + 1;
  m.retained_checkpoints = std::move(retained);
  if (Status st = WriteManifest(env_, dir_, m); !st.ok()) {
    if (!st.IsNoSpace()) Poison(st);
    return st.WithContext("publishing the retained checkpoint list");
  }
  SuperblockData next = superblock_;
  next.generation = superblock_.generation + 1;
  next.manifest_generation = m.generation;
  if (Status st = WriteSuperblock(env_, dir_, next); !st.ok()) {
    Poison(st);  // the superblock may or may not have landed: reopen decides
    return st.WithContext("publishing the retained checkpoint list");
  }
  superblock_ = next;
  manifest_ = std::move(m);
  published_generation_.store(next.generation);
  DeleteObsoleteFiles(superblock_.log_replay_file_number);  // the previous manifest
  return Status::OK();
}

Status Runtime::RetainCheckpoint(std::string_view name, ManifestRetainedCheckpoint* out) {
  if (std::string bad = CheckCheckpointName(name); !bad.empty()) {
    return Status::InvalidArgument(bad);
  }
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  MutexLock ck(&checkpoint_mu_);
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  if (FindRetained(manifest_.retained_checkpoints, name) != nullptr) {
    return Status::InvalidArgument("a checkpoint named '" + std::string(name) +
                                   "' is already retained (delete it first)");
  }
  bool recoverable = false;
  if (Status st = CheckpointLocked(&recoverable); !st.ok()) {
    if (!recoverable) Poison(st);
    return st;
  }
  ManifestRetainedCheckpoint c;
  c.name = std::string(name);
  c.epoch = superblock_.checkpoint_epoch;
  c.catalog_root = superblock_.catalog_root;
  c.superblock_generation = superblock_.generation + 1;  // the one PublishRetainedList writes
  c.created_unix_ms = UnixMillisNow();
  c.tree_count = catalog_root_.tree_count;
  for (const SizeClassStats& k : store_->stats().allocator.classes) {
    c.live_bytes += k.used_slots * k.size_class_bytes;
  }
  // The published state is exactly what C names: nothing committed after the freeze is in it.
  COWTREE_ASSERT(c.catalog_root == catalog_root_id_.raw());
  COWTREE_ASSERT(manifest_.retained_checkpoints.empty() ||
                 manifest_.retained_checkpoints.back().epoch <= c.epoch);
  std::vector<ManifestRetainedCheckpoint> list = manifest_.retained_checkpoints;
  list.push_back(c);
  COWTREE_RETURN_IF_ERROR(PublishRetainedList(std::move(list)));
  // Registered before checkpoint_mu_ is released: no later checkpoint can reclaim its objects.
  retained_epochs_->Add(c.epoch);
  if (out != nullptr) *out = c;
  return Status::OK();
}

Status Runtime::TrimRetainedCheckpoints(size_t keep_last, const std::vector<std::string>& except,
                                        std::vector<std::string>* deleted) {
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  MutexLock ck(&checkpoint_mu_);
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  const std::vector<ManifestRetainedCheckpoint>& all = manifest_.retained_checkpoints;
  std::vector<ManifestRetainedCheckpoint> keep, drop;
  for (size_t i = 0; i < all.size(); ++i) {
    const bool newest = all.size() - i <= keep_last;
    const bool excepted = std::find(except.begin(), except.end(), all[i].name) != except.end();
    (newest || excepted ? keep : drop).push_back(all[i]);
  }
  if (deleted != nullptr) deleted->clear();
  if (drop.empty()) return Status::OK();
  COWTREE_RETURN_IF_ERROR(PublishRetainedList(std::move(keep)));
  for (const ManifestRetainedCheckpoint& c : drop) {
    retained_epochs_->Remove(c.epoch);
    if (deleted != nullptr) deleted->push_back(c.name);
  }
  ReclaimUnreferenced();  // the deletion is durable: its objects' slots may be reused
  return Status::OK();
}

Status Runtime::DeleteRetainedCheckpoint(std::string_view name) {
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  MutexLock ck(&checkpoint_mu_);
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  const ManifestRetainedCheckpoint* found = FindRetained(manifest_.retained_checkpoints, name);
  if (found == nullptr) {
    return Status::NotFound("no retained checkpoint named '" + std::string(name) + "'");
  }
  const uint64_t epoch = found->epoch;
  std::vector<ManifestRetainedCheckpoint> list;
  for (const ManifestRetainedCheckpoint& c : manifest_.retained_checkpoints) {
    if (c.name != name) list.push_back(c);
  }
  COWTREE_RETURN_IF_ERROR(PublishRetainedList(std::move(list)));
  retained_epochs_->Remove(epoch);
  ReclaimUnreferenced();  // the deletion is durable: its objects' slots may be reused
  return Status::OK();
}

std::vector<ManifestRetainedCheckpoint> Runtime::ListRetainedCheckpoints() {
  MutexLock ck(&checkpoint_mu_);
  return manifest_.retained_checkpoints;
}

Result<Runtime::RetainedCheckpointPin> Runtime::PinRetainedCheckpoint(std::string_view name) {
  MutexLock ck(&checkpoint_mu_);  // a deletion cannot slip between the lookup and the pin
  const ManifestRetainedCheckpoint* found = FindRetained(manifest_.retained_checkpoints, name);
  if (found == nullptr) {
    return Status::NotFound("no retained checkpoint named '" + std::string(name) + "'");
  }
  return RetainedCheckpointPin{*found, RetainedEpochPin(retained_epochs_, found->epoch)};
}

Result<std::unique_ptr<HostedTree>> Runtime::LoadTreeAt(uint8_t type_id, std::string_view params,
                                                        const PersistedTreeRef& persisted,
                                                        uint64_t checkpoint_epoch) {
  TreeType* type = FindType(type_id);
  if (type == nullptr) {
    return Status::Corruption("retained catalog: unknown tree type " + std::to_string(type_id));
  }
  return type->Load(params, persisted, checkpoint_epoch, this);
}

}  // namespace cowtree
