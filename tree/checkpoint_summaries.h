// CollectCheckpointSummaries: the leaf summaries a checkpoint of a tree version writes, found
// in time proportional to what changed since the published checkpoint, not to the tree's size.
//
// Why: under a memory budget smaller than the tree, every commit ends in a checkpoint (the
// dirty leaves must be written before they can be evicted). Walking every leaf box of the
// version (one cache miss each), then sorting and searching every object id to find what the
// checkpoint retires, made one checkpoint cost O(leaves): 17 ms at 10 M entries, 68 ms at
// 50 M, with only 100 leaves changed (docs/memory_budget.md "Checkpoint cost").
//
// How: copy-on-write. A node of `v` whose epoch is <= published_epoch was created at or before
// the published version and has not been copied since, so it is a node of the published
// version, with the same subtree: its leaves are a contiguous run of the published summaries,
// all persisted, starting at the summary whose first key is the node's first key, as many as
// the subtree has leaves. That run is copied from `published_chunks` (sequential memory, no
// box touched). Only the nodes copied since (epoch > published_epoch) are descended, and only
// the boxes of copied level-1 nodes are read.
//
// Arguments
// - v: the version to checkpoint (any number of leaves; empty gives nothing).
// - published_epoch: the epoch of the version the published checkpoint of this tree wrote, or
//   0 when that checkpoint has no summary index (none yet, or the tree was stored inline).
// - published_chunks: the summary chunks of that checkpoint in key order (their summaries are
//   the published version's leaves, in key order). With published_epoch 0 no run is copied
//   from them (every box is read), but their leaves that v no longer names are still retired.
// Preconditions (asserted where they are cheap to check): every node of v with epoch <=
// published_epoch belongs to the published version (true for versions derived from it by
// Apply, tree/apply.h: the writer copies every node it changes and gives copies its epoch), and
// the published chunks describe exactly that version's leaves.
// Result
// - summaries: one per leaf of v in key order, equal to what Summaries(v) gives (first_key,
//   pos_sum, entry_count, the box's persisted id); a dirty leaf's leaf_id is invalid until the
//   caller writes it and fills it in.
// - dirty: the dirty leaves (box not persisted) as (index into summaries, box), in key order.
// - retired_leaves: ids of the published leaves that v no longer holds, sorted.
// - boxes_visited: leaf boxes read (the leaves of copied level-1 nodes); the rest were copied.
// Cost: O(boxes_visited + published leaves under copied level-1 nodes + internal nodes / fanout
// + chunks) beside one sequential copy of the unchanged summaries.
// Thread-safety: reads v (immutable) and the chunks; call it where neither changes (the
// checkpointer, which owns the published state).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "tree/chunk_plan.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

struct CheckpointSummaries {
  std::vector<PersistedSummary> summaries;
  std::vector<std::pair<size_t, std::shared_ptr<LeafBox>>> dirty;
  std::vector<NodeID> retired_leaves;
  size_t boxes_visited = 0;
};

CheckpointSummaries CollectCheckpointSummaries(const TreeVersion& v, uint64_t published_epoch,
                                               std::span<const OldChunk> published_chunks);

}  // namespace cowtree::tree
