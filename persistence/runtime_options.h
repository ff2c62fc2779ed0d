// Options of a Runtime (one store directory). Units are in the names; every limit is checked
// by recovery::Open (InvalidArgument names the option).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/durability.h"
#include "persistence/log_reader.h"
#include "persistence/status.h"

namespace cowtree {

class Env;

struct RuntimeOptions {
  Env* env = nullptr;  // nullptr = Env::Default() (POSIX)
  bool create_if_missing = true;
  // Open without writing anything: a shared directory lock (any number of read-only opens, no
  // writer), no store creation, the torn log tail left in place (replay ignores it), no
  // coordinator, no checkpoint. Works on a read-only mount or a read-only copy. Commit,
  // Checkpoint and SyncLog return InvalidArgument. Default: false.
  bool read_only = false;
  bool error_if_exists = false;
  Durability durability = Durability::kBalanced;
  uint32_t sync_interval_ms = 100;                 // kBalanced background fdatasync period
  uint32_t flush_interval_ms = 100;                // kEventual background write+fdatasync period
  uint64_t log_file_size_max_bytes = 64ull << 20;  // log rotation threshold
  // Zeros written ahead of the log's end by a strict sync (LogWriterOptions::zero_fill_bytes),
  // so that most fdatasyncs commit no file-system metadata; 0 = off. Default: 1 MiB.
  uint64_t log_zero_fill_bytes = 1ull << 20;
  // The coordinator checkpoints once this many log bytes were appended since the last
  // checkpoint (0 = never automatically; capped under a budget: EffectiveCheckpointLogBytes) or
  // checkpoint_interval_ms passed with changes (0 = off).
  uint64_t checkpoint_log_bytes = 256ull << 20;
  uint32_t checkpoint_interval_ms = 0;
  // Open checkpoints right after recovery when it replayed at least this many redo bytes
  // (0 = never), so that a store killed again and again before it reaches checkpoint_log_bytes
  // does not replay an ever longer log at every open. Default: 16 MiB (~0.2 s of replay).
  uint64_t recovery_checkpoint_log_bytes = 16ull << 20;
  // Open holds the redo commits it reads (their payloads, collected while the log is first read
  // for the object table's deltas) up to this many bytes; past it, it drops them and reads the
  // log a second time to replay them, so a long redo costs one log file of memory, not a copy of
  // the whole redo (recovery/open.h). Default: 16 MiB (the redo past which Open checkpoints:
  // recovery_checkpoint_log_bytes).
  uint64_t recovery_redo_held_bytes_max = 16ull << 20;
  // Online compaction (docs/compaction.md): the coordinator compacts a data file once its free
  // slots are at least this fraction of the file's bytes and at least one whole segment at its
  // end could be released; 0 = never automatically (Runtime::Compact and `cowtree compact` still
  // work). Must be in [0, 1). Default: 0.25.
  double compaction_dead_ratio = 0.25;
  // Rate limit of online compaction, in bytes of relocated slots per second (a token bucket with
  // a burst of one second's worth); 0 = unlimited. Default: 32 MiB/s.
  uint64_t compaction_bytes_per_sec = 32ull << 20;
  bool checkpoint_on_close = true;  // Close() writes a checkpoint so that reopen replays nothing
  bool background_thread = true;    // false: no coordinator (tests drive sync/checkpoint)
  WalRecoveryMode wal_recovery_mode = WalRecoveryMode::kTolerateCorruptedTailRecords;
  // Data-file segment size (docs/data_files.md: clamped per class to [16, 4096] slots); the
  // files grow and compaction cuts them by whole segments. Not recorded on disk: a store may be
  // reopened with another value. Power of two in [64 KiB, 1 GiB]. Default: 4 MiB.
  uint64_t segment_size_bytes = 4ull << 20;
  // Data files are read through at most mmap_windows_max read-only mmap windows of
  // mmap_window_bytes each (so mapped bytes <= their product, whatever the store size; one fd
  // per data file, one per size class), with MADV_RANDOM (no readahead past the object read).
  // With a cache budget (cache_bytes != 0) leaves are read with pread instead, so that pages
  // of the data files never count in the process's RSS. Default: 1 GiB windows, at most 64.
  uint64_t mmap_window_bytes = 1ull << 30;
  uint32_t mmap_windows_max = 64;
  // Byte budget of tree memory (docs/memory_budget.md): leaf boxes, internal nodes and
  // summaries (counted per leaf), dirty leaves and resident clean leaves. When the total passes
  // it, clean leaves are evicted (CLOCK) and re-read from the data files when next needed; when
  // dirty leaves pass cache_dirty_percent of it (or half the room that budget minus that share
  // leaves beside the fixed and node bytes, if less), the coordinator checkpoints (which makes them
  // clean, hence evictable), and a commit that finds them past twice that share (capped at
  // the budget), or finds the fixed, node and dirty bytes together past the budget minus one
  // dirty share, checkpoints itself before returning (a write stall). 0 = unlimited (nothing is
  // evicted; leaves stay resident once read). Otherwise at least 1 MiB. Default: 0.
  uint64_t cache_bytes = 0;
  // Share of cache_bytes, in percent, that dirty leaves may take before a checkpoint is
  // triggered. In [5, 90]. Default: 25.
  uint32_t cache_dirty_percent = 25;
  // Order-statistics tree shape for trees created by this runtime (and the fan-out used to
  // rebuild internal nodes at open, which may differ from the one at write time).
  uint32_t leaf_capacity_entries = 240;
  uint32_t fanout = 64;
  // Largest leaf body in bytes a write leaves (0: no limit; tree/tree_shape.h). Default: 0.
  uint32_t leaf_capacity_bytes = 0;
  // Demotion (persistence/runtime.h): after a checkpoint, trees idle for a whole checkpoint
  // interval are dropped from memory (16 bytes each stay, in the cold index) while more than
  // this many trees are in memory, or while a limited budget's fixed and node bytes pass half
  // of it (docs/catalog.md "Demotion under a memory budget"); the most recently used stay. 0
  // demotes every idle tree.
  // Default: 1024 (a store of few trees never pays a re-read).
  uint64_t hot_trees_min = 1024;
  // The coordinator checkpoints once this many distinct trees were created or written since
  // the last checkpoint (0 = never for this reason). Each such tree stays in memory with its
  // unwritten state until a checkpoint, and only then can demotion drop it: without this, a
  // process creating a million trees under the default log threshold kept every one of them
  // (5 GiB). Default: 16384 (~5 KiB each for a small tree: ~80 MiB of trees per interval).
  uint64_t checkpoint_dirty_trees = 16384;
  // The coordinator also runs a demotion pass (without a checkpoint) once this many trees were
  // promoted since the last pass (0 = passes only after checkpoints): trees that are only read
  // (first accesses promote them) leave memory again although nothing is written, so a read
  // of every tree of a large store keeps about two passes' worth in memory, not all of them.
  // A pass walks the trees in memory holding the commit and catalog locks. Default: 16384.
  uint64_t demotion_pass_promotions = 16384;
  // Internal, for tests: the chunk sizes of the summary index a checkpoint writes
  // (docs/summary_chunk.md): leaf summaries per summary chunk (1..1022) and refs per index
  // chunk or descriptor (2..817). 0 = the default (the largest). Lowered, a few hundred leaves
  // give a multi-level index. Restore reads any index whatever these are.
  uint32_t summary_chunk_entries_max = 0;
  uint32_t summary_index_refs_max = 0;
  // Internal, for tests: chunk references per catalog root object (docs/catalog.md), in
  // [2, kCatalogRootChunksMax = 10000]; 0 = the default (the largest). A catalog of more chunks
  // gets a two-level root (root pages). Lowered, a few thousand trees give one. Open reads any.
  uint32_t catalog_root_chunks_max = 0;
  // Internal, for tests: entries per catalog chunk a checkpoint writes, in [1, 1024]; 0 = the
  // default (1024; chunks are also cut at kCatalogChunkBodyBytesTarget bytes).
  uint32_t catalog_chunk_entries_max = 0;
  // Internal, for tests: accept a cache_bytes below 1 MiB (at least 4 KiB), so that the crash
  // sweeps' small workloads (a few hundred leaves) pass their budget: leaves are evicted and
  // commits stall into checkpoints (testutil/workload.h).
  bool cache_bytes_small_for_test = false;
};

// The log bytes appended since the last checkpoint at which the coordinator checkpoints:
// checkpoint_log_bytes (0 = never), capped under a cache budget (cache_bytes != 0) at a quarter
// of cache_bytes, at least kCheckpointLogBytesUnderBudgetMin. Why: a reopen after a crash holds
// the redo since the last checkpoint in memory about twice (each log file is read whole and the
// commits wait, copied, until the trees are opened), before any leaf is loaded; a workload that
// writes much redo but dirties few leaves (updates of a few hot keys) never reaches the budget's
// dirty trigger, and its 256 MiB of redo cost ~500 MiB at reopen under any budget
// (docs/memory_budget.md "Reopen after a crash").
inline constexpr uint64_t kCheckpointLogBytesUnderBudgetMin = uint64_t{1} << 20;
uint64_t EffectiveCheckpointLogBytes(const RuntimeOptions& options);

// The limits of the options above that are not the log's or the tree shape's (cache_bytes,
// cache_dirty_percent, mmap windows); InvalidArgument naming the option. recovery::Open calls it.
Status ValidateRuntimeOptions(const RuntimeOptions& options);

}  // namespace cowtree
