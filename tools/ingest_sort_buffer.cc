#include "tools/ingest_sort_buffer.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree::tools {

void SortBuffer::Add(uint32_t group, uint64_t key_code, int64_t weight) {
  COWTREE_ASSERT(weight != 0);
  COWTREE_ASSERT(ops_.size() < kOpsMax);
  ops_.push_back({group, static_cast<uint32_t>(ops_.size()), key_code, weight});
}

void SortBuffer::Sort(std::span<const uint32_t> rank) {
  for (SortedOp& op : ops_) {
    COWTREE_ASSERT(op.group < rank.size());
    op.group = rank[op.group];
  }
  std::sort(ops_.begin(), ops_.end(), [](const SortedOp& a, const SortedOp& b) {
    if (a.group != b.group) return a.group < b.group;
    if (a.key_code != b.key_code) return a.key_code < b.key_code;
    return a.arrival < b.arrival;
  });
  // Postcondition (O(n), small next to the sort): strictly ascending, so the order is total.
  for (size_t i = 1; i < ops_.size(); ++i) {
    const SortedOp& a = ops_[i - 1];
    const SortedOp& b = ops_[i];
    COWTREE_ASSERT(a.group < b.group || (a.group == b.group && a.key_code < b.key_code) ||
                   (a.group == b.group && a.key_code == b.key_code && a.arrival < b.arrival));
  }
}

}  // namespace cowtree::tools
