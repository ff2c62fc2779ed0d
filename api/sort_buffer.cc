#include "api/sort_buffer.h"

#include <algorithm>
#include <array>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "persistence/assert.h"

namespace cowtree::api_internal {
namespace {

using Record = SortBuffer::Record;

// Below this many ops a bucket is finished by std::sort (cheaper than another histogram).
constexpr size_t kRadixCutoff = 64;

// The bits of each kind, byte p counted from the least significant (0).
// Full ops: 128 bits, 15 = the group's top byte, 0 = the arrival's low byte.
struct RecordBits {
  static constexpr int kTopByte = 15;
  static uint32_t Digit(const Record& r, int p) {
    return p >= 8 ? static_cast<uint32_t>(r.hi >> (8 * (p - 8))) & 0xff
                  : static_cast<uint32_t>(r.lo >> (8 * p)) & 0xff;
  }
  static bool Less(const Record& x, const Record& y) {
    return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo);
  }
  // The bits that differ between some two of [a, a + n), as a Record.
  static Record Varying(const Record* a, size_t n) {
    uint64_t hi_or = 0, hi_and = ~uint64_t{0}, lo_or = 0, lo_and = ~uint64_t{0};
    for (size_t i = 0; i < n; ++i) {
      hi_or |= a[i].hi;
      hi_and &= a[i].hi;
      lo_or |= a[i].lo;
      lo_and &= a[i].lo;
    }
    return Record{hi_or ^ hi_and, lo_or ^ lo_and};
  }
};

// Compact ops: the 64-bit key code.
struct CodeBits {
  static constexpr int kTopByte = 7;
  static uint32_t Digit(uint64_t k, int p) { return static_cast<uint32_t>(k >> (8 * p)) & 0xff; }
  static bool Less(uint64_t x, uint64_t y) { return x < y; }
  static uint64_t Varying(const uint64_t* a, size_t n) {
    uint64_t all_or = 0, all_and = ~uint64_t{0};
    for (size_t i = 0; i < n; ++i) {
      all_or |= a[i];
      all_and &= a[i];
    }
    return all_or ^ all_and;
  }
};

// In-place MSD radix sort of a[begin, end) on bytes `byte` .. 0 (American flag sort: McIlroy,
// Bostic and McIlroy, "Engineering Radix Sort", Computing Systems 6(1), 1993). A byte with one
// value in the whole bucket is skipped without moving anything; small buckets go to std::sort.
// Full records are distinct (the arrival is unique); equal compact codes are the same op, so
// neither kind needs a stable pass.
template <typename Bits, typename T>
void RadixSort(T* a, size_t begin, size_t end, int byte) {
  if (end - begin > kRadixCutoff) {
    // Bytes above the highest byte that varies within the bucket need no pass.
    const T varying = Bits::Varying(a + begin, end - begin);
    while (byte >= 0 && Bits::Digit(varying, byte) == 0) --byte;
    if (byte < 0) return;  // every op of the bucket is the same: sorted
  }
  if (end - begin > kRadixCutoff && byte >= 0) {
    std::array<size_t, 256> count{};
    for (size_t i = begin; i < end; ++i) ++count[Bits::Digit(a[i], byte)];
    std::array<size_t, 256> next{}, stop{};
    size_t offset = begin;
    for (int d = 0; d < 256; ++d) {
      next[d] = offset;
      offset += count[d];
      stop[d] = offset;
    }
    COWTREE_ASSERT(offset == end);
    // Cycle each misplaced op into its bucket's next free slot.
    for (int d = 0; d < 256; ++d) {
      while (next[d] < stop[d]) {
        T r = a[next[d]];
        uint32_t rd = Bits::Digit(r, byte);
        while (rd != static_cast<uint32_t>(d)) {
          std::swap(r, a[next[rd]++]);
          rd = Bits::Digit(r, byte);
        }
        a[next[d]++] = r;
      }
    }
    // Sort each bucket on the next byte (recursion depth <= 16: one level per byte).
    size_t bucket_begin = begin;
    for (int d = 0; d < 256; ++d) {
      const size_t bucket_end = stop[d];
      if (bucket_end - bucket_begin > 1 && byte > 0) {
        RadixSort<Bits>(a, bucket_begin, bucket_end, byte - 1);
      }
      bucket_begin = bucket_end;
    }
    return;
  }
  if (end - begin > 1) std::sort(a + begin, a + end, Bits::Less);
}

}  // namespace

Status SortBuffer::Reserve(size_t bytes, bool weighted) {
  reserved_bytes_ = bytes;
  reserved_weighted_ = weighted;
  weights_always_ = weighted;
  try {
    compact_.reserve(bytes / kCompactOpBytes);
    records_.reserve(bytes / kOpBytes);
    if (weighted) weights_.reserve(bytes / (kOpBytes + kWeightBytes));
  } catch (const std::bad_alloc&) {
    Release();
    return Status::NoSpace("cannot reserve " + std::to_string(bytes) +
                           " bytes of address space for a batch's ops");
  } catch (const std::length_error&) {
    Release();
    return Status::NoSpace("cannot reserve " + std::to_string(bytes) +
                           " bytes of address space for a batch's ops (past the largest array)");
  }
  return Status::OK();
}

void SortBuffer::Release() {
  std::vector<uint64_t>().swap(compact_);
  std::vector<Record>().swap(records_);
  std::vector<int64_t>().swap(weights_);
  compact_most_ = records_most_ = weights_most_ = 0;
}

