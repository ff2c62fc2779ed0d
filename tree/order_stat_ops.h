// The op bytes of an order-statistics tree's commit section (tree/order_stat_tree_type.h):
// 16-byte records {key_code u64 LE, weight i64 LE}, in any order, duplicates allowed. What the
// tree applies is their canonical form: keys strictly increasing, each key's weights summed
// exactly, zero sums dropped.
//
// - SortAndSumOrderStatOps: puts `ops` (any order, weights of any value) in canonical form.
//   InvalidArgument (naming the key as `key_type` reads it, KeyText, the sum and the int64
//   range) if one key's summed
//   weight does not fit int64; *ops is then unspecified. The sum is taken in 128 bits, so
//   whether a batch is accepted does not depend on the order of one key's ops.
// - DecodeOrderStatOps: the canonical form of op bytes. Ops already canonical (as a writer that
//   sorted and summed them, e.g. PercentileOperator::Step, encodes them) are taken in one pass
//   without sorting. InvalidArgument if the length is not a multiple of 16, or as above.
// - AppendOrderStatOps: appends the 16-byte encoding of `ops` to *out (one resize).
// Thread-safety: pure functions (SortAndSumOrderStatOps uses a thread_local radix buffer).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/status.h"
#include "tree/key_codec.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

Status SortAndSumOrderStatOps(std::vector<KeyWeight>* ops, KeyType key_type);
Status DecodeOrderStatOps(std::string_view ops, KeyType key_type, std::vector<KeyWeight>* out);
void AppendOrderStatOps(std::span<const KeyWeight> ops, std::string* out);

}  // namespace cowtree::tree
