// GroupCounts: the per-group counts of a snapshot (api/sql_groups.h) — the rows with a NULL
// value and the rows with value -0 of each group — read through one reader of each count tree,
// made once per snapshot. Shared by the CLI (tools/query.cc, tools/delta_writer.cc) and
// PercentileOperator::Answers. Not installed.
// Errors: IOError / Corruption from reading the count trees; a count tree that was never made
// counts 0. Thread-safety: const methods may be called concurrently (TreeReader's rules).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cowtree/snapshot.h"

namespace cowtree {

class GroupCounts {
 public:
  // The count trees of `snapshot` for trees named with `tree_prefix` (the operator's spec
  // prefix; "" for the CLI): kNullCountTree + prefix and kNegativeZeroCountTree + prefix.
  static Result<GroupCounts> Read(const Snapshot& snapshot, std::string_view tree_prefix = "");
  // Net number of rows with a NULL value in the group stored in tree `tree_name`.
  Result<int64_t> NullsOf(const std::string& tree_name) const;
  // Net number of rows with value -0 in that group (0 if negative: retractions of +0 rows).
  Result<uint64_t> NegativeZerosOf(const std::string& tree_name) const;

 private:
  std::optional<TreeReader<int64_t>> nulls_;
  std::optional<TreeReader<int64_t>> negative_zeros_;
};

}  // namespace cowtree
