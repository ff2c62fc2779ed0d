// Runtime: one open store directory hosting many named trees (DESIGN.md "Runtime").
//
// A Runtime is created only by recovery::Open() (opening a store *is* recovery); it operates
// on already-recovered state. It offers:
//   - Commit(RuntimeWriteBatch): atomic multi-tree commits with the durability of
//   options.durability;
//     returns the commit's epoch once acknowledged.
//   - GetSnapshot(): pins the newest acknowledged epoch; reads through a snapshot never see a
//     later or partial commit, and never block writers.
//   - Checkpoint(): DESIGN.md's checkpoint protocol (freeze epoch C, write dirty objects, OT
//     deltas or OT checkpoint, manifest, superblock = commit point, reclaim, delete old logs).
//   - Close(): stops the coordinator, checkpoints if checkpoint_on_close, syncs the log.
//
// Errors: every method returns Status/Result. IOError/NoSpace from the file system; a failed
// fdatasync or a failed checkpoint step POISONS the runtime: that call and every later write
// (Commit, Checkpoint) return a Poisoned status carrying the first error, until reopen. Reads
// of in-memory state keep working.
// Thread-safety: all public methods are thread-safe, Close included (it refuses new writes and
// waits for those in flight). Commits are applied one at a time (the writer lock) but wait for
// durability outside it, so concurrent strict committers share one fdatasync. Checkpoints run
// concurrently with commits (they read the frozen epoch-C versions).
//
// Lazy trees: opening reads the catalog once and keeps, per tree, only a 16-byte slot of the
// COLD index (cold_: tree id + name hash; persistence/cold_tree_index.h). A tree's first access
// — FindTree, DescribeTree, a commit that creates its name, writes or drops it — reads its
// entry again from the published catalog chunk that holds it (published_chunks_) and PROMOTES
// it: a TreeSlot (name, params, where its checkpointed state is) in trees_ / names_, removed
// from cold_ in the same critical section. A promoted slot is restored through its
// TreeType::Load on first use (RestoredTree). So the trees are: hot (trees_, every tree created
// since open or promoted) and cold (cold_ = the published catalog's trees not in trees_); a
// name is live in at most one of them. Chunk reads outside catalog_mu_ hold an epoch-0 pin
// (ColdReadHold), so no checkpoint can reclaim the chunk in between: the bytes of a cold tree
// are the same in every chunk that ever lists it. Restores of one tree are serialized by a
// striped mutex (restore_mu_); a slot's `tree` is written once, before its `restored` flag is
// released, and never again, so readers take the lock-free path afterwards. Open time and
// memory do not grow with the trees that are never touched beyond the cold index
// (stats().trees_restored counts restores).
//
// Demotion (runtime_demote.cc): the way back. After each published checkpoint — and, for trees
// that are only read, once options.demotion_pass_promotions trees were promoted since the last
// pass (the coordinator runs that pass under checkpoint_mu_, so no checkpoint is in flight and a
// tree no commit wrote since the last freeze is exactly its published state) — a hot tree that
// was neither found (FindTree) nor written during the whole interval since the previous pass,
// that no commit wrote since the freeze, that keeps one version (no snapshot needs an older
// one) and that is live and listed by the published catalog, is DEMOTED: removed from
// trees_ / names_ and put back in cold_ in one critical section (write_mu_ held, so no commit
// promotes or writes meanwhile). Only while more than options.hot_trees_min trees are hot — or,
// under a limited memory budget, while the budget's fixed and node bytes (never evictable)
// pass half of it: then idle restored trees go however few are hot. Its
// memory goes once the last reader holding its HostedTree lets go; the next access promotes
// it again from the published chunk and restores it at the published checkpoint epoch (its
// state is that checkpoint's). A promotion validates the chunk it read against
// catalog_generation_ (bumped whenever published_chunks_ changes or trees are demoted): an
// entry read before a newer checkpoint listed the tree differently is read again, never
// installed. A listing or stats walk that sees a demotion pass (demotion_passes_) retries.
//
// Locks, and their order (a thread holding one only takes those to its right):
//   lifecycle_mu_ (held alone, briefly: write registration and Close)
//   checkpoint_mu_ → write_mu_ → catalog_mu_ (shared for readers) → restore_mu_[i] → poison_mu_
//   coordinator_mu_ (held alone: the background threads' wake-ups)
// (restore_mu_[i]: one stripe at a time; the object store's own locks come after it. The cold
// trees add no lock: promotion takes catalog_mu_ exclusive on its own, never while holding it
// shared; the epoch registry's mutex is internal to each of its calls.)
// LogWriter's internal mutex is a leaf below all of these (Commit appends under write_mu_; the
// strict commit's wait for durability, LogWriter::Sync, runs with no runtime lock held, so the
// next group of commits applies and appends while the previous group's fdatasync runs).
// Every member a lock guards is annotated (clang -Wthread-safety checks it in CI).
//
// Files: runtime.cc (the commit path, read top down), runtime_catalog.cc (trees by name and
// epoch; the catalog half of a commit), runtime_checkpoint.cc (the checkpoint protocol),
// runtime_lifecycle.cc (construction, Start, write registration, poisoning, Close),
// runtime_coordinator.cc (the syncer and coordinator threads), compaction.cc (Compact),
// write_batch.cc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/cold_tree_index.h"
#include "persistence/compaction.h"
#include "persistence/env.h"
#include "persistence/epoch_registry.h"
#include "persistence/hosted_tree.h"
#include "persistence/log_writer.h"
#include "persistence/manifest.h"
#include "persistence/memory_budget.h"
#include "persistence/object_store.h"
#include "persistence/retained_epochs.h"
#include "persistence/runtime_options.h"
#include "persistence/superblock.h"
#include "persistence/thread_annotations.h"
#include "persistence/write_batch.h"

