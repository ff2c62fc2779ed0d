// cowtree public API: Store (open/close a store directory), WriteBatch (one atomic commit) and
// TreeHandle<K> (a typed reference to one tree, for writing).
//
// A store is a directory holding any number of named trees. Each tree has a key type fixed at
// creation (int64_t or double) and maps keys to int64 weights. Writes are collected in a WriteBatch
// and applied atomically by Store::Commit: every tree creation, drop and weight change of the
// batch becomes visible at once, or none does. Reads go through snapshots (cowtree/snapshot.h).
//
// Thread-safety: Store's methods are thread-safe (commits are applied one at a time; concurrent
// kStrict committers share one fdatasync). A WriteBatch is used by one thread at a time.
// TreeHandle is a value (copy it freely, from any thread).
// Lifetime: a WriteBatch must not outlive the Store it came from. Snapshots may (snapshot.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cowtree/options.h"
#include "cowtree/snapshot.h"
#include "cowtree/status.h"
#include "cowtree/types.h"

namespace cowtree {

class Store;
class WriteBatch;
class BulkLoader;

namespace api_internal {
struct StoreState;
struct BatchState;
struct Access;  // the library's own operators (api/internal.h); not for users
}  // namespace api_internal

// A typed reference to one tree of one store, used to write to it through a WriteBatch. It names
// the tree's unique id (never reused: a tree dropped and re-created under the same name is
// another tree), its key type and the Store object it came from. Store::Commit validates it
// against the catalog: a handle of another Store object, of a tree that was dropped (or never
// committed), or whose key type differs from the tree's, makes the whole commit fail with
// InvalidArgument and change nothing. A default-constructed handle is invalid the same way.
template <TreeKey K>
class TreeHandle {
 public:
  TreeHandle() = default;
  const std::string& name() const { return name_; }
  static constexpr KeyType key_type() { return kKeyTypeOf<K>; }

 private:
  friend class Store;
  friend class WriteBatch;
  friend class BulkLoader;
  friend struct ApiTestPeer;  // tests forge handles to check Commit's validation
  friend struct api_internal::Access;
  TreeHandle(uint64_t store_serial, uint64_t tree_id, std::string name)
      : store_serial_(store_serial), tree_id_(tree_id), name_(std::move(name)) {}
  uint64_t store_serial_ = 0;
  uint64_t tree_id_ = 0;
  std::string name_;
};

// The contents of one commit. Cheap to build: nothing is validated or applied before
// Store::Commit, which reports the first problem (a bad name, a bad handle, a weight overflow)
// as InvalidArgument and then changes nothing. A successful Commit clears the batch (ready for
// reuse; its handles stay valid); a failed one leaves it as it was. A moved-from batch is
// empty and records nothing (CreateTree returns an invalid handle); Commit of it is
// InvalidArgument.
class WriteBatch {
 public:
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Creates tree `name` (1..1024 bytes) with key type K in this commit; the handle can be
  // used for Add in this same batch. At Commit: InvalidArgument if a tree of that name exists
  // and is not dropped by this same batch, or if the batch creates the name twice.
  template <TreeKey K>
  TreeHandle<K> CreateTree(std::string name);
  // Drops the tree in this commit. Snapshots taken before the commit keep seeing it.
  // Dropping and creating the same name in one batch is an atomic replace: a snapshot sees
  // either the old tree or the new one, complete, never a missing name.
  template <TreeKey K>
  void DropTree(const TreeHandle<K>& tree);
  // Adds `weight` to the entry `key` of `tree` (K comes from the handle: Add(h, 1, 1) works
  // for a double tree too) (insert, update, or delete when the sum reaches
  // 0). Several Adds of one key in a batch are summed exactly, and that sum must itself fit in
  // int64 before it is added to the stored weight (10, then INT64_MIN and -5 in one batch, is
  // refused though the result would fit: split it over two commits). weight 0 is ignored. At
  // Commit: InvalidArgument if a batch's sum for a key or a resulting weight leaves the int64
  // range or the tree's item count leaves the uint64 range (nothing changed). For double trees
  // -0.0 is +0.0 and every NaN is one key.
  template <TreeKey K>
  void Add(const TreeHandle<K>& tree, std::type_identity_t<K> key, int64_t weight);

  bool empty() const;
  // Forgets everything added; the batch can be reused.
  void Clear();

