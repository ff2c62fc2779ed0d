// cowtree public API: options of a store (Store::Open) and of one commit (Store::Commit).
//
// Units are in the names (_ms, _bytes, _entries). Every limit is checked by Store::Open, which
// returns InvalidArgument naming the option; nothing is asserted.
// Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "persistence/durability.h"

namespace cowtree {

class Env;  // persistence/env.h (installed with the internal headers)

// Durability (kStrict | kBalanced | kEventual) is defined in persistence/durability.h, shared
// with the runtime: see there for what each mode guarantees when Store::Commit returns OK.

struct Options {
  // Create the store if `dir` is missing or empty. Default: true.
  bool create_if_missing = true;
  // Fail with InvalidArgument if a store already exists in `dir`. Default: false.
  bool error_if_exists = false;
  // Open without writing anything (shared directory lock; any number of read-only opens, no
  // writer). Store::Commit, Checkpoint and Sync return InvalidArgument. Default: false.
  bool read_only = false;
  // Durability of every commit of this store; WriteOptions::sync strengthens one commit.
  // Default: kBalanced.
  Durability durability = Durability::kBalanced;
  // kBalanced: period of the background fdatasync, in milliseconds. Default: 100.
  uint32_t sync_interval_ms = 100;
  // kEventual: period of the background write + fdatasync, in milliseconds. Default: 100.
  uint32_t flush_interval_ms = 100;
  // A checkpoint is written once this many log bytes were appended since the last one
  // (0 = never automatically). Under a cache budget (cache_bytes != 0) the threshold is at most
  // a quarter of cache_bytes (at least 1 MiB), and a commit past twice it checkpoints itself:
  // a reopen after a crash holds the redo since the last checkpoint in memory about twice
  // (docs/memory_budget.md "Reopen after a crash"). Default: 256 MiB.
  uint64_t checkpoint_log_bytes = 256ull << 20;
  // ...or once this many milliseconds passed with changes (0 = off). Default: 0.
  uint32_t checkpoint_interval_ms = 0;
  // Close() writes a checkpoint, so that the next open replays nothing. Default: true.
  bool checkpoint_on_close = true;
  // Log rotation threshold, in bytes. Default: 64 MiB.
  uint64_t log_file_size_max_bytes = 64ull << 20;
  // A sync that writes less than half of this to the log, within half of this of the zeros'
  // end, first writes zeros ahead of its data (up to the next multiple of this, plus this,
  // capped at log_file_size_max_bytes), so that later fdatasyncs overwrite written blocks
  // inside the file's size and commit no file-system metadata: measured on ext4, ~85 µs
  // instead of ~130 µs per fdatasync, which is what strict commits wait for
  // (docs/log_format.md "Zero fill"). Rotation and Close cut the zeros off; after a crash
  // recovery drops them (a zero tail). 0 = off. At most 1 GiB. Default: 1 MiB.
  uint64_t log_zero_fill_bytes = 1ull << 20;
  // Byte budget of tree memory (docs/memory_budget.md): what every open tree keeps per leaf
  // (leaf boxes, internal nodes, summaries), leaves not yet checkpointed, and leaves read from
  // disk. Past it, clean leaves are evicted (CLOCK) and read again (pread) when next needed;
  // leaves not yet checkpointed past cache_dirty_percent of it trigger a checkpoint, and a
  // commit that finds them past twice that share, or finds what eviction cannot free (fixed,
  // node and dirty bytes) past the budget minus that share, checkpoints before returning. Process
  // RSS stays within cache_bytes plus the constant that page documents, as long as the
  // per-leaf fixed bytes (~320 B per leaf) fit in the budget, no Snapshot is held across many
  // commits (it keeps what was replaced since), and checkpoint_dirty_trees × ~5 KiB of trees
  // not yet checkpointed fit beside it (docs/memory_budget.md). 0 = unlimited: leaves stay in
  // memory once read. Otherwise at least 1 MiB. Default: 0.
  uint64_t cache_bytes = 0;
  // Share of cache_bytes, in percent, that leaves not yet checkpointed may take before a
  // checkpoint is triggered (earlier when the per-leaf fixed bytes and internal nodes leave
  // less room: docs/memory_budget.md "Dirty leaves"). In [5, 90]. Default: 25.
  uint32_t cache_dirty_percent = 25;
  // Shape of trees (entries per leaf, children per internal node). Default: 240 and 64.
  uint32_t leaf_capacity_entries = 240;
  uint32_t fanout = 64;
  // Largest encoded leaf body, in bytes, that a write leaves: a leaf is then split by bytes as
  // well as by leaf_capacity_entries, so that it fills one size class of the data files
  // whatever its keys' spacing (4064 = one 4 KiB slot with the object envelope; raise
  // leaf_capacity_entries, up to 4096, for the bytes to decide). Larger leaves mean fewer of
  // them: fewer per-leaf fixed bytes under cache_bytes and less I/O per entry when writes come
  // in key order, but each small random commit copies a larger leaf (docs/node_format.md
  // "Leaves split by bytes"). 0 (no byte limit) or in [512, 131072]. Default: 0.
  uint32_t leaf_capacity_bytes = 0;
  // Many trees: after each checkpoint, trees neither read (Tree / Snapshot::Tree) nor written
  // during the whole interval since the previous checkpoint are dropped from memory and read
  // back from the store on their next access (16 bytes each stay in memory), as long as more
  // than this many trees are in memory — or, under cache_bytes, while the bytes the budget
  // cannot evict (each in-memory tree's leaf boxes and internal nodes) pass half of it
  // (docs/catalog.md "Demotion under a memory budget"). Readers already holding such a tree
  // keep it. 0 drops every idle tree. Default: 1024.
  uint64_t hot_trees_min = 1024;
  // A checkpoint is also written once this many distinct trees were created or written since
  // the last one (0 = never for this reason): a tree is dropped from memory (above) only once
  // a checkpoint holds its state, so this bounds the memory of a process that creates or
  // writes many trees (~5 KiB per small tree). Needs background_thread. Default: 16384.
  uint64_t checkpoint_dirty_trees = 16384;
  // ...and trees that are only read leave memory too: once this many trees were read back
  // from the store (first accesses since open or since they were dropped), the background
  // thread — and Snapshot::Tree / VisitTrees (so PercentileOperator::Answers and `cowtree
  // query`) on the reading thread — drops the idle ones without a checkpoint, as above (0 =
  // only after checkpoints). A pass walks the trees in memory and holds commits meanwhile.
  // Default: 16384.
  uint64_t demotion_pass_promotions = 16384;
  // Every file operation of the store goes through this Env (as LevelDB's Options::env): a
  // test passes a fault-injecting one (testutil/fault_injection_env.h). Not owned; must
  // outlive the Store. Default: nullptr = the POSIX Env.
  Env* env = nullptr;
  // false: no background thread. kBalanced / kEventual commits then reach the disk only at
  // Sync(), Checkpoint() or Close(), and no automatic checkpoint runs (deterministic tests).
  // Default: true.
  bool background_thread = true;
};

// Pins glibc malloc's mmap threshold at 128 KiB (mallopt M_MMAP_THRESHOLD), for a process
// that runs stores under Options::cache_bytes. Otherwise glibc raises that threshold each time
// a block it had mapped is freed (up to 32 MiB), and from then on the transient buffers of
// commits and checkpoints (0.1–2 MiB each) come from the heap, whose free space then stays
// resident among long-lived leaves: ~5 MiB more peak RSS at a 64 MiB budget
// (docs/memory_budget.md, "The constant"). Blocks of 128 KiB and more are then always mapped
// and unmapped (a page fault per 4 KiB touched); `cowtree ingest` of 10 M rows under a 64 MiB
// budget took the same time either way (README, 2 alternated rounds).
// Process-wide: it changes the allocator for the whole program, so the library never calls
// it; the `cowtree` command does, at startup. Call it once, early, before threads start.
// Returns true if it took effect; false where the C library is not glibc (nothing changes).
bool PinMallocMmapThreshold();

// Options of one Store::Commit.
struct WriteOptions {
  // true: the commit is durable (fdatasync'd, survives power loss) when Commit returns OK,
  // whatever Options::durability says (as RocksDB's WriteOptions::sync): the log is synced
  // before the commit becomes visible, as every kStrict commit is, so if that fdatasync fails
  // the commit is not visible and Commit returns the error. Default: false (the store's
  // durability mode applies).
  bool sync = false;
};

}  // namespace cowtree