namespace cowtree {

// A pinned read epoch. Movable, not copyable; unpins on destruction. Reading trees through a
// snapshot requires its Runtime to be open; destroying a snapshot after its Runtime is safe
// (the registry is shared), reading through it is not.
class RuntimeSnapshot {
 public:
  RuntimeSnapshot() = default;
  RuntimeSnapshot(std::shared_ptr<EpochRegistry> registry, uint64_t epoch)
      : registry_(std::move(registry)), epoch_(epoch) {}
  RuntimeSnapshot(RuntimeSnapshot&& o) noexcept
      : registry_(std::move(o.registry_)), epoch_(o.epoch_) {
    o.registry_ = nullptr;
  }
  RuntimeSnapshot& operator=(RuntimeSnapshot&& o) noexcept {
    if (this != &o) {
      Release();
      registry_ = std::move(o.registry_);
      epoch_ = o.epoch_;
      o.registry_ = nullptr;
    }
    return *this;
  }
  RuntimeSnapshot(const RuntimeSnapshot&) = delete;
  RuntimeSnapshot& operator=(const RuntimeSnapshot&) = delete;
  ~RuntimeSnapshot() { Release(); }
  uint64_t epoch() const { return epoch_; }
  bool valid() const { return registry_ != nullptr; }

 private:
  void Release() {
    if (registry_ != nullptr) registry_->Unpin(epoch_);
    registry_ = nullptr;
  }
  std::shared_ptr<EpochRegistry> registry_;
  uint64_t epoch_ = 0;
};

struct TreeInfo {
  TreeId id = 0;
  std::string name;
  uint8_t type_id = 0;
  std::string params;
  uint64_t create_epoch = 0;
  // FindTree: the tree, restored if this was its first access; keeps it alive while the caller
  // reads it. ListTrees: null (listing restores nothing; call FindTree for the trees you read).
  std::shared_ptr<HostedTree> tree;
};

struct RuntimeStats {
  uint64_t tree_count = 0;
  uint64_t entry_count = 0;
  uint64_t leaf_count = 0;
  uint64_t visible_epoch = 0;
  uint64_t checkpoint_epoch = 0;
  uint64_t superblock_generation = 0;
  uint64_t checkpoints_written = 0;
  uint64_t commits = 0;
  uint64_t live_objects = 0;
  // Of live_objects: retired objects kept only because a pinned snapshot can read them
  // (persistence/snapshot_intervals.h), and their slot bytes. Freed by the first checkpoint
  // after the snapshot is released.
  uint64_t snapshot_objects = 0;
  uint64_t snapshot_bytes = 0;
  // Heap bytes the checkpoint keeps from one checkpoint to the next: the object store's
  // OT-delta buffer (ObjectStoreStats::delta_buffer_bytes). Part of the RSS constant
  // (docs/memory_budget.md), not of any tree.
  uint64_t checkpoint_scratch_bytes = 0;
  // The published catalog (docs/catalog.md): its chunks, and its root pages (0: the root lists
  // the chunks itself; > 0: a two-level root).
  uint64_t catalog_chunks = 0;
  uint64_t catalog_root_pages = 0;
  // Trees restored (TreeType::Load) since open: open restores none; first accesses do.
  uint64_t trees_restored = 0;
  // Trees created since open straight into their inline form (TreeType::InlineBodyOfNewTree:
  // no tree built in memory until first accessed); a first access counts in trees_restored.
  uint64_t trees_created_inline = 0;
  // Trees demoted (dropped from memory, back in the cold index) since open, and trees in
  // memory now (hot: created since open or promoted, and not demoted).
  uint64_t trees_demoted = 0;
  uint64_t hot_tree_count = 0;
  // Demotion passes run since open (after checkpoints, and by demotion_pass_promotions).
  uint64_t demotion_sweeps = 0;
  uint64_t log_bytes_since_checkpoint = 0;
  // Tree memory as the budget counts it (docs/memory_budget.md); budget 0 = unlimited.
  MemoryBudgetStats memory;
  // Balanced / eventual: the longest time, in microseconds, from an acknowledged commit to the
  // end of the fdatasync that made it durable (the power-loss window docs/recovery.md bounds by
  // sync_interval_ms plus one fdatasync); 0 in strict mode, where commits are synced first.
  uint64_t max_durability_lag_us = 0;
  std::vector<std::pair<std::string, uint64_t>> file_bytes;  // every file in the store dir
};

// Everything recovery::Open hands to a new Runtime.
struct RuntimeParts {
  Env* env = nullptr;
  std::string dir;
  RuntimeOptions options;
  std::unique_ptr<FileLock> lock;
  std::unique_ptr<LogWriter> log;
  std::unique_ptr<ObjectStore> store;
  std::vector<std::unique_ptr<TreeType>> types;
  SuperblockData superblock;  // the copy recovery used
  Manifest manifest;          // the manifest it names
  CatalogRoot catalog_root;   // as of the checkpoint (empty if none)
  ColdTreeIndex cold_trees;   // every tree of catalog_root (recovery::Open builds it)
  uint64_t ot_checkpoint_epoch = 0;
  std::optional<LogPosition> ot_delta_start;  // first OT delta record after the OT checkpoint
  uint64_t ot_delta_ops_since_checkpoint = 0;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> log_file_epochs;  // number -> first, last
  // Recovery found OT-delta records of a checkpoint whose superblock never landed. They stay
  // in the log; the next checkpoint must write a full OT checkpoint so that the replay start
  // moves past them before any later superblock could make their epoch look published.
  bool force_ot_checkpoint = false;
};

namespace recovery {
class RuntimeBuilder;  // recovery/open.cc: the only caller of the recovery hooks below
}  // namespace recovery

class Runtime final : public TreeEnvironment {
 public:
  ~Runtime() override;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // ---- Public API ----
  // Commits the batch atomically; *epoch_out (optional) receives its epoch. An empty batch
  // commits nothing and returns the visible epoch. InvalidArgument (unknown tree, duplicate
  // name, bad ops) changes nothing. sync: fdatasync the log up to this commit before it becomes
  // visible, whatever options.durability (what kStrict does for every commit; the public
  // WriteOptions::sync) — so a commit whose fdatasync fails is never visible (IOError, the
  // runtime poisoned) instead of visible and then reported failed.
  Status Commit(const RuntimeWriteBatch& batch, uint64_t* epoch_out = nullptr, bool sync = false);
  RuntimeSnapshot GetSnapshot() {
    return RuntimeSnapshot(pins_, pins_->PinCurrent(visible_epoch_));
  }
  // The tree named `name` as visible at `snapshot`, restored if not yet (its first access);
  // NotFound if none; IOError / Corruption if its checkpointed state cannot be read.
  Result<TreeInfo> FindTree(std::string_view name, const RuntimeSnapshot& snapshot) const;
  // All trees visible at `snapshot`, sorted by name; TreeInfo::tree is null (nothing restored
  // or promoted). Reads the catalog chunks of the cold trees (O(catalog bytes)); if one cannot
  // be read now (IOError / Corruption after open), its cold trees are missing from the list
  // (their first access reports the error).
  std::vector<TreeInfo> ListTrees(const RuntimeSnapshot& snapshot) const;
  // The same, reporting a catalog chunk that cannot be read (IOError / Corruption; *out then
  // holds every tree that could be listed): use it wherever a missing tree matters.
  Status ListTrees(const RuntimeSnapshot& snapshot, std::vector<TreeInfo>* out) const;
  // The tree with id `id` if it is visible at `snapshot` (its catalog fields; tree null:
  // nothing restored). O(log trees).
  std::optional<TreeInfo> DescribeTree(TreeId id, const RuntimeSnapshot& snapshot) const;
  // Promotes every cold tree whose name is in `names` (duplicates and names of hot or unknown
  // trees are fine: nothing to do for them), reading each catalog chunk that holds one of them
  // once: the first accesses (FindTree) of many cold trees then cost a chunk read per chunk,
  // not per tree. Call it before looking many names up (PercentileOperator::Step does). A
  // no-op without a chunk read when no cold tree's name hash matches (e.g. no cold trees).
  // Errors: IOError / Corruption reading or decoding a chunk (Corruption names the chunk);
  // trees promoted before the error stay hot (as after the same FindTree calls).
  // Thread-safety: as FindTree (catalog_mu_ shared to look up, exclusive per promotion; chunk
  // reads under neither, pinned by a ColdReadHold).
  Status PromoteColdByNames(const std::vector<std::string_view>& names) const
      COWTREE_EXCLUDES(catalog_mu_);
  // A demotion pass without a checkpoint ("Demotion" above), if options.demotion_pass_promotions
  // (not 0) trees were promoted since the last pass, or, under a limited budget whose fixed and
  // node bytes pass half of it (BudgetPinnedExcessBytes), kBudgetDemotionPassPromotions trees
  // (a read of a few thousand small trees under a small budget otherwise kept them all: restored
  // inline trees hold their leaf, which eviction cannot drop): under checkpoint_mu_ (no checkpoint
  // in flight, so a tree no commit wrote since the last freeze is exactly its published state),
  // releases the versions no snapshot needs and demotes idle trees. wait: true (the
  // coordinator) waits for a checkpoint in flight; false (a reader visiting many trees, e.g.
  // PercentileOperator::Answers between slices) skips the pass then (that checkpoint ends with
  // a pass). Holds commits for the walk of the hot trees. Thread-safety: any thread holding no
  // runtime lock.
  void DemoteIfManyPromoted(bool wait) COWTREE_EXCLUDES(checkpoint_mu_, write_mu_, catalog_mu_);
  static constexpr uint64_t kBudgetDemotionPassPromotions = 256;
  Status Checkpoint() COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // One compaction round (persistence/compaction.h, docs/compaction.md): relocates live objects
  // out of the end of the data files whose dead ratio is >= options.dead_ratio, publishes the
  // new addresses with a checkpoint, frees the old slots once no reader can hold them, and
  // cuts the free end of the files (after a checkpoint whose manifest records the smaller
  // sizes). *report (optional) receives what was done. Errors: a failed relocation (IOError,
  // Corruption of the object read) undoes the round and leaves the runtime writable; a failed
  // checkpoint or fdatasync poisons it as Checkpoint() does; a failed ftruncate leaves the file
  // longer (harmless). InvalidArgument if read-only or closed, or if
  // options.dead_ratio is not in [0, 1) (NaN included). Thread-safe; runs concurrently
  // with commits and readers, serialized with checkpoints.
  Status Compact(const CompactionOptions& options, CompactionReport* report = nullptr)
      COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // ---- Retained checkpoints (runtime_retained.cc, docs/retained_checkpoints.md) ----
  // Checkpoints (as Checkpoint()) and retains the published state under `name`: the manifest
  // lists it and no object it references is reclaimed until it is deleted; it survives
  // reopen. *out (optional) receives its entry. InvalidArgument: a bad name
  // (CheckCheckpointName), a name already retained, read-only or closed. A failure after the
  // checkpoint leaves the store writable (NoSpace) or poisons it (IOError), as Checkpoint().
  Status RetainCheckpoint(std::string_view name, ManifestRetainedCheckpoint* out = nullptr)
      COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // Deletes the retained checkpoint `name` (a new manifest and superblock), then reclaims the
  // objects only it referenced — once no point-in-time view of it is open. NotFound if none.
  Status DeleteRetainedCheckpoint(std::string_view name) COWTREE_EXCLUDES(checkpoint_mu_);
  // Keep-last-N (Feldera's Checkpointer GC): deletes every retained checkpoint except the
  // newest `keep_last` and those named in `except`, in one manifest write. *deleted (optional)
  // receives the names deleted, oldest first.
  Status TrimRetainedCheckpoints(size_t keep_last, const std::vector<std::string>& except,
                                 std::vector<std::string>* deleted = nullptr)
      COWTREE_EXCLUDES(checkpoint_mu_);
  // The retained checkpoints, oldest first (blocks while a checkpoint runs).
  std::vector<ManifestRetainedCheckpoint> ListRetainedCheckpoints()
      COWTREE_EXCLUDES(checkpoint_mu_);
  // A retained checkpoint pinned for reading: its objects stay even if it is deleted meanwhile,
  // until the pin is destroyed (the next checkpoint or deletion then reclaims them).
  struct RetainedCheckpointPin {
    ManifestRetainedCheckpoint checkpoint;
    RetainedEpochPin pin;
  };
  Result<RetainedCheckpointPin> PinRetainedCheckpoint(std::string_view name)
      COWTREE_EXCLUDES(checkpoint_mu_);
  // A tree of a retained checkpoint's catalog, loaded as its type's Load does at that epoch
  // (not part of this runtime's catalog: the caller owns it). The caller must hold a pin of
  // that checkpoint while the tree is read. Corruption for an unknown type id.
  Result<std::unique_ptr<HostedTree>> LoadTreeAt(uint8_t type_id, std::string_view params,
                                                 const PersistedTreeRef& persisted,
                                                 uint64_t checkpoint_epoch);

