// The rows of one `cowtree ingest` batch held as ops and sorted into key order before they are
// committed (tools/ingest.h "Batches and commits", docs/ingest_batches.md).
//
// Why: under a memory budget much smaller than the tree, a commit of random keys touches one
// leaf per key, and each of those leaves is read back from disk and written again by the next
// checkpoint (docs/memory_budget.md "Write amplification"). Sorting a batch of B rows and
// committing it in key order, a few thousand ops at a time, visits each touched leaf once per
// batch instead of once per key: a tree of L leaves costs about min(B, L) leaf reads and writes
// per batch instead of B.
//
// Order: ascending (group, key code, arrival), where group is the caller's group index
// (SortBuffer::Sort renumbers them by rank), the key code is the tree's own order-preserving
// 64-bit code (tree/key_codec.h) and arrival is the op's position in the batch. The order is
// total and depends only on the batch's rows, so a run that reads the same rows again sorts
// them into the same sequence: that is what lets `--resume` skip exactly the ops a crashed run
// committed.
//
// Representation: each op is one 128-bit record, group (32 bits) | key code (64) | arrival
// (32), so that the order above is the records' numeric order. Sort is an in-place MSD radix
// sort (American flag sort) on those 128 bits, from the most significant byte that is not the
// same in every record of a bucket; buckets under 64 records go to std::sort. In place, so a
// batch costs its records only and the budget holds twice the rows an LSD sort with a scratch
// array would allow (the batch size is what saves leaf I/O: docs/ingest_batches.md).
// Weights: none are stored while every weight is 1 (rows without a weight column); from the
// first other weight on, one int64 per op, by arrival.
//
// Memory (kOpBytes, kWeightBytes): 16 bytes per op, 24 once a weight is not 1; the arrays keep
// their capacity between batches.
// Thread-safety: none (one ingest thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace cowtree::tools {

// One op, decoded from its record.
struct SortedOp {
  uint32_t group = 0;    // the caller's group index (its rank after Sort)
  uint32_t arrival = 0;  // position of the op in the batch: the tie-break between equal keys
  uint64_t key_code = 0;
  int64_t weight = 0;  // never 0
};

class SortBuffer {
 public:
  static constexpr size_t kOpBytes = 16;         // the record
  static constexpr size_t kWeightBytes = 8;      // per op once a weight is not 1
  static constexpr size_t kOpsMax = UINT32_MAX;  // arrival is 32 bits

  // Room for `ops` ops without reallocating (and their weights if `weighted`).
  void Reserve(size_t ops, bool weighted);
  // Appends an op. Precondition: weight != 0, size() < kOpsMax.
  void Add(uint32_t group, uint64_t key_code, int64_t weight);
  // Renumbers every op's group through `rank` (rank[old index] = new index; a permutation of
  // 0..rank.size()-1 covering every group used) and sorts the ops into the order above.
  // Postcondition (asserted): the records are strictly ascending.
  void Sort(std::span<const uint32_t> rank);
  size_t size() const { return records_.size(); }
  // Op i in the current order. Precondition: i < size().
  SortedOp op(size_t i) const;
  // Forgets the ops (keeps the capacity).
  void Clear();

 private:
  struct Record {
    uint64_t hi = 0;  // group << 32 | key code >> 32
    uint64_t lo = 0;  // key code << 32 | arrival
  };
  static_assert(sizeof(Record) == 16);
  void RadixSort(size_t begin, size_t end, int byte);

  std::vector<Record> records_;
  std::vector<int64_t> weights_;  // by arrival; empty while every weight is 1
  bool has_weights_ = false;      // a weight other than 1 was added: weights_ holds them all
};

}  // namespace cowtree::tools
