// The writer: applies a sorted batch to a tree version by copy-on-write (contract in apply.h).
//
// Algorithm. The batch is cut into runs, one per level-1 node (the parent of the leaves): descend
// from the root with the run's first key (copying every node of an older epoch on the way) and
// note the key bound of the reached level-1 node (the first key of the next sibling at the
// deepest level that has one); the run is every op below that bound. Within the level-1 node
// the run is cut into groups, one per leaf (bounded by the next leaf's first key): each group
// is merged into its leaf in one pass and the leaf is replaced by 0..k new full boxes (split
// evenly when over capacity in entries or encoded bytes, merged with a sibling when it
// underflows: TreeShape::LeafUnderflows). Only then is
// the path repaired bottom-up, once per run (split overflowing nodes, merge/borrow
// underflowing ones, refresh the per-child summaries), and finally the root. The next run
// descends again from the root, so structural changes never leave a stale path behind. While
// a run is applied, the level-1 node may transiently hold more than `fanout` children (or
// none); its routing stays exact because its own first_keys are kept current, and the repair
// at the end of the run splits (or removes) it.
//
// Allocation. New leaf contents come from NewLeafData (tree/leaf_pool.h: the recycling pool unless
// the tree is under a limited memory budget) and new
// or copied internal nodes from InternalNodePool::Default() (tree/node_pool.h), which recycle
// the objects of released versions with their arrays; the per-leaf scratch (pieces_) and the
// path are members reused across groups.
//
// Overflow. Per-child pos sums are kept modulo 2^64 while the batch is applied; the exact
// total N is tracked in 128 bits (base N plus each merged leaf's change) and checked once at
// the end. Every final subtree sum is <= N, so when N fits, every stored sum is exact; when it
// does not, the batch fails with InvalidArgument and nothing is published. An intermediate
// state whose total would overflow is therefore not an error if the final state fits. Leaf
// boxes always hold exact sums: a leaf whose own final sum passes 2^64 - 1 fails the batch at
// once (MergeLeafOps), and a rebalancing merge whose joined sum would pass it is skipped
// (MergeLeafWithSibling). Every limit is checked before the new version is published, so a
// failed batch leaves the tree exactly as it was.
#include "tree/apply.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "persistence/assert.h"
#include "tree/leaf_merge.h"
#include "tree/leaf_pool.h"
#include "tree/node_edit.h"
#include "tree/node_pool.h"

namespace cowtree::tree {
namespace {

// Spare room in the arrays of a node copied or created by the writer (see Copy()).
constexpr size_t kNodeSlackChildren = 8;
// The most ops merged into a leaf read under a ReadPin (an evictor spins while it is held).
constexpr size_t kPinnedMergeOpsMax = 64;

class BatchApplier {
 public:
  BatchApplier(const TreeVersion& base, uint64_t epoch)
      : base_(base),
        epoch_(epoch),
        shape_(base.shape),
        loader_(base.loader),
        budget_(base.loader != nullptr ? base.loader->memory_budget() : nullptr),
        pools_(PoolsFor(budget_)) {}

  Result<std::shared_ptr<const TreeVersion>> Run(std::span<const KeyWeight> ops);

 private:
  struct PathStep {
    InternalNode* node;
    size_t index;  // which child of `node` the path continues into
  };

  // A node of this epoch with room for a few leaf splits before its arrays reallocate.
  std::shared_ptr<InternalNode> Copy(const InternalNode& n) const {
    auto copy = pools_.node->CopyOf(n, shape_.fanout + kNodeSlackChildren);
    copy->epoch = epoch_;
    return copy;
  }
  std::shared_ptr<InternalNode> NewNode(uint32_t level) const {
    auto node = pools_.node->Make(shape_.fanout + kNodeSlackChildren, level);
    node->epoch = epoch_;
    return node;
  }
  // The root is the one node that may have few children (a tree of one leaf has one): sized
  // by its children, so that a million small trees do not keep a fan-out's worth of empty
  // arrays each (~2.7 KiB with the default shape). It gets the same slack as any copy; a batch
  // that adds more children than that reallocates its arrays (the budget's node counter then
  // undercounts this one node until its next copy, which sizes it again).
  std::shared_ptr<InternalNode> CopyRoot(const InternalNode& n) const {
    auto copy = pools_.node->CopyOf(n, RootCapacity(n.child_count()));
    copy->epoch = epoch_;
    return copy;
  }
  std::shared_ptr<InternalNode> NewRoot(uint32_t level, size_t children) const {
    auto node = pools_.node->Make(RootCapacity(children), level);
    node->epoch = epoch_;
    return node;
  }
  // A root of one or two children (a small tree) gets exact-sized arrays of
  // InternalNodePool::kSmallChildrenMax; any other the usual slack.
  size_t RootCapacity(size_t children) const {
    if (children <= 2) return InternalNodePool::kSmallChildrenMax;
    return std::min<size_t>(shape_.fanout + kNodeSlackChildren, children + kNodeSlackChildren);
  }
  InternalNode* MutableChild(InternalNode* parent, size_t i) {
    COWTREE_ASSERT(parent->epoch == epoch_ && parent->level > 1);
    std::shared_ptr<InternalNode>& child = parent->nodes[i];
    COWTREE_ASSERT(child->epoch <= epoch_);
    if (child->epoch != epoch_) child = Copy(*child);
    return child.get();
  }

