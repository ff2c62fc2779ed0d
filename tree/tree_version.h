// Internal nodes and published versions of the order-statistics tree, plus the small value
// types shared by the writer, the readers and the checkpoint code.
//
// InternalNode (memory only; never written to disk: DESIGN.md "internal nodes are derived")
// - level >= 1; a level-1 node's children are leaf boxes (`leaves`), a level-L node's children
//   are level-(L-1) nodes (`nodes`). Per child i it keeps first_keys[i] (the smallest key in
//   the child's subtree), pos_sums[i] (sum of max(weight, 0) below it) and entry_counts[i].
//   Child i holds exactly the keys in [first_keys[i], first_keys[i+1]).
// - key_hints (level 1, readers only): per child, the address of its leaf's keys array as a
//   reader last saw it, or null. A prefetch hint and nothing more: it may be stale (the leaf
//   was evicted and loaded again elsewhere) and is never dereferenced, only prefetched, so that
//   the leaf's cache line is on its way while the reader waits for the leaf's box (query.cc).
//   key_hint_capacity entries (0: none; InternalNodePool sizes and zeroes them for level-1
//   nodes); indexes >= it have no hint. Readers store into it concurrently (relaxed atomics).
// - epoch: the Apply (or restore) epoch that created this node. COW rule: the writer applying
//   epoch E mutates a node in place only if node.epoch == E (created by this very Apply, not
//   yet published); any older node is copied first (path copying up to the root).
//
// TreeVersion
// - One immutable, published state. Holding a shared_ptr<const TreeVersion> keeps every node
//   and leaf box of that state alive; any number of threads may read it concurrently while the
//   writer builds later versions.
// - root is null iff the tree has no entries (then height == 0, leaf_count == 0).
//   height counts levels including the leaf level (a one-leaf tree has height 2: a level-1
//   root with one leaf child).
// - loader: the host's LeafLoader used by readers to load non-resident leaves (not owned;
//   outlives the version; may be null when every leaf is resident).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "persistence/node_id.h"
#include "tree/key_codec.h"
#include "tree/leaf.h"
#include "tree/tree_shape.h"

namespace cowtree::tree {

struct InternalNode {
  uint64_t epoch = 0;
  uint32_t level = 1;
  // Bytes its pool charged to a budget's node counter when handing it out (0: none); the pool
  // uncharges the same amount when the node comes back (tree/node_pool.h).
  uint32_t charged_bytes = 0;
  std::vector<uint64_t> first_keys;
  std::vector<uint64_t> pos_sums;
  std::vector<uint64_t> entry_counts;
  std::vector<std::shared_ptr<InternalNode>> nodes;  // level > 1
  std::vector<std::shared_ptr<LeafBox>> leaves;      // level == 1
  std::unique_ptr<std::atomic<const uint64_t*>[]> key_hints;
  uint32_t key_hint_capacity = 0;

  size_t child_count() const { return first_keys.size(); }
  // Index of the child whose key range holds `key`: the last i with first_keys[i] <= key, or
  // 0 when key is below every first key. Requires child_count() >= 1.
  size_t Route(uint64_t key) const;
  // Sums over the per-child arrays (no overflow: validated when the node was built).
  uint64_t PosTotal() const;
  uint64_t EntryTotal() const;
};

struct TreeVersion {
  KeyType key_type = KeyType::kInt64;
  TreeShape shape = kDefaultTreeShape;
  LeafLoader* loader = nullptr;
  std::shared_ptr<const InternalNode> root;
  uint32_t height = 0;
  uint64_t epoch = 0;
  uint64_t positive_count = 0;  // N
  uint64_t entry_count = 0;
  uint64_t leaf_count = 0;
};

// One update: add `weight` (!= 0) to the entry with ordered key code `key`.
struct KeyWeight {
  uint64_t key = 0;
  int64_t weight = 0;
};

// A leaf's summary in a live version (checkpoint input). `box` gives the data of dirty leaves
// (box->persisted() == false) and the NodeID of persisted ones.
struct LeafSummary {
  uint64_t first_key = 0;
  uint64_t pos_sum = 0;
  uint32_t entry_count = 0;
  std::shared_ptr<LeafBox> box;
};

// A leaf's summary as stored in a checkpoint's summary chunks (tree/summary_format.h).
struct PersistedSummary {
  uint64_t first_key = 0;
  uint64_t pos_sum = 0;
  uint32_t entry_count = 0;
  NodeID leaf_id;
  friend bool operator==(const PersistedSummary&, const PersistedSummary&) = default;
};

}  // namespace cowtree::tree
