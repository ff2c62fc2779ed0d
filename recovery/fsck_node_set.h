// NodeIdSet: a set of NodeIDs in about one byte per object-table handle, for fsck's passes
// (recovery/fsck_context.h: the objects referenced from a catalog, those already checked).
//
// Why not std::unordered_set<uint64_t>: fsck keeps up to three such sets over every live
// object, and at 4.2 M objects (10^9 entries in one tree) hash sets cost ~40 B per member each;
// fsck peaked at 835 MiB there. A NodeID is a dense handle index plus an 8-bit tag (1..255, 0
// never used: persistence/node_id.h), and a live handle holds one tag at a time, so a byte per
// handle below `handle_limit` (the object table's largest live handle + 1) holds the set
// exactly: 0 = absent, else the tag present. Ids past the limit, and a second tag at one handle
// (a stale reference, which the passes report anyway), go to a hash set: exact in every case.
//
// Thread-safety: none (a Context is used by one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "persistence/node_id.h"

namespace cowtree::recovery::fsck {

class NodeIdSet {
 public:
  // Sizes the dense part for handles [0, handle_limit). Members inserted before stay members.
  void Reserve(uint64_t handle_limit);
  // Inserts id (any value: an invalid one, read from a damaged object, is held too); true if
  // it was not a member.
  bool Insert(NodeID id);
  bool Contains(NodeID id) const;
  // Inserts every member of `other`.
  void InsertAll(const NodeIdSet& other);
  size_t size() const { return size_; }
  // Heap bytes held (the dense bytes and an estimate of the hash set's).
  size_t memory_bytes() const;

 private:
  std::vector<uint8_t> tags_;  // by handle: 0 = none, else the member's tag
  std::unordered_set<uint64_t> overflow_;
  size_t size_ = 0;
};

}  // namespace cowtree::recovery::fsck