  Status ApplyRun(std::span<const KeyWeight> ops, size_t* consumed);
  void PrefetchLeaves(const InternalNode& leaf_parent, std::span<const KeyWeight> ops);
  Status ApplyToLeaf(InternalNode* leaf_parent, size_t c, std::span<const KeyWeight> ops);
  Status MergeLeafWithSibling(InternalNode* leaf_parent, size_t c);
  void FixPath(InternalNode* bottom);
  void FixUnderflowingChild(InternalNode* parent, size_t idx);
  void FixRoot();

  const TreeVersion& base_;
  const uint64_t epoch_;
  const TreeShape shape_;
  LeafLoader* const loader_;
  MemoryBudget* const budget_;  // charged by the new leaf boxes (null: none)
  const TreePools pools_;       // where new leaves and nodes come from (PoolsFor(budget_))
  std::shared_ptr<InternalNode> root_;
  __int128 positive_count_ = 0;  // exact N of the state built so far
  int64_t leaf_count_delta_ = 0;
  std::vector<PathStep> path_;
  std::vector<std::shared_ptr<LeafBox>> pieces_;  // scratch of ApplyToLeaf / MergeLeafWithSibling
};

Result<std::shared_ptr<const TreeVersion>> BatchApplier::Run(std::span<const KeyWeight> ops) {
  for (size_t i = 0; i < ops.size(); ++i) {
    COWTREE_ASSERT(ops[i].weight != 0);
    COWTREE_ASSERT(i == 0 || ops[i - 1].key < ops[i].key);  // sorted, unique
    if (!IsCanonicalKey(base_.key_type, ops[i].key)) {
      return Status::InvalidArgument("key code " + std::to_string(ops[i].key) +
                                     " is not a canonical " +
                                     std::string(KeyTypeName(base_.key_type)) + " key");
    }
  }
  positive_count_ = base_.positive_count;
  if (base_.root != nullptr) {
    root_ = CopyRoot(*base_.root);
  } else {
    root_ = NewRoot(1, 1);
  }
  size_t i = 0;
  while (i < ops.size()) {
    size_t consumed = 0;
    COWTREE_RETURN_IF_ERROR(ApplyRun(ops.subspan(i), &consumed));
    COWTREE_ASSERT(consumed >= 1);
    i += consumed;
  }
  if (positive_count_ > static_cast<__int128>(UINT64_MAX)) {
    return Status::InvalidArgument("positive weight total N would be " +
                                   Int128ToString(positive_count_) +
                                   ", over the limit 2^64-1 = " + std::to_string(UINT64_MAX));
  }
  auto v = std::make_shared<TreeVersion>();
  v->key_type = base_.key_type;
  v->shape = shape_;
  v->loader = loader_;
  v->epoch = epoch_;
  v->positive_count = static_cast<uint64_t>(positive_count_);
  v->leaf_count = static_cast<uint64_t>(static_cast<int64_t>(base_.leaf_count) + leaf_count_delta_);
  if (root_->child_count() > 0) {
    v->root = root_;
    v->height = root_->level + 1;
    v->entry_count = root_->EntryTotal();
    COWTREE_ASSERT(root_->PosTotal() == v->positive_count);
    COWTREE_ASSERT(v->leaf_count >= 1 && v->entry_count >= v->leaf_count);
  } else {
    COWTREE_ASSERT(root_->level == 1 && v->leaf_count == 0 && v->positive_count == 0);
  }
  return std::shared_ptr<const TreeVersion>(std::move(v));
}

Status BatchApplier::ApplyRun(std::span<const KeyWeight> ops, size_t* consumed) {
  if (root_->epoch != epoch_) root_ = CopyRoot(*root_);  // after a root collapse
  path_.clear();
  bool has_bound = false;
  uint64_t bound = 0;  // exclusive upper key bound of the reached level-1 node
  InternalNode* node = root_.get();
  while (node->level > 1) {
    const size_t c = node->Route(ops[0].key);
    if (c + 1 < node->child_count()) {
      has_bound = true;
      bound = node->first_keys[c + 1];
    }
    path_.push_back({node, c});
    node = MutableChild(node, c);
  }
  size_t n = 1;
  while (n < ops.size() && (!has_bound || ops[n].key < bound)) ++n;
  PrefetchLeaves(*node, ops.first(n));
  // Groups: the ops of [done, n) that fall into one leaf of `node`.
  size_t done = 0;
  while (done < n) {
    size_t c = 0;
    bool has_leaf_bound = has_bound;
    uint64_t leaf_bound = bound;
    if (node->child_count() > 0) {
      c = node->Route(ops[done].key);
      if (c + 1 < node->child_count()) {
        has_leaf_bound = true;
        leaf_bound = node->first_keys[c + 1];
      }
    }
    size_t end = done + 1;
    while (end < n && (!has_leaf_bound || ops[end].key < leaf_bound)) ++end;
    COWTREE_RETURN_IF_ERROR(ApplyToLeaf(node, c, ops.subspan(done, end - done)));
    done = end;
  }
  FixPath(node);
  FixRoot();
  *consumed = n;
  return Status::OK();
}

// The leaves a run touches are usually cold: each is a chain of dependent misses (box, then
// its LeafData and keys, then the rest of the arrays). Requesting the boxes of the first few
// groups together, then their contents, overlaps those chains instead of paying them one after
// the other in ApplyToLeaf. Only hints: the groups are routed again (exactly) when applied.
void BatchApplier::PrefetchLeaves(const InternalNode& leaf_parent, std::span<const KeyWeight> ops) {
  constexpr size_t kLeavesMax = 16;
  if (leaf_parent.child_count() == 0) return;
  const LeafBox* boxes[kLeavesMax];
  size_t count = 0;
  const size_t children = leaf_parent.child_count();
  for (size_t i = 0; i < ops.size() && count < kLeavesMax;) {
    const size_t c = leaf_parent.Route(ops[i].key);
    boxes[count] = leaf_parent.leaves[c].get();
    __builtin_prefetch(boxes[count]);
    ++count;
    // Skip the rest of this leaf's ops (sorted): one search per leaf, not per op.
    if (c + 1 == children) break;
    const uint64_t bound = leaf_parent.first_keys[c + 1];
    while (i < ops.size() && ops[i].key < bound) ++i;
  }
  for (size_t i = 0; i < count; ++i) boxes[i]->PrefetchContent();
}

Status BatchApplier::ApplyToLeaf(InternalNode* leaf_parent, size_t c,
                                 std::span<const KeyWeight> ops) {
  COWTREE_ASSERT(leaf_parent->level == 1 && leaf_parent->epoch == epoch_);
  const bool has_leaf = leaf_parent->child_count() > 0;
  const LeafBox* box = has_leaf ? leaf_parent->leaves[c].get() : nullptr;
  const uint64_t old_pos_sum = has_leaf ? box->pos_sum() : 0;
  const size_t old_entries = has_leaf ? box->entry_count() : 0;
  // Taken before any pin: the pool takes a lock, which a ReadPin's holder must not.
  std::shared_ptr<LeafData> merged = NewLeafData(old_entries + ops.size(), budget_);
  // The old content: resident (the usual case) read under a pin, with no lock and no reference
  // count on the content's control block; else loaded. The pinned merge takes no lock of ours
  // and is short: at most kPinnedMergeOpsMax ops into one leaf (a longer run amortizes a Load).
  // Its one possible allocation, the weights array when the first weight other than 1 is
  // written (a malloc), only lengthens the wait of an evictor spinning on this pin.
  std::optional<LeafBox::ReadPin> pin;
  std::shared_ptr<const LeafData> loaded;
  const LeafData* old = nullptr;
  if (has_leaf && ops.size() <= kPinnedMergeOpsMax) {
    pin.emplace(*box);
    old = pin->data();
    if (old == nullptr) pin.reset();  // not resident: no pin may be held across the Load
  }
  if (has_leaf && old == nullptr) {
    COWTREE_ASSIGN_OR_RETURN(loaded, LeafBox::Load(leaf_parent->leaves[c], loader_));
    old = loaded.get();
  }
  // A resident or loaded box knows its weight kind (LeafBox::Load notes it).
  uint64_t pos_sum = 0;
  bool unit = false;
  const Status merge_status = MergeLeafOps(old, old_pos_sum, !has_leaf || box->unit_weights(), ops,
                                           base_.key_type, merged.get(), &pos_sum, &unit);
  pin.reset();
  loaded.reset();
  COWTREE_RETURN_IF_ERROR(merge_status);
  positive_count_ += static_cast<__int128>(pos_sum) - old_pos_sum;
  pieces_.clear();
  const size_t body_bytes =
      SplitLeaf(std::move(merged), pos_sum, shape_, epoch_, &pieces_, budget_,
                unit ? LeafBox::WeightsHint::kAllUnit : LeafBox::WeightsHint::kUnknown);
  const size_t piece_count = pieces_.size();
  if (has_leaf && piece_count == 1) {
    // The common case (no split, no emptied leaf): replace the box in place.
    leaf_parent->leaves[c] = std::move(pieces_[0]);
    RefreshChild(leaf_parent, c);
  } else {
    if (has_leaf) EraseChildren(leaf_parent, c, 1);
    InsertLeaves(leaf_parent, c, pieces_);
  }
  pieces_.clear();
  leaf_count_delta_ += static_cast<int64_t>(piece_count) - (has_leaf ? 1 : 0);
  if (piece_count == 1 && shape_.LeafUnderflows(leaf_parent->entry_counts[c], body_bytes) &&
      leaf_parent->child_count() >= 2) {
    COWTREE_RETURN_IF_ERROR(MergeLeafWithSibling(leaf_parent, c));
  }
  return Status::OK();
}

Status BatchApplier::MergeLeafWithSibling(InternalNode* leaf_parent, size_t c) {
  // Prefer the left sibling: its ops are already applied, so the merged leaf is final.
  const size_t left = c > 0 ? c - 1 : c;
  const LeafBox& a = *leaf_parent->leaves[left];
  const LeafBox& b = *leaf_parent->leaves[left + 1];
  COWTREE_ASSERT(a.first_key() < b.first_key());
  // Joined positive sum in 128 bits: it can pass 2^64 - 1 only transiently, when c is the
  // leftmost child and its right sibling's ops (later in this batch) still lower the sibling.
  // Such a pair stays unmerged: an underfull leaf costs space only (check.h does not require
  // leaf fill), while a box with a wrapped pos_sum would corrupt every later sum.
  const unsigned __int128 joined_sum = static_cast<unsigned __int128>(a.pos_sum()) + b.pos_sum();
  if (joined_sum > UINT64_MAX) return Status::OK();
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> a_data,
                           LeafBox::Load(leaf_parent->leaves[left], loader_));
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> b_data,
                           LeafBox::Load(leaf_parent->leaves[left + 1], loader_));
  COWTREE_ASSERT(a_data->keys.back() < b_data->keys.front());
  std::shared_ptr<LeafData> joined =
      NewLeafData(a_data->keys.size() + b_data->keys.size(), budget_);
  joined->keys.insert(joined->keys.end(), a_data->keys.begin(), a_data->keys.end());
  joined->keys.insert(joined->keys.end(), b_data->keys.begin(), b_data->keys.end());
  if (!a_data->implicit_unit_weights() || !b_data->implicit_unit_weights()) {
    joined->weights.reserve(joined->keys.capacity());  // keeps a pooled object in its class
    for (const LeafData* part : {a_data.get(), b_data.get()}) {
      if (part->implicit_unit_weights()) {
        joined->weights.insert(joined->weights.end(), part->keys.size(), 1);
      } else {
        joined->weights.insert(joined->weights.end(), part->weights.begin(), part->weights.end());
      }
    }
  }
  a_data.reset();
  b_data.reset();
  const auto pos_sum = static_cast<uint64_t>(joined_sum);
  pieces_.clear();
  // Both boxes were loaded above, so their weight kinds are known.
  const bool unit = a.unit_weights() && b.unit_weights();
  SplitLeaf(std::move(joined), pos_sum, shape_, epoch_, &pieces_, budget_,
            unit ? LeafBox::WeightsHint::kAllUnit : LeafBox::WeightsHint::kNotAllUnit);
  // Usually 1 or 2 pieces; more when the sibling is a restored leaf over the current capacity
  // (in entries or bytes).
  COWTREE_ASSERT(!pieces_.empty());
  EraseChildren(leaf_parent, left, 2);
  InsertLeaves(leaf_parent, left, pieces_);
  leaf_count_delta_ += static_cast<int64_t>(pieces_.size()) - 2;
  pieces_.clear();
  return Status::OK();
}

