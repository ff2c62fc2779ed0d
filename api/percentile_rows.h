// Internal to PercentileOperator (include/cowtree/percentile_operator.h): the pieces that
// Step (api/percentile_operator_step.cc) and Answers (api/percentile_operator.cc) share: the
// output order of groups, the tree names of a group, the percentile values of a row, and row
// equality. Not installed. Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cmath>
#include <optional>
#include <string>

#include "api/sql_groups.h"
#include "cowtree/percentile_operator.h"
#include "persistence/assert.h"

namespace cowtree::percentile_internal {

// Groups in output order: by name (bytes), the NULL group (nullopt) last.
struct GroupLess {
  bool operator()(const std::optional<std::string>& a, const std::optional<std::string>& b) const {
    if (a.has_value() != b.has_value()) return a.has_value();
    return a.has_value() && *a < *b;
  }
};

// The tree of `group`: tree_prefix + group; the NULL group's and the empty string's (a tree
// name is never empty, and tree_prefix alone could be another operator's group) are reserved
// names followed by the prefix (api/sql_groups.h).
inline std::string TreeName(const OperatorSpec& spec, const std::optional<std::string>& group) {
  if (!group.has_value()) return std::string(kNullGroupTree) + spec.tree_prefix;
  if (group->empty()) return std::string(kEmptyGroupTree) + spec.tree_prefix;
  return spec.tree_prefix + *group;
}

inline std::string NullCountTreeName(const OperatorSpec& spec) {
  return std::string(kNullCountTree) + spec.tree_prefix;
}

// The tree counting each group's -0 values (api/sql_groups.h); only double operators write it.
inline std::string NegativeZeroCountTreeName(const OperatorSpec& spec) {
  return std::string(kNegativeZeroCountTree) + spec.tree_prefix;
}

// True for a value counted in the -0 tree.
template <TreeKey K>
bool IsNegativeZero(K value) {
  if constexpr (std::same_as<K, double>) {
    return value == 0.0 && std::signbit(value);
  } else {
    return false;
  }
}

// The percentile values of a row with n > 0, read through `reader` (a TreeReader<K>, or any
// type with its percentile_cont / percentile_disc) with the group's -0 count
// (TreeReader::percentile_cont's negative_zero_items): one value per PercentileOutput.
template <TreeKey K, typename Reader>
Status FillValues(const Reader& reader, const OperatorSpec& spec, uint64_t negative_zero_items,
                  OutputRow<K>* row) {
  row->values.resize(spec.outputs.size());
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    const PercentileOutput& out = spec.outputs[i];
    PercentileValue<K>& v = row->values[i];
    if (out.kind == PercentileKind::kDisc) {
      COWTREE_ASSIGN_OR_RETURN(std::optional<K> key, reader.percentile_disc(out.fraction, out.order,
                                                                            negative_zero_items));
      COWTREE_ASSERT(key.has_value());  // N > 0
      v.disc = *key;
    } else {
      COWTREE_ASSIGN_OR_RETURN(
          std::optional<double> value,
          reader.percentile_cont(out.fraction, out.order, negative_zero_items));
      COWTREE_ASSERT(value.has_value());  // N > 0
      v.cont = *value;
    }
    v.is_null = false;
  }
  return Status::OK();
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

}  // namespace cowtree::percentile_internal
