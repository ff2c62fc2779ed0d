// CheckInvariants: a full structural check of one tree version (tests; fsck).
//
// Checks, returning Corruption with the first violation found (naming the level, child index
// and key codes involved):
// - root is null iff entry_count == 0 (then height == 0, leaf_count == 0, N == 0);
// - every internal node: level = parent level - 1, level-1 nodes hold leaves and others nodes,
//   the per-child arrays have one length, 1..fanout children, a non-root node at least
//   FanoutMin() children and a root above level 1 at least 2; first keys strictly increasing;
//   node epoch <= version epoch;
// - per child: first_keys[i] equals the child's smallest key, pos_sums[i] and entry_counts[i]
//   equal the child's totals; every key of child i lies in [first_keys[i], first_keys[i+1]);
// - every leaf box: 1..kLeafCapacityMax entries (a restored leaf may exceed the current
//   capacity; see summaries.h), dirty boxes resident; when its content is resident or
//   load_leaves is true (which loads through v.loader): keys strictly increasing, no zero
//   weight, count / first key / positive sum equal to the summary, keys below the next
//   leaf's first key;
// - totals: N, entry_count, leaf_count and height of the version equal the sums found.
// Leaf fill (LeafMinEntries) is not checked: restored leaves and the single leaf of a small
// tree may be under it; it only affects space, never answers.
// Errors: Corruption as above; the loader's IOError/Corruption when load_leaves loads a leaf.
// Thread-safety: a reader; safe concurrently with other readers and the writer.
#pragma once

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

Status CheckInvariants(const TreeVersion& v, bool load_leaves);

}  // namespace cowtree::tree
