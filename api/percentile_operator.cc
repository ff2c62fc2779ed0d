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
#include "tree/order_stat_tree_type.h"

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
    if (!(out.fraction >= 0.0 && out.fraction <= 1.0)) {
      return Status::InvalidArgument("PercentileOperator: percentile value " +
                                     std::to_string(out.fraction) + " is not between 0 and 1");
    }
  }
  if (IsInternalTreeName(spec.tree_prefix)) {
    return Status::InvalidArgument("PercentileOperator: tree_prefix '" + spec.tree_prefix +
                                   "' starts with the reserved '" +
                                   std::string(kReservedTreePrefix) + "'");
  }
  return std::unique_ptr<PercentileOperator<K>>(new PercentileOperator<K>(store, std::move(spec)));
}

// Groups promoted and read per slice of Answers: a quarter of Options::demotion_pass_promotions
// (so that the slice's trees are still in memory when they are read: a tree is demoted by the
// second pass after its promotion at the earliest), at most 4096 (a catalog chunk is read once
// per slice, and the slice's trees stay together in memory).
size_t AnswerSliceGroups(const Runtime& runtime) {
  const uint64_t pass = runtime.options().demotion_pass_promotions;
  if (pass == 0) return 4096;
  return static_cast<size_t>(std::clamp<uint64_t>(pass / 4, 16, 4096));
}

template <TreeKey K>
Result<std::vector<OutputRow<K>>> PercentileOperator<K>::Answers(const Snapshot& snapshot) const {
  struct Group {
    std::optional<std::string> group;
    TreeId id = 0;  // 0: not known (a retained checkpoint's snapshot)
  };
  std::vector<Group> groups;
  const std::string null_group_tree = std::string(kNullGroupTree) + spec_.tree_prefix;
  const auto add = [&](const std::string& name, KeyType key_type, TreeId id) {
    if (key_type != kKeyTypeOf<K>) return;
    if (name == null_group_tree) {
      groups.push_back({std::nullopt, id});
    } else if (!IsInternalTreeName(name) && name.size() > spec_.tree_prefix.size() &&
               name.compare(0, spec_.tree_prefix.size(), spec_.tree_prefix) == 0) {
      groups.push_back({name.substr(spec_.tree_prefix.size()), id});
    }
  };
  Runtime* runtime = api_internal::Access::RuntimeOf(snapshot);
  if (runtime != nullptr) {
    std::vector<TreeInfo> infos;
    COWTREE_RETURN_IF_ERROR(api_internal::Access::ListTreeInfos(snapshot, &infos));
    for (const TreeInfo& t : infos) {
      std::optional<tree::KeyType> kt = tree::OrderStatKeyTypeOf(t.type_id, t.params);
      if (kt.has_value()) add(t.name, api_internal::FromInternal(*kt), t.id);
    }
  } else {
    COWTREE_ASSIGN_OR_RETURN(const std::vector<TreeDescription> trees, snapshot.ListTrees());
    for (const TreeDescription& t : trees) add(t.name, t.key_type, 0);
  }
  std::sort(groups.begin(), groups.end(),
            [](const Group& a, const Group& b) { return GroupLess()(a.group, b.group); });
  COWTREE_ASSIGN_OR_RETURN(const GroupCounts counts,
                           GroupCounts::Read(snapshot, spec_.tree_prefix));
  // Read in tree-id order (the catalog's): a slice's cold trees are promoted together, a
  // catalog chunk at a time, then read, and are idle (demotable) once the next slices run: a
  // read of every group keeps about one slice plus two demotion passes' worth of trees in
  // memory, not every group (runtime.h "Demotion").
  std::vector<size_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return groups[a].id < groups[b].id; });
  std::vector<std::optional<OutputRow<K>>> rows_by_group(groups.size());
  std::vector<std::string> names;
  const size_t slice = runtime != nullptr ? AnswerSliceGroups(*runtime) : order.size();
  for (size_t first = 0; first < order.size(); first += slice) {
    const size_t end = std::min(order.size(), first + slice);
    if (runtime != nullptr) {
      names.clear();
      for (size_t k = first; k < end; ++k) names.push_back(TreeName(spec_, groups[order[k]].group));
      COWTREE_RETURN_IF_ERROR(
          runtime->PromoteColdByNames(std::vector<std::string_view>(names.begin(), names.end())));
    }
    for (size_t k = first; k < end; ++k) {
      COWTREE_ASSIGN_OR_RETURN(rows_by_group[order[k]],
                               RowOf<K>(snapshot, spec_, counts, groups[order[k]].group));
    }
    // The groups read so far may leave memory (also without a background thread).
    if (runtime != nullptr) runtime->DemoteIfManyPromoted(/*wait=*/false);
  }
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
