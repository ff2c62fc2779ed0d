#include "tree/node_edit.h"

#include <iterator>

#include "persistence/assert.h"
#include "tree/node_pool.h"

namespace cowtree::tree {
namespace {

template <typename T>
void EraseRange(std::vector<T>* v, size_t at, size_t count) {
  v->erase(v->begin() + at, v->begin() + at + count);
}

template <typename T>
void MoveRangeToBack(std::vector<T>* src, size_t from, size_t to, std::vector<T>* dst) {
  dst->insert(dst->end(), std::make_move_iterator(src->begin() + from),
              std::make_move_iterator(src->begin() + to));
}

void CheckArrays(const InternalNode& n) {
  const size_t count = n.first_keys.size();
  COWTREE_ASSERT(n.pos_sums.size() == count && n.entry_counts.size() == count);
  COWTREE_ASSERT(n.level == 1 ? (n.leaves.size() == count && n.nodes.empty())
                              : (n.nodes.size() == count && n.leaves.empty()));
}

// Moves children [from, to) of src to the back of dst.
void MoveSpanToBack(InternalNode* src, size_t from, size_t to, InternalNode* dst) {
  COWTREE_ASSERT(src->level == dst->level);
  COWTREE_ASSERT(from <= to && to <= src->child_count());
  MoveRangeToBack(&src->first_keys, from, to, &dst->first_keys);
  MoveRangeToBack(&src->pos_sums, from, to, &dst->pos_sums);
  MoveRangeToBack(&src->entry_counts, from, to, &dst->entry_counts);
  if (src->level == 1) {
    MoveRangeToBack(&src->leaves, from, to, &dst->leaves);
  } else {
    MoveRangeToBack(&src->nodes, from, to, &dst->nodes);
  }
  EraseChildren(src, from, to - from);
  CheckArrays(*dst);
}

}  // namespace

void RefreshChild(InternalNode* parent, size_t i) {
  COWTREE_ASSERT(i < parent->child_count());
  if (parent->level == 1) {
    const LeafBox& box = *parent->leaves[i];
    parent->first_keys[i] = box.first_key();
    parent->pos_sums[i] = box.pos_sum();
    parent->entry_counts[i] = box.entry_count();
    return;
  }
  const InternalNode& child = *parent->nodes[i];
  COWTREE_ASSERT(child.level + 1 == parent->level);
  COWTREE_ASSERT(child.child_count() >= 1);
  parent->first_keys[i] = child.first_keys[0];
  parent->pos_sums[i] = child.PosTotal();  // modulo 2^64; see the header
  parent->entry_counts[i] = child.EntryTotal();
}

void EraseChildren(InternalNode* node, size_t at, size_t count) {
  COWTREE_ASSERT(at + count <= node->child_count());
  EraseRange(&node->first_keys, at, count);
  EraseRange(&node->pos_sums, at, count);
  EraseRange(&node->entry_counts, at, count);
  if (node->level == 1) {
    EraseRange(&node->leaves, at, count);
  } else {
    EraseRange(&node->nodes, at, count);
  }
  CheckArrays(*node);
}

void InsertLeaves(InternalNode* node, size_t at, std::span<const std::shared_ptr<LeafBox>> boxes) {
  COWTREE_ASSERT(node->level == 1 && at <= node->child_count());
  const size_t n = boxes.size();
  node->first_keys.insert(node->first_keys.begin() + at, n, 0);
  node->pos_sums.insert(node->pos_sums.begin() + at, n, 0);
  node->entry_counts.insert(node->entry_counts.begin() + at, n, 0);
  node->leaves.insert(node->leaves.begin() + at, boxes.begin(), boxes.end());
  for (size_t i = at; i < at + n; ++i) RefreshChild(node, i);
  CheckArrays(*node);
}

void InsertNodes(InternalNode* node, size_t at,
                 std::span<const std::shared_ptr<InternalNode>> children) {
  COWTREE_ASSERT(node->level > 1 && at <= node->child_count());
  const size_t n = children.size();
  node->first_keys.insert(node->first_keys.begin() + at, n, 0);
  node->pos_sums.insert(node->pos_sums.begin() + at, n, 0);
  node->entry_counts.insert(node->entry_counts.begin() + at, n, 0);
  node->nodes.insert(node->nodes.begin() + at, children.begin(), children.end());
  for (size_t i = at; i < at + n; ++i) RefreshChild(node, i);
  CheckArrays(*node);
}

void MoveChildrenToBack(InternalNode* src, size_t from, InternalNode* dst) {
  MoveSpanToBack(src, from, src->child_count(), dst);
}

void MoveFrontChildrenToBack(InternalNode* src, size_t count, InternalNode* dst) {
  MoveSpanToBack(src, 0, count, dst);
}

std::vector<std::shared_ptr<InternalNode>> SplitNode(InternalNode* node, size_t max_children,
                                                     uint64_t epoch, InternalNodePool* pool) {
  if (pool == nullptr) pool = &InternalNodePool::Default();
  const size_t n = node->child_count();
  COWTREE_ASSERT(max_children >= 2 && n > max_children);
  const size_t pieces = (n + max_children - 1) / max_children;
  const size_t base = n / pieces;
  const size_t extra = n % pieces;
  // Piece j holds base + (j < extra) children; node keeps piece 0.
  std::vector<std::shared_ptr<InternalNode>> tails;
  tails.reserve(pieces - 1);
  size_t start = base + (extra > 0 ? 1 : 0);
  for (size_t j = 1; j < pieces; ++j) {
    const size_t size = base + (j < extra ? 1 : 0);
    std::shared_ptr<InternalNode> piece = pool->Make(max_children, node->level);
    piece->epoch = epoch;
    // Copy [start, start + size) into the piece; the tail is erased from node at the end.
    piece->first_keys.assign(node->first_keys.begin() + start,
                             node->first_keys.begin() + start + size);
    piece->pos_sums.assign(node->pos_sums.begin() + start, node->pos_sums.begin() + start + size);
    piece->entry_counts.assign(node->entry_counts.begin() + start,
                               node->entry_counts.begin() + start + size);
    if (node->level == 1) {
      piece->leaves.assign(std::make_move_iterator(node->leaves.begin() + start),
                           std::make_move_iterator(node->leaves.begin() + start + size));
    } else {
      piece->nodes.assign(std::make_move_iterator(node->nodes.begin() + start),
                          std::make_move_iterator(node->nodes.begin() + start + size));
    }
    CheckArrays(*piece);
    COWTREE_ASSERT(piece->child_count() <= max_children);
    tails.push_back(std::move(piece));
    start += size;
  }
  COWTREE_ASSERT(start == n);
  const size_t keep = base + (extra > 0 ? 1 : 0);
  EraseChildren(node, keep, n - keep);
  COWTREE_ASSERT(node->child_count() <= max_children);
  return tails;
}

}  // namespace cowtree::tree
