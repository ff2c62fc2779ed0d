#include "tree/check.h"

#include <string>

namespace cowtree::tree {
namespace {

struct Totals {
  unsigned __int128 pos = 0;
  uint64_t entries = 0;
  uint64_t leaves = 0;
};

struct Bound {
  bool has_hi = false;
  uint64_t hi = 0;  // exclusive
};

std::string Where(const InternalNode& node, size_t i) {
  return "level " + std::to_string(node.level) + " child " + std::to_string(i) + " (first key " +
         std::to_string(node.first_keys[i]) + "): ";
}

Status CheckLeaf(const TreeVersion& v, const InternalNode& parent, size_t i, Bound bound,
                 bool load_leaves, Totals* totals) {
  const LeafBox& box = *parent.leaves[i];
  const std::string where = Where(parent, i);
  if (box.first_key() != parent.first_keys[i] || box.pos_sum() != parent.pos_sums[i] ||
      box.entry_count() != parent.entry_counts[i]) {
    return Status::Corruption(where + "leaf summary (" + std::to_string(box.first_key()) + ", " +
                              std::to_string(box.pos_sum()) + ", " +
                              std::to_string(box.entry_count()) +
                              ") differs from the parent's entry");
  }
  if (box.entry_count() == 0 || box.entry_count() > kLeafCapacityMax) {
    return Status::Corruption(where + "leaf entry_count " + std::to_string(box.entry_count()) +
                              " not in [1, " + std::to_string(kLeafCapacityMax) + "]");
  }
  if (box.epoch() > v.epoch) return Status::Corruption(where + "leaf epoch after the version's");
  std::shared_ptr<const LeafData> data = box.data();
  if (!box.persisted() && data == nullptr) {
    return Status::Corruption(where + "dirty leaf is not resident");
  }
  if (data == nullptr && load_leaves) {
    Result<std::shared_ptr<const LeafData>> loaded = LeafBox::Load(parent.leaves[i], v.loader);
    if (!loaded.ok()) return loaded.status().WithContext(where);
    data = std::move(loaded).value();
  }
  if (data != nullptr) {
    COWTREE_RETURN_IF_ERROR(ValidateLeafData(*data).WithContext(where));
    uint64_t pos_sum = 0;
    LeafPositiveSum(*data, &pos_sum);
    if (data->entry_count() != box.entry_count() || data->keys[0] != box.first_key() ||
        pos_sum != box.pos_sum()) {
      return Status::Corruption(where + "leaf content does not match its summary");
    }
    if (bound.has_hi && data->keys.back() >= bound.hi) {
      return Status::Corruption(where + "leaf key " + std::to_string(data->keys.back()) +
                                " is not below the next first key " + std::to_string(bound.hi));
    }
  }
  totals->pos += box.pos_sum();
  totals->entries += box.entry_count();
  totals->leaves += 1;
  return Status::OK();
}

Status CheckNode(const TreeVersion& v, const InternalNode& node, bool is_root, Bound bound,
                 bool load_leaves, Totals* totals) {
  const size_t n = node.child_count();
  const std::string where = "level " + std::to_string(node.level) + " node: ";
  if (node.level == 0) return Status::Corruption(where + "level 0");
  if (node.pos_sums.size() != n || node.entry_counts.size() != n ||
      (node.level == 1 ? (node.leaves.size() != n || !node.nodes.empty())
                       : (node.nodes.size() != n || !node.leaves.empty()))) {
    return Status::Corruption(where + "per-child arrays differ in length");
  }
  if (n == 0 || n > v.shape.fanout) {
    return Status::Corruption(where + std::to_string(n) + " children, expected 1.." +
                              std::to_string(v.shape.fanout));
  }
  if (!is_root && n < v.shape.FanoutMin()) {
    return Status::Corruption(where + std::to_string(n) + " children, under the minimum " +
                              std::to_string(v.shape.FanoutMin()));
  }
  if (is_root && node.level > 1 && n < 2) {
    return Status::Corruption(where + "root above level 1 with a single child");
  }
  if (node.epoch > v.epoch) return Status::Corruption(where + "epoch after the version's");
  for (size_t i = 0; i < n; ++i) {
    Bound child_bound = bound;
    if (i + 1 < n) {
      if (node.first_keys[i + 1] <= node.first_keys[i]) {
        return Status::Corruption(Where(node, i) + "next first key " +
                                  std::to_string(node.first_keys[i + 1]) + " is not greater");
      }
      child_bound = Bound{true, node.first_keys[i + 1]};
    }
    if (bound.has_hi && node.first_keys[i] >= bound.hi) {
      return Status::Corruption(Where(node, i) + "first key not below the parent's bound " +
                                std::to_string(bound.hi));
    }
    if (node.level == 1) {
      COWTREE_RETURN_IF_ERROR(CheckLeaf(v, node, i, child_bound, load_leaves, totals));
      continue;
    }
    const InternalNode& child = *node.nodes[i];
    if (child.level + 1 != node.level) {
      return Status::Corruption(Where(node, i) + "child at level " + std::to_string(child.level));
    }
    Totals sub;
    COWTREE_RETURN_IF_ERROR(CheckNode(v, child, false, child_bound, load_leaves, &sub));
    if (child.first_keys[0] != node.first_keys[i] || sub.pos != node.pos_sums[i] ||
        sub.entries != node.entry_counts[i]) {
      return Status::Corruption(Where(node, i) + "summary differs from the child's totals");
    }
    totals->pos += sub.pos;
    totals->entries += sub.entries;
    totals->leaves += sub.leaves;
  }
  return Status::OK();
}

}  // namespace

Status CheckInvariants(const TreeVersion& v, bool load_leaves) {
  if (v.root == nullptr) {
    if (v.entry_count != 0 || v.leaf_count != 0 || v.positive_count != 0 || v.height != 0) {
      return Status::Corruption("tree: no root but nonzero counts or height");
    }
    return Status::OK();
  }
  if (v.height != v.root->level + 1) {
    return Status::Corruption("tree: height " + std::to_string(v.height) + " but root level " +
                              std::to_string(v.root->level));
  }
  Totals totals;
  COWTREE_RETURN_IF_ERROR(CheckNode(v, *v.root, true, Bound{}, load_leaves, &totals));
  if (totals.pos != v.positive_count || totals.entries != v.entry_count ||
      totals.leaves != v.leaf_count) {
    return Status::Corruption(
        "tree: totals (N " + std::to_string(static_cast<uint64_t>(totals.pos)) + ", entries " +
        std::to_string(totals.entries) + ", leaves " + std::to_string(totals.leaves) +
        ") differ from the version's (" + std::to_string(v.positive_count) + ", " +
        std::to_string(v.entry_count) + ", " + std::to_string(v.leaf_count) + ")");
  }
  return Status::OK();
}

}  // namespace cowtree::tree
