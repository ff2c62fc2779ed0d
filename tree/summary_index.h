// A tree's summary index: writing the chunks a checkpoint changed, and reading the index back
// top-down with every chunk checked against its parent (docs/summary_chunk.md).
//
// Levels: level 0 = summary chunks (one PersistedSummary per leaf, tree/summary_format.h),
// level L >= 1 = index chunks whose refs name level L - 1 chunks (tree/index_format.h); the
// descriptor's refs name the chunks of level index_height - 1. A level gets a parent level
// when it has more chunks than one descriptor may name (limits.refs_per_chunk).
//
// WriteSummaryIndex(key_type, summaries, old, limits, write, desc, out)
//   summaries: the tree's leaf summaries in key order (leaves already written). old: what the
//   previous checkpoint wrote (empty for the first). Per level, chunks whose exact content
//   already exists in `old` are reused (tree/chunk_plan.h); the others are encoded and passed
//   to `write` (kind kSummaryChunk or kSummaryIndexChunk), bottom-up, in key order per level.
//   So a change to one leaf rewrites one chunk per level (plus the descriptor, the caller's).
//   Sets desc->index_height and desc->refs (totals of each subtree); *out = the new index.
//   A level whose planned chunks would not at least halve its ref count (reused tiny chunks)
//   is planned afresh, so the height stays logarithmic. Errors: the first failing `write`.
//
// ReadSummaryIndex(desc, reader)
//   Reads the chunks depth-first in key order (each once; at most index_height decoded index
//   chunks held at a time), and checks each child against the ref naming it: object kind,
//   decodes, key type and level (index chunks), leaf count, entry count and positive sum
//   (unless the descriptor is version 1, which stores only counts), first key equal to the
//   ref's, last key below the next ref's first key (key range). Calls on_index_chunk (parent
//   before children) and on_summary_chunk (in key order) for chunks that pass. A failure is a
//   Corruption naming the parent structure, the byte offset of the ref field and the expected
//   value (or the read's own Status); it goes to on_problem: true = skip that subtree and go
//   on (fsck), false / no handler = stop and return it (restore). Returns OK when every
//   problem was skipped; the caller checks the totals of what it received if it skipped.
//   Memory: O(index_height * refs_per_chunk) beside what the callbacks keep.
// Thread-safety: pure functions over their arguments.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "persistence/ot_entry.h"
#include "tree/chunk_plan.h"
#include "tree/summary_format.h"

namespace cowtree::tree {

// Chunk size limits of the index. Internal: the defaults fill 32 KiB slots; tests lower them
// to reach several levels with few leaves (RuntimeOptions::summary_*_max).
struct SummaryIndexLimits {
  size_t summaries_per_chunk = kSummaryChunkEntriesMax;  // 1..kSummaryChunkEntriesMax
  size_t refs_per_chunk = kIndexRefsMax;                 // 2..kIndexRefsMax (descriptor too)
  // InvalidArgument naming the limit outside its range.
  Status Validate() const;
};

// The index as a checkpoint wrote it, kept in memory to plan the next checkpoint.
struct PersistedIndex {
  std::vector<OldChunk> chunks;                    // level 0, key order
  std::vector<std::vector<OldIndexChunk>> levels;  // levels[L - 1]: level L, key order
  // Every chunk id (all levels), not the leaves.
  void AppendChunkIds(std::vector<NodeID>* out) const;
};

using ChunkWriteFn = std::function<Result<NodeID>(ObjectKind kind, std::string body)>;

Status WriteSummaryIndex(KeyType key_type, std::span<const PersistedSummary> summaries,
                         const PersistedIndex& old, const SummaryIndexLimits& limits,
                         const ChunkWriteFn& write, TreeDescriptor* desc, PersistedIndex* out);

struct IndexProblem {
  NodeID id;           // the chunk that failed
  ObjectKind kind;     // what it was expected to be
  uint32_t level = 0;  // its level (0 = summary chunk)
  std::string what;    // "level-1 index chunk (ref 3 of the tree descriptor)"
  Status status;
  bool read_failed = false;  // `read` failed (else: decode or parent check)
};

struct SummaryIndexReader {
  std::function<Result<std::string>(NodeID id, ObjectKind kind)> read;
  std::function<void(NodeID id, const IndexChunk& chunk)> on_index_chunk;  // optional
  std::function<void(NodeID id, std::vector<PersistedSummary> summaries)> on_summary_chunk;
  std::function<bool(const IndexProblem& problem)> on_problem;  // optional: stop
};

Status ReadSummaryIndex(const TreeDescriptor& desc, const SummaryIndexReader& reader);

}  // namespace cowtree::tree
