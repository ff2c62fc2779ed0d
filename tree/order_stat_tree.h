// OrderStatTree: a durable-ready, copy-on-write order-statistics B+ tree over weighted keys
// (DESIGN.md "The order-statistics tree"). This header is the tree's public entry point; it
// brings in the readers (tree/query.h), the checkpoint helpers (tree/summaries.h,
// tree/chunk_plan.h) and the invariant checker (tree/check.h). On-disk formats:
// tree/node_format.h.
//
// Model: a map from ordered key codes (tree/key_codec.h) to nonzero int64 weights. Weights may
// be negative (Z-set deltas); an entry whose weight becomes 0 is removed. Order statistics
// count only positive weight (N = sum of max(weight, 0)).
//
// Versions: every Apply publishes a new immutable TreeVersion at its epoch. current() returns
// the newest; a reader holding any version keeps answering for exactly that state while later
// batches are applied (snapshot isolation by copy-on-write; readers never block and never see
// a partial batch).
//
// Thread-safety: current() and all readers are safe from any number of threads. Apply and
// Install are writer operations: one at a time per tree (external synchronization; a second
// concurrent writer trips an assertion).
// Lifetime: the LeafLoader must outlive the tree and every version obtained from it.
#pragma once

#include <atomic>
#include <memory>
#include <span>

#include "persistence/status.h"
#include "tree/check.h"
#include "tree/chunk_plan.h"
#include "tree/key_codec.h"
#include "tree/query.h"
#include "tree/shared_cell.h"
#include "tree/summaries.h"
#include "tree/tree_shape.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

class OrderStatTree {
 public:
  // An empty tree (version at epoch 0). `shape` must be valid (ValidateTreeShape; asserted —
  // use Create() to get InvalidArgument instead). `loader` may be null if no leaf will ever be
  // non-resident (no restore, no eviction).
  OrderStatTree(KeyType key_type, TreeShape shape, LeafLoader* loader);
  static Result<std::unique_ptr<OrderStatTree>> Create(KeyType key_type, TreeShape shape,
                                                LeafLoader* loader);
  OrderStatTree(const OrderStatTree&) = delete;
  OrderStatTree& operator=(const OrderStatTree&) = delete;

  KeyType key_type() const { return key_type_; }
  const TreeShape& shape() const { return shape_; }
  LeafLoader* loader() const { return loader_; }

  // The newest published version (never null). Thread-safe.
  std::shared_ptr<const TreeVersion> current() const { return current_.Load(); }

  // Applies `ops` (strictly increasing keys, weights != 0: asserted) at `epoch` (> current()
  // epoch: asserted) and publishes the result; see tree/apply.h for the algorithm. On error
  // (InvalidArgument: weight or N overflow, non-canonical key; IOError/Corruption: a leaf failed
  // to load) nothing is published and the tree is unchanged. Empty ops publish an identical
  // version at `epoch`.
  Status Apply(std::span<const KeyWeight> ops, uint64_t epoch);

  // Makes `version` current (after recovery, or to undo the last Apply by reinstalling the
  // previous version). InvalidArgument if it is null or its key type, shape or loader differ
  // from this tree's. Any epoch is accepted; later Applies need a larger one.
  Status Install(std::shared_ptr<const TreeVersion> version);

  // Restore: builds a version from checkpointed leaf summaries (in key order) without loading
  // any leaf; see tree/summaries.h for validation (Corruption on bad summaries) and for leaves
  // that exceed the current capacity. The result is not installed.
  // Same as the free function tree::BuildFromSummaries.
  static Result<std::shared_ptr<const TreeVersion>> BuildFromSummaries(
      KeyType key_type, TreeShape shape, std::span<const PersistedSummary> summaries,
      uint64_t epoch, LeafLoader* loader) {
    return tree::BuildFromSummaries(key_type, shape, summaries, epoch, loader);
  }

 private:
  const KeyType key_type_;
  const TreeShape shape_;
  LeafLoader* const loader_;
  SharedCell<const TreeVersion> current_;
  std::atomic<bool> writer_active_{false};
};

}  // namespace cowtree::tree
