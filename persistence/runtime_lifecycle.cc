// Runtime, the lifecycle: construction from recovered parts, AttachLog and Start (recovery),
// the write registration that lets Close wait for writes in flight, poisoning, and Close.
#include <algorithm>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {

Runtime::Runtime(RuntimeParts parts)
    : env_(parts.env),
      dir_(std::move(parts.dir)),
      options_(parts.options),
      lock_(std::move(parts.lock)),
      log_(std::move(parts.log)),
      store_(std::move(parts.store)),
      log_file_epochs_(std::move(parts.log_file_epochs)),
      superblock_(parts.superblock),
      manifest_(std::move(parts.manifest)),
      catalog_root_(parts.catalog_root),
      catalog_root_id_(NodeID::FromRaw(parts.superblock.catalog_root)),
      ot_checkpoint_epoch_(parts.ot_checkpoint_epoch),
      ot_delta_start_(parts.ot_delta_start),
      ot_delta_ops_since_checkpoint_(parts.ot_delta_ops_since_checkpoint),
      force_ot_checkpoint_(parts.force_ot_checkpoint) {
  COWTREE_ASSERT(env_ != nullptr && store_ != nullptr);
  catalog_chunks_.store(parts.catalog_root.chunks.size());
  catalog_root_pages_.store(parts.catalog_root.pages.size());
  budget_ = std::make_shared<MemoryBudget>(options_.cache_bytes, options_.cache_dirty_percent);
  // Dirty leaves past the budget's share: wake the coordinator, which checkpoints them clean.
  budget_->SetDirtyCallback([this] { coordinator_cv_.Signal(); });
  for (auto& t : parts.types) {
    const uint8_t id = t->type_id();
    COWTREE_ASSERT(id != 0 && types_.count(id) == 0);
    types_[id] = std::move(t);
  }
  applied_epoch_ = superblock_.checkpoint_epoch;
  opened_checkpoint_epoch_ = superblock_.checkpoint_epoch;
  visible_epoch_.store(superblock_.checkpoint_epoch, std::memory_order_release);
  next_tree_id_.store(catalog_root_.next_tree_id, std::memory_order_relaxed);
  published_checkpoint_epoch_.store(superblock_.checkpoint_epoch);
  published_checkpoint_epochs_.push_back(superblock_.checkpoint_epoch);
  published_generation_.store(superblock_.generation);
  for (const ManifestRetainedCheckpoint& c : manifest_.retained_checkpoints) {
    retained_epochs_->Add(c.epoch);
  }
  cold_ = std::move(parts.cold_trees);
  published_chunks_ = catalog_root_.chunks;
}

Runtime::~Runtime() { (void)Close(); }

void Runtime::AttachLog(std::unique_ptr<LogWriter> log) {
  COWTREE_ASSERT(!started_ && log_ == nullptr && log != nullptr && !options_.read_only);
  log_ = std::move(log);
}

void Runtime::Start() {
  COWTREE_ASSERT(!started_ && log_ != nullptr);
  {
    MutexLock w(&write_mu_);
    replay_redo_end_.reset();  // checkpoints from now on cover everything the log holds
  }
  started_ = true;
  if (options_.background_thread) {
    coordinator_ = std::thread([this] { CoordinatorLoop(); });
    if (options_.durability != Durability::kStrict) syncer_ = std::thread([this] { SyncLoop(); });
  }
}

Status Runtime::poison_status() const {
  MutexLock g(&poison_mu_);
  return poison_;
}

void Runtime::Poison(const Status& status) {
  COWTREE_ASSERT(!status.ok());
  MutexLock g(&poison_mu_);
  if (poison_.ok()) {
    poison_ =
        status.IsPoisoned()
            ? status
            : Status::Poisoned("runtime refuses writes until reopen after: " + status.ToString());
    poisoned_.store(true, std::memory_order_release);
  }
}

Status Runtime::CheckWritable() const {
  if (options_.read_only) return Status::InvalidArgument("store " + dir_ + " is opened read-only");
  if (closed_.load(std::memory_order_acquire)) return Status::InvalidArgument("runtime is closed");
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  return Status::OK();
}

Status Runtime::BeginWrite() {
  if (options_.read_only) return Status::InvalidArgument("store " + dir_ + " is opened read-only");
  MutexLock g(&lifecycle_mu_);
  if (closing_ || !started_) return Status::InvalidArgument("runtime is closed");
  ++writes_in_flight_;
  return Status::OK();
}

void Runtime::EndWrite() {
  MutexLock g(&lifecycle_mu_);
  COWTREE_ASSERT(writes_in_flight_ > 0);
  if (--writes_in_flight_ == 0 && closing_) writes_done_cv_.SignalAll();
}

Status Runtime::Close() {
  {
    MutexLock g(&lifecycle_mu_);
    if (closing_) {
      while (!close_done_) writes_done_cv_.Wait(&lifecycle_mu_);
      return close_result_;
    }
    closing_ = true;
    closed_.store(true, std::memory_order_release);
    // Wait for every write in flight: a commit that returns OK after this point must be in the
    // log that the final sync below makes durable.
    while (writes_in_flight_ > 0) writes_done_cv_.Wait(&lifecycle_mu_);
  }
  {
    MutexLock g(&coordinator_mu_);
    stop_ = true;
  }
  coordinator_cv_.SignalAll();
  syncer_cv_.SignalAll();
  if (coordinator_.joinable()) coordinator_.join();
  if (syncer_.joinable()) syncer_.join();
  Status result;
  if (started_) {
    if (!poisoned_.load()) {
      // Sync first: every acknowledged commit (eventual mode: still in the buffer) is durable
      // before the checkpoint, whose failure (e.g. NoSpace) must not cost any of them.
      result = SyncAcknowledged();
      if (result.ok() && options_.checkpoint_on_close) result = CheckpointInternal();
      const Status closed = log_->Close();
      if (result.ok()) result = closed;
      if (!result.ok()) Poison(result);
    } else {
      result = poison_status();
    }
  }
  // Reads of what is not in memory end before the lock does: another process may then open the
  // store and reuse the slots (persistence/object_store.h CloseReads).
  if (store_ != nullptr) store_->CloseReads();
  lock_.reset();
  MutexLock g(&lifecycle_mu_);
  close_result_ = result;
  close_done_ = true;
  writes_done_cv_.SignalAll();
  return result;
}

}  // namespace cowtree
