#include "tree/leaf_merge.h"

#include <algorithm>
#include <string>

#include "persistence/assert.h"
#include "tree/block_cache.h"
#include "tree/key_codec.h"
#include "tree/leaf_pool.h"
#include "tree/node_format.h"

namespace cowtree::tree {
namespace {

inline uint64_t PositivePart(int64_t w) { return w > 0 ? static_cast<uint64_t>(w) : 0; }

// The output of MergeLeafOps: keys, and weights only once one differs from 1 (until then
// every weight written is 1 and `out->weights` stays empty: implicit unit weights).
class MergeOutput {
 public:
  // unit: whether the old entries to be copied all weigh 1 (else weights are written at once).
  MergeOutput(LeafData* out, bool unit) : out_(out), unit_(unit) {
    if (!unit_) out_->weights.reserve(out_->keys.capacity());
  }
  bool unit() const { return unit_; }
  // Copies old entries [from, to); `old_unit`: every weight of `old` is 1 (then unit_ may
  // still be true; if old_unit is false, unit_ is false since construction).
  void CopyRun(const LeafData& old, bool old_unit, size_t from, size_t to) {
    out_->keys.insert(out_->keys.end(), old.keys.begin() + from, old.keys.begin() + to);
    if (unit_) return;
    if (old_unit) {
      out_->weights.insert(out_->weights.end(), to - from, 1);
    } else {
      out_->weights.insert(out_->weights.end(), old.weights.begin() + from,
                           old.weights.begin() + to);
    }
  }
  void Add(uint64_t key, int64_t weight) {
    if (unit_ && weight != 1) {
      unit_ = false;
      out_->weights.reserve(out_->keys.capacity());  // keeps a pooled object in its class
      out_->weights.assign(out_->keys.size(), 1);
    }
    out_->keys.push_back(key);
    if (!unit_) out_->weights.push_back(weight);
  }

