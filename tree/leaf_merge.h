// Leaf-level steps of the writer (tree/apply.cc). Internal header.
//
// MergeLeafOps: the content of one leaf after a run of ops.
// - old: the leaf's current content, or null for "no leaf yet" (empty tree); old_pos_sum its
//   positive sum. ops: strictly increasing keys, weights != 0 (checked by the caller).
// - out receives the merged entries (keys strictly increasing, zero-weight entries dropped);
//   *out_pos_sum their positive sum. Untouched runs of the old leaf are copied in bulk.
// - Errors: InvalidArgument when an entry's weight sum overflows int64 (message: the key as
//   `key_type` reads it (KeyText), old weight, delta, the int64 range), or the leaf's positive sum
//   overflows uint64 (then the tree total N would overflow too: every entry of the merged leaf is
//   final for the batch). old_pos_sum must be exact (< 2^64, as every LeafBox sum is).
// - old_unit_weights: whether every weight of `old` is 1 (true for null old).
// - Implicit unit weights (tree/leaf.h LeafData): while every weight written is 1, `out`
//   holds keys only; the first other weight writes the weights array (1 for every entry so far).
//   An old leaf known to be unit (old_unit_weights, or its weights implicit) is read as
//   implicit, so its weights array is never read. *out_unit_weights: true when `out`'s
//   weights are known to be all 1 (then they are implicit); false when unknown (an old leaf
//   that holds other weights, even if the ops bring every one to 1).
//
// SplitLeaf: wraps content of n entries into boxes created at `epoch`, appended to *out:
// one box when n <= shape.leaf_capacity_entries and, with a byte limit, its body
// (EncodedLeafBytes) is at most shape.leaf_capacity_bytes; else ceil(n / capacity) boxes of
// even size (each at least capacity / 2), or, when the bytes need more pieces, boxes of even
// encoded bytes, each within both limits (asserted). n == 0 appends nothing. Returns the body
// bytes of the one box when it made one and the shape has a byte limit (for
// TreeShape::LeafUnderflows), else 0. pos_sum must be the content's positive sum. The boxes
// charge `budget` (may be null).
// weights: what the caller knows of the content's weights (LeafBox::WeightsHint), passed on
// to the boxes (a piece of content that is not all unit may still be: its box scans).
// When n > capacity the pieces are new LeafData from NewLeafData(size, budget)
// (tree/leaf_pool.h) and `content` is released (back to the pool if it came from there).
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

// Decimal text of a (non-negative) 128-bit count, for error messages.
inline std::string Int128ToString(__int128 v) {
  if (v == 0) return "0";
  std::string s;
  const bool negative = v < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v) : v;
  for (; u != 0; u /= 10) s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
  return negative ? "-" + s : s;
}

Status MergeLeafOps(const LeafData* old, uint64_t old_pos_sum, bool old_unit_weights,
                    std::span<const KeyWeight> ops, KeyType key_type, LeafData* out,
                    uint64_t* out_pos_sum, bool* out_unit_weights);

size_t SplitLeaf(std::shared_ptr<LeafData> content, uint64_t pos_sum, const TreeShape& shape,
                 uint64_t epoch, std::vector<std::shared_ptr<LeafBox>>* out,
                 MemoryBudget* budget = nullptr,
                 LeafBox::WeightsHint weights = LeafBox::WeightsHint::kUnknown);

}  // namespace cowtree::tree
