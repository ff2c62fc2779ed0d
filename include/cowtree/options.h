// cowtree public API: options of a store (Store::Open) and of one commit (Store::Commit).
//
// Units are in the names (_ms, _bytes, _entries). Every limit is checked by Store::Open, which
// returns InvalidArgument naming the option; nothing is asserted.
// Thread-safety: plain values.
#pragma once

#include <cstdint>

namespace cowtree {

// When Store::Commit returns OK (docs/recovery.md, DESIGN.md "Durability modes"):
//   kStrict   – the commit is fdatasync'd (concurrent committers share one fdatasync);
//               survives kill -9 and power loss.
//   kBalanced – the commit is written to the OS; a background fdatasync runs every
//               sync_interval_ms. Survives kill -9; power loss may lose the last interval.
//   kEventual – the commit is in the process's buffer; written and synced every
//               flush_interval_ms. kill -9 or power loss may lose the last interval.
// In every mode reopening returns a prefix of the commits: no gaps, no partial commit.
// (Named CommitDurability because cowtree::Durability is the internal runtime enum.)
enum class CommitDurability : uint8_t { kStrict = 1, kBalanced = 2, kEventual = 3 };

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
  CommitDurability durability = CommitDurability::kBalanced;
  // kBalanced: period of the background fdatasync, in milliseconds. Default: 100.
  uint32_t sync_interval_ms = 100;
  // kEventual: period of the background write + fdatasync, in milliseconds. Default: 100.
  uint32_t flush_interval_ms = 100;
  // A checkpoint is written once this many log bytes were appended since the last one
  // (0 = never automatically). Default: 256 MiB.
  uint64_t checkpoint_log_bytes = 256ull << 20;
  // ...or once this many milliseconds passed with changes (0 = off). Default: 0.
  uint32_t checkpoint_interval_ms = 0;
  // Close() writes a checkpoint, so that the next open replays nothing. Default: true.
  bool checkpoint_on_close = true;
  // Log rotation threshold, in bytes. Default: 64 MiB.
  uint64_t log_file_size_max_bytes = 64ull << 20;
  // Shape of trees (entries per leaf, children per internal node). Default: 240 and 64.
  uint32_t leaf_capacity_entries = 240;
  uint32_t fanout = 64;
};

// Options of one Store::Commit.
struct WriteOptions {
  // true: the commit is durable (fdatasync'd, survives power loss) when Commit returns OK,
  // whatever Options::durability says (as RocksDB's WriteOptions::sync). Default: false (the
  // store's durability mode applies).
  bool sync = false;
};

}  // namespace cowtree