 private:
  friend struct api_internal::Access;
  friend class Store;
  explicit WriteBatch(std::unique_ptr<api_internal::BatchState> state);
  void AddCode(uint64_t store_serial, uint64_t tree_id, KeyType type, uint64_t code,
               int64_t weight);
  std::unique_ptr<api_internal::BatchState> state_;
};

// One open store directory. Obtain with Store::Open; one writable Store per directory (across
// processes: the directory is locked; a second writer gets Busy).
class Store {
 public:
  // Opens (recovers) the store in `dir`, creating it if options.create_if_missing.
  // Errors: NotFound (no store and !create_if_missing, or read_only), Busy (locked by another
  // writer, or by readers for a writer), Corruption (names the file and offset; nothing is
  // written), InvalidArgument (a bad option, a path with a NUL byte, or a directory that is
  // not a store), IOError.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const Options& options);
  // Closes the store if Close() was not called (errors are then lost: call Close()).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A new, empty batch for this store.
  WriteBatch NewBatch();
  // Applies `batch` atomically. Returns once the commit is as durable as
  // Options::durability says — or fdatasync'd if write_options.sync. An empty batch commits
  // nothing. Errors: InvalidArgument (bad handle, name, weight overflow, read_only store,
  // closed store: nothing changed), IOError/NoSpace/Poisoned (the store refuses writes until
  // reopened; the commit is not visible and may or may not be durable — a reopen decides).
  // `sequence` (optional, not owned): receives the commit's sequence number — the
  // Snapshot::sequence() of the first snapshot that sees it (an empty batch: the newest one).
  Status Commit(WriteBatch& batch, const WriteOptions& write_options = WriteOptions(),
                uint64_t* sequence = nullptr);

  // A handle to write to the tree `name` as it is now. NotFound if there is none;
  // InvalidArgument if its key type is not K; NotSupported if it is not an order-statistics
  // tree (a tree type this API does not know).
  template <TreeKey K>
  Result<TreeHandle<K>> Tree(const std::string& name);

  // A snapshot of the newest acknowledged commit (reads: cowtree/snapshot.h). O(1).
  Snapshot GetSnapshot();

  // Writes a checkpoint now (the next open replays less). InvalidArgument if read_only.
  Status Checkpoint();
  // ---- Retained checkpoints (docs/retained_checkpoints.md) ----
  // The model is Feldera's Checkpointer: named checkpoints kept until deleted, a keep-last-N
  // policy with an except list, point-in-time reads, an intact check (`cowtree fsck` verifies
  // every retained checkpoint) and backups.
  struct CheckpointInfo {
    std::string name;
    uint64_t sequence = 0;         // Snapshot::sequence() of the state it keeps
    uint64_t created_unix_ms = 0;  // wall clock when retained (informational)
    uint64_t tree_count = 0;       // trees in it
    uint64_t live_bytes = 0;       // bytes of live objects in the store when it was retained
  };
  // Checkpoints now and retains that state under `name` (1..64 bytes of [A-Za-z0-9._-], not
  // starting with '.' or '-'): it survives reopen, and nothing it references is reclaimed until
  // DeleteCheckpoint / KeepLastCheckpoints removes it (the store grows by what later commits
  // supersede meanwhile). `info` (optional) receives its description.
  // Errors: InvalidArgument (bad name, name already retained, read_only, closed), and those
  // of Checkpoint().
  Status Checkpoint(const std::string& name, CheckpointInfo* info = nullptr);
  // The retained checkpoints, oldest first. Works on a read_only store.
  std::vector<CheckpointInfo> ListCheckpoints();
  // Deletes retained checkpoint `name` and reclaims the space only it used (at once, or when
  // the last snapshot of it is released). NotFound if none; InvalidArgument if read_only.
  Status DeleteCheckpoint(const std::string& name);
  // Deletes every retained checkpoint except the newest `keep_last` and those named in
  // `except`, in one durable step; `deleted` (optional) receives the names deleted, oldest
  // first. InvalidArgument if read_only.
  Status KeepLastCheckpoints(size_t keep_last, const std::vector<std::string>& except = {},
                             std::vector<std::string>* deleted = nullptr);
  // A read-only snapshot of retained checkpoint `name` (point in time), usable like
  // GetSnapshot()'s while the store keeps running; sequence() is the checkpoint's. It keeps
  // the checkpoint's data even if the checkpoint is deleted meanwhile and, like GetSnapshot()'s,
  // pins the newest commit while it lives (release it when done). Opening reads the
  // checkpoint's catalog (O(its trees)); each tree is loaded on its first access.
  // Errors: NotFound (no such checkpoint), Corruption / IOError (its catalog cannot be read).
  Result<Snapshot> GetCheckpointSnapshot(const std::string& name);
  // Online backup: writes the state of `snapshot` (a snapshot of this store: GetSnapshot() or
  // GetCheckpointSnapshot()) as a new, independent store in `to_dir`, while this store keeps
  // running. The copy is built in "<to_dir>.partial" and renamed to `to_dir` only once it is
  // complete and durable, so `to_dir` either holds the whole backup or does not exist. Restore
  // = open the backup directory as a store (or back it up again to a new place). The backup
  // has its own store id; sequence numbers start afresh; retained checkpoints are not copied.
  // A "<to_dir>.partial" left by a backup that failed or was killed is emptied first and built
  // again; it is known by the file BACKUP-PARTIAL that a backup writes into its copy as soon as
  // the copy exists (and deletes just before the rename). Nothing else of that name is ever
  // emptied: not a symbolic link (dangling or not; never followed), not a file, not a directory
  // without the marker (a store that happens to have that name, or one a kill left unmarked:
  // docs/retained_checkpoints.md "Backup"; remove it yourself). Emptying deletes the marker
  // first; a backup holds its closed copy's lock through the rename and fails (Busy) if another
  // began emptying it.
  // Errors: InvalidArgument (`to_dir` exists, or appeared while the copy was built, or has a NUL
  // byte; "<to_dir>.partial" is not a backup's unfinished copy, as above, or holds a file that
  // is not a store's; an empty snapshot or one of another store), Busy (another
  // backup is writing "<to_dir>.partial", or took this one's copy over), IOError / NoSpace (writing
  // the copy: `to_dir` is not created; the partial directory is left for inspection until the next
  // backup to `to_dir`), Corruption / IOError reading this store.
  Status Backup(const Snapshot& snapshot, const std::string& to_dir);

