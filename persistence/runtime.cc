// Runtime: commit path, snapshots, catalog lookups, coordinator. The checkpoint protocol is in
// runtime_checkpoint.cc.
#include "persistence/runtime.h"

#include <algorithm>
#include <chrono>

#include "persistence/assert.h"
#include "persistence/commit_record.h"

namespace cowtree {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kStrict:
      return "strict";
    case Durability::kBalanced:
      return "balanced";
    case Durability::kEventual:
      return "eventual";
  }
  return "?";
}

bool ParseDurability(std::string_view name, Durability* out) {
  if (name == "strict")
    *out = Durability::kStrict;
  else if (name == "balanced")
    *out = Durability::kBalanced;
  else if (name == "eventual")
    *out = Durability::kEventual;
  else
    return false;
  return true;
}

TreeId WriteBatch::CreateTree(std::string name, uint8_t type_id, std::string params) {
  CommitCreate c;
  c.tree_id = runtime_->ReserveTreeId();
  c.type_id = type_id;
  c.name = std::move(name);
  c.params = std::move(params);
  creates_.push_back(std::move(c));
  return creates_.back().tree_id;
}

std::string* WriteBatch::MutableOps(TreeId id) {
  auto [it, inserted] = section_index_.try_emplace(id, sections_.size());
  if (inserted) sections_.emplace_back(id, std::string());
  return &sections_[it->second].second;
}

void WriteBatch::Clear() {
  creates_.clear();
  drops_.clear();
  sections_.clear();
  section_index_.clear();
}

// What one commit changed, so that it can be published or undone as a whole.
struct Runtime::PreparedCommit {
  std::vector<std::shared_ptr<TreeSlot>> created;
  std::vector<std::shared_ptr<TreeSlot>> dropped;
  std::vector<HostedTree*> applied;  // trees whose Apply succeeded (undo in reverse)
};

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
      catalog_chunks_(std::move(parts.catalog_chunks)),
      ot_checkpoint_epoch_(parts.ot_checkpoint_epoch),
      ot_delta_start_(parts.ot_delta_start),
      ot_delta_ops_since_checkpoint_(parts.ot_delta_ops_since_checkpoint),
      force_ot_checkpoint_(parts.force_ot_checkpoint) {
  COWTREE_ASSERT(env_ != nullptr && store_ != nullptr);
  for (auto& t : parts.types) {
    const uint8_t id = t->type_id();
    COWTREE_ASSERT(id != 0 && types_.count(id) == 0);
    types_[id] = std::move(t);
  }
  applied_epoch_ = superblock_.checkpoint_epoch;
  visible_epoch_.store(superblock_.checkpoint_epoch, std::memory_order_release);
  next_tree_id_.store(catalog_root_.next_tree_id, std::memory_order_relaxed);
  published_checkpoint_epoch_.store(superblock_.checkpoint_epoch);
  published_generation_.store(superblock_.generation);
}

Runtime::~Runtime() { (void)Close(); }

TreeType* Runtime::FindType(uint8_t type_id) {
  auto it = types_.find(type_id);
  return it == types_.end() ? nullptr : it->second.get();
}

Status Runtime::AddRecoveredTree(const CatalogEntry& entry, std::unique_ptr<HostedTree> tree) {
  auto slot = std::make_shared<TreeSlot>();
  slot->id = entry.tree_id;
  slot->name = entry.name;
  slot->type_id = entry.type_id;
  slot->params = entry.params;
  slot->create_epoch = entry.create_epoch;
  slot->descriptor = entry.descriptor;
  slot->tree = std::move(tree);
  std::unique_lock<std::shared_mutex> g(catalog_mu_);
  if (trees_.count(entry.tree_id) != 0) {
    return Status::Corruption("catalog: tree id " + std::to_string(entry.tree_id) + " twice");
  }
  auto& ids = names_[entry.name];
  if (!ids.empty()) return Status::Corruption("catalog: tree name '" + entry.name + "' twice");
  ids.push_back(entry.tree_id);
  trees_[entry.tree_id] = std::move(slot);
  if (entry.tree_id >= next_tree_id_.load()) next_tree_id_.store(entry.tree_id + 1);
  return Status::OK();
}

