// Snapshot, TreeReader<K> and Cursor<K> (include/cowtree/snapshot.h) over Runtime
// snapshots and the readers of tree/query.h.
#include "cowtree/snapshot.h"

#include <algorithm>

#include "api/internal.h"
#include "tree/query.h"

namespace cowtree {

using api_internal::CursorState;
using api_internal::DecodeKey;
using api_internal::EncodeKey;
using api_internal::ReaderState;
using api_internal::SnapshotState;

// ---- Cursor ----
namespace {

// Loads the leaf the path ends at into c->leaf.
bool LoadPathLeaf(CursorState* c) {
  const auto& [node, i] = c->path.back();
  auto leaf = tree::LeafBox::Load(node->leaves[i], c->reader->version->loader);
  if (!leaf.ok()) {
    c->status = leaf.status();
    c->valid = false;
    c->leaf = nullptr;
    return false;
  }
  c->leaf = std::move(leaf).value();
  return true;
}

// Moves the path to the next (forward) or previous leaf; false at the end (or on error).
bool StepLeaf(CursorState* c, bool forward) {
  size_t d = c->path.size();
  while (d > 0) {
    auto& [node, i] = c->path[d - 1];
    if (forward ? i + 1 < node->child_count() : i > 0) {
      i = forward ? i + 1 : i - 1;
      break;
    }
    --d;
  }
  if (d == 0) {
    c->valid = false;
    return false;
  }
  for (size_t e = d; e < c->path.size(); ++e) {
    const tree::InternalNode* parent = c->path[e - 1].first;
    const tree::InternalNode* child = parent->nodes[c->path[e - 1].second].get();
    c->path[e] = {child, forward ? 0 : child->child_count() - 1};
  }
  if (!LoadPathLeaf(c)) return false;
  c->pos = forward ? 0 : c->leaf->keys.size() - 1;  // a leaf in a tree has >= 1 entry
  c->valid = true;
  return true;
}

// Positions `c` at the first entry >= code (forward) or the last entry <= code (backward).
void SeekCode(CursorState* c, uint64_t code) {
  const tree::TreeVersion& v = *c->reader->version;
  c->valid = false;
  c->path.clear();
  if (v.root == nullptr) return;
  const tree::InternalNode* node = v.root.get();
  while (true) {
    const size_t i = node->Route(code);
    c->path.emplace_back(node, i);
    if (node->level == 1) break;
    node = node->nodes[i].get();
  }
  if (!LoadPathLeaf(c)) return;
  const auto& keys = c->leaf->keys;
  if (c->forward) {
    auto it = std::lower_bound(keys.begin(), keys.end(), code);
    if (it == keys.end()) {
      StepLeaf(c, /*forward=*/true);
      return;
    }
    c->pos = static_cast<size_t>(it - keys.begin());
  } else {
    auto it = std::upper_bound(keys.begin(), keys.end(), code);
    if (it == keys.begin()) {
      StepLeaf(c, /*forward=*/false);
      return;
    }
    c->pos = static_cast<size_t>(it - keys.begin()) - 1;
  }
  c->valid = true;
}

}  // namespace

template <TreeKey K>
Cursor<K>::Cursor() = default;
template <TreeKey K>
Cursor<K>::~Cursor() = default;
template <TreeKey K>
Cursor<K>::Cursor(Cursor&&) noexcept = default;
template <TreeKey K>
Cursor<K>& Cursor<K>::operator=(Cursor&&) noexcept = default;
template <TreeKey K>
Cursor<K>::Cursor(std::unique_ptr<CursorState> state) : state_(std::move(state)) {}

template <TreeKey K>
bool Cursor<K>::valid() const {
  return state_ != nullptr && state_->valid;
}
template <TreeKey K>
K Cursor<K>::key() const {
  return valid() ? DecodeKey<K>(state_->leaf->keys[state_->pos]) : K{};
}
template <TreeKey K>
int64_t Cursor<K>::weight() const {
  return valid() ? state_->leaf->weight(state_->pos) : 0;
}
template <TreeKey K>
void Cursor<K>::Next() {
  if (!valid()) return;
  CursorState* c = state_.get();
  if (c->forward) {
    if (++c->pos < c->leaf->keys.size()) return;
    StepLeaf(c, true);
  } else {
    if (c->pos > 0) {
      --c->pos;
      return;
    }
    StepLeaf(c, false);
  }
}
template <TreeKey K>
const Status& Cursor<K>::status() const {
  static const Status kOk;
  return state_ != nullptr ? state_->status : kOk;
}

// ---- TreeReader ----

template <TreeKey K>
TreeReader<K>::TreeReader(std::shared_ptr<const ReaderState> state) : state_(std::move(state)) {}
template <TreeKey K>
TreeReader<K>::~TreeReader() = default;
template <TreeKey K>
TreeReader<K>::TreeReader(const TreeReader&) = default;
template <TreeKey K>
TreeReader<K>& TreeReader<K>::operator=(const TreeReader&) = default;
template <TreeKey K>
TreeReader<K>::TreeReader(TreeReader&& other) noexcept : state_(other.state_) {}
template <TreeKey K>
TreeReader<K>& TreeReader<K>::operator=(TreeReader&& other) noexcept {
  state_ = other.state_;  // a copy: the moved-from reader stays usable (snapshot.h)
  return *this;
}

template <TreeKey K>
const std::string& TreeReader<K>::name() const {
  return state_->name;
}
template <TreeKey K>
uint64_t TreeReader<K>::count() const {
  return tree::PositiveCount(*state_->version);
}
template <TreeKey K>
uint64_t TreeReader<K>::entry_count() const {
  return state_->version->entry_count;
}
template <TreeKey K>
Result<int64_t> TreeReader<K>::weight(K key) const {
  return tree::WeightOf(*state_->version, EncodeKey<K>(key));
}
template <TreeKey K>
Result<uint64_t> TreeReader<K>::rank(K key) const {
  return tree::Rank(*state_->version, EncodeKey<K>(key));
}

namespace {
template <TreeKey K>
Result<std::optional<K>> DecodeOptional(Result<std::optional<uint64_t>> r) {
  if (!r.ok()) return r.status();
  if (!r->has_value()) return std::optional<K>();
  return std::optional<K>(DecodeKey<K>(**r));
}
}  // namespace

template <TreeKey K>
Result<std::optional<K>> TreeReader<K>::select(uint64_t k, Order order) const {
  return DecodeOptional<K>(tree::Select(*state_->version, k, order == Order::kDescending));
}
template <TreeKey K>
Result<std::optional<double>> TreeReader<K>::percentile_cont(double p, Order order,
                                                             uint64_t negative_zero_items) const {
  return tree::PercentileCont(*state_->version, p, order == Order::kDescending,
                              negative_zero_items);
}
template <TreeKey K>
Result<std::optional<K>> TreeReader<K>::percentile_disc(double p, Order order,
                                                        uint64_t negative_zero_items) const {
  return DecodeOptional<K>(
      tree::PercentileDisc(*state_->version, p, order == Order::kDescending, negative_zero_items));
}
template <TreeKey K>
Result<std::optional<double>> TreeReader<K>::median(Order order) const {
  return tree::PercentileCont(*state_->version, 0.5, order == Order::kDescending);
}
template <TreeKey K>
Result<uint64_t> TreeReader<K>::sum_weights(K lo, K hi) const {
  return tree::RangePositiveSum(*state_->version, EncodeKey<K>(lo), EncodeKey<K>(hi));
}
template <TreeKey K>
Result<uint64_t> TreeReader<K>::sum_weights_from(K lo) const {
  COWTREE_ASSIGN_OR_RETURN(uint64_t below, tree::Rank(*state_->version, EncodeKey<K>(lo)));
  return tree::PositiveCount(*state_->version) - below;
}

template <TreeKey K>
Cursor<K> TreeReader<K>::Seek(K key, Direction direction) const {
  auto c = std::make_unique<CursorState>();
  c->reader = state_;
  c->forward = direction == Direction::kForward;
  SeekCode(c.get(), EncodeKey<K>(key));
  return Cursor<K>(std::move(c));
}
template <TreeKey K>
Cursor<K> TreeReader<K>::SeekToFirst() const {
  auto c = std::make_unique<CursorState>();
  c->reader = state_;
  c->forward = true;
  SeekCode(c.get(), 0);
  return Cursor<K>(std::move(c));
}
template <TreeKey K>
Cursor<K> TreeReader<K>::SeekToLast() const {
  auto c = std::make_unique<CursorState>();
  c->reader = state_;
  c->forward = false;
  SeekCode(c.get(), UINT64_MAX);
  return Cursor<K>(std::move(c));
}

// ---- Snapshot ----

Snapshot::Snapshot() = default;
Snapshot::~Snapshot() = default;
Snapshot::Snapshot(const Snapshot&) = default;
Snapshot& Snapshot::operator=(const Snapshot&) = default;
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;
Snapshot::Snapshot(std::shared_ptr<const SnapshotState> state) : state_(std::move(state)) {}

template <TreeKey K>
Result<TreeReader<K>> Snapshot::Tree(const std::string& name) const {
  if (state_ == nullptr) return Status::InvalidArgument("empty snapshot");
  COWTREE_ASSIGN_OR_RETURN(TreeInfo info, state_->view != nullptr
                                              ? state_->view->FindTree(name)
                                              : state_->runtime->FindTree(name, state_->pin));
  COWTREE_ASSIGN_OR_RETURN(tree::OrderStatTreeHost * host,
                           api_internal::OrderStatHostOf<K>(info, name));
  auto r = std::make_shared<ReaderState>();
  r->snapshot = state_;
  r->name = name;
  r->version = host->VersionAt(state_->epoch());
  r->host = std::move(info.tree);
  // Lookups one by one may promote many trees: they leave memory again here too, also without
  // a background thread (one atomic load unless a pass is due; the reader keeps its tree).
  if (state_->view == nullptr) state_->runtime->DemoteIfManyPromoted(/*wait=*/false);
  return TreeReader<K>(std::move(r));
}

Result<std::vector<TreeDescription>> Snapshot::ListTrees() const {
  std::vector<TreeDescription> out;
  if (state_ == nullptr) return out;
  std::vector<TreeInfo> trees;
  if (state_->view != nullptr) {
    COWTREE_ASSIGN_OR_RETURN(trees, state_->view->ListTrees());
  } else {
    COWTREE_RETURN_IF_ERROR(state_->runtime->ListTrees(state_->pin, &trees));
  }
  for (const TreeInfo& info : trees) {
    // From the catalog's params: listing restores no tree.
    std::optional<tree::KeyType> kt = tree::OrderStatKeyTypeOf(info.type_id, info.params);
    if (!kt.has_value()) continue;
    out.push_back({info.name, api_internal::FromInternal(*kt)});
  }
  return out;
}

namespace {

// Names promoted and visited per slice of VisitTrees: a quarter of demotion_pass_promotions
// (a tree promoted by a slice has its CLOCK bit set, so the next pass only clears it; the pass
// after that, which can demote it, comes at least a slice later), at most 4096 (enough that a
// catalog chunk is read once per slice); under a limited budget at most
// Runtime::kBudgetDemotionPassPromotions, the promotions after which a pass is due while the
// budget's unevictable bytes pass half of it (so that about three slices of trees stay).
size_t VisitSliceTrees(const Runtime& runtime) {
  const uint64_t pass = runtime.options().demotion_pass_promotions;
  if (pass == 0) return 4096;
  const std::shared_ptr<MemoryBudget> budget = runtime.memory_budget();
  const uint64_t most =
      budget != nullptr && budget->limited() ? Runtime::kBudgetDemotionPassPromotions : 4096;
  return static_cast<size_t>(std::clamp<uint64_t>(pass / 4, 16, most));
}

}  // namespace

Status Snapshot::VisitTrees(std::span<const std::string> names,
                            const std::function<Status(size_t index)>& visit) const {
  if (state_ == nullptr) return Status::InvalidArgument("empty snapshot");
  Runtime* runtime = state_->view == nullptr ? state_->runtime.get() : nullptr;
  std::vector<TreeInfo> infos;  // sorted by name
  if (runtime == nullptr) {
    COWTREE_ASSIGN_OR_RETURN(infos, state_->view->ListTrees());
  } else {
    COWTREE_RETURN_IF_ERROR(runtime->ListTrees(state_->pin, &infos));
  }
  std::vector<TreeId> ids(names.size(), UINT64_MAX);  // names not listed: visited last
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = std::lower_bound(infos.begin(), infos.end(), names[i],
                               [](const TreeInfo& t, const std::string& n) { return t.name < n; });
    if (it != infos.end() && it->name == names[i]) ids[i] = it->id;
  }
  infos = std::vector<TreeInfo>();
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a] < ids[b]; });
  if (runtime == nullptr) {
    // A retained checkpoint's view: in catalog order, each catalog chunk is read once (the
    // view keeps the chunk in hand), and its trees stay in the view's bounded set.
    for (size_t i : order) COWTREE_RETURN_IF_ERROR(visit(i));
    return Status::OK();
  }
  const size_t slice = VisitSliceTrees(*runtime);
  std::vector<std::string_view> slice_names;
  for (size_t first = 0; first < order.size(); first += slice) {
    const size_t end = std::min(order.size(), first + slice);
    slice_names.clear();
    for (size_t k = first; k < end; ++k) slice_names.push_back(names[order[k]]);
    COWTREE_RETURN_IF_ERROR(runtime->PromoteColdByNames(slice_names));
    for (size_t k = first; k < end; ++k) COWTREE_RETURN_IF_ERROR(visit(order[k]));
    runtime->DemoteIfManyPromoted(/*wait=*/false);  // also without a background thread
  }
  return Status::OK();
}

uint64_t Snapshot::sequence() const { return state_ == nullptr ? 0 : state_->epoch(); }

template class Cursor<int64_t>;
template class Cursor<double>;
template class TreeReader<int64_t>;
template class TreeReader<double>;
template Result<TreeReader<int64_t>> Snapshot::Tree<int64_t>(const std::string&) const;
template Result<TreeReader<double>> Snapshot::Tree<double>(const std::string&) const;

}  // namespace cowtree