  // Makes every commit acknowledged so far durable (fdatasync). InvalidArgument if read_only.
  Status Sync();
  // Stops background work, checkpoints (Options::checkpoint_on_close) and syncs: every commit
  // that returned OK is durable when Close returns OK. Later writes return InvalidArgument;
  // later calls to Close return the first result. Releases the directory lock.
  Status Close();

  const std::string& dir() const;

  // Counters of the redo log since Open (all zero for a read_only store). O(1), thread-safe.
  // commits_per_fdatasync = commits / fdatasyncs measures group commit (docs/log_format.md).
  struct LogStats {
    uint64_t commits = 0;        // commits appended to the log (non-empty batches)
    uint64_t fdatasyncs = 0;     // fdatasyncs of the log (a linked io_uring write+fsync is one)
    uint64_t writes = 0;         // writes handed to the OS (one per group or flush)
    uint64_t sync_requests = 0;  // waits for durability (strict commits, Sync, background)
  };
  LogStats log_stats() const;

  // What Open found: redo-log commits replayed since the last checkpoint.
  struct OpenInfo {
    bool created = false;           // Open created the store
    uint64_t commits_replayed = 0;  // commits re-applied from the redo log
  };
  const OpenInfo& open_info() const;

 private:
  friend struct api_internal::Access;
  explicit Store(std::shared_ptr<api_internal::StoreState> state);
  std::shared_ptr<api_internal::StoreState> state_;
};

extern template TreeHandle<int64_t> WriteBatch::CreateTree<int64_t>(std::string);
extern template TreeHandle<double> WriteBatch::CreateTree<double>(std::string);
extern template void WriteBatch::DropTree<int64_t>(const TreeHandle<int64_t>&);
extern template void WriteBatch::DropTree<double>(const TreeHandle<double>&);
extern template void WriteBatch::Add<int64_t>(const TreeHandle<int64_t>&, int64_t, int64_t);
extern template void WriteBatch::Add<double>(const TreeHandle<double>&, double, int64_t);
extern template Result<TreeHandle<int64_t>> Store::Tree<int64_t>(const std::string&);
extern template Result<TreeHandle<double>> Store::Tree<double>(const std::string&);

}  // namespace cowtree
