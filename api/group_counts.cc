// GroupCounts (api/group_counts.h).
#include "api/group_counts.h"

#include <algorithm>

#include "api/sql_groups.h"

namespace cowtree {
namespace {

// The reader of count tree `name` into *out, if the tree exists.
Status ReadCountTree(const Snapshot& snapshot, const std::string& name,
                     std::optional<TreeReader<int64_t>>* out) {
  Result<TreeReader<int64_t>> reader = snapshot.Tree<int64_t>(name);
  if (reader.ok()) {
    *out = std::move(reader).value();
  } else if (!reader.status().IsNotFound()) {
    return reader.status();
  }
  return Status::OK();
}

}  // namespace

Result<GroupCounts> GroupCounts::Read(const Snapshot& snapshot, std::string_view tree_prefix) {
  GroupCounts counts;
  COWTREE_RETURN_IF_ERROR(ReadCountTree(
      snapshot, std::string(kNullCountTree) + std::string(tree_prefix), &counts.nulls_));
  COWTREE_RETURN_IF_ERROR(
      ReadCountTree(snapshot, std::string(kNegativeZeroCountTree) + std::string(tree_prefix),
                    &counts.negative_zeros_));
  return counts;
}

Result<int64_t> GroupCounts::NullsOf(const std::string& tree_name) const {
  if (!nulls_.has_value()) return int64_t{0};
  return nulls_->weight(GroupCountKey(tree_name));
}

Result<uint64_t> GroupCounts::NegativeZerosOf(const std::string& tree_name) const {
  if (!negative_zeros_.has_value()) return uint64_t{0};
  COWTREE_ASSIGN_OR_RETURN(const int64_t rows, negative_zeros_->weight(GroupCountKey(tree_name)));
  return static_cast<uint64_t>(std::max<int64_t>(rows, 0));
}

}  // namespace cowtree