  // Drops cached leaf data that is clean; returns bytes released.
  uint64_t EvictClean();
  // Flushes and fdatasyncs the log now (any mode).
  Status SyncLog();
  // Close: refuses new writes (Commit/Checkpoint/SyncLog return InvalidArgument "runtime is
  // closed"), waits for the ones in flight to finish, stops the coordinator, checkpoints (if
  // checkpoint_on_close) and syncs the log: every commit that returned OK, in any durability
  // mode, is durable when Close returns OK. Safe from any thread, concurrently with anything;
  // every later call returns the first call's result. Reads of in-memory state keep working.
  Status Close() COWTREE_EXCLUDES(lifecycle_mu_);
  RuntimeStats GetStats() const;
  // Checkpoints written since open (RuntimeStats::checkpoints_written), without the rest of
  // GetStats (no file listing, no tree walk). Thread-safety: any thread.
  uint64_t checkpoints_written() const { return checkpoints_written_.load(); }
  // The redo log's counters (fdatasyncs, writes, Sync requests); zero for a read-only runtime,
  // which has no log. O(1): for benchmarks and monitoring of group commit.
  LogWriterStats GetLogStats() const { return log_ != nullptr ? log_->stats() : LogWriterStats(); }
  uint64_t visible_epoch() const { return visible_epoch_.load(std::memory_order_acquire); }
  // Whether options().checkpoint_dirty_trees distinct trees were created or written since the
  // last checkpoint's freeze (what the coordinator checkpoints for; exact when it turns true,
  // checked as commits add trees). Thread-safe, O(1).
  bool DirtyTreesOverLimit() const { return dirty_trees_over_limit_.load(); }
  const std::string& dir() const { return dir_; }
  const RuntimeOptions& options() const { return options_; }
  Status poison_status() const;

