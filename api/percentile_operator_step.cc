// PercentileOperator::Step (include/cowtree/percentile_operator.h): group the batch's rows by
// group (one hash lookup per row, none for a run of one group), promote the touched cold
// trees in one pass over their catalog chunks, read the old rows on the runtime pin before
// (or take them from the last Step's new rows when the group's tree is the same version),
// one commit, read the new rows on the pin after, emit the rows that differ.
//
// Reads go to the runtime directly (FindTree on a RuntimeSnapshot, queries on the tree
// version) rather than through public Snapshot / TreeReader objects: same lookups, same
// errors, no per-group allocations of reader state, and the version's identity (tree id,
// epoch) is what the row cache keys on.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>
#include <utility>

#include "api/internal.h"
#include "api/percentile_rows.h"
#include "cowtree/percentile_operator.h"
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
  std::vector<Entry> entries;  // in output order of row.group
};

namespace {

using percentile_internal::FillValues;
using percentile_internal::GroupLess;
using percentile_internal::IsNegativeZero;
using percentile_internal::NegativeZeroCountTreeName;
using percentile_internal::NullCountTreeName;
using percentile_internal::SameRow;
using percentile_internal::TreeName;

// A tree as one runtime pin sees it.
struct PinnedTree {
  TreeId id = 0;
  std::shared_ptr<HostedTree> host;  // keeps the version's leaf loader alive
  std::shared_ptr<const tree::TreeVersion> version;
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

// One touched group: its rows of the batch are rows[first, first + count) after grouping.
struct Touched {
  const std::optional<std::string>* group;  // into the batch
  std::string tree_name;
  size_t first = 0;
  size_t count = 0;
};

// Group name -> index of its Touched, for the rows of one batch: open addressing (linear
// probing, at most half full) over views of the batch's names, with a multiply-fold hash of
// 8-byte words (group names are short; a batch has few distinct ones).
class GroupIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  // The index stored for `name`, or a reference to store it into (kNone when new).
  uint32_t& FindOrAdd(std::string_view name) {
    if (2 * (live_ + 1) > slots_.size()) Grow();
    Slot& s = Probe(&slots_, name, Hash(name));
    if (s.index == kNone && s.name.data() == nullptr) {
      s.name = name;
      ++live_;
    }
    return s.index;
  }

 private:
  struct Slot {
    std::string_view name;  // data() null: empty
    uint32_t hash = 0;
    uint32_t index = kNone;
  };
  static uint32_t Hash(std::string_view name) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ name.size();
    size_t i = 0;
    for (; i + 8 <= name.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, name.data() + i, 8);
      h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
      h ^= h >> 31;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, name.data() + i, name.size() - i);
    h = (h ^ tail) * 0x94d049bb133111ebull;
    return static_cast<uint32_t>((h ^ (h >> 29)) >> 32);
  }
  static Slot& Probe(std::vector<Slot>* slots, std::string_view name, uint32_t hash) {
    const size_t mask = slots->size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& s = (*slots)[i];
      if (s.name.data() == nullptr) {
        s.hash = hash;
        return s;
      }
      if (s.hash == hash && s.name == name) return s;
    }
  }
  void Grow() {
    std::vector<Slot> bigger(slots_.empty() ? 64 : 2 * slots_.size());
    for (const Slot& s : slots_) {
      if (s.name.data() != nullptr) Probe(&bigger, s.name, s.hash) = s;
    }
    slots_.swap(bigger);
  }
  std::vector<Slot> slots_;
  size_t live_ = 0;
};

// InvalidArgument if `group` cannot be a group of an operator with `prefix`.
Status CheckGroupName(const std::string& prefix, const std::string& group) {
  if (group.empty() || IsInternalTreeName(group)) {
    return Status::InvalidArgument(
        "PercentileOperator: group '" + group + "': empty names and names starting with '" +
        std::string(kReservedTreePrefix) + "' are not groups (use nullopt for the NULL group)");
  }
  if (prefix.size() + group.size() > kTreeNameBytesMax) {
    return Status::InvalidArgument("PercentileOperator: group name of " +
                                   std::to_string(group.size()) +
                                   " bytes is too long for a tree name");
  }
  return Status::OK();
}

