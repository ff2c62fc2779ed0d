#include "tools/ingest_sort_buffer.h"

#include <array>
#include <utility>

#include "persistence/assert.h"

namespace cowtree::tools {
namespace {

constexpr int kSortBytes = 12;  // the bytes above the arrival: key code (8) and group (4)

// Byte p (0 = least significant) of the 96-bit sort key of a record.
inline uint32_t DigitOf(uint64_t hi, uint64_t lo, int p) {
  return p < 4 ? static_cast<uint32_t>(lo >> (32 + 8 * p)) & 0xff
               : static_cast<uint32_t>(hi >> (8 * (p - 4))) & 0xff;
}

}  // namespace

void SortBuffer::Reserve(size_t ops, bool weighted) {
  records_.reserve(ops);
  scratch_.reserve(ops);
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
  has_weights_ = false;  // scratch_ keeps its size: resize() then writes nothing
}

void SortBuffer::Sort(std::span<const uint32_t> rank) {
  for (Record& r : records_) {
    const auto group = static_cast<uint32_t>(r.hi >> 32);
    COWTREE_ASSERT(group < rank.size());
    r.hi = (uint64_t{rank[group]} << 32) | (r.hi & 0xffffffffu);
  }
  RadixSort();
  // Postcondition (O(n), small next to the sort): strictly ascending, so the order is total.
  for (size_t i = 1; i < records_.size(); ++i) {
    const Record& a = records_[i - 1];
    const Record& b = records_[i];
    COWTREE_ASSERT(a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo));
  }
}

// Stable LSD radix sort on the 12 bytes above the arrival (the arrivals are ascending before
// the sort, and stability keeps them so among equal keys). One histogram pass counts every
// byte; a byte with a single value in every record needs no pass.
void SortBuffer::RadixSort() {
  const size_t n = records_.size();
  if (n < 2) return;
  std::vector<std::array<size_t, 256>> counts(kSortBytes);
  for (std::array<size_t, 256>& c : counts) c.fill(0);
  for (const Record& r : records_) {
    for (int p = 0; p < kSortBytes; ++p) ++counts[p][DigitOf(r.hi, r.lo, p)];
  }
  scratch_.resize(n);
  Record* src = records_.data();
  Record* dst = scratch_.data();
  for (int p = 0; p < kSortBytes; ++p) {
    std::array<size_t, 256>& c = counts[p];
    if (c[DigitOf(src[0].hi, src[0].lo, p)] == n) continue;  // one value: already in order
    size_t offset = 0;
    for (size_t& count : c) offset += std::exchange(count, offset);
    COWTREE_ASSERT(offset == n);
    for (size_t i = 0; i < n; ++i) dst[c[DigitOf(src[i].hi, src[i].lo, p)]++] = src[i];
    std::swap(src, dst);
  }
  if (src != records_.data()) records_.swap(scratch_);
}

}  // namespace cowtree::tools
