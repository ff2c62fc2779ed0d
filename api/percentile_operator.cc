// PercentileOperator (include/cowtree/percentile_operator.h): Step = read the old rows of the
// touched groups on the snapshot before, one commit, read their new rows on the snapshot after,
// emit the rows that differ.
#include "cowtree/percentile_operator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <utility>

#include "api/sql_groups.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"

namespace cowtree {
namespace {

// Groups in output order: by name (bytes), the NULL group (nullopt) last.
struct GroupLess {
  bool operator()(const std::optional<std::string>& a, const std::optional<std::string>& b) const {
    if (a.has_value() != b.has_value()) return a.has_value();
    return a.has_value() && *a < *b;
  }
};

std::string TreeName(const OperatorSpec& spec, const std::optional<std::string>& group) {
  return group.has_value() ? spec.tree_prefix + *group
                           : std::string(kNullGroupTree) + spec.tree_prefix;
}

std::string NullCountTreeName(const OperatorSpec& spec) {
  return std::string(kNullCountTree) + spec.tree_prefix;
}

// The net count of NULL-valued rows of tree `name` on `snap` (0 if none were ever written).
Result<int64_t> NullRows(const Snapshot& snap, const OperatorSpec& spec, const std::string& name) {
  Result<TreeReader<int64_t>> nulls = snap.Tree<int64_t>(NullCountTreeName(spec));
  if (!nulls.ok()) return nulls.status().IsNotFound() ? Result<int64_t>(0) : nulls.status();
  return nulls->weight(GroupCountKey(name));
}

// The row of `group` on `snap`; nullopt when it has none (no tree, or N = 0 without NULLs).
template <TreeKey K>
Result<std::optional<OutputRow<K>>> RowOf(const Snapshot& snap, const OperatorSpec& spec,
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
  row.values.resize(spec.outputs.size());
  if (row.n == 0) {
    COWTREE_ASSIGN_OR_RETURN(const int64_t null_rows, NullRows(snap, spec, name));
    if (null_rows <= 0) return std::optional<OutputRow<K>>();
    return std::optional<OutputRow<K>>(std::move(row));  // SQL: NULL percentiles
  }
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    const PercentileOutput& out = spec.outputs[i];
    PercentileValue<K>& v = row.values[i];
    if (out.kind == PercentileKind::kDisc) {
      COWTREE_ASSIGN_OR_RETURN(std::optional<K> key,
                               reader->percentile_disc(out.fraction, out.order));
      COWTREE_ASSERT(key.has_value());  // N > 0
      v.disc = *key;
    } else {
      COWTREE_ASSIGN_OR_RETURN(std::optional<double> value,
                               reader->percentile_cont(out.fraction, out.order));
      COWTREE_ASSERT(value.has_value());  // N > 0
      v.cont = *value;
    }
    v.is_null = false;
  }
  return std::optional<OutputRow<K>>(std::move(row));
}

// Bitwise equality of values, so that NaN == NaN (an unchanged NaN answer emits nothing).
template <TreeKey K>
bool SameRow(const OutputRow<K>& a, const OutputRow<K>& b) {
  if (a.group != b.group || a.n != b.n || a.values.size() != b.values.size()) return false;
  for (size_t i = 0; i < a.values.size(); ++i) {
    const PercentileValue<K>& x = a.values[i];
    const PercentileValue<K>& y = b.values[i];
    if (x.is_null != y.is_null) return false;
    if (std::bit_cast<uint64_t>(x.cont) != std::bit_cast<uint64_t>(y.cont)) return false;
    if constexpr (std::same_as<K, double>) {
      if (std::bit_cast<uint64_t>(x.disc) != std::bit_cast<uint64_t>(y.disc)) return false;
    } else if (x.disc != y.disc) {
      return false;
    }
  }
  return true;
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

template <TreeKey K>
Result<std::vector<OutputDelta<K>>> PercentileOperator<K>::Step(
    const std::vector<InputDelta<K>>& batch, const WriteOptions& write_options,
    uint64_t* sequence) {
  // Validate names before anything changes; collect the touched groups in output order.
  std::map<std::optional<std::string>, std::vector<const InputDelta<K>*>, GroupLess> groups;
  for (const InputDelta<K>& in : batch) {
    if (in.group.has_value()) {
      if (in.group->empty() || IsInternalTreeName(*in.group)) {
        return Status::InvalidArgument(
            "PercentileOperator: group '" + *in.group + "': empty names and names starting with '" +
            std::string(kReservedTreePrefix) + "' are not groups (use nullopt for the NULL group)");
      }
      if (spec_.tree_prefix.size() + in.group->size() > kTreeNameBytesMax) {
        return Status::InvalidArgument("PercentileOperator: group name of " +
                                       std::to_string(in.group->size()) +
                                       " bytes is too long for a tree name");
      }
    }
    groups[in.group].push_back(&in);
  }
  const Snapshot before = store_->GetSnapshot();
  std::vector<std::optional<OutputRow<K>>> old_rows;
  old_rows.reserve(groups.size());
  WriteBatch write = store_->NewBatch();
  std::optional<TreeHandle<int64_t>> null_tree;
  for (const auto& [group, rows] : groups) {
    COWTREE_ASSIGN_OR_RETURN(std::optional<OutputRow<K>> old_row, RowOf<K>(before, spec_, group));
    old_rows.push_back(std::move(old_row));
    const std::string name = TreeName(spec_, group);
    Result<TreeHandle<K>> existing = store_->Tree<K>(name);
    if (!existing.ok() && !existing.status().IsNotFound()) return existing.status();
    const TreeHandle<K> tree = existing.ok() ? *existing : write.CreateTree<K>(name);
    for (const InputDelta<K>* in : rows) {
      if (in->value.has_value()) {
        write.Add(tree, *in->value, in->weight);
        continue;
      }
      if (!null_tree.has_value()) {  // the NULL counts' tree, made on first need
        Result<TreeHandle<int64_t>> t = store_->Tree<int64_t>(NullCountTreeName(spec_));
        if (!t.ok() && !t.status().IsNotFound()) return t.status();
        null_tree = t.ok() ? *t : write.CreateTree<int64_t>(NullCountTreeName(spec_));
      }
      write.Add(*null_tree, GroupCountKey(name), in->weight);
    }
  }
  COWTREE_RETURN_IF_ERROR(store_->Commit(write, write_options, sequence));

  const Snapshot after = store_->GetSnapshot();
  std::vector<OutputDelta<K>> deltas;
  size_t i = 0;
  for (const auto& [group, rows] : groups) {
    std::optional<OutputRow<K>>& old_row = old_rows[i++];
    COWTREE_ASSIGN_OR_RETURN(std::optional<OutputRow<K>> new_row, RowOf<K>(after, spec_, group));
    if (old_row.has_value() && new_row.has_value() && SameRow(*old_row, *new_row)) continue;
    if (old_row.has_value()) deltas.push_back({std::move(*old_row), -1});
    if (new_row.has_value()) deltas.push_back({std::move(*new_row), +1});
  }
  return deltas;
}

template <TreeKey K>
Result<std::vector<OutputRow<K>>> PercentileOperator<K>::Answers(const Snapshot& snapshot) const {
  std::map<std::optional<std::string>, bool, GroupLess> groups;
  const std::string null_group_tree = std::string(kNullGroupTree) + spec_.tree_prefix;
  COWTREE_ASSIGN_OR_RETURN(const std::vector<TreeDescription> trees, snapshot.ListTrees());
  for (const TreeDescription& t : trees) {
    if (t.key_type != kKeyTypeOf<K>) continue;
    if (t.name == null_group_tree) {
      groups[std::nullopt] = true;
    } else if (!IsInternalTreeName(t.name) && t.name.size() > spec_.tree_prefix.size() &&
               t.name.compare(0, spec_.tree_prefix.size(), spec_.tree_prefix) == 0) {
      groups[t.name.substr(spec_.tree_prefix.size())] = true;
    }
  }
  std::vector<OutputRow<K>> rows;
  for (const auto& [group, unused] : groups) {
    COWTREE_ASSIGN_OR_RETURN(std::optional<OutputRow<K>> row, RowOf<K>(snapshot, spec_, group));
    if (row.has_value()) rows.push_back(std::move(*row));
  }
  return rows;
}

template class PercentileOperator<int64_t>;
template class PercentileOperator<double>;

}  // namespace cowtree