 private:
  LeafData* const out_;
  bool unit_;
};

// A pooled object may come with a weights buffer (tree/leaf_pool.h); content with implicit unit
// weights does not need it, and the box would charge it for its whole life: free it first.
void DropUnusedWeights(LeafData* data) {
  if (data->implicit_unit_weights() && data->weights.capacity() != 0) {
    std::vector<int64_t>().swap(data->weights);
  }
}

}  // namespace

Status MergeLeafOps(const LeafData* old, uint64_t old_pos_sum, bool old_unit_weights,
                    std::span<const KeyWeight> ops, KeyType key_type, LeafData* out,
                    uint64_t* out_pos_sum, bool* out_unit_weights) {
  const size_t old_n = old == nullptr ? 0 : old->keys.size();
  // Every old weight is 1: its weights array (if any) need not be read.
  const bool old_unit = old_n == 0 || old_unit_weights || old->implicit_unit_weights();
  out->keys.clear();
  out->weights.clear();
  out->keys.reserve(old_n + ops.size());  // weights: reserved by MergeOutput when needed
  if (old_n > 0 && ops.size() * 16 < old_n) {
    // Few ops into a (usually cold) leaf: the binary searches below would miss the cache one
    // dependent load at a time. Request every cache line of the key array up front so the
    // misses overlap; the copies that follow read the same lines. The weights, if held, are
    // copied in the same runs: request them too.
    const char* p = reinterpret_cast<const char*>(old->keys.data());
    const char* end = p + old_n * sizeof(uint64_t);
    for (; p < end; p += 64) __builtin_prefetch(p);
    if (!old_unit) {
      p = reinterpret_cast<const char*>(old->weights.data());
      end = p + old_n * sizeof(int64_t);
      for (; p < end; p += 64) __builtin_prefetch(p);
    }
  }
  MergeOutput merged(out, old_unit);
  // Exact arithmetic: the result is checked against 2^64 - 1 at the end.
  __int128 pos_sum = old_pos_sum;
  size_t pos = 0;  // next old entry not yet copied
  for (const KeyWeight& op : ops) {
    COWTREE_DASSERT(op.weight != 0);
    size_t at = pos;
    if (old_n > 0) {
      at = static_cast<size_t>(std::lower_bound(old->keys.begin() + pos, old->keys.end(), op.key) -
                               old->keys.begin());
      merged.CopyRun(*old, old_unit, pos, at);  // the untouched run [pos, at), in bulk
    }
    if (at < old_n && old->keys[at] == op.key) {
      const int64_t before = old_unit ? 1 : old->weights[at];
      int64_t after;
      if (__builtin_add_overflow(before, op.weight, &after)) {
        return Status::InvalidArgument("weight of " + KeyText(key_type, op.key) + " (" +
                                       std::to_string(before) + ") + " + std::to_string(op.weight) +
                                       " overflows int64 [" + std::to_string(INT64_MIN) + ", " +
                                       std::to_string(INT64_MAX) + "]");
      }
      pos_sum += static_cast<__int128>(PositivePart(after)) - PositivePart(before);
      if (after != 0) merged.Add(op.key, after);
      pos = at + 1;
    } else {
      pos_sum += PositivePart(op.weight);
      merged.Add(op.key, op.weight);
      pos = at;
    }
  }
  if (old_n > pos) merged.CopyRun(*old, old_unit, pos, old_n);
  COWTREE_ASSERT(pos_sum >= 0);
  if (pos_sum > static_cast<__int128>(UINT64_MAX)) {
    return Status::InvalidArgument(
        "positive weight of the leaf starting at key code " +
        std::to_string(out->keys.empty() ? 0 : out->keys[0]) + " would be " +
        Int128ToString(pos_sum) +
        ", so N would pass the limit 2^64-1 = " + std::to_string(UINT64_MAX));
  }
  *out_pos_sum = static_cast<uint64_t>(pos_sum);
  *out_unit_weights = merged.unit();
  COWTREE_ASSERT(merged.unit() ? out->implicit_unit_weights()
                               : out->keys.size() == out->weights.size());
  return Status::OK();
}

namespace {

// Bytes entry i adds to a body holding entries [s, i] (i > s): its key gap, and its weight when
// the content holds a weights array (an upper bound: a piece whose weights all turn out to be
// 1 omits them). Entry s costs its weight only (its key is the header's first_key).
size_t EntryBytes(const LeafData& c, size_t i, bool first) {
  size_t bytes = first ? 0 : Varint64Bytes(c.keys[i] - c.keys[i - 1]);
  if (!c.implicit_unit_weights()) bytes += Varint64Bytes(ZigZag(c.weights[i]));
  return bytes;
}

// Piece sizes, in entries, for content of n entries that one leaf cannot hold (body_bytes: its
// EncodedLeafBytes, 0 without a byte limit).
void PlanPieces(const LeafData& c, size_t body_bytes, const TreeShape& shape,
                std::vector<size_t>* sizes) {
  const size_t n = c.keys.size();
  const size_t capacity = shape.leaf_capacity_entries;
  const size_t by_entries = (n + capacity - 1) / capacity;
  if (body_bytes <= shape.leaf_capacity_bytes || shape.leaf_capacity_bytes == 0) {
    // Over the entry capacity only: even by entries, each at least capacity / 2. Every piece
    // is a part of a body within the byte limit, so within it too.
    COWTREE_ASSERT(by_entries >= 2);
    const size_t base = n / by_entries;
    const size_t extra = n % by_entries;
    for (size_t j = 0; j < by_entries; ++j) sizes->push_back(base + (j < extra ? 1 : 0));
    return;
  }
  // Over the byte limit: even by a cost that counts both limits. Entry i costs
  // u_i = max(bytes_i * E, room), with bytes_i its EntryBytes (at least what it adds to a
  // body), E = capacity - 1 and room = limit - 48 (the body's 28 bytes of header and CRC, and
  // one entry's largest cost, 20): a piece may cost C = room * E beyond its first entry, so
  // its other entries add at most room bytes (its body stays under the limit) and number at
  // most E (it holds at most capacity entries). The pieces are ceil(U / C) for a total U, and
  // piece j ends where the running cost passes j * U / pieces, so each costs about U / pieces
  // >= C / 2: a quarter full by bytes or by entries at least (no tiny piece).
  COWTREE_ASSERT(capacity >= 2 && shape.leaf_capacity_bytes > LeafBodyBytes(2 * kVarint64BytesMax));
  const size_t room = shape.leaf_capacity_bytes - LeafBodyBytes(2 * kVarint64BytesMax);
  const size_t per_entry = capacity - 1;
  const auto cost_of = [&](size_t i) {
    return std::max(EntryBytes(c, i, i == 0) * per_entry, room);
  };
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += cost_of(i);
  const size_t piece_cost = room * per_entry;
  const size_t pieces = std::max<size_t>(2, (total + piece_cost - 1) / piece_cost);
  size_t start = 0;
  size_t cost = 0;  // of entries [0, i]
  size_t j = 1;     // the next boundary not yet passed
  for (size_t i = 0; i < n; ++i) {
    cost += cost_of(i);
    if (i > start && j < pieces && cost > j * total / pieces) {
      sizes->push_back(i - start);
      start = i;
    }
    while (j < pieces && cost > j * total / pieces) ++j;
  }
  sizes->push_back(n - start);
}

}  // namespace

size_t SplitLeaf(std::shared_ptr<LeafData> content, uint64_t pos_sum, const TreeShape& shape,
                 uint64_t epoch, std::vector<std::shared_ptr<LeafBox>>* out, MemoryBudget* budget,
                 LeafBox::WeightsHint weights) {
  const size_t n = content->keys.size();
  COWTREE_ASSERT(shape.leaf_capacity_entries >= 1);
  if (n == 0) return 0;
  const size_t body_bytes = shape.leaf_capacity_bytes != 0 ? EncodedLeafBytes(*content) : 0;
  if (n <= shape.leaf_capacity_entries && body_bytes <= shape.leaf_capacity_bytes) {
    DropUnusedWeights(content.get());
    out->push_back(std::allocate_shared<LeafBox>(CachingAllocator<LeafBox>(), std::move(content),
                                                 pos_sum, epoch, budget, weights));
    return body_bytes;
  }
  const LeafBox::WeightsHint piece_weights =
      weights == LeafBox::WeightsHint::kAllUnit ? weights : LeafBox::WeightsHint::kUnknown;
  thread_local std::vector<size_t> sizes;
  sizes.clear();
  PlanPieces(*content, body_bytes, shape, &sizes);
  COWTREE_ASSERT(sizes.size() >= 2);
  size_t start = 0;
  uint64_t total_check = 0;
  for (const size_t size : sizes) {
    std::shared_ptr<LeafData> piece = NewLeafData(size, budget);
    piece->keys.assign(content->keys.begin() + start, content->keys.begin() + start + size);
    uint64_t piece_sum = size;  // cannot overflow: at most pos_sum (callers pass exact sums)
    if (!content->implicit_unit_weights()) {
      piece->weights.reserve(piece->keys.capacity());  // keeps a pooled object in its class
      piece->weights.assign(content->weights.begin() + start,
                            content->weights.begin() + start + size);
      piece_sum = 0;
      for (int64_t w : piece->weights) piece_sum += PositivePart(w);
    }
    DropUnusedWeights(piece.get());
    total_check += piece_sum;
    COWTREE_ASSERT(size >= 1 && size <= shape.leaf_capacity_entries);
    COWTREE_ASSERT(shape.leaf_capacity_bytes == 0 ||
                   EncodedLeafBytes(*piece) <= shape.leaf_capacity_bytes);
    out->push_back(std::allocate_shared<LeafBox>(CachingAllocator<LeafBox>(), std::move(piece),
                                                 piece_sum, epoch, budget, piece_weights));
    start += size;
  }
  COWTREE_ASSERT(start == n);
  COWTREE_ASSERT(total_check == pos_sum);
  return 0;
}

}  // namespace cowtree::tree
