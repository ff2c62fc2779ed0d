// Structural edits of InternalNode used by the writer (tree/apply.cc). Internal header.
//
// Contract: every function edits a node the caller owns for the current epoch (node->epoch ==
// the applying epoch; asserted by the caller) and keeps the four per-child arrays (first_keys,
// pos_sums, entry_counts, and `leaves` or `nodes`) the same length. Summaries of a child are
// (re)computed from the child itself by RefreshChild(); pos sums are added modulo 2^64 here —
// the writer checks the exact total once per batch (see apply.cc), and every final subtree
// sum is at most that total, so the stored sums are exact whenever the batch succeeds.
// Thread-safety: none (writer only).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "tree/tree_version.h"

namespace cowtree::tree {

// Recomputes parent's first_keys/pos_sums/entry_counts entry i from child i.
void RefreshChild(InternalNode* parent, size_t i);
// Removes children [at, at + count).
void EraseChildren(InternalNode* node, size_t at, size_t count);
// Inserts leaf boxes (level-1 node) / internal nodes (level > 1) before index `at`, with
// their summaries.
void InsertLeaves(InternalNode* node, size_t at, std::span<const std::shared_ptr<LeafBox>> boxes);
void InsertNodes(InternalNode* node, size_t at,
                 std::span<const std::shared_ptr<InternalNode>> children);
// Moves children [from, end) of `src` to the end of `dst` (same level).
void MoveChildrenToBack(InternalNode* src, size_t from, InternalNode* dst);
// Moves the first `count` children of `src` to the end of `dst` (same level).
void MoveFrontChildrenToBack(InternalNode* src, size_t count, InternalNode* dst);
// Splits `node` (child_count > max_children) into ceil(n / max_children) nodes of even size:
// `node` keeps the first piece; the others are returned, new (from `pool`, or
// InternalNodePool::Default() when null; room for max_children each), at `epoch`.
class InternalNodePool;
std::vector<std::shared_ptr<InternalNode>> SplitNode(InternalNode* node, size_t max_children,
                                                     uint64_t epoch,
                                                     InternalNodePool* pool = nullptr);

}  // namespace cowtree::tree