void SortBuffer::Add(uint32_t group, uint64_t key_code, int64_t weight) {
  COWTREE_ASSERT(weight != 0);
  COWTREE_ASSERT(size() < kOpsMax);
  if (group == 0 && weight == 1) {
    compact_.push_back(key_code);
    return;
  }
  const auto arrival = static_cast<uint32_t>(records_.size());
  records_.push_back({(uint64_t{group} << 32) | (key_code >> 32), (key_code << 32) | arrival});
  // With a weight column every full op holds its weight from the first one, so the bytes grow
  // by 24 per full op and never jump; without one, from the first weight other than 1.
  if (!has_weights_ && (weight != 1 || weights_always_)) {
    weights_.assign(arrival, 1);
    has_weights_ = true;
  }
  if (has_weights_) weights_.push_back(weight);
  COWTREE_ASSERT(has_weights_ ? weights_.size() == records_.size() : weights_.empty());
}

size_t SortBuffer::BytesToAdd(uint32_t group, int64_t weight) const {
  if (group == 0 && weight == 1) return kCompactOpBytes;
  if (has_weights_) return kOpBytes + kWeightBytes;
  if (weight != 1 || weights_always_) return kOpBytes + kWeightBytes * (records_.size() + 1);
  return kOpBytes;
}

size_t SortBuffer::bytes() const {
  return compact_.size() * kCompactOpBytes + records_.size() * kOpBytes +
         weights_.size() * kWeightBytes;
}

bool SortBuffer::NextIsCompact(const Cursor& c) const {
  if (c.compact == compact_.size()) return false;
  if (c.full == records_.size()) return true;
  // Compact before full on an equal (group, key): compare the full record's top 96 bits.
  const Record& r = records_[c.full];
  const uint64_t code = compact_[c.compact];
  const uint64_t hi = (uint64_t{compact_group_} << 32) | (code >> 32);
  return hi < r.hi || (hi == r.hi && (code << 32) <= (r.lo & ~uint64_t{0xffffffff}));
}

SortedOp SortBuffer::op(size_t i) const {
  COWTREE_ASSERT(i < size());
  if (i < cursor_.index) cursor_ = Cursor{};
  while (cursor_.index < i) {
    if (NextIsCompact(cursor_)) {
      ++cursor_.compact;
    } else {
      ++cursor_.full;
    }
    ++cursor_.index;
  }
  SortedOp op;
  if (NextIsCompact(cursor_)) {
    op.group = compact_group_;
    op.key_code = compact_[cursor_.compact++];
    op.weight = 1;
  } else {
    const Record& r = records_[cursor_.full++];
    op.group = static_cast<uint32_t>(r.hi >> 32);
    op.key_code = (r.hi << 32) | (r.lo >> 32);
    const auto arrival = static_cast<uint32_t>(r.lo);
    op.weight = has_weights_ ? weights_[arrival] : 1;
  }
  ++cursor_.index;
  COWTREE_ASSERT(cursor_.index == cursor_.compact + cursor_.full);
  return op;
}

size_t SortBuffer::touched_bytes() const {
  return std::max(compact_most_, compact_.size()) * kCompactOpBytes +
         std::max(records_most_, records_.size()) * kOpBytes +
         std::max(weights_most_, weights_.size()) * kWeightBytes;
}

void SortBuffer::Clear() {
  if (touched_bytes() > reserved_bytes_ / 4 * 3) {
    // The next batch could find less than a quarter of its bytes untouched (both kinds'
    // arrays hold pages of earlier batches): free them all, so it starts from nothing. The
    // same reservation succeeded before; if it fails now, the arrays grow as ops come.
    Release();
    static_cast<void>(Reserve(reserved_bytes_, reserved_weighted_));
  } else {
    compact_most_ = std::max(compact_most_, compact_.size());
    records_most_ = std::max(records_most_, records_.size());
    weights_most_ = std::max(weights_most_, weights_.size());
  }
  compact_.clear();
  records_.clear();
  weights_.clear();
  has_weights_ = false;
  compact_group_ = 0;
  cursor_ = Cursor{};
}

void SortBuffer::Reset() {
  Release();
  // The same reservation succeeded before; if it fails now, the arrays grow as ops come.
  static_cast<void>(Reserve(reserved_bytes_, reserved_weighted_));
  has_weights_ = false;
  compact_group_ = 0;
  cursor_ = Cursor{};
  COWTREE_ASSERT(size() == 0 && touched_bytes() == 0);
}

void SortBuffer::Sort(std::span<const uint32_t> rank) {
  COWTREE_ASSERT(compact_.empty() || !rank.empty());
  if (!compact_.empty()) compact_group_ = rank[0];
  for (Record& r : records_) {
    const auto group = static_cast<uint32_t>(r.hi >> 32);
    COWTREE_ASSERT(group < rank.size());
    r.hi = (uint64_t{rank[group]} << 32) | (r.hi & 0xffffffffu);
  }
  RadixSort<CodeBits>(compact_.data(), 0, compact_.size(), CodeBits::kTopByte);
  RadixSort<RecordBits>(records_.data(), 0, records_.size(), RecordBits::kTopByte);
  cursor_ = Cursor{};
  // Postconditions (O(n), small next to the sort).
  for (size_t i = 1; i < compact_.size(); ++i) COWTREE_ASSERT(compact_[i - 1] <= compact_[i]);
  for (size_t i = 1; i < records_.size(); ++i) {
    COWTREE_ASSERT(RecordBits::Less(records_[i - 1], records_[i]));
  }
}

}  // namespace cowtree::api_internal