  // ---- TreeEnvironment ----
  ObjectStore* object_store() override { return store_.get(); }
  uint64_t OldestReadableEpoch() const override { return pins_->SafeEpoch(visible_epoch_); }
  std::vector<uint64_t> ReadableEpochs() const override {
    return pins_->ReadableEpochs(visible_epoch_);
  }
  std::shared_ptr<MemoryBudget> memory_budget() const override { return budget_; }

 private:
  // ---- Recovery hooks (recovery::Open only, through recovery::RuntimeBuilder, before Start) ----
  friend class recovery::RuntimeBuilder;
  friend class RuntimeWriteBatch;  // ReserveTreeId
  // Takes the recovered parts (the checkpoint's trees are parts.cold_trees, cold); redo
  // records are applied with ReplayCommit before Start().
  explicit Runtime(RuntimeParts parts);
  TreeType* FindType(uint8_t type_id);
  // Applies a redo record with epoch > checkpoint epoch, as Commit would, without logging.
  Status ReplayCommit(std::string_view payload, uint64_t epoch, LogPosition record_end);
  // Hands over the log writer, opened after recovery verified everything (none for a read-only
  // open). Before Start; also during the replay, before the first CheckpointDuringReplay.
  void AttachLog(std::unique_ptr<LogWriter> log);
  // During the replay under a limited budget (docs/memory_budget.md "Reopen after a crash"):
  // whether the replayed redo's dirty leaves passed the budget's dirty trigger.
  bool ReplayCheckpointDue() const;
  // Checkpoints the replayed prefix (the log attached, not started): a checkpoint as any, at
  // the last replayed epoch, whose redo position is the end of the last replayed record (the
  // log's end lies past the redo still to replay) and which does not rotate the log. Errors as
  // Checkpoint (NoSpace aborts it and leaves the runtime writable; anything else poisons).
  Status CheckpointDuringReplay() COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // Starts the coordinator thread; the runtime is open for writes afterwards. A runtime that was
  // never started (Open failed, or read-only) writes nothing when closed or destroyed.
  void Start();
  // Reserves a tree id (RuntimeWriteBatch::CreateTree).
  TreeId ReserveTreeId() { return next_tree_id_.fetch_add(1, std::memory_order_relaxed); }