void BatchApplier::FixPath(InternalNode* bottom) {
  InternalNode* child = bottom;
  for (size_t d = path_.size(); d-- > 0;) {
    InternalNode* parent = path_[d].node;
    const size_t idx = path_[d].index;
    COWTREE_ASSERT(parent->epoch == epoch_ && parent->nodes[idx].get() == child);
    if (child->child_count() > shape_.fanout) {
      std::vector<std::shared_ptr<InternalNode>> tails =
          SplitNode(child, shape_.fanout, epoch_, pools_.node);
      RefreshChild(parent, idx);
      InsertNodes(parent, idx + 1, tails);
    } else if (child->child_count() < shape_.FanoutMin()) {
      FixUnderflowingChild(parent, idx);
    } else {
      RefreshChild(parent, idx);
    }
    child = parent;
  }
  COWTREE_ASSERT(child == root_.get());
}

void BatchApplier::FixUnderflowingChild(InternalNode* parent, size_t idx) {
  InternalNode* child = parent->nodes[idx].get();
  if (child->child_count() == 0) {
    EraseChildren(parent, idx, 1);
    return;
  }
  if (parent->child_count() < 2) {
    // No sibling under this parent: the parent underflows too and is fixed one level up (or
    // collapses if it is the root).
    RefreshChild(parent, idx);
    return;
  }
  const size_t left = idx > 0 ? idx - 1 : idx;
  InternalNode* a = MutableChild(parent, left);
  InternalNode* b = MutableChild(parent, left + 1);
  const size_t total = a->child_count() + b->child_count();
  if (total <= shape_.fanout) {
    MoveChildrenToBack(b, 0, a);
    EraseChildren(parent, left + 1, 1);
    RefreshChild(parent, left);
    return;
  }
  // Borrow: split the children evenly between a and b (each gets >= fanout / 2 >= FanoutMin).
  const size_t a_target = total / 2;
  if (a->child_count() < a_target) {
    MoveFrontChildrenToBack(b, a_target - a->child_count(), a);
  } else {
    // Move a's tail to the front of b: b's children go behind a's tail, then swap roles.
    std::shared_ptr<InternalNode> rebuilt = NewNode(b->level);
    MoveChildrenToBack(a, a_target, rebuilt.get());
    MoveChildrenToBack(b, 0, rebuilt.get());
    parent->nodes[left + 1] = std::move(rebuilt);
    b = parent->nodes[left + 1].get();
  }
  COWTREE_ASSERT(a->child_count() >= shape_.FanoutMin() && b->child_count() >= shape_.FanoutMin());
  RefreshChild(parent, left);
  RefreshChild(parent, left + 1);
}

