#include "tree/leaf_merge.h"

#include <algorithm>
#include <string>

#include "persistence/assert.h"
#include "tree/block_cache.h"
#include "tree/leaf_pool.h"

namespace cowtree::tree {
namespace {

inline uint64_t PositivePart(int64_t w) { return w > 0 ? static_cast<uint64_t>(w) : 0; }

}  // namespace

Status MergeLeafOps(const LeafData* old, uint64_t old_pos_sum, std::span<const KeyWeight> ops,
                    LeafData* out, uint64_t* out_pos_sum) {
  const size_t old_n = old == nullptr ? 0 : old->keys.size();
  out->keys.clear();
  out->weights.clear();
  out->keys.reserve(old_n + ops.size());
  out->weights.reserve(old_n + ops.size());
  if (old_n > 0 && ops.size() * 16 < old_n) {
    // Few ops into a (usually cold) leaf: the binary searches below would miss the cache one
    // dependent load at a time. Request every cache line of the key array up front so the
    // misses overlap; the copies that follow read the same lines.
    const char* p = reinterpret_cast<const char*>(old->keys.data());
    const char* end = p + old_n * sizeof(uint64_t);
    for (; p < end; p += 64) __builtin_prefetch(p);
  }
  // Exact arithmetic: the result is checked against 2^64 - 1 at the end.
  __int128 pos_sum = old_pos_sum;
  size_t pos = 0;  // next old entry not yet copied
  for (const KeyWeight& op : ops) {
    COWTREE_DASSERT(op.weight != 0);
    size_t at = pos;
    if (old_n > 0) {
      at = static_cast<size_t>(std::lower_bound(old->keys.begin() + pos, old->keys.end(), op.key) -
                               old->keys.begin());
      // Copy the untouched run [pos, at) in bulk.
      out->keys.insert(out->keys.end(), old->keys.begin() + pos, old->keys.begin() + at);
      out->weights.insert(out->weights.end(), old->weights.begin() + pos,
                          old->weights.begin() + at);
    }
    if (at < old_n && old->keys[at] == op.key) {
      const int64_t before = old->weights[at];
      int64_t after;
      if (__builtin_add_overflow(before, op.weight, &after)) {
        return Status::InvalidArgument("weight of key code " + std::to_string(op.key) + " (" +
                                       std::to_string(before) + ") + " + std::to_string(op.weight) +
                                       " overflows int64 [" + std::to_string(INT64_MIN) + ", " +
                                       std::to_string(INT64_MAX) + "]");
      }
      pos_sum += static_cast<__int128>(PositivePart(after)) - PositivePart(before);
      if (after != 0) {
        out->keys.push_back(op.key);
        out->weights.push_back(after);
      }
      pos = at + 1;
    } else {
      pos_sum += PositivePart(op.weight);
      out->keys.push_back(op.key);
      out->weights.push_back(op.weight);
      pos = at;
    }
  }
  if (old_n > pos) {
    out->keys.insert(out->keys.end(), old->keys.begin() + pos, old->keys.end());
    out->weights.insert(out->weights.end(), old->weights.begin() + pos, old->weights.end());
  }
  COWTREE_ASSERT(pos_sum >= 0);
  if (pos_sum > static_cast<__int128>(UINT64_MAX)) {
    return Status::InvalidArgument(
        "positive weight of the leaf starting at key code " +
        std::to_string(out->keys.empty() ? 0 : out->keys[0]) + " would be " +
        Int128ToString(pos_sum) +
        ", so N would pass the limit 2^64-1 = " + std::to_string(UINT64_MAX));
  }
  *out_pos_sum = static_cast<uint64_t>(pos_sum);
  COWTREE_ASSERT(out->keys.size() == out->weights.size());
  return Status::OK();
}

void SplitLeaf(std::shared_ptr<LeafData> content, uint64_t pos_sum, uint32_t capacity,
               uint64_t epoch, std::vector<std::shared_ptr<LeafBox>>* out, MemoryBudget* budget) {
  const size_t n = content->keys.size();
  COWTREE_ASSERT(capacity >= 1);
  if (n == 0) return;
  if (n <= capacity) {
    out->push_back(std::allocate_shared<LeafBox>(CachingAllocator<LeafBox>(), std::move(content),
                                                 pos_sum, epoch, budget));
    return;
  }
  const size_t pieces = (n + capacity - 1) / capacity;
  const size_t base = n / pieces;
  const size_t extra = n % pieces;
  size_t start = 0;
  uint64_t total_check = 0;
  for (size_t j = 0; j < pieces; ++j) {
    const size_t size = base + (j < extra ? 1 : 0);
    std::shared_ptr<LeafData> piece = NewLeafData(size, budget);
    piece->keys.assign(content->keys.begin() + start, content->keys.begin() + start + size);
    piece->weights.assign(content->weights.begin() + start,
                          content->weights.begin() + start + size);
    uint64_t piece_sum = 0;  // cannot overflow: at most pos_sum (callers pass exact sums)
    for (int64_t w : piece->weights) piece_sum += PositivePart(w);
    total_check += piece_sum;
    COWTREE_ASSERT(size >= 1 && size <= capacity);
    out->push_back(std::allocate_shared<LeafBox>(CachingAllocator<LeafBox>(), std::move(piece),
                                                 piece_sum, epoch, budget));
    start += size;
  }
  COWTREE_ASSERT(start == n);
  COWTREE_ASSERT(total_check == pos_sum);
}

}  // namespace cowtree::tree