  struct TreeSlot {
    TreeId id = 0;
    std::string name;
    uint8_t type_id = 0;
    std::string params;
    uint64_t create_epoch = 0;
    uint64_t drop_epoch = UINT64_MAX;  // catalog_mu_
    // The last published checkpoint's state (descriptor or inline; `published` false if no
    // checkpoint lists the tree yet). Written only by the checkpoint (checkpoint_mu_ and
    // catalog_mu_ exclusive), and only for restored trees (`published` also for trees created
    // inline, whose restore reads created_inline first); read by the restore of an unrestored
    // one (which no checkpoint writes), by GetStats and catalog writes (catalog_mu_).
    PersistedTreeRef persisted;
    bool published = false;
    // Created by a commit straight into its inline form (TreeType::InlineBodyOfNewTree; docs/
    // catalog.md "Trees created inline"): `persisted` holds its state at create_epoch, before
    // any checkpoint lists it, and `tree` is built from it on first access like a restore. Set
    // before the slot is shared, never changed; `persisted` is then not written again until a
    // checkpoint writes the tree after a commit changed it (restored by then).
    bool created_inline = false;
    bool drop_published = false;          // a published checkpoint no longer lists this tree
    TreeSlot* older_same_name = nullptr;  // catalog_mu_: see names_
    // Lazy restore: `tree` is written once (under restore_mu_ of this id, or before the slot is
    // shared) and only then `restored` is set (release); never written again.
    std::atomic<bool> restored{false};
    // Found or written since the last demotion pass (relaxed: a hint for demotion only).
    mutable std::atomic<bool> accessed{true};
    // Sets `accessed`, writing its cache line only when the bit is clear (lookups of a hot
    // tree from many threads then only read it).
    void MarkAccessed() const {
      if (!accessed.load(std::memory_order_relaxed))
        accessed.store(true, std::memory_order_relaxed);
    }
    std::shared_ptr<HostedTree> tree;
    // write_mu_: the freeze generation in which a commit last created or wrote this tree
    // (Runtime::dirty_generation_; 0 = none yet).
    uint64_t dirty_generation = 0;
  };
  // The slot's tree, restoring it on first access (RestoredTree, see the top of this file).
  Result<std::shared_ptr<HostedTree>> RestoredTree(TreeSlot* slot) const
      COWTREE_EXCLUDES(poison_mu_);
  // ---- Cold trees (runtime_cold.cc) ----
  // Keeps every object readable while held (an epoch-0 pin): a catalog chunk read outside
  // catalog_mu_ cannot be reclaimed in between.
  class ColdReadHold {
   public:
    explicit ColdReadHold(EpochRegistry* pins) : pins_(pins) { pins_->Pin(0); }
    ~ColdReadHold() { pins_->Unpin(0); }
    ColdReadHold(const ColdReadHold&) = delete;
    ColdReadHold& operator=(const ColdReadHold&) = delete;

   private:
    EpochRegistry* pins_;
  };
  // The published catalog chunk whose id range holds `id` (null if none).
  const CatalogChunkRef* ChunkOf(TreeId id) const COWTREE_REQUIRES_SHARED(catalog_mu_);
  // The catalog entry of `id` in the published catalog, or nullopt if it lists none. Does not
  // say whether the tree is still cold. IOError / Corruption reading the chunk. *generation
  // (if not null): catalog_generation_ when the chunk was chosen (for PromoteEntry).
  Result<std::optional<CatalogEntry>> ReadPublishedEntry(TreeId id,
                                                         uint64_t* generation = nullptr) const
      COWTREE_EXCLUDES(catalog_mu_);
  // The hot slot of tree `id`, promoting it if it is cold; null if it is neither (unknown, or
  // forgotten) or — when `name` is given — if its name differs.
  Result<std::shared_ptr<TreeSlot>> PromoteCold(TreeId id,
                                                std::optional<std::string_view> name) const
      COWTREE_EXCLUDES(catalog_mu_);
  // The hot slot for a catalog entry read from the chunk chosen at catalog_generation_ ==
  // `generation`: inserted into trees_ / names_ and removed from cold_, unless it is hot
  // already (that slot) or gone from cold_ (null: the entry is stale). *stale is set (and
  // nothing changed) if the generation moved on: the caller reads the entry again.
  Result<std::shared_ptr<TreeSlot>> PromoteEntry(CatalogEntry entry, uint64_t generation,
                                                 bool* stale) const COWTREE_EXCLUDES(catalog_mu_);
  // Promotes the cold tree named `name`, if any (a no-op when none: no chunk read unless a
  // cold tree's name hash matches).
  Status PromoteColdByName(std::string_view name) const COWTREE_EXCLUDES(catalog_mu_);
  // One attempt of it with the name's hash; *stale: the catalog moved on, try again.
  Status PromoteColdByNameOnce(std::string_view name, uint32_t hash, bool* stale) const
      COWTREE_EXCLUDES(catalog_mu_);
  // Promotes every cold tree a commit record names (created names, drops, ops), so that
  // ApplyCommit's checks see them in trees_ / names_ (ApplyCommit calls it first).
  Status PromoteColdTreesOf(const CommitRecordView& record) const COWTREE_EXCLUDES(catalog_mu_);
  // Calls f(entry) for every tree that is cold when its chunk is visited, in id order; returns
  // the ids visited (sorted), so that the caller can skip them among the hot trees it lists
  // afterwards (a tree promoted meanwhile is then seen once).
  Result<std::vector<TreeId>> ForEachColdTree(
      const std::function<void(const CatalogEntryView&)>& f) const COWTREE_EXCLUDES(catalog_mu_);
  // What one commit changed, so that it can be published or undone as a whole.
  struct PreparedCommit {
    std::vector<std::shared_ptr<TreeSlot>> created;
    std::vector<std::shared_ptr<TreeSlot>> dropped;
    std::vector<std::shared_ptr<HostedTree>> applied;  // Apply succeeded (undo in reverse)
    std::vector<TreeId> applied_ids;                   // their ids
    std::vector<TreeSlot*> applied_slots;              // their slots
  };

  Status CheckWritable() const;
  // An operation that writes (Commit, Checkpoint, SyncLog) registers itself for its whole
  // duration, so that Close can wait for it; refused once Close has begun.
  class WriteGuard {
   public:
    explicit WriteGuard(Runtime* rt) : rt_(rt), status_(rt->BeginWrite()) {}
    ~WriteGuard() {
      if (status_.ok()) rt_->EndWrite();
    }
    WriteGuard(const WriteGuard&) = delete;
    WriteGuard& operator=(const WriteGuard&) = delete;
    const Status& status() const { return status_; }

