// PercentileOperator (include/cowtree/percentile_operator.h): Create and Answers (the whole
// table on a public Snapshot; the cold trees of its groups promoted by catalog chunk, one
// slice of groups at a time, so that the groups already read can leave memory).
// Step is in api/percentile_operator_step.cc.
#include "cowtree/percentile_operator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/group_counts.h"
#include "api/internal.h"
#include "api/percentile_rows.h"
#include "api/sql_groups.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "tree/query.h"

namespace cowtree {
namespace {

using percentile_internal::FillValues;
using percentile_internal::GroupLess;
using percentile_internal::NegativeZeroCountTreeName;
using percentile_internal::NullCountTreeName;
using percentile_internal::TreeName;

// The row of `group` on `snap`; nullopt when it has none (no tree, or N = 0 without NULLs).
template <TreeKey K>
Result<std::optional<OutputRow<K>>> RowOf(const Snapshot& snap, const OperatorSpec& spec,
                                          const GroupCounts& counts,
                                          const std::optional<std::string>& group) {
  const std::string name = TreeName(spec, group);
  Result<TreeReader<K>> reader = snap.Tree<K>(name);
  if (!reader.ok()) {
    if (reader.status().IsNotFound()) return std::optional<OutputRow<K>>();
    return reader.status();
  }
  OutputRow<K> row;
  row.group = group;
  row.n = reader->count();
  if (row.n == 0) {
    row.values.resize(spec.outputs.size());
    COWTREE_ASSIGN_OR_RETURN(const int64_t null_rows, counts.NullsOf(name));
    if (null_rows <= 0) return std::optional<OutputRow<K>>();
    return std::optional<OutputRow<K>>(std::move(row));  // SQL: NULL percentiles
  }
  uint64_t negative_zeros = 0;
  if constexpr (std::same_as<K, double>) {
    COWTREE_ASSIGN_OR_RETURN(negative_zeros, counts.NegativeZerosOf(name));
  }
  COWTREE_RETURN_IF_ERROR(FillValues(*reader, spec, negative_zeros, &row));
  return std::optional<OutputRow<K>>(std::move(row));
}

}  // namespace

template <TreeKey K>
Result<std::unique_ptr<PercentileOperator<K>>> PercentileOperator<K>::Create(Store* store,
                                                                             OperatorSpec spec) {
  if (store == nullptr) return Status::InvalidArgument("PercentileOperator: store is null");
  if (spec.outputs.empty()) {
    return Status::InvalidArgument("PercentileOperator: the spec has no outputs");
  }
  for (const PercentileOutput& out : spec.outputs) {
    COWTREE_RETURN_IF_ERROR(tree::CheckPercentile(out.fraction).WithContext("PercentileOperator"));
    if (out.kind != PercentileKind::kCont && out.kind != PercentileKind::kDisc) {
      return Status::InvalidArgument("PercentileOperator: output kind " +
                                     std::to_string(static_cast<int>(out.kind)) +
                                     " is neither kCont nor kDisc");
    }
    if (out.order != Order::kAscending && out.order != Order::kDescending) {
      return Status::InvalidArgument("PercentileOperator: output order " +
                                     std::to_string(static_cast<int>(out.order)) +
                                     " is neither kAscending nor kDescending");
    }
  }
  // The longest reserved name + the prefix must be a tree name (percentile_rows.h): else every
  // Step would fail, blaming a group.
  const size_t reserved_max = std::max({kNullGroupTree.size(), kEmptyGroupTree.size(),
                                        kNullCountTree.size(), kNegativeZeroCountTree.size()});
  if (spec.tree_prefix.size() + reserved_max > kTreeNameBytesMax) {
    return Status::InvalidArgument(
        "PercentileOperator: tree_prefix of " + std::to_string(spec.tree_prefix.size()) +
        " bytes is too long: at most " + std::to_string(kTreeNameBytesMax - reserved_max) +
        " (tree names are at most " + std::to_string(kTreeNameBytesMax) +
        " bytes, and the operator's count trees add up to " + std::to_string(reserved_max) + ")");
  }
  if (IsInternalTreeName(spec.tree_prefix)) {
    return Status::InvalidArgument("PercentileOperator: tree_prefix '" + spec.tree_prefix +
                                   "' starts with the reserved '" +
                                   std::string(kReservedTreePrefix) + "'");
  }
  return std::unique_ptr<PercentileOperator<K>>(new PercentileOperator<K>(store, std::move(spec)));
}

template <TreeKey K>
Result<std::vector<OutputRow<K>>> PercentileOperator<K>::Answers(const Snapshot& snapshot) const {
  std::vector<std::optional<std::string>> groups;
  const std::string null_group_tree = TreeName(spec_, std::nullopt);
  const std::string empty_group_tree = TreeName(spec_, std::string());
  COWTREE_ASSIGN_OR_RETURN(const std::vector<TreeDescription> trees, snapshot.ListTrees());
  for (const TreeDescription& t : trees) {
    const bool group_tree =
        t.name == null_group_tree || t.name == empty_group_tree ||
        (!IsInternalTreeName(t.name) && t.name.size() > spec_.tree_prefix.size() &&
         t.name.compare(0, spec_.tree_prefix.size(), spec_.tree_prefix) == 0);
    if (group_tree && t.key_type != kKeyTypeOf<K>) {
      // As Step: an operator of the other key type (found by an adversarial run: Answers
      // returned OK and no rows where Step refused the same groups).
      return Status::InvalidArgument(
          "PercentileOperator::Answers: the tree '" + t.name + "' of a group has " +
          KeyTypeName(t.key_type) + " keys, this operator " + KeyTypeName(kKeyTypeOf<K>) + " keys");
    }
    if (t.key_type != kKeyTypeOf<K>) continue;
    if (t.name == null_group_tree) {
      groups.push_back(std::nullopt);
    } else if (t.name == empty_group_tree) {
      groups.push_back(std::string());
    } else if (!IsInternalTreeName(t.name) && t.name.size() > spec_.tree_prefix.size() &&
               t.name.compare(0, spec_.tree_prefix.size(), spec_.tree_prefix) == 0) {
      groups.push_back(t.name.substr(spec_.tree_prefix.size()));
    }
  }
  std::sort(groups.begin(), groups.end(), GroupLess());
  COWTREE_ASSIGN_OR_RETURN(const GroupCounts counts,
                           GroupCounts::Read(snapshot, spec_.tree_prefix));
  // Every group is read once: in catalog order, a slice at a time, so that cold groups are
  // promoted a catalog chunk at a time and the groups read can leave memory again
  // (Snapshot::VisitTrees); the rows are put back in group order.
  std::vector<std::string> names;
  names.reserve(groups.size());
  for (const std::optional<std::string>& group : groups) names.push_back(TreeName(spec_, group));
  std::vector<std::optional<OutputRow<K>>> rows_by_group(groups.size());
  COWTREE_RETURN_IF_ERROR(snapshot.VisitTrees(names, [&](size_t i) -> Status {
    COWTREE_ASSIGN_OR_RETURN(rows_by_group[i], RowOf<K>(snapshot, spec_, counts, groups[i]));
    return Status::OK();
  }));
  std::vector<OutputRow<K>> rows;
  rows.reserve(groups.size());
  for (std::optional<OutputRow<K>>& row : rows_by_group) {
    if (row.has_value()) rows.push_back(std::move(*row));
  }
  return rows;
}

template class PercentileOperator<int64_t>;
template class PercentileOperator<double>;

}  // namespace cowtree
