// cowtree public API: BulkLoader — loads many weight changes into a store's trees at the speed
// of sorted commits, whatever order they come in.
//
// Why: a commit of random keys into a tree much larger than itself touches one leaf per key;
// each touched leaf is copied (copy-on-write) and, under a memory budget smaller than the tree,
// read back from disk and written again by the next checkpoint — about one leaf read and one
// leaf write per key (docs/memory_budget.md "Write amplification"). A BulkLoader holds the ops
// in a buffer (8 or 16 bytes each, below), and when the buffer is full (or on Flush) sorts them
// by (tree, key) and commits them in that order, `commit_ops` at a time: each touched leaf is
// then visited once per buffer instead of once per key. This is what `cowtree ingest` does with
// its batches (docs/ingest_batches.md), offered to library users (docs/api.md "Bulk loading").
//
// Contract
// - Add(tree, key, weight) buffers "add `weight` to entry `key` of `tree`", as WriteBatch::Add
//   would (weight 0 is ignored; for double trees -0.0 is +0.0 and every NaN is one key). Nothing
//   is visible to snapshots, or durable, until the flush that commits it returns. When the
//   buffer cannot take one more op, Add first flushes what it holds (or spills it: Spilling
//   below), and returns that flush's error, if any, without buffering the op. The tree must exist
//   when its ops are committed.
// - Flush() commits every buffered op and empties the buffer, also on error. The ops are
//   committed in order of (tree, key) — trees in the order of their first Add since the last
//   flush — as a sequence of commits of `commit_ops` ops each (the last one fewer); the ops of
//   one key are never split over two commits, so a commit may hold more. Each commit is atomic
//   and as durable as `write_options` says (Store::Commit); the flush as a whole is NOT atomic:
//   a crash (or an error) in the middle of a flush leaves the first commits of that order in
//   the store and not the later ones. A caller that needs all-or-nothing uses one WriteBatch
//   (whose memory is not bounded by the budget) instead.
// - Errors of Add (for the op itself) and Flush: InvalidArgument (a handle of another Store
//   object or an invalid handle, at Add; at a commit: a dropped tree, a key type that is not
//   the tree's, a key's summed weight or resulting weight outside int64, a closed store,
//   Add or Flush called from the commit hook — the message says how many of the flush's ops
//   were committed before), the commit hook's own error, and those of Store::Commit (IOError,
//   NoSpace, Poisoned: the store then refuses writes until reopened). Flush's error leaves the
//   ops of the failed commit and of later ones uncommitted and forgotten.
// - Memory: the buffer holds the ops: 8 bytes per op of the
//   flush's first tree with weight 1 (a "compact" op: its key alone), 16 bytes per other op,
//   and 8 bytes more per other op once one of them has a weight other than 1
//   (api/sort_buffer.h), and per tree of the buffer its name's bytes plus ~85 bytes.
//   buffer_bytes is charged to the store's memory budget (Options::cache_bytes) as fixed
//   bytes while the loader lives, so eviction makes room for it. The
//   buffer is full when the next op (and its tree, if new) could pass `buffer_bytes`; an op
//   whose tree's name alone does not fit in an empty buffer is InvalidArgument. The
//   sort is in place (an MSD radix sort): a flush needs no memory beyond the buffer and the
//   commits' batches (commit_ops ops each).
// - Determinism: the order of a flush depends only on the ops added since the previous flush
//   and their order; automatic flushes happen at points that depend only on those ops and on
//   `buffer_bytes` (the buffer's pages are freed after each flush, so what fills it is the ops
//   alone).
// - Exactly-once loading across a crash (what `cowtree ingest --resume` does for the CLI,
//   docs/ingest_batches.md): `commit_hook` is called before each commit of a flush with the
//   batch about to be committed and the flush's progress; the caller adds its own marker ops
//   to that batch (e.g. "input position P, flush ops committed X" in a tree of its own), so the
//   marker lands atomically with the ops. After a crash, the caller reads its marker, adds the
//   same ops again, in the same order, from the flush's start (P), and calls SkipOps(X) first:
//   the next flush (automatic or not) then commits only the ops after the first X of its order.
//   The same `buffer_bytes` and the same choice of `spill_dir` (set or empty) must be used, so
//   that automatic flushes (or spills) fall at the same ops and the order is the same
//   (FlushProgress::order says which order a flush used). An error that drops ops (a failed
//   flush or spill) also cancels a pending SkipOps.
// - Spilling (Options::spill_dir set), for loads much larger than the buffer: a flush commits
//   in key order, so each flush touches most leaves of a tree much larger than the buffer, and
//   N ops through buffers of B ops rewrite about N^2 / (2B) entries. With a spill directory, a
//   full buffer is instead sorted and written there as a run (a temporary file, ~2-7 bytes per
//   op: docs/loader_run.md) and nothing is committed; Flush() merges every run with the
//   buffer (a k-way merge, Knuth TAOCP vol. 3 §5.4.1) and commits the merged order in one
//   pass, so the tree is written once. In spill mode the order of every flush is (tree id,
//   key): trees in the order the store created them. A merge reads at most `fan-in` runs at
//   once: as many read buffers (a block of 1/64 of buffer_bytes, 256 B to 64 KiB, plus up to
//   2 KiB for a tree's name) as fill a quarter of buffer_bytes, at least 2 and at most 256, so
//   that a merge holds at most 256 file descriptors. When fan-in runs of one level exist
//   (spilled buffers are level 0, a merge of level-L runs is level L + 1) they are merged into
//   one, so each op is written about log_fan-in(ops / buffer ops) times; Flush first merges the
//   smallest runs until one merge reads them all. A merge's buffers are charged to the budget
//   while it runs. Runs are deleted by the flush (also on error) and by the destructor (best
//   effort: a run whose deletion fails is deleted by the next loader of the directory), and
//   never fsynced: a crash loses them as it loses the buffer, so what a crash loses is every
//   op since the last Flush() (or flush commit, see Exactly-once). One loader at a time uses a
//   spill directory: Create locks it (Busy if another loader, in this process or another,
//   holds it; the directory of an open store is refused the same way) and
//   deletes the runs (files cowtree-loader-*.run) a crashed loader left there.
//   Disk: every op since the last flush, encoded, and one more copy of the runs a merge reads
//   while it writes. Errors of a spill (the Env's IOError or NoSpace, Corruption of a run
//   read back by a merge, naming the file and offset) are returned by the Add that filled the
//   buffer and drop every op added since the last flush (the message says how many); none of
//   them was committed.
// Thread-safety: one thread at a time per BulkLoader (it is not thread-safe); the Store may be
// used by other threads meanwhile (their commits interleave with the flush's commits).
// Lifetime: must not outlive the Store it came from. The destructor does NOT flush: ops not
// flushed are dropped (call Flush()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cowtree/options.h"
#include "cowtree/status.h"
#include "cowtree/store.h"
#include "cowtree/types.h"