void BatchApplier::FixRoot() {
  while (root_->child_count() > shape_.fanout) {
    std::vector<std::shared_ptr<InternalNode>> tails =
        SplitNode(root_.get(), shape_.fanout, epoch_, pools_.node);
    std::shared_ptr<InternalNode> new_root = NewRoot(root_->level + 1, tails.size() + 1);
    std::vector<std::shared_ptr<InternalNode>> children;
    children.reserve(tails.size() + 1);
    children.push_back(root_);
    for (auto& t : tails) children.push_back(std::move(t));
    InsertNodes(new_root.get(), 0, children);
    root_ = std::move(new_root);
  }
  while (root_->level > 1 && root_->child_count() == 1) {
    root_ = root_->nodes[0];  // may be of an older epoch: copied by the next descent
  }
  if (root_->level > 1 && root_->child_count() == 0) {
    root_ = NewRoot(1, 0);
  }
}

}  // namespace

Result<std::shared_ptr<const TreeVersion>> ApplyBatch(const TreeVersion& base,
                                                      std::span<const KeyWeight> ops,
                                                      uint64_t epoch) {
  COWTREE_ASSERT(epoch > base.epoch);
  COWTREE_ASSERT(ValidateTreeShape(base.shape).ok());
  BatchApplier applier(base, epoch);
  return applier.Run(ops);
}

}  // namespace cowtree::tree
