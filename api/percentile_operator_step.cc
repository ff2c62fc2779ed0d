// PercentileOperator::Step (include/cowtree/percentile_operator.h): group the batch
// (api/percentile_batch.h: one hash lookup per row, none for a run of one group; the value rows
// sorted by (group, key) in one radix sort), promote the touched cold trees in one pass over
// their catalog chunks, read the old rows on the runtime pin before (or take them from the last
// Step's new rows when the group's tree is the same version), write each group's ops summed
// per key (one op per distinct value, already in the order the tree applies them), one commit,
// read the new rows on the pin after, emit the rows that differ.
//
// Reads go to the runtime directly (FindTree on a RuntimeSnapshot, queries on the tree
// version) rather than through public Snapshot / TreeReader objects: same lookups, same
// errors, no per-group allocations of reader state, and the version's identity (tree id,
// epoch) is what the row cache keys on.
#include <algorithm>
#include <string_view>
#include <utility>

#include "api/internal.h"
#include "api/percentile_batch.h"
#include "api/percentile_rows.h"
#include "cowtree/percentile_operator.h"
#include "tree/leaf_merge.h"
#include "tree/query.h"

namespace cowtree {

// A row of the last Step, with the identity of the tree version it was read from: a version
// of a tree (id) at an epoch never changes, so while the tree is still at that version the
// row is still its row. Only rows with n > 0 (the others also depend on the NULL counts).
template <TreeKey K>
struct PercentileOperator<K>::RowCache {
  struct Entry {
    TreeId tree_id = 0;
    uint64_t version_epoch = 0;
    OutputRow<K> row;
  };
  std::vector<Entry> entries;                 // in output order of row.group
  percentile_internal::GroupedBatch grouped;  // Step's grouping buffers, reused across Steps
};

namespace {

using percentile_internal::CountRow;
using percentile_internal::FillValues;
using percentile_internal::GroupedBatch;
using percentile_internal::GroupLess;
using percentile_internal::NegativeZeroCountTreeName;
using percentile_internal::NullCountTreeName;
using percentile_internal::SameRow;
using percentile_internal::TouchedGroup;
using percentile_internal::TreeName;

// A tree as one runtime pin sees it.
struct PinnedTree {
  TreeId id = 0;
  std::shared_ptr<HostedTree> host;  // keeps the version's leaf loader alive
  std::shared_ptr<const tree::TreeVersion> version;
  tree::OrderStatTreeHost* order_stat = nullptr;  // host, as its type
};

// Snapshot::Tree<K>(name)'s lookup and checks on a runtime pin: nullopt if there is no such
// tree; NotSupported / InvalidArgument (same messages) if it is not an order-statistics tree
// with K keys; IOError / Corruption restoring it.
template <TreeKey K>
Result<std::optional<PinnedTree>> FindPinned(const Runtime& runtime, const RuntimeSnapshot& pin,
                                             const std::string& name) {
  Result<TreeInfo> info = runtime.FindTree(name, pin);
  if (!info.ok()) {
    if (info.status().IsNotFound()) return std::optional<PinnedTree>();
    return info.status();
  }
  COWTREE_ASSIGN_OR_RETURN(tree::OrderStatTreeHost * host,
                           api_internal::OrderStatHostOf<K>(*info, name));
  PinnedTree t;
  t.id = info->id;
  t.version = host->VersionAt(pin.epoch());
  t.host = std::move(info->tree);
  t.order_stat = host;
  return std::optional<PinnedTree>(std::move(t));
}

// TreeReader<K>'s percentile queries on a pinned version.
template <TreeKey K>
struct VersionReader {
  const tree::TreeVersion& v;
  Result<std::optional<double>> percentile_cont(double p, Order order,
                                                uint64_t negative_zero_items) const {
    return tree::PercentileCont(v, p, order == Order::kDescending, negative_zero_items);
  }
  Result<std::optional<K>> percentile_disc(double p, Order order,
                                           uint64_t negative_zero_items) const {
    COWTREE_ASSIGN_OR_RETURN(
        std::optional<uint64_t> code,
        tree::PercentileDisc(v, p, order == Order::kDescending, negative_zero_items));
    if (!code.has_value()) return std::optional<K>();
    return std::optional<K>(api_internal::DecodeKey<K>(*code));
  }
};

}  // namespace

template <TreeKey K>
PercentileOperator<K>::PercentileOperator(Store* store, OperatorSpec spec)
    : store_(store), spec_(std::move(spec)), last_rows_(std::make_unique<RowCache>()) {}

template <TreeKey K>
PercentileOperator<K>::~PercentileOperator() = default;

template <TreeKey K>
Result<std::vector<OutputDelta<K>>> PercentileOperator<K>::Step(
    const std::vector<InputDelta<K>>& batch, const WriteOptions& write_options,
    uint64_t* sequence) {
  GroupedBatch& grouped = last_rows_->grouped;
  COWTREE_RETURN_IF_ERROR(GroupBatch(batch, spec_, &grouped));
  const std::vector<TouchedGroup>& groups = grouped.groups;
  api_internal::StoreState& store = api_internal::Access::Of(*store_);
  const Runtime& runtime = *store.runtime;
  const std::string null_tree_name = NullCountTreeName(spec_);
  const std::string negative_zero_tree_name = NegativeZeroCountTreeName(spec_);
  {
    // First accesses of cold trees: one catalog chunk read per chunk, not per tree.
    std::vector<std::string_view> names;
    names.reserve(groups.size() + 1);
    for (const TouchedGroup& t : groups) names.push_back(t.tree_name);
    names.push_back(null_tree_name);  // read by a row with n = 0 or written by a NULL value
    if constexpr (std::same_as<K, double>) names.push_back(negative_zero_tree_name);
    COWTREE_RETURN_IF_ERROR(runtime.PromoteColdByNames(names));
  }
  // The last Step's rows: valid for a group whose tree is still the version they were read
  // from. Taken out (an error below leaves the cache empty; the new one replaces it).
  std::vector<typename RowCache::Entry> previous = std::move(last_rows_->entries);
  last_rows_->entries.clear();
  typename RowCache::Entry* cached = previous.data();
  typename RowCache::Entry* const cached_end = previous.data() + previous.size();

  // The count trees of one pin (api/sql_groups.h), each looked up on first need.
  struct CountTrees {
    std::optional<std::optional<PinnedTree>> nulls, negative_zeros;
  };
  // Group `t`'s net count in count tree `name` at `pin` (0 if that tree does not exist).
  const auto count_of = [&](const RuntimeSnapshot& pin, const std::string& name,
                            const TouchedGroup& t,
                            std::optional<std::optional<PinnedTree>>* tree) -> Result<int64_t> {
    if (!tree->has_value()) {
      COWTREE_ASSIGN_OR_RETURN(*tree, FindPinned<int64_t>(runtime, pin, name));
    }
    const std::optional<PinnedTree>& counts = **tree;
    if (!counts.has_value()) return int64_t{0};
    return tree::WeightOf(*counts->version,
                          api_internal::EncodeKey<int64_t>(GroupCountKey(t.tree_name)));
  };
  CountTrees counts_before;
  const RuntimeSnapshot before = store.runtime->GetSnapshot();
  const auto row_at = [&](const RuntimeSnapshot& pin, const TouchedGroup& t,
                          const std::optional<PinnedTree>& tree,
                          CountTrees* counts) -> Result<std::optional<OutputRow<K>>> {
    if (!tree.has_value()) return std::optional<OutputRow<K>>();
    OutputRow<K> row;
    row.group = *t.group;
    row.n = tree::PositiveCount(*tree->version);
    if (row.n > 0) {
      int64_t negative_zeros = 0;
      if constexpr (std::same_as<K, double>) {
        COWTREE_ASSIGN_OR_RETURN(
            negative_zeros, count_of(pin, negative_zero_tree_name, t, &counts->negative_zeros));
      }
      COWTREE_RETURN_IF_ERROR(
          FillValues(VersionReader<K>{*tree->version}, spec_,
                     static_cast<uint64_t>(std::max<int64_t>(negative_zeros, 0)), &row));
      return std::optional<OutputRow<K>>(std::move(row));
    }
    row.values.resize(spec_.outputs.size());  // SQL: NULL percentiles, if it has NULL rows
    COWTREE_ASSIGN_OR_RETURN(const int64_t null_rows,
                             count_of(pin, null_tree_name, t, &counts->nulls));
    if (null_rows <= 0) return std::optional<OutputRow<K>>();
    return std::optional<OutputRow<K>>(std::move(row));
  };
  // The handle of count tree `name` for `write`, made on first need.
  const auto count_handle = [&](const std::string& name, WriteBatch* write,
                                std::optional<TreeHandle<int64_t>>* handle) -> Status {
    if (handle->has_value()) return Status::OK();
    COWTREE_ASSIGN_OR_RETURN(std::optional<PinnedTree> counts,
                             FindPinned<int64_t>(runtime, before, name));
    *handle = counts.has_value() ? api_internal::Access::Handle<int64_t>(store, counts->id, name)
                                 : write->CreateTree<int64_t>(name);
    return Status::OK();
  };

  std::vector<std::optional<OutputRow<K>>> old_rows(groups.size());
  std::vector<std::optional<PinnedTree>> trees_before(groups.size());
  WriteBatch write = store_->NewBatch();
  std::optional<TreeHandle<int64_t>> null_handle, negative_zero_handle;
  std::vector<tree::KeyWeight> ops;  // one group's ops (reused across groups)
  // Per group (double operators): the weight of its zero key before and after this batch, for
  // the -0 count's clamp below.
  struct Zeros {
    int64_t delta = 0;     // the batch's summed op on the zero key
    bool touched = false;  // a zero op or a -0 count row (their sum may be 0: -0 out, +0 in)
  };
  std::vector<Zeros> zeros(std::same_as<K, double> ? groups.size() : 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    const TouchedGroup& t = groups[g];
    COWTREE_ASSIGN_OR_RETURN(trees_before[g], FindPinned<K>(runtime, before, t.tree_name));
    const std::optional<PinnedTree>& tree = trees_before[g];
    while (cached != cached_end && GroupLess()(cached->row.group, *t.group)) ++cached;
    if (tree.has_value() && cached != cached_end && cached->row.group == *t.group &&
        cached->tree_id == tree->id && cached->version_epoch == tree->version->epoch) {
      old_rows[g] = std::move(cached->row);  // the same version: the same row
    } else {
      COWTREE_ASSIGN_OR_RETURN(old_rows[g], row_at(before, t, tree, &counts_before));
    }
    const TreeHandle<K> handle = tree.has_value()
                                     ? api_internal::Access::Handle<K>(store, tree->id, t.tree_name)
                                     : write.CreateTree<K>(t.tree_name);
    // The group's ops, sorted by key, with each key's weights summed (exactly, as the tree
    // would): its section of the redo record holds one op per distinct value, which the tree
    // applies without sorting again.
    ops.clear();
    for (size_t i = t.ops_begin; i < t.ops_end;) {
      const uint64_t code = grouped.ops[i].code;
      __int128 sum = 0;
      for (; i < t.ops_end && grouped.ops[i].code == code; ++i) sum += grouped.ops[i].weight;
      if (sum < INT64_MIN || sum > INT64_MAX) {
        return Status::InvalidArgument(
            "PercentileOperator: tree '" + t.tree_name + "': the weights of " +
            tree::KeyText(
                kKeyTypeOf<K> == KeyType::kInt64 ? tree::KeyType::kInt64 : tree::KeyType::kDouble,
                code) +
            " in one batch add up to " + tree::Int128ToString(sum) + ", outside int64 [" +
            std::to_string(INT64_MIN) + ", " + std::to_string(INT64_MAX) + "]");
      }
      if (sum != 0) ops.push_back({code, static_cast<int64_t>(sum)});
    }
    if constexpr (std::same_as<K, double>) {
      const uint64_t zero = api_internal::EncodeKey<double>(0.0);
      const auto z =
          std::lower_bound(ops.begin(), ops.end(), zero,
                           [](const tree::KeyWeight& op, uint64_t key) { return op.key < key; });
      if (z != ops.end() && z->key == zero) {
        zeros[g].touched = true;
        zeros[g].delta = z->weight;
      }
    }
    api_internal::Access::AddCodes(write, handle, ops);
  }
  // The count trees' rows (NULL values, -0 values), in batch order.
  std::vector<__int128> negative_zero_delta(zeros.size());
  for (const CountRow& c : grouped.count_rows) {
    const std::string& tree_name = groups[c.rank].tree_name;
    if (c.null_value) {
      COWTREE_RETURN_IF_ERROR(count_handle(null_tree_name, &write, &null_handle));
      write.Add(*null_handle, GroupCountKey(tree_name), c.weight);
    } else {
      COWTREE_RETURN_IF_ERROR(count_handle(negative_zero_tree_name, &write, &negative_zero_handle));
      write.Add(*negative_zero_handle, GroupCountKey(tree_name), c.weight);
      if constexpr (std::same_as<K, double>) {
        negative_zero_delta[c.rank] += c.weight;
        zeros[c.rank].touched = true;
      }
    }
  }
  // A group's -0 count stays within [0, its zeros] (NegativeZeroCountCorrection, in this
  // commit): without it a -0 retracted as +0 came back as -0 answers once +0 rows were added,
  // and a -0 retraction that removed a +0 row took the count below 0 (adversarial runs).
  if constexpr (std::same_as<K, double>) {
    for (size_t g = 0; g < zeros.size(); ++g) {
      if (!zeros[g].touched) continue;
      COWTREE_ASSIGN_OR_RETURN(
          const int64_t count_before,
          count_of(before, negative_zero_tree_name, groups[g], &counts_before.negative_zeros));
      const __int128 count_after = count_before + negative_zero_delta[g];
      int64_t zeros_before = 0;
      if (trees_before[g].has_value()) {
        COWTREE_ASSIGN_OR_RETURN(
            zeros_before,
            tree::WeightOf(*trees_before[g]->version, api_internal::EncodeKey<double>(0.0)));
      }
      const __int128 correction = NegativeZeroCountCorrection(
          count_after, static_cast<__int128>(zeros_before) + zeros[g].delta);
      if (correction == 0) continue;
      COWTREE_RETURN_IF_ERROR(count_handle(negative_zero_tree_name, &write, &negative_zero_handle));
      AddInInt64Pieces(correction, [&](int64_t w) {
        write.Add(*negative_zero_handle, GroupCountKey(groups[g].tree_name), w);
      });
    }
  }
  uint64_t commit_epoch = 0;
  COWTREE_RETURN_IF_ERROR(store_->Commit(write, write_options, &commit_epoch));
  if (sequence != nullptr) *sequence = commit_epoch;

  const RuntimeSnapshot after = store.runtime->GetSnapshot();
  CountTrees counts_after;
  std::vector<OutputDelta<K>> deltas;
  std::vector<typename RowCache::Entry> next;
  next.reserve(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const TouchedGroup& t = groups[g];
    // A tree this commit wrote, on the host found before it: its version of this commit's
    // epoch, with no second lookup by name. Another version there means the commit went to
    // another host (the tree was demoted and restored in between) or its ops cancelled out:
    // looked up again.
    std::optional<PinnedTree> tree;
    if (std::optional<PinnedTree>& was = trees_before[g]; was.has_value()) {
      std::shared_ptr<const tree::TreeVersion> v = was->order_stat->VersionAt(after.epoch());
      if (v->epoch == commit_epoch) {
        was->version = std::move(v);
        tree = std::move(was);
      }
    }
    if (!tree.has_value()) {
      COWTREE_ASSIGN_OR_RETURN(tree, FindPinned<K>(runtime, after, t.tree_name));
    }
    COWTREE_ASSIGN_OR_RETURN(std::optional<OutputRow<K>> new_row,
                             row_at(after, t, tree, &counts_after));
    if (new_row.has_value() && new_row->n > 0) {
      next.push_back({tree->id, tree->version->epoch, *new_row});
    }
    std::optional<OutputRow<K>>& old_row = old_rows[g];
    if (old_row.has_value() && new_row.has_value() && SameRow(*old_row, *new_row)) continue;
    if (old_row.has_value()) deltas.push_back({std::move(*old_row), -1});
    if (new_row.has_value()) deltas.push_back({std::move(*new_row), +1});
  }
  last_rows_->entries = std::move(next);
  return deltas;
}

#define COWTREE_INSTANTIATE_STEP(K)                                         \
  template PercentileOperator<K>::PercentileOperator(Store*, OperatorSpec); \
  template PercentileOperator<K>::~PercentileOperator();                    \
  template Result<std::vector<OutputDelta<K>>> PercentileOperator<K>::Step( \
      const std::vector<InputDelta<K>>&, const WriteOptions&, uint64_t*);
COWTREE_INSTANTIATE_STEP(int64_t)
COWTREE_INSTANTIATE_STEP(double)
#undef COWTREE_INSTANTIATE_STEP

}  // namespace cowtree