namespace cowtree {

namespace api_internal {
struct LoaderState;
struct LoaderTree;
class OpStream;
}  // namespace api_internal

class BulkLoader {
 public:
  // The order of a flush's ops: trees by their first Add since the last flush (no spill_dir),
  // or by tree id (spill_dir set); keys ascending within a tree either way.
  enum class FlushOrder : uint8_t { kFirstAdd = 1, kTreeId = 2 };
  // Where a flush stands when commit_hook is called (see Exactly-once above).
  struct FlushProgress {
    uint64_t flush_ops = 0;      // ops this flush commits (after SkipOps)
    uint64_t skipped_ops = 0;    // ops of its order skipped (SkipOps)
    uint64_t ops_committed = 0;  // skipped_ops + ops of this flush committed once this commit is
    bool last = false;           // this is the flush's last commit
    // This flush's order. A marker that records it lets a resume refuse to skip ops of the
    // other order (a loader resumed with spill_dir set after a crash without it, or the
    // reverse, would skip the wrong ops).
    FlushOrder order = FlushOrder::kFirstAdd;
  };
  // Called before each commit of a flush (see Exactly-once above). The batch holds the commit's
  // ops; the hook may add ops of its own (other trees, or the same: they are summed). A non-OK
  // result stops the flush before that commit, as a failed commit does. The hook must not call
  // the loader's Add or Flush (they return InvalidArgument); SkipOps from it applies to the
  // next flush.
  using CommitHook = std::function<Status(WriteBatch& batch, const FlushProgress& progress)>;