void Runtime::AttachLog(std::unique_ptr<LogWriter> log) {
  COWTREE_ASSERT(!started_ && log_ == nullptr && log != nullptr && !options_.read_only);
  log_ = std::move(log);
}

void Runtime::Start() {
  COWTREE_ASSERT(!started_ && log_ != nullptr);
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

std::shared_ptr<Runtime::TreeSlot> Runtime::FindSlot(std::string_view name, uint64_t epoch) const {
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return nullptr;
  for (TreeId id : it->second) {
    auto t = trees_.find(id);
    if (t == trees_.end()) continue;
    const TreeSlot& s = *t->second;
    if (s.create_epoch <= epoch && epoch < s.drop_epoch) return t->second;
  }
  return nullptr;
}

Result<TreeInfo> Runtime::FindTree(std::string_view name, const Snapshot& snapshot) const {
  std::shared_lock<std::shared_mutex> g(catalog_mu_);
  auto slot = FindSlot(name, snapshot.epoch());
  if (slot == nullptr) return Status::NotFound("no tree named '" + std::string(name) + "'");
  return TreeInfo{slot->id,     slot->name,         slot->type_id,
                  slot->params, slot->create_epoch, slot->tree};
}

std::vector<TreeInfo> Runtime::ListTrees(const Snapshot& snapshot) const {
  std::vector<TreeInfo> out;
  std::shared_lock<std::shared_mutex> g(catalog_mu_);
  for (const auto& [id, slot] : trees_) {
    if (slot->create_epoch <= snapshot.epoch() && snapshot.epoch() < slot->drop_epoch) {
      out.push_back(TreeInfo{slot->id, slot->name, slot->type_id, slot->params, slot->create_epoch,
                             slot->tree});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreeInfo& a, const TreeInfo& b) { return a.name < b.name; });
  return out;
}

// Validates and applies `record` at `epoch` to in-memory state. On error nothing is changed
// (trees already applied are undone by the caller through `prepared`).
Status Runtime::ApplyCommit(const CommitRecordView& record, uint64_t epoch,
                            PreparedCommit* prepared) {
  std::unordered_map<TreeId, std::shared_ptr<TreeSlot>> local;  // trees created in this commit
  {
    std::shared_lock<std::shared_mutex> g(catalog_mu_);
    for (const CommitCreate& c : record.creates) {
      TreeType* type = FindType(c.type_id);
      if (type == nullptr) {
        return Status::InvalidArgument("create tree '" + c.name + "': unknown tree type " +
                                       std::to_string(c.type_id));
      }
      COWTREE_RETURN_IF_ERROR(type->ValidateParams(c.params).WithContext("create tree " + c.name));
      if (c.name.empty() || c.name.size() > kTreeNameBytesMax) {
        return Status::InvalidArgument("tree name must have 1..1024 bytes");
      }
      // A live tree of the same name is allowed only if this same commit drops it (atomic
      // replace): at this commit's epoch the old tree is gone and the new one visible.
      auto existing = FindSlot(c.name, UINT64_MAX - 1);
      if ((existing != nullptr && std::find(record.drops.begin(), record.drops.end(),
                                            existing->id) == record.drops.end()) ||
          trees_.count(c.tree_id) != 0) {
        return Status::InvalidArgument("tree '" + c.name + "' already exists");
      }
      for (const auto& [id, s] : local) {
        if (s->name == c.name) return Status::InvalidArgument("tree '" + c.name + "' twice");
      }
      auto slot = std::make_shared<TreeSlot>();
      slot->id = c.tree_id;
      slot->name = c.name;
      slot->type_id = c.type_id;
      slot->params = c.params;
      slot->create_epoch = epoch;
      COWTREE_ASSIGN_OR_RETURN(auto tree, type->Create(c.params, this));
      slot->tree = std::move(tree);
      local[c.tree_id] = slot;
      prepared->created.push_back(slot);
    }
    for (TreeId id : record.drops) {
      auto it = trees_.find(id);
      if (it == trees_.end() || it->second->drop_epoch != UINT64_MAX) {
        return Status::InvalidArgument("drop of unknown tree id " + std::to_string(id));
      }
      prepared->dropped.push_back(it->second);
    }
    for (const CommitOps& s : record.ops) {
      std::shared_ptr<TreeSlot> slot;
      if (auto l = local.find(s.tree_id); l != local.end()) {
        slot = l->second;
      } else if (auto it = trees_.find(s.tree_id);
                 it != trees_.end() && it->second->drop_epoch == UINT64_MAX) {
        slot = it->second;
      } else {
        return Status::InvalidArgument("ops for unknown tree id " + std::to_string(s.tree_id));
      }
      Status st = slot->tree->Apply(s.ops, epoch);
      if (!st.ok()) return st.WithContext("tree '" + slot->name + "'");
      prepared->applied.push_back(slot->tree.get());
    }
  }
  return Status::OK();
}

void Runtime::UndoCommit(PreparedCommit* prepared) {
  for (auto it = prepared->applied.rbegin(); it != prepared->applied.rend(); ++it) {
    (*it)->UndoLastApply();
  }
  prepared->applied.clear();
}

void Runtime::PublishCommit(PreparedCommit* prepared, uint64_t epoch) {
  std::unique_lock<std::shared_mutex> g(catalog_mu_);
  for (auto& slot : prepared->created) {
    names_[slot->name].push_back(slot->id);
    trees_[slot->id] = slot;
    if (slot->id >= next_tree_id_.load()) next_tree_id_.store(slot->id + 1);
  }
  for (auto& slot : prepared->dropped) slot->drop_epoch = epoch;
}

void Runtime::AdvanceVisible(uint64_t epoch) {
  uint64_t cur = visible_epoch_.load(std::memory_order_acquire);
  while (cur < epoch &&
         !visible_epoch_.compare_exchange_weak(cur, epoch, std::memory_order_acq_rel)) {
  }
}

Status Runtime::Commit(const WriteBatch& batch, uint64_t* epoch_out) {
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
  std::string payload;
  EncodeCommitRecord(record, &payload);

  LogPosition end;
  uint64_t epoch = 0;
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
    PublishCommit(&prepared, epoch);
    applied_epoch_ = epoch;
    auto& range = log_file_epochs_[end.file_number];
    if (range.first == 0) range.first = epoch;
    range.second = epoch;
  }
  log_bytes_since_checkpoint_.fetch_add(payload.size() + 32, std::memory_order_relaxed);
  commits_.fetch_add(1, std::memory_order_relaxed);

  Status durable;
  switch (options_.durability) {
    case Durability::kStrict:
      durable = log_->Sync(end);
      break;
    case Durability::kBalanced:
      durable = log_->Flush();
      break;
    case Durability::kEventual:
      break;
  }
  if (!durable.ok()) {
    Poison(durable);
    return durable;
  }
  AdvanceVisible(epoch);
  if (options_.durability != Durability::kStrict) {
    uint64_t none = 0;
    oldest_unsynced_ack_us_.compare_exchange_strong(none, env_->NowMicros(),
                                                    std::memory_order_acq_rel);
  }
  if (epoch_out != nullptr) *epoch_out = epoch;
  if (options_.checkpoint_log_bytes != 0 &&
      log_bytes_since_checkpoint_.load(std::memory_order_relaxed) >=
          options_.checkpoint_log_bytes) {
    coordinator_cv_.notify_one();
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
  auto& range = log_file_epochs_[record_end.file_number];
  if (range.first == 0) range.first = epoch;
  range.second = epoch;
  visible_epoch_.store(epoch, std::memory_order_release);
  log_bytes_since_checkpoint_.fetch_add(payload.size() + 32, std::memory_order_relaxed);
  return Status::OK();
}

uint64_t Runtime::EvictClean() {
  std::shared_lock<std::shared_mutex> g(catalog_mu_);
  uint64_t released = 0;
  for (const auto& [id, slot] : trees_) released += slot->tree->EvictClean();
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

// The background sync (balanced: fdatasync what was written; eventual: write + fdatasync the
// buffer) runs on its own thread, every sync_interval_ms / 2, so that a long checkpoint or a
// slow Close never delays it: the durability bound of docs/recovery.md (an acknowledged commit
// is durable within sync_interval_ms plus one fdatasync) holds whatever else the runtime does.
void Runtime::SyncLoop() {
  using Clock = std::chrono::steady_clock;
  const uint32_t sync_ms = options_.durability == Durability::kEventual ? options_.flush_interval_ms
                                                                        : options_.sync_interval_ms;
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(1, sync_ms / 2));
  auto next = Clock::now() + period;
  std::unique_lock<std::mutex> lk(coordinator_mu_);
  while (!stop_) {
    syncer_cv_.wait_until(lk, next, [this] { return stop_; });
    if (stop_) break;
    next = Clock::now() + period;
    lk.unlock();
    if (!poisoned_.load()) {
      Status st = SyncAcknowledged();
      if (!st.ok()) Poison(st);
    }
    lk.lock();
  }
}

Status Runtime::SyncAcknowledged() {
  const uint64_t since_us = oldest_unsynced_ack_us_.exchange(0, std::memory_order_acq_rel);
  Status st =
      log_->Sync(options_.durability == Durability::kEventual ? log_->end() : log_->written_end());
  if (st.ok() && since_us != 0) {
    const uint64_t lag = env_->NowMicros() - since_us;
    uint64_t cur = max_durability_lag_us_.load(std::memory_order_relaxed);
    while (lag > cur && !max_durability_lag_us_.compare_exchange_weak(cur, lag)) {
    }
  }
  return st;
}

void Runtime::CoordinatorLoop() {
  using Clock = std::chrono::steady_clock;
  auto last_checkpoint = Clock::now();
  const auto poll = std::chrono::milliseconds(std::max<uint32_t>(
      1, std::min<uint32_t>(
             options_.checkpoint_interval_ms == 0 ? 100 : options_.checkpoint_interval_ms, 100)));
  std::unique_lock<std::mutex> lk(coordinator_mu_);
  while (!stop_) {
    coordinator_cv_.wait_for(lk, poll);
    if (stop_) break;
    lk.unlock();
    const auto now = Clock::now();
    const bool by_bytes = options_.checkpoint_log_bytes != 0 &&
                          log_bytes_since_checkpoint_.load() >= options_.checkpoint_log_bytes;
    const bool by_time =
        options_.checkpoint_interval_ms != 0 &&
        now - last_checkpoint >= std::chrono::milliseconds(options_.checkpoint_interval_ms) &&
        log_bytes_since_checkpoint_.load() > 0;
    if ((by_bytes || by_time) && !poisoned_.load()) {
      last_checkpoint = now;
      (void)Checkpoint();  // failures poison the runtime; commits report it
    }
    lk.lock();
  }
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
    std::lock_guard<std::mutex> g(coordinator_mu_);
    stop_ = true;
  }
  coordinator_cv_.notify_all();
  syncer_cv_.notify_all();
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
  lock_.reset();
  MutexLock g(&lifecycle_mu_);
  close_result_ = result;
  close_done_ = true;
  writes_done_cv_.SignalAll();
  return result;
}

RuntimeStats Runtime::GetStats() const {
  RuntimeStats s;
  {
    std::shared_lock<std::shared_mutex> g(catalog_mu_);
    for (const auto& [id, slot] : trees_) {
      if (slot->drop_epoch != UINT64_MAX) continue;
      ++s.tree_count;
      s.entry_count += slot->tree->entry_count();
      s.leaf_count += slot->tree->leaf_count();
    }
  }
  s.visible_epoch = visible_epoch();
  s.checkpoints_written = checkpoints_written_.load();
  s.checkpoint_epoch = published_checkpoint_epoch_.load();
  s.superblock_generation = published_generation_.load();
  s.commits = commits_.load();
  s.log_bytes_since_checkpoint = log_bytes_since_checkpoint_.load();
  s.max_durability_lag_us = max_durability_lag_us_.load();
  s.live_objects = store_->stats().live_objects;
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

}  // namespace cowtree
