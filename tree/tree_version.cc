#include "tree/tree_version.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree::tree {

size_t InternalNode::Route(uint64_t key) const {
  COWTREE_ASSERT(!first_keys.empty());
  // upper_bound gives the first child whose first key is > key; the child before it holds key.
  const auto it = std::upper_bound(first_keys.begin(), first_keys.end(), key);
  return it == first_keys.begin() ? 0 : static_cast<size_t>(it - first_keys.begin()) - 1;
}

uint64_t InternalNode::PosTotal() const {
  uint64_t total = 0;
  for (uint64_t s : pos_sums) total += s;
  return total;
}

uint64_t InternalNode::EntryTotal() const {
  uint64_t total = 0;
  for (uint64_t c : entry_counts) total += c;
  return total;
}

}  // namespace cowtree::tree
