// The rows of one `cowtree ingest` batch held as ops and sorted into key order before they are
// committed (tools/ingest.h "Batches and commits").
//
// Why: under a memory budget much smaller than the tree, a commit of random keys touches one
// leaf per key, and each of those leaves is read back from disk and written again by the next
// checkpoint (docs/memory_budget.md "Write amplification"). Sorting a batch of B rows and
// committing it in key order, a few thousand ops at a time, visits each touched leaf once per
// batch instead of once per key: a tree of L leaves costs about min(B, L) leaf reads and writes
// per batch instead of B (docs/ingest_batches.md).
//
// Order: ascending (group, key code, arrival), where group is the caller's group index
// (SortBuffer::Sort renumbers them by rank), the key code is the tree's own order-preserving
// 64-bit code (tree/key_codec.h) and arrival is the op's position in the batch. The order is
// total and depends only on the batch's rows, so a run that reads the same rows again sorts
// them into the same sequence: that is what lets `--resume` skip exactly the ops a crashed run
// committed.
//
// Memory: 24 bytes per op (kOpBytes), in one vector whose capacity is kept between batches.
// Thread-safety: none (one ingest thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace cowtree::tools {

struct SortedOp {
  uint32_t group = 0;    // the caller's group index (its rank after Sort)
  uint32_t arrival = 0;  // position of the op in the batch: the tie-break between equal keys
  uint64_t key_code = 0;
  int64_t weight = 0;  // never 0
};
static_assert(sizeof(SortedOp) == 24, "the ingest's memory estimate counts 24 B per op");

class SortBuffer {
 public:
  static constexpr size_t kOpBytes = sizeof(SortedOp);
  // Most ops one batch may hold: arrival is 32 bits.
  static constexpr size_t kOpsMax = UINT32_MAX;

  // Room for `ops` ops without reallocating (the buffer's memory is counted by capacity).
  void Reserve(size_t ops) { ops_.reserve(ops); }
  // Appends an op. Precondition: weight != 0, size() < kOpsMax.
  void Add(uint32_t group, uint64_t key_code, int64_t weight);
  // Renumbers every op's group through `rank` (rank[old index] = new index; a permutation of
  // 0..rank.size()-1 covering every group used) and sorts the ops into the order above.
  void Sort(std::span<const uint32_t> rank);
  std::span<const SortedOp> ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  // Forgets the ops (keeps the capacity).
  void Clear() { ops_.clear(); }

 private:
  std::vector<SortedOp> ops_;
};

}  // namespace cowtree::tools
