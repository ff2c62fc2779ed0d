// Batch application: the writer half of the order-statistics tree (used by OrderStatTree::Apply).
//
// ApplyBatch(base, ops, epoch) builds the version that results from adding each op's weight
// to its entry, as a new TreeVersion at `epoch`, by copy-on-write:
// - base and everything reachable from it are never modified (readers of base are
//   unaffected); nodes of older epochs on a touched path are copied once, nodes created by
//   this call are mutated in place; each touched leaf is merged with all of its ops at once
//   and copied once (plus once more in the rare case a later rebalance merges it again).
// - Leaves split into ceil(n / capacity) even pieces when over capacity; a leaf under
//   TreeShape::LeafMinEntries() merges with (or borrows from) an adjacent sibling under the
//   same parent; internal nodes split over `fanout` and merge/borrow under FanoutMin(); the
//   root grows a level when it overflows and collapses while it has a single internal child.
// Preconditions (asserted): epoch > base.epoch; ops strictly increasing by key (callers
// combine duplicates); every weight != 0.
// Errors (base is unchanged and nothing is published): InvalidArgument when a key is not a
// canonical code of base.key_type, an entry's weight sum overflows int64, or the resulting
// positive total N overflows uint64; IOError/Corruption from loading a non-resident leaf.
// Thread-safety: one writer per tree (the caller serializes); concurrent readers of base and
// of older versions are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

Result<std::shared_ptr<const TreeVersion>> ApplyBatch(const TreeVersion& base,
                                                      std::span<const KeyWeight> ops,
                                                      uint64_t epoch);

}  // namespace cowtree::tree