   private:
    Runtime* rt_;
    Status status_;
  };
  Status BeginWrite() COWTREE_EXCLUDES(lifecycle_mu_);
  void EndWrite() COWTREE_EXCLUDES(lifecycle_mu_);
  Status CheckpointInternal() COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // The write stall: waits for a checkpoint in progress (the coordinator's), then checkpoints
  // only if the budget's stall limit (MemoryBudget::DirtyOverStallLimit) still holds. OK when
  // none was needed; otherwise as CheckpointInternal.
  Status StallCheckpoint() COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // The same for the redo under a budget: checkpoints if the log bytes since the last checkpoint
  // still pass twice EffectiveCheckpointLogBytes once checkpoint_mu_ is held.
  Status LogStallCheckpoint() COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  // CheckpointLocked; a failure that is not recoverable poisons the runtime.
  Status CheckpointOrPoisonLocked() COWTREE_REQUIRES(checkpoint_mu_) COWTREE_EXCLUDES(write_mu_);
  void Poison(const Status& status);
  Status ApplyCommit(const CommitRecordView& record, uint64_t epoch, PreparedCommit* prepared)
      COWTREE_REQUIRES(write_mu_);
  Status CreateSlots(const CommitRecordView& record, uint64_t epoch, PreparedCommit* prepared)
      COWTREE_REQUIRES(write_mu_) COWTREE_REQUIRES_SHARED(catalog_mu_);
  Status BuildCreatedTree(TreeSlot* slot, std::string_view ops, PreparedCommit* prepared)
      COWTREE_REQUIRES(write_mu_) COWTREE_REQUIRES_SHARED(catalog_mu_);
  void PublishCommit(PreparedCommit* prepared, uint64_t epoch) COWTREE_REQUIRES(write_mu_);
  void UndoCommit(PreparedCommit* prepared);
  void AdvanceVisible(uint64_t epoch);
  // Sets *recoverable when the failure left nothing behind that needs a reopen. force: publish a
  // new superblock even if nothing was committed since the last one (compaction's relocations
  // and smaller data-file sizes).
  Status CheckpointLocked(bool* recoverable, bool force = false) COWTREE_REQUIRES(checkpoint_mu_)
      COWTREE_EXCLUDES(write_mu_);
  struct CatalogWrite {
    NodeID root_id;
    CatalogRoot root;
  };
  // Writes the catalog of checkpoint C (published into catalog_* only after the superblock):
  // the chunks whose tree-id range holds a tree of `changed` (sorted ids: written, created or
  // dropped) are rebuilt from the live trees at C — `written` gives the new state of the trees
  // this checkpoint wrote, the others keep their slot's — every other chunk is reused.
  Status WriteCatalog(uint64_t checkpoint_epoch, const std::vector<TreeId>& changed,
                      const std::map<TreeId, PersistedTreeRef>& written,
                      std::vector<NodeID>* retired, CatalogWrite* out)
      COWTREE_REQUIRES(checkpoint_mu_);
  // Writes root->chunks as root pages when they do not fit one root object (sets root->pages;
  // clears it otherwise). docs/catalog.md "Catalog root body".
  Status WriteCatalogRootPages(uint64_t checkpoint_epoch, CatalogRoot* root)
      COWTREE_REQUIRES(checkpoint_mu_);
  // The catalog entries of live trees at C with ids in [first, end), in id order, stopping
  // before one chunk's worth is exceeded (1024 entries / kCatalogChunkBodyBytesTarget bytes,
  // at least one entry), for WriteCatalog.
  // `old` are the parsed entries of the range's published chunk: the cold trees among them are
  // copied as they are.
  std::vector<CatalogEntry> NextCatalogChunk(TreeId first, TreeId end, uint64_t checkpoint_epoch,
                                             const std::map<TreeId, PersistedTreeRef>& written,
                                             const std::vector<CatalogEntryView>& old) const
      COWTREE_REQUIRES(checkpoint_mu_);
  // Undoes the in-memory effects of a checkpoint that failed before its superblock with a
  // recoverable error (NoSpace): retirements, objects written. Returns `cause`.
  Status AbortCheckpoint(const Status& cause, const std::vector<NodeID>& retired,
                         const std::vector<OtDeltaOp>& taken, bool deltas_logged)
      COWTREE_REQUIRES(checkpoint_mu_);
  Status WriteManifestIfChanged(uint64_t replay_file_number, uint64_t ot_checkpoint_id,
                                uint64_t ot_checkpoint_epoch) COWTREE_REQUIRES(checkpoint_mu_)
      COWTREE_EXCLUDES(write_mu_);
  void DeleteObsoleteFiles(uint64_t replay_file_number) COWTREE_REQUIRES(checkpoint_mu_)
      COWTREE_EXCLUDES(write_mu_);
  void ForgetDroppedTrees() COWTREE_REQUIRES(checkpoint_mu_);
  // Publishes `retained` as the manifest's retained-checkpoint list: a new manifest generation,
  // then a superblock naming it (same checkpoint). A failure before the superblock changes
  // nothing (NoSpace) or poisons (other errors), as a checkpoint does.
  Status PublishRetainedList(std::vector<ManifestRetainedCheckpoint> retained)
      COWTREE_REQUIRES(checkpoint_mu_) COWTREE_EXCLUDES(write_mu_);
  // Reclaims what no snapshot and no retained checkpoint can see: every object retired at or
  // before the visible epoch outside the pinned snapshots' intervals (SnapshotIntervals), or
  // nothing while an epoch-0 pin (ColdReadHold) is held.
  void ReclaimUnreferenced() COWTREE_REQUIRES(checkpoint_mu_);
  // Compaction (persistence/compaction.cc).
  Status CompactLocked(const CompactionOptions& options, CompactionReport* r)
      COWTREE_EXCLUDES(checkpoint_mu_, write_mu_);
  uint64_t ReclaimRelocatedSlots() COWTREE_REQUIRES(checkpoint_mu_) COWTREE_EXCLUDES(write_mu_);
  Status CompactionCheckpoint(CompactionReport* r) COWTREE_REQUIRES(checkpoint_mu_)
      COWTREE_EXCLUDES(write_mu_);
  // The coordinator's compaction step: token bucket of compaction_bytes_per_sec.
  void MaybeCompact(double elapsed_sec);
  double compaction_tokens_ = 0;                       // coordinator thread only
  uint64_t compaction_idle_checkpoints_ = UINT64_MAX;  // checkpoints_written_ at a no-op round
  double compaction_idle_sec_ = 0;                     // since that round
  void CoordinatorLoop();  // checkpoints by log bytes / interval / dirty share of the budget
  // Calls ReleaseOldVersions on every live tree (after a checkpoint).
  void ReleaseOldVersionsOfAllTrees() COWTREE_EXCLUDES(catalog_mu_);
  // Demotion (see the top of this file), after a published checkpoint.
  void DemoteIdleTrees() COWTREE_REQUIRES(checkpoint_mu_) COWTREE_EXCLUDES(write_mu_, catalog_mu_);
  // Under a limited budget: by how many bytes its fixed and node bytes (what eviction cannot
  // free) pass half of it; 0 otherwise. DemoteIdleTrees demotes idle restored trees until it
  // estimates this freed (kPinnedBytesPerLeafEstimate per leaf), also below hot_trees_min.
  uint64_t BudgetPinnedExcessBytes() const;
  // Whether `promotions` since the last pass make a pass due (DemoteIfManyPromoted).
  bool DemotionPassDue(uint64_t promotions) const;
  // A restored tree's fixed and node bytes per leaf, as DemoteIdleTrees estimates them
  // (tree/order_stat_tree_type.h charges 256 B fixed; nodes add ~45-100 B).
  static constexpr uint64_t kPinnedBytesPerLeafEstimate = 320;
  // Promotions since the last demotion pass (PromoteEntry adds, DemoteIdleTrees resets).
  mutable std::atomic<uint64_t> promotions_since_pass_{0};
  std::atomic<uint64_t> demotion_sweeps_{0};  // passes run (whether they demoted or not)
  bool Demotable(const TreeSlot& slot, const std::vector<TreeId>& dirty) const
      COWTREE_REQUIRES(write_mu_, catalog_mu_);
  std::atomic<uint64_t> trees_demoted_{0};
  void SyncLoop();  // balanced / eventual background sync, on its own thread
  std::shared_ptr<TreeSlot> FindSlot(std::string_view name, uint64_t epoch) const
      COWTREE_REQUIRES_SHARED(catalog_mu_);

