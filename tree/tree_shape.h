// TreeShape: the node sizes of one order-statistics tree, and the fill rules derived from it.
//
// Contract
// - leaf_capacity_entries: the most entries a leaf written by Apply holds, in
//   [kLeafCapacityMin, kLeafCapacityMax]. A leaf restored from a checkpoint written with a
//   larger capacity may hold more (up to kLeafCapacityMax) until its next write splits it.
// - leaf_capacity_bytes: 0 (no byte limit), or the largest leaf body (tree/node_format.h,
//   EncodedLeafBytes) a leaf written by Apply may have, in [kLeafCapacityBytesMin,
//   kLeafCapacityBytesMax]: a leaf is split by encoded bytes as well as by entries, so that
//   it fills one size class of the data files whatever its keys' spacing (a body of at most
//   4064 bytes is one 4 KiB slot with the object envelope). Like the entry capacity it is a
//   write rule, not an invariant: a restored leaf may be larger until its next write.
// - fanout: the most children of an internal node, in [kFanoutMin, kFanoutMax].
// - Underflow thresholds (rebalancing after deletes): a leaf underflows when it holds fewer
//   than LeafMinEntries() = ceil(capacity / 4) entries, an internal node other than the root
//   when it has fewer than FanoutMin() = max(2, fanout / 4) children. A quarter (not a half)
//   leaves hysteresis between split and merge so that alternating insert/delete batches near
//   a boundary do not split and merge the same node every epoch. With a byte limit, a leaf
//   underflows only when it is also under a quarter of leaf_capacity_bytes
//   (LeafUnderflows): a leaf of large entry capacity that is full by bytes is not underfull.
// - ValidateTreeShape returns InvalidArgument naming the bad field and its limits.
// Thread-safety: values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "persistence/status.h"

namespace cowtree::tree {

inline constexpr uint32_t kLeafCapacityMin = 4;
inline constexpr uint32_t kLeafCapacityMax = 4096;
inline constexpr uint32_t kLeafCapacityBytesMin = 512;
inline constexpr uint32_t kLeafCapacityBytesMax = 128 * 1024;
inline constexpr uint32_t kFanoutMin = 4;
inline constexpr uint32_t kFanoutMax = 1024;

struct TreeShape {
  uint32_t leaf_capacity_entries = 0;
  uint32_t fanout = 0;
  uint32_t leaf_capacity_bytes = 0;  // 0: leaves are split by entries only

  uint32_t LeafMinEntries() const { return (leaf_capacity_entries + 3) / 4; }
  // Whether a leaf of `entries` entries and a body of `body_bytes` bytes (EncodedLeafBytes;
  // ignored without a byte limit) is underfull: merged with a sibling by Apply.
  bool LeafUnderflows(size_t entries, size_t body_bytes) const {
    if (entries >= LeafMinEntries()) return false;
    return leaf_capacity_bytes == 0 || body_bytes < leaf_capacity_bytes / 4;
  }
  uint32_t FanoutMin() const { return std::max<uint32_t>(2, fanout / 4); }
  // InvalidArgument unless every field is within its limits (= ValidateTreeShape).
  Status Validate() const;
  friend bool operator==(const TreeShape&, const TreeShape&) = default;
};

// Default shape. A 252-entry leaf body is at most 16 + 252 * 16 + 4 = 4052 bytes in the old
// fixed-width format (version 1) and ~1.8 KB in the compact one for random int64 keys of weight
// 1 (docs/node_format.md), so it fits a 2 or 4 KiB slot with the object envelope; internal
// nodes live only in memory, and 64 children keep a node's three arrays within a few cache
// lines each while giving 3 levels for ~1 M entries.
inline constexpr TreeShape kDefaultTreeShape{252, 64};

inline Status ValidateTreeShape(const TreeShape& shape) {
  if (shape.leaf_capacity_entries < kLeafCapacityMin ||
      shape.leaf_capacity_entries > kLeafCapacityMax) {
    return Status::InvalidArgument("tree shape: leaf_capacity_entries " +
                                   std::to_string(shape.leaf_capacity_entries) + " not in [" +
                                   std::to_string(kLeafCapacityMin) + ", " +
                                   std::to_string(kLeafCapacityMax) + "]");
  }
  if (shape.leaf_capacity_bytes != 0 && (shape.leaf_capacity_bytes < kLeafCapacityBytesMin ||
                                         shape.leaf_capacity_bytes > kLeafCapacityBytesMax)) {
    return Status::InvalidArgument("tree shape: leaf_capacity_bytes " +
                                   std::to_string(shape.leaf_capacity_bytes) + " not 0 or in [" +
                                   std::to_string(kLeafCapacityBytesMin) + ", " +
                                   std::to_string(kLeafCapacityBytesMax) + "]");
  }
  if (shape.fanout < kFanoutMin || shape.fanout > kFanoutMax) {
    return Status::InvalidArgument("tree shape: fanout " + std::to_string(shape.fanout) +
                                   " not in [" + std::to_string(kFanoutMin) + ", " +
                                   std::to_string(kFanoutMax) + "]");
  }
  return Status::OK();
}

inline Status TreeShape::Validate() const { return ValidateTreeShape(*this); }

}  // namespace cowtree::tree
