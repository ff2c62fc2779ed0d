// Internal to PercentileOperator::Step (api/percentile_operator_step.cc): a batch of input
// deltas grouped for one commit. Not installed.
//
// GroupBatch walks the batch once: each row's group is found in a flat hash index (names of up
// to 16 bytes compared as two words, no memcmp; none for a run of one group) and validated on
// first sight; then the touched groups are put in output order (GroupLess) and the value rows
// become ops (group rank, key code, weight) sorted by (group, key code) with one LSD radix sort
// over the whole batch (only the digits that decide the order: see SortOps), so that each group's
// ops are one sorted run whose duplicate keys Step sums before writing them (the tree then applies
// them without sorting again, tree/order_stat_ops.h). Rows that also touch a count tree (a
// NULL value, a -0 value: api/sql_groups.h) are listed in batch order.
//
// Errors: InvalidArgument for the first bad group name in batch order (empty, reserved, too
// long for a tree name). Cost: O(rows + groups log groups) (radix passes: at most 6 for the
// key codes and 3 for the group ranks, each over the ops and 2048 counters; 3 in all for the
// flights delays: integer-valued doubles of both signs, 229 groups).
// Thread-safety: pure function of its arguments (GroupedBatch is the caller's, reused).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cowtree/percentile_operator.h"
#include "persistence/status.h"

namespace cowtree::percentile_internal {

// One touched group: its ops are GroupedBatch::ops[ops_begin, ops_end).
struct TouchedGroup {
  const std::optional<std::string>* group = nullptr;  // into the batch
  std::string tree_name;
  size_t ops_begin = 0;
  size_t ops_end = 0;
};

// A value row of weight != 0: `weight` added to key `code` (api_internal::EncodeKey) of the
// tree of group `rank` (index into GroupedBatch::groups).
struct GroupOp {
  uint64_t code = 0;
  int64_t weight = 0;
  uint32_t rank = 0;
};

// A row that adds to a count tree of its group: a NULL value (null_value) or a -0 value.
struct CountRow {
  uint32_t rank = 0;
  bool null_value = false;
  int64_t weight = 0;
};

struct GroupedBatch {
  std::vector<TouchedGroup> groups;  // output order
  std::vector<GroupOp> ops;          // sorted by (rank, code); one key may repeat
  std::vector<CountRow> count_rows;  // batch order
  std::vector<GroupOp> scratch;      // the radix sort's second buffer
};

template <TreeKey K>
Status GroupBatch(const std::vector<InputDelta<K>>& batch, const OperatorSpec& spec,
                  GroupedBatch* out);

}  // namespace cowtree::percentile_internal