  Env* env_;
  std::string dir_;
  RuntimeOptions options_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<LogWriter> log_;
  std::unique_ptr<ObjectStore> store_;
  std::map<uint8_t, std::unique_ptr<TreeType>> types_;
  std::shared_ptr<EpochRegistry> pins_ = std::make_shared<EpochRegistry>();
  // Epochs of the retained checkpoints the published manifest lists, plus open views' pins.
  std::shared_ptr<RetainedEpochRegistry> retained_epochs_ =
      std::make_shared<RetainedEpochRegistry>();
  // Tree memory budget (options_.cache_bytes); declared before trees_ so that it outlives them
  // (the trees also hold a reference).
  std::shared_ptr<MemoryBudget> budget_;

  Mutex write_mu_;  // one commit applies at a time; the checkpoint freeze takes it too
  uint64_t applied_epoch_ COWTREE_GUARDED_BY(write_mu_) = 0;
  // Before Start: the end of the last record ReplayCommit applied (a checkpoint during the
  // replay takes it as its redo position); nullopt once started.
  std::optional<LogPosition> replay_redo_end_ COWTREE_GUARDED_BY(write_mu_);
  // The log end of the latest commit with Commit(..., sync = true) in a kBalanced / kEventual
  // runtime whose fdatasync may not have returned yet ({0, 0}: none). A later commit becomes
  // visible only after the log is synced up to it, so it can never make visible a synced
  // commit whose fdatasync then fails (found in review: a concurrent unsynced commit advanced
  // the visible epoch past it).
  LogPosition sync_commit_end_ COWTREE_GUARDED_BY(write_mu_);
  std::atomic<uint64_t> visible_epoch_{0};
  std::atomic<TreeId> next_tree_id_{1};
  std::atomic<uint64_t> log_bytes_since_checkpoint_{0};
  // Trees created, written or dropped since the last freeze (the next checkpoint's work).
  std::vector<TreeId> dirty_trees_ COWTREE_GUARDED_BY(write_mu_);
  // Distinct trees created or written since the last freeze: a slot counts once per freeze
  // generation (TreeSlot::dirty_generation); dirty_trees_over_limit_ is set once the count
  // reaches options_.checkpoint_dirty_trees (the coordinator's trigger), cleared by the freeze.
  uint64_t dirty_generation_ COWTREE_GUARDED_BY(write_mu_) = 1;
  uint64_t dirty_tree_count_ COWTREE_GUARDED_BY(write_mu_) = 0;
  std::atomic<bool> dirty_trees_over_limit_{false};
  void CountDirtyTree(TreeSlot* slot) COWTREE_REQUIRES(write_mu_);
  // The epoch of the checkpoint the store was opened from (restores stamp their version with
  // the newest published checkpoint's epoch, never below this one).
  uint64_t opened_checkpoint_epoch_ = 0;
  static constexpr size_t kRestoreStripes = 64;
  mutable Mutex restore_mu_[kRestoreStripes];
  mutable std::atomic<uint64_t> trees_restored_{0};
  std::atomic<uint64_t> trees_created_inline_{0};
  std::atomic<uint64_t> commits_{0};
  // When the oldest acknowledged commit not yet covered by a background sync was acknowledged
  // (0 = none); the syncer takes it before each fdatasync and records the lag after it.
  std::atomic<uint64_t> oldest_unsynced_ack_us_{0};
  std::atomic<uint64_t> max_durability_lag_us_{0};
  // Syncs what was acknowledged (balanced: written; eventual: buffered) and records the lag.
  Status SyncAcknowledged();
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> log_file_epochs_
      COWTREE_GUARDED_BY(write_mu_);  // log file number -> first, last commit epoch