// The touched groups in output order and, in *rows, the batch's rows grouped by them (batch
// order within a group). Validates every group name first seen (the first bad one in batch
// order is the error, nothing read or written).
template <TreeKey K>
Result<std::vector<Touched>> GroupRows(const std::vector<InputDelta<K>>& batch,
                                       const OperatorSpec& spec,
                                       std::vector<const InputDelta<K>*>* rows) {
  constexpr uint32_t kNone = GroupIndex::kNone;
  std::vector<Touched> groups;
  GroupIndex index;
  uint32_t null_group = kNone;
  std::vector<uint32_t> group_of(batch.size());
  const std::string* last_name = nullptr;  // the group of the previous row (a run: no lookup)
  uint32_t last = kNone;
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::optional<std::string>& g = batch[i].group;
    uint32_t* slot = nullptr;
    if (!g.has_value()) {
      slot = &null_group;
    } else if (last_name != nullptr && *last_name == *g) {
      group_of[i] = last;
      continue;
    } else {
      slot = &index.FindOrAdd(*g);
    }
    if (*slot == kNone) {
      if (g.has_value()) COWTREE_RETURN_IF_ERROR(CheckGroupName(spec.tree_prefix, *g));
      *slot = static_cast<uint32_t>(groups.size());
      groups.push_back(Touched{&g, TreeName(spec, g)});
    }
    group_of[i] = last = *slot;
    last_name = g.has_value() ? &*g : nullptr;
  }
  // Output order, then each group's rows placed by a counting pass.
  std::vector<uint32_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return GroupLess()(*groups[a].group, *groups[b].group);
  });
  std::vector<uint32_t> rank(groups.size());
  for (uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  std::vector<Touched> sorted(groups.size());
  for (uint32_t g = 0; g < groups.size(); ++g) sorted[rank[g]] = std::move(groups[g]);
  for (uint32_t g : group_of) ++sorted[rank[g]].count;
  size_t first = 0;
  for (Touched& t : sorted) {
    t.first = first;
    first += t.count;
    t.count = 0;
  }
  rows->assign(batch.size(), nullptr);
  for (size_t i = 0; i < batch.size(); ++i) {
    Touched& t = sorted[rank[group_of[i]]];
    (*rows)[t.first + t.count++] = &batch[i];
  }
  return sorted;
}

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
  std::vector<const InputDelta<K>*> rows;
  COWTREE_ASSIGN_OR_RETURN(std::vector<Touched> groups, GroupRows(batch, spec_, &rows));
  api_internal::StoreState& store = api_internal::Access::Of(*store_);
  const Runtime& runtime = *store.runtime;
  const std::string null_tree_name = NullCountTreeName(spec_);
  const std::string negative_zero_tree_name = NegativeZeroCountTreeName(spec_);
  {
    // First accesses of cold trees: one catalog chunk read per chunk, not per tree.
    std::vector<std::string_view> names;
    names.reserve(groups.size() + 1);
    for (const Touched& t : groups) names.push_back(t.tree_name);
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
  const auto count_of = [&](const RuntimeSnapshot& pin, const std::string& name, const Touched& t,
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
  const auto row_at = [&](const RuntimeSnapshot& pin, const Touched& t,
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
  WriteBatch write = store_->NewBatch();
  std::optional<TreeHandle<int64_t>> null_handle, negative_zero_handle;
  for (size_t g = 0; g < groups.size(); ++g) {
    const Touched& t = groups[g];
    COWTREE_ASSIGN_OR_RETURN(std::optional<PinnedTree> tree,
                             FindPinned<K>(runtime, before, t.tree_name));
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
    size_t adds = 0;  // the ops this group's tree gets (an empty section would still commit)
    for (size_t r = t.first; r < t.first + t.count; ++r) {
      adds += rows[r]->value.has_value() && rows[r]->weight != 0;
    }
    if (adds > 0) api_internal::Access::ReserveOps(write, handle, adds);
    for (size_t r = t.first; r < t.first + t.count; ++r) {
      const InputDelta<K>& in = *rows[r];
      if (in.value.has_value()) {
        write.Add(handle, *in.value, in.weight);
        if (IsNegativeZero(*in.value)) {  // stored as +0; counted for the answers' sign
          COWTREE_RETURN_IF_ERROR(
              count_handle(negative_zero_tree_name, &write, &negative_zero_handle));
          write.Add(*negative_zero_handle, GroupCountKey(t.tree_name), in.weight);
        }
        continue;
      }
      COWTREE_RETURN_IF_ERROR(count_handle(null_tree_name, &write, &null_handle));
      write.Add(*null_handle, GroupCountKey(t.tree_name), in.weight);
    }
  }
  COWTREE_RETURN_IF_ERROR(store_->Commit(write, write_options, sequence));

  const RuntimeSnapshot after = store.runtime->GetSnapshot();
  CountTrees counts_after;
  std::vector<OutputDelta<K>> deltas;
  std::vector<typename RowCache::Entry> next;
  next.reserve(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const Touched& t = groups[g];
    COWTREE_ASSIGN_OR_RETURN(std::optional<PinnedTree> tree,
                             FindPinned<K>(runtime, after, t.tree_name));
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