  struct Options {
    // Bytes the buffered ops may take (see Memory above). 0 = a quarter of the store's
    // Options::cache_bytes when it has a budget (at least 1 MiB), else 64 MiB (8 M ops of one
    // tree without weights). Values under 4 KiB are raised to 4 KiB. Default: 0.
    uint64_t buffer_bytes = 0;
    // Ops per commit of a flush (>= 1). Default: 10 000.
    uint32_t commit_ops = 10000;
    // For every commit of a flush. Default: WriteOptions().
    WriteOptions write_options;
    // See CommitHook. Default: none.
    CommitHook commit_hook;
    // A directory for sorted runs (see Spilling above), created if missing; not the store's
    // directory nor one below it. Empty: a full buffer is flushed (committed). Default: empty.
    std::string spill_dir;
  };

  // A loader that commits to `store` (not owned; must outlive the loader). Reserves address
  // space for the buffer (pages are touched only as ops arrive). Errors: InvalidArgument
  // (commit_ops 0, a read-only store), NoSpace (the address space for buffer_bytes cannot be
  // had); with a spill_dir, InvalidArgument (a NUL byte in it; the store's directory or one
  // below it: nothing created), Busy (another loader holds it, or it is another open store's
  // directory) and the Env's errors creating it or deleting old runs in it.
  static Result<std::unique_ptr<BulkLoader>> Create(Store& store, const Options& options);
  static Result<std::unique_ptr<BulkLoader>> Create(Store& store);  // default Options
  ~BulkLoader();
  BulkLoader(const BulkLoader&) = delete;
  BulkLoader& operator=(const BulkLoader&) = delete;

  // Buffers one op (see Contract). O(1) amortized, plus a flush when the buffer is full.
  template <TreeKey K>
  Status Add(const TreeHandle<K>& tree, std::type_identity_t<K> key, int64_t weight);
  // Commits every buffered op (see Contract). `sequence` (optional, not owned) receives the
  // Snapshot::sequence() of the first snapshot that sees all of them (the newest one if the
  // buffer was empty).
  Status Flush(uint64_t* sequence = nullptr);

  // The next flush skips the first `ops` of its sorted order: they were committed by an
  // earlier run's flush of the same ops, interrupted by a crash (see Exactly-once above;
  // `ops` is a FlushProgress::ops_committed that run's marker recorded). Skipping more ops than
  // the flush holds makes it fail with InvalidArgument (not the same ops?) and commit nothing.
  void SkipOps(uint64_t ops);

  // Ops in the buffer (weight-0 Adds are not counted).
  uint64_t buffered_ops() const;
  // Ops written to runs since the last flush, and the runs that hold them (0 without
  // Options::spill_dir).
  uint64_t spilled_ops() const;
  uint64_t spilled_runs() const;
  // Bytes the buffered ops take (see Memory).
  uint64_t buffered_bytes() const;
  // The capacity chosen from Options::buffer_bytes.
  uint64_t buffer_bytes() const;
  // Ops committed by this loader's flushes so far, and their commits (failed ones excluded).
  uint64_t committed_ops() const;
  uint64_t commits() const;

 private:
  explicit BulkLoader(std::unique_ptr<api_internal::LoaderState> state);
  Status AddCode(uint64_t store_serial, uint64_t tree_id, const std::string& name, KeyType type,
                 uint64_t code, int64_t weight);
  void AppendRun(WriteBatch& batch, const api_internal::LoaderTree& tree);
  void ForgetBuffer();
  Status FlushBuffer(uint64_t* sequence);
  std::vector<const api_internal::LoaderTree*> SortHeldOps();
  Status Spill();
  Status CommitInOrder(uint64_t n, uint64_t skip, uint64_t* committed, uint64_t* last_sequence);
  std::unique_ptr<api_internal::LoaderState> state_;
};

extern template Status BulkLoader::Add<int64_t>(const TreeHandle<int64_t>&, int64_t, int64_t);
extern template Status BulkLoader::Add<double>(const TreeHandle<double>&, double, int64_t);

}  // namespace cowtree
