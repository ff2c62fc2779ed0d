// Ops held and sorted into (tree, key) order before they are committed: the rows of one
// `cowtree ingest` batch (tools/ingest.h "Batches and commits", docs/ingest_batches.md) and the
// buffer of a BulkLoader (include/cowtree/bulk_loader.h). The CLI was the first user; the text
// below speaks of its batches, groups and rows (for a BulkLoader: its buffer, trees and Adds).
//
// Why: under a memory budget much smaller than the tree, a commit of random keys touches one
// leaf per key, and each of those leaves is read back from disk and written again by the next
// checkpoint (docs/memory_budget.md "Write amplification"). Sorting a batch of B rows and
// committing it in key order, a few thousand ops at a time, visits each touched leaf once per
// batch instead of once per key: a tree of L leaves costs about min(B, L) leaf reads and writes
// per batch instead of B.
//
// Two kinds of op:
// - compact: an op of group index 0 (the batch's first group) and weight 1, held as its key
//   code alone (8 bytes). Two such ops of one key are the same op, so they need no arrival.
//   A batch of one group without weights (the common bulk load) is all compact, and a budget
//   holds twice its rows.
// - full: any other op, one 128-bit record, group (32 bits) | key code (64) | arrival (32),
//   where arrival is the op's position among the full ops; its weight, once a full op's weight
//   is not 1, in a weights array by arrival (8 bytes per full op).
//
// Order: ascending (group, key code, kind, arrival), where group is the caller's group index
// (SortBuffer::Sort renumbers them by rank), the key code is the tree's own order-preserving
// 64-bit code (tree/key_codec.h), kind puts compact ops before full ones of the same group and
// key, and arrival orders full ops. Which ops are compact depends only on the batch's rows, so
// the order is total over distinct ops and depends only on the batch's rows: a run that reads
// the same rows again sorts them into the same sequence, which is what lets `--resume` skip
// exactly the ops a crashed run committed.
//
// Sort: each kind is sorted alone by an in-place MSD radix sort (American flag sort) on its
// bits, from the most significant byte that is not the same in every op of a bucket; buckets
// under 64 ops go to std::sort. op(i) then merges the two runs. In place, so a batch costs its
// ops only.
//
// Memory: bytes() = 8 per compact op + 16 per full op + 8 per full op with a weight (every full
// op once Reserve was told of a weight column; else from the first weight other than 1).
// Reserve() reserves address space for the most of each kind a budget allows; pages are
// touched only as ops arrive. Touched pages stay resident between batches, so what the arrays
// hold resident is touched_bytes() (the most ops of each kind held since they were reserved),
// not bytes(): a batch of full ops after one of compact ops keeps both arrays' pages. The
// caller bounds touched_bytes(), and Clear() frees the arrays (and reserves them again) when
// they touched more than three quarters of the reserved bytes, so every batch has at least a
// quarter of them to fill.
// Thread-safety: none (one ingest thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "persistence/status.h"

namespace cowtree::api_internal {

// One op in sorted order.
struct SortedOp {
  uint32_t group = 0;  // the caller's group index (its rank after Sort)
  uint64_t key_code = 0;
  int64_t weight = 0;  // never 0
};

class SortBuffer {
 public:
  static constexpr size_t kCompactOpBytes = 8;   // a compact op: its key code
  static constexpr size_t kOpBytes = 16;         // a full op: its record
  static constexpr size_t kWeightBytes = 8;      // per full op once a weight is not 1
  static constexpr size_t kOpsMax = UINT32_MAX;  // full ops: arrival is 32 bits; both kinds
  // The order above, as the resume marker records it beside an unfinished batch
  // (tools/ingest.h): 1 was (group, key code, arrival among all ops), before compact ops.
  static constexpr int64_t kSortOrderVersion = 2;

  // Address space for up to `bytes` of ops of either kind (see Memory above), and for their
  // weights if `weighted` (a weight column: full ops then take up to 24 bytes each). Errors:
  // NoSpace when the address space cannot be had (bytes larger than the machine allows;
  // nothing is kept reserved then). Without a successful Reserve the arrays grow as ops come.
  Status Reserve(size_t bytes, bool weighted);
  // Appends an op. Precondition: weight != 0, size() < kOpsMax.
  void Add(uint32_t group, uint64_t key_code, int64_t weight);
  // By how much Add(group, _, weight) would raise bytes(): 8 for a compact op, 16 or 24 for a
  // full one, and 8 per full op already held more for the first weight other than 1 (the
  // weights array then starts; see Memory above).
  size_t BytesToAdd(uint32_t group, int64_t weight) const;
  // Renumbers every op's group through `rank` (rank[old index] = new index; a permutation of
  // 0..rank.size()-1 covering every group used) and sorts the ops into the order above.
  // Postcondition (asserted): compact codes ascending, full records strictly ascending.
  void Sort(std::span<const uint32_t> rank);
  size_t size() const { return compact_.size() + records_.size(); }
  // Bytes the ops take (see Memory above).
  size_t bytes() const;
  // Op i in the sorted order. Precondition: Sort was called since the last Add, i < size().
  // O(1) when i follows the previous call's i (or is 0), else O(i): the two runs are merged
  // by a cursor.
  SortedOp op(size_t i) const;
  // Forgets the ops. Keeps the capacity unless touched_bytes() passes three quarters of
  // Reserve's bytes: then the arrays are freed and reserved again (untouched).
  void Clear();
  // Bytes of the arrays' pages written since they were last (re)reserved: the most ops of each
  // kind held at once, at their sizes.
  size_t touched_bytes() const;
  // Forgets the ops and frees the arrays (their pages), then reserves them again untouched:
  // touched_bytes() is 0 afterwards, so while the next ops arrive the pages held are bytes().
  void Reset();

  // A full op (public for the sort's helpers in the .cc).
  struct Record {
    uint64_t hi = 0;  // group << 32 | key code >> 32
    uint64_t lo = 0;  // key code << 32 | arrival
  };
  static_assert(sizeof(Record) == 16);

 private:
  struct Cursor {
    size_t index = 0;    // op(index) is the next op of the merge
    size_t compact = 0;  // next compact op
    size_t full = 0;     // next full op
  };
  bool NextIsCompact(const Cursor& c) const;
  // Frees the three arrays (their capacity and pages).
  void Release();

  size_t reserved_bytes_ = 0;
  bool reserved_weighted_ = false;
  size_t compact_most_ = 0;        // the most compact ops held since the arrays were reserved
  size_t records_most_ = 0;        // the most full ops ...
  size_t weights_most_ = 0;        // the most weights ...
  std::vector<uint64_t> compact_;  // key codes of the compact ops
  std::vector<Record> records_;    // the full ops
  std::vector<int64_t> weights_;   // by full arrival; empty while every full op's weight is 1
  bool has_weights_ = false;       // weights_ holds every full op's weight
  bool weights_always_ = false;    // Reserve(weighted): from the first full op on
  uint32_t compact_group_ = 0;     // group of the compact ops (0, then its rank after Sort)
  mutable Cursor cursor_;
};

}  // namespace cowtree::api_internal