  mutable SharedMutex catalog_mu_;  // readers shared (FindTree, ListTrees), commits exclusive
  mutable std::map<TreeId, std::shared_ptr<TreeSlot>> trees_ COWTREE_GUARDED_BY(catalog_mu_);
  // Name → the newest slot of that name; older ones (dropped, still visible to a snapshot) hang
  // off it through TreeSlot::older_same_name. The key views that newest slot's own name (the
  // entry is re-keyed before the slot is forgotten): no copy, one node per name.
  mutable std::unordered_map<std::string_view, TreeSlot*> names_ COWTREE_GUARDED_BY(catalog_mu_);
  // The cold trees (see the top of this file): mutable because a reader's first access
  // promotes (under catalog_mu_ exclusive).
  mutable ColdTreeIndex cold_ COWTREE_GUARDED_BY(catalog_mu_);
  // The published catalog's chunk references (catalog_root_.chunks, for readers): where a cold
  // tree's entry is. Replaced when a checkpoint is published.
  std::vector<CatalogChunkRef> published_chunks_ COWTREE_GUARDED_BY(catalog_mu_);
  // Bumped whenever published_chunks_ changes or a demotion pass moves trees to cold_: a
  // chunk entry read at another generation may be stale (PromoteEntry), and a walk of cold_
  // then trees_ may have missed a tree (ListTrees, GetStats retry).
  uint64_t catalog_generation_ COWTREE_GUARDED_BY(catalog_mu_) = 0;
  // Demotion passes that moved trees to cold_: a walk of cold_ then trees_ (ListTrees,
  // GetStats) that sees it change may have missed a tree, and walks again.
  uint64_t demotion_passes_ COWTREE_GUARDED_BY(catalog_mu_) = 0;
  uint64_t DemotionPasses() const COWTREE_EXCLUDES(catalog_mu_);
  // GetStats' tree, entry and leaf counts; false if a demotion pass ran meanwhile (count again).
  bool CountTrees(RuntimeStats* stats) const COWTREE_EXCLUDES(catalog_mu_);
  // One walk of ListTrees; *complete false: a demotion pass ran since `demotion_passes` was
  // read (the walk may have missed a tree).
  Status ListTreesOnce(const RuntimeSnapshot& snapshot, std::vector<TreeInfo>* out,
                       uint64_t demotion_passes, bool* complete) const
      COWTREE_EXCLUDES(catalog_mu_);

  mutable Mutex poison_mu_;
  Status poison_ COWTREE_GUARDED_BY(poison_mu_);
  std::atomic<bool> poisoned_{false};

  // Checkpoint state: one checkpoint at a time.
  Mutex checkpoint_mu_;
  SuperblockData superblock_ COWTREE_GUARDED_BY(checkpoint_mu_);
  Manifest manifest_ COWTREE_GUARDED_BY(checkpoint_mu_);
  CatalogRoot catalog_root_ COWTREE_GUARDED_BY(checkpoint_mu_);
  // Of catalog_root_, for GetStats without checkpoint_mu_: its chunks and root pages.
  std::atomic<uint64_t> catalog_chunks_{0};
  std::atomic<uint64_t> catalog_root_pages_{0};
  NodeID catalog_root_id_ COWTREE_GUARDED_BY(checkpoint_mu_);
  // Trees whose drop a published checkpoint recorded, forgotten once no snapshot sees them.
  std::vector<std::shared_ptr<TreeSlot>> drops_to_forget_ COWTREE_GUARDED_BY(checkpoint_mu_);
  uint64_t ot_checkpoint_epoch_ COWTREE_GUARDED_BY(checkpoint_mu_) = 0;
  std::optional<LogPosition> ot_delta_start_ COWTREE_GUARDED_BY(checkpoint_mu_);
  uint64_t ot_delta_ops_since_checkpoint_ COWTREE_GUARDED_BY(checkpoint_mu_) = 0;
  bool force_ot_checkpoint_ COWTREE_GUARDED_BY(checkpoint_mu_) = false;
  std::atomic<uint64_t> checkpoints_written_{0};
  std::atomic<uint64_t> published_checkpoint_epoch_{0};  // mirrors superblock_ for readers
  // The checkpoint epochs published since open (the opened one first), ascending, from the
  // first one some pinned snapshot may need on (ReclaimUnreferenced trims the older ones): they
  // map a pinned epoch S to C(S) (persistence/snapshot_intervals.h).
  std::vector<uint64_t> published_checkpoint_epochs_ COWTREE_GUARDED_BY(checkpoint_mu_);
  // The intervals of the last reclamation, with their version (bumped when they change).
  SnapshotIntervals snapshot_intervals_ COWTREE_GUARDED_BY(checkpoint_mu_);
  std::atomic<uint64_t> published_generation_{0};

  // Coordinator thread.
  Mutex coordinator_mu_;
  // Wakes the coordinator (a checkpoint or a demotion pass is due); mutable: a promotion (in a
  // const lookup) signals it.
  mutable CondVar coordinator_cv_;
  CondVar syncer_cv_;       // wakes the syncer (only to stop)
  bool stop_ COWTREE_GUARDED_BY(coordinator_mu_) = false;
  std::thread coordinator_;
  std::thread syncer_;

  // Lifecycle (lock order: see the top of this file).
  mutable Mutex lifecycle_mu_;
  CondVar writes_done_cv_;
  uint64_t writes_in_flight_ COWTREE_GUARDED_BY(lifecycle_mu_) = 0;
  bool closing_ COWTREE_GUARDED_BY(lifecycle_mu_) = false;
  bool close_done_ COWTREE_GUARDED_BY(lifecycle_mu_) = false;
  Status close_result_ COWTREE_GUARDED_BY(lifecycle_mu_);
  std::atomic<bool> closed_{false};  // mirrors closing_ for lock-free checks
  bool started_ = false;             // set by Start(), before any other thread sees the runtime
};

}  // namespace cowtree
