// PlanSummaryChunks: which summary chunks a checkpoint can reuse and which it must write.
//
// The leaf summaries of a tree (in key order) are stored in chunks of at most
// chunk_summaries_max summaries each (tree/summary_format.h). A checkpoint should rewrite only
// the chunks whose summaries changed, so the planner:
// 1. reuses an old chunk (same NodeID) wherever the exact same run of summaries — equal
//    first_key, pos_sum, entry_count and leaf_id, in order — appears contiguously in the new
//    list (a leaf id names immutable content, but equal ids are not enough: the summaries are
//    what the chunk stores);
// 2. groups every maximal run of remaining summaries into new chunks: ceil(r / max) chunks of
//    even size (so each new chunk holds at least max / 2 summaries when a run is split);
// 3. coalesces: a new chunk smaller than max / 4 absorbs an adjacent chunk (the left one, or
//    the right one if it is first), reused or new; if the two exceed max they are re-split
//    evenly into two new chunks (each > max / 2). So no chunk stays under max / 4 unless it is
//    the only one, and deletions cannot leave an ever-growing number of tiny chunks; this
//    costs at most one extra rewritten neighbor per small run.
// Old chunks larger than chunk_summaries_max (the limit was lowered) are never reused.
// PlanIndexChunks does the same for the refs of one index level (tree/index_format.h): an old
// index chunk is reused where its exact run of refs (child id and totals) reappears.
//
// Arguments: new_summaries in key order (strictly increasing first keys, as produced by
// Summaries()); old_chunks: the previous checkpoint's chunks with their summaries (kept in
// memory by the caller), in any order; chunk_summaries_max >= 1.
// Result: plans covering new_summaries exactly, in order: plan j covers
// new_summaries[begin, begin + count), 1 <= count <= chunk_summaries_max; reuse_chunk_id is
// the old chunk to reference as is, or invalid (NodeID()) for a chunk to encode and write.
// Empty input gives no plans. Cost: O(new + old summaries).
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "persistence/node_id.h"
#include "tree/index_format.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

// Default limit: the largest count whose body (16 + 32 * n + 4 bytes) plus the object store's
// 32-byte envelope fits one 32 KiB size class (1024 would spill into the 64 KiB class).
inline constexpr size_t kSummaryChunkEntriesMax = 1022;

struct OldChunk {
  NodeID chunk_id;
  std::vector<PersistedSummary> summaries;
};

struct OldIndexChunk {
  NodeID chunk_id;
  std::vector<IndexRef> refs;
};

struct ChunkPlan {
  size_t begin = 0;
  size_t count = 0;
  NodeID reuse_chunk_id;  // invalid: write a new chunk
  bool reused() const { return reuse_chunk_id.valid(); }
};

std::vector<ChunkPlan> PlanSummaryChunks(std::span<const PersistedSummary> new_summaries,
                                         std::span<const OldChunk> old_chunks,
                                         size_t chunk_summaries_max = kSummaryChunkEntriesMax);

std::vector<ChunkPlan> PlanIndexChunks(std::span<const IndexRef> new_refs,
                                       std::span<const OldIndexChunk> old_chunks,
                                       size_t refs_max = kIndexRefsMax);

}  // namespace cowtree::tree
