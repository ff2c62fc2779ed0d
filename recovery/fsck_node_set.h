// NodeIdSet: a set of NodeIDs in about one byte per object-table handle, for fsck's passes
// (recovery/fsck_context.h: the objects referenced from a catalog, those already checked).
//
// Why not std::unordered_set<uint64_t>: fsck keeps up to three such sets over every live
// object, and at 835 k objects a hash set took ~32 B per member. A NodeID is a handle plus an
// 8-bit tag (1..255, 0 never used: persistence/node_id.h), and a live handle holds one tag at a
// time, so a byte per handle holds the set exactly: 0 = absent, else the tag present. Handles
// are dense per object-table shard, but shard s's i-th handle is i * shard_count + s
// (persistence/object_table.h), so a store that used one shard has handles 16 apart: the bytes
// are kept in 16 lanes by the handle's low 4 bits, each indexed by handle >> 4, and sized by the
// largest handle of its lane (HandleLanes). Ids past a lane's size, and a second tag at one
// handle (a stale reference, which the passes report anyway), go to a hash set: exact in every
// case.
//
// Thread-safety: none (a Context is used by one thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "persistence/node_id.h"

namespace cowtree::recovery::fsck {

// The dense size of each lane: 1 + the largest handle >> 4 among the handles whose low 4 bits
// are the lane (0: the lane is empty).
inline constexpr size_t kNodeIdSetLanes = 16;
using HandleLanes = std::array<uint64_t, kNodeIdSetLanes>;

class NodeIdSet {
 public:
  // Sizes the dense lanes (lane sizes only grow). Members inserted before stay members.
  void Reserve(const HandleLanes& lanes);
  // Inserts id (any value: an invalid one, read from a damaged object, is held too); true if
  // it was not a member.
  bool Insert(NodeID id);
  bool Contains(NodeID id) const;
  // Inserts every member of `other` (not *this).
  void InsertAll(const NodeIdSet& other);
  size_t size() const { return size_; }
  // Heap bytes held (the dense bytes and an estimate of the hash set's).
  size_t memory_bytes() const;
  // The lanes' sizes now.
  HandleLanes lanes() const;

 private:
  // The dense byte of id's handle, or nullptr past its lane.
  uint8_t* Dense(NodeID id);
  const uint8_t* Dense(NodeID id) const;

  std::array<std::vector<uint8_t>, kNodeIdSetLanes> tags_;  // 0 = none, else the member's tag
  std::unordered_set<uint64_t> overflow_;
  size_t size_ = 0;
};

}  // namespace cowtree::recovery::fsck
