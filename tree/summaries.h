// Leaf summaries: the checkpoint's view of a tree, and the restore that rebuilds internal
// levels from them (DESIGN.md "Checkpoint = dirty leaves + leaf summaries in key order").
//
// Summaries(v): one LeafSummary per leaf of v, in KEY order (never allocation order), with the
// box so the checkpointer can write dirty leaves (box->persisted() == false, data resident)
// and reuse the NodeID of persisted ones. O(leaves); touches no leaf data.
//
// BuildFromSummaries(key_type, shape, summaries, epoch, loader): the version whose leaves
// are the given persisted leaves, internal levels built bottom-up in O(leaves) with
// shape.fanout (which may differ from the fanout used when the checkpoint was written): each
// level groups its children evenly, ceil(n / fanout) nodes per level, so every non-root node
// has at least fanout / 2 children. No leaf is loaded: boxes start non-resident with their
// persisted id and load through `loader` on first access.
// - A leaf may hold more entries than shape.leaf_capacity_entries (the capacity changed since
//   it was written): accepted up to kLeafCapacityMax; Apply splits it the next time it writes
//   that leaf. Likewise a leaf may be under the new LeafMinEntries(): it stays until touched.
// - Errors: InvalidArgument for an invalid shape; Corruption (naming the summary index) when
//   first keys are not strictly increasing, a key is not a canonical code of key_type,
//   entry_count is 0 or > kLeafCapacityMax, pos_sum exceeds entry_count * (2^63 - 1), the
//   leaf id is invalid, or the total positive weight overflows uint64.
// Thread-safety: Summaries is a reader (any thread); the build touches only its inputs.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

std::vector<LeafSummary> Summaries(const TreeVersion& v);

Result<std::shared_ptr<const TreeVersion>> BuildFromSummaries(
    KeyType key_type, TreeShape shape, std::span<const PersistedSummary> summaries, uint64_t epoch,
    LeafLoader* loader);

// BuildFromSummaries over the concatenation of `runs` (e.g. the summary chunks as read, without
// copying them into one array); messages number the summaries across runs. Empty runs allowed.
using SummaryRun = std::span<const PersistedSummary>;
Result<std::shared_ptr<const TreeVersion>> BuildFromSummaryRuns(KeyType key_type, TreeShape shape,
                                                                std::span<const SummaryRun> runs,
                                                                uint64_t epoch, LeafLoader* loader);

}  // namespace cowtree::tree
