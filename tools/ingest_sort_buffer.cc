#include "tools/ingest_sort_buffer.h"

#include <algorithm>
#include <array>
#include <utility>

#include "persistence/assert.h"

namespace cowtree::tools {
namespace {

// Below this many records a bucket is finished by std::sort (cheaper than another histogram).
constexpr size_t kRadixCutoff = 64;

// Byte p of a record's 128 bits, 15 = most significant (the group's top byte), 0 = least (the
// arrival's low byte).
inline uint32_t DigitOf(uint64_t hi, uint64_t lo, int p) {
  return p >= 8 ? static_cast<uint32_t>(hi >> (8 * (p - 8))) & 0xff
                : static_cast<uint32_t>(lo >> (8 * p)) & 0xff;
}

}  // namespace

void SortBuffer::Reserve(size_t ops, bool weighted) {
  records_.reserve(ops);
  if (weighted) weights_.reserve(ops);
}

void SortBuffer::Add(uint32_t group, uint64_t key_code, int64_t weight) {
  COWTREE_ASSERT(weight != 0);
  COWTREE_ASSERT(records_.size() < kOpsMax);
  const auto arrival = static_cast<uint32_t>(records_.size());
  records_.push_back({(uint64_t{group} << 32) | (key_code >> 32), (key_code << 32) | arrival});
  if (weight != 1 && !has_weights_) {
    weights_.assign(arrival, 1);
    has_weights_ = true;
  }
  if (has_weights_) weights_.push_back(weight);
  COWTREE_ASSERT(has_weights_ ? weights_.size() == records_.size() : weights_.empty());
}

SortedOp SortBuffer::op(size_t i) const {
  COWTREE_ASSERT(i < records_.size());
  const Record& r = records_[i];
  SortedOp op;
  op.group = static_cast<uint32_t>(r.hi >> 32);
  op.arrival = static_cast<uint32_t>(r.lo);
  op.key_code = (r.hi << 32) | (r.lo >> 32);
  op.weight = has_weights_ ? weights_[op.arrival] : 1;
  return op;
}

void SortBuffer::Clear() {
  records_.clear();
  weights_.clear();
  has_weights_ = false;
}

void SortBuffer::Sort(std::span<const uint32_t> rank) {
  for (Record& r : records_) {
    const auto group = static_cast<uint32_t>(r.hi >> 32);
    COWTREE_ASSERT(group < rank.size());
    r.hi = (uint64_t{rank[group]} << 32) | (r.hi & 0xffffffffu);
  }
  RadixSort(0, records_.size(), 15);
  // Postcondition (O(n), small next to the sort): strictly ascending, so the order is total.
  for (size_t i = 1; i < records_.size(); ++i) {
    const Record& a = records_[i - 1];
    const Record& b = records_[i];
    COWTREE_ASSERT(a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo));
  }
}

// In-place MSD radix sort of records [begin, end) on bytes `byte` .. 0 (American flag sort:
// McIlroy, Bostic and McIlroy, "Engineering Radix Sort", Computing Systems 6(1), 1993). Every
// record is distinct (the arrival is unique), so sorting on all 128 bits gives the total order
// without a stable pass. A byte with one value in the whole bucket is skipped without moving
// anything; small buckets go to std::sort.
void SortBuffer::RadixSort(size_t begin, size_t end, int byte) {
  Record* a = records_.data();
  if (end - begin > kRadixCutoff) {
    // The bits that differ within the bucket (one pass): bytes above the highest such byte are
    // the same in every record and need no pass.
    uint64_t hi_or = 0, hi_and = ~uint64_t{0}, lo_or = 0, lo_and = ~uint64_t{0};
    for (size_t i = begin; i < end; ++i) {
      hi_or |= a[i].hi;
      hi_and &= a[i].hi;
      lo_or |= a[i].lo;
      lo_and &= a[i].lo;
    }
    while (byte >= 0 && DigitOf(hi_or ^ hi_and, lo_or ^ lo_and, byte) == 0) --byte;
  }
  if (end - begin > kRadixCutoff && byte >= 0) {
    std::array<size_t, 256> count{};
    for (size_t i = begin; i < end; ++i) ++count[DigitOf(a[i].hi, a[i].lo, byte)];
    std::array<size_t, 256> next{}, stop{};
    size_t offset = begin;
    for (int d = 0; d < 256; ++d) {
      next[d] = offset;
      offset += count[d];
      stop[d] = offset;
    }
    COWTREE_ASSERT(offset == end);
    // Cycle each misplaced record into its bucket's next free slot.
    for (int d = 0; d < 256; ++d) {
      while (next[d] < stop[d]) {
        Record r = a[next[d]];
        uint32_t rd = DigitOf(r.hi, r.lo, byte);
        while (rd != static_cast<uint32_t>(d)) {
          std::swap(r, a[next[rd]++]);
          rd = DigitOf(r.hi, r.lo, byte);
        }
        a[next[d]++] = r;
      }
    }
    // Sort each bucket on the next byte (recursion depth <= 16: one level per byte).
    size_t bucket_begin = begin;
    for (int d = 0; d < 256; ++d) {
      const size_t bucket_end = stop[d];
      if (bucket_end - bucket_begin > 1 && byte > 0) RadixSort(bucket_begin, bucket_end, byte - 1);
      bucket_begin = bucket_end;
    }
    return;
  }
  if (end - begin > 1) {
    std::sort(a + begin, a + end, [](const Record& x, const Record& y) {
      return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo);
    });
  }
}

}  // namespace cowtree::tools
