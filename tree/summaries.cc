#include "tree/summaries.h"

#include <string>
#include <utility>

#include "persistence/assert.h"
#include "tree/leaf_box_arena.h"
#include "tree/leaf_pool.h"
#include "tree/node_edit.h"
#include "tree/node_pool.h"

namespace cowtree::tree {
namespace {

void Collect(const InternalNode& node, std::vector<LeafSummary>* out) {
  if (node.level > 1) {
    for (const auto& child : node.nodes) Collect(*child, out);
    return;
  }
  for (const auto& box : node.leaves) {
    out->push_back(LeafSummary{box->first_key(), box->pos_sum(), box->entry_count(), box});
  }
}

Status ValidateSummaries(KeyType key_type, std::span<const SummaryRun> runs,
                         uint64_t* positive_count, uint64_t* entry_count, uint64_t* leaf_count) {
  unsigned __int128 pos_total = 0;
  uint64_t entries = 0;
  size_t i = 0;  // across runs
  const PersistedSummary* prev = nullptr;
  for (const SummaryRun& run : runs) {
    for (const PersistedSummary& s : run) {
      // Built only on a failure: this loop runs once per leaf of the restored tree.
      const auto where = [i] { return "leaf summary " + std::to_string(i) + ": "; };
      if (prev != nullptr && s.first_key <= prev->first_key) {
        return Status::Corruption(where() + "first_key " + std::to_string(s.first_key) +
                                  " is not greater than the previous first_key " +
                                  std::to_string(prev->first_key));
      }
      if (!IsCanonicalKey(key_type, s.first_key)) {
        return Status::Corruption(where() + "first_key " + std::to_string(s.first_key) +
                                  " is not a canonical " + std::string(KeyTypeName(key_type)) +
                                  " key code");
      }
      if (s.entry_count == 0 || s.entry_count > kLeafCapacityMax) {
        return Status::Corruption(where() + "entry_count " + std::to_string(s.entry_count) +
                                  " not in [1, " + std::to_string(kLeafCapacityMax) + "]");
      }
      if (static_cast<unsigned __int128>(s.pos_sum) >
          static_cast<unsigned __int128>(s.entry_count) * INT64_MAX) {
        return Status::Corruption(where() + "pos_sum " + std::to_string(s.pos_sum) +
                                  " exceeds entry_count * (2^63 - 1)");
      }
      if (!s.leaf_id.valid()) {
        return Status::Corruption(where() + "leaf_id " + std::to_string(s.leaf_id.raw()) +
                                  " is not a valid NodeID");
      }
      pos_total += s.pos_sum;
      entries += s.entry_count;
      prev = &s;
      ++i;
    }
  }
  if (pos_total > UINT64_MAX) {
    return Status::Corruption("leaf summaries: total positive weight overflows uint64");
  }
  *positive_count = static_cast<uint64_t>(pos_total);
  *entry_count = entries;
  *leaf_count = i;
  return Status::OK();
}

// Groups `n` children evenly into ceil(n / fanout) nodes; calls add(node, begin, end).
template <typename AddFn>
std::vector<std::shared_ptr<InternalNode>> BuildLevel(size_t n, uint32_t fanout, uint32_t level,
                                                      uint64_t epoch, InternalNodePool* pool,
                                                      AddFn add) {
  const size_t pieces = (n + fanout - 1) / fanout;
  const size_t base = n / pieces;
  const size_t extra = n % pieces;
  std::vector<std::shared_ptr<InternalNode>> out;
  out.reserve(pieces);
  size_t begin = 0;
  for (size_t j = 0; j < pieces; ++j) {
    const size_t size = base + (j < extra ? 1 : 0);
    std::shared_ptr<InternalNode> node = pool->Make(size, level);
    node->epoch = epoch;
    add(node.get(), begin, begin + size);
    COWTREE_ASSERT(node->child_count() == size && size <= fanout);
    out.push_back(std::move(node));
    begin += size;
  }
  COWTREE_ASSERT(begin == n);
  return out;
}

}  // namespace

std::vector<LeafSummary> Summaries(const TreeVersion& v) {
  std::vector<LeafSummary> out;
  out.reserve(v.leaf_count);
  if (v.root != nullptr) Collect(*v.root, &out);
  COWTREE_ASSERT(out.size() == v.leaf_count);
  return out;
}

Result<std::shared_ptr<const TreeVersion>> BuildFromSummaries(
    KeyType key_type, TreeShape shape, std::span<const PersistedSummary> summaries, uint64_t epoch,
    LeafLoader* loader) {
  const SummaryRun run = summaries;
  return BuildFromSummaryRuns(key_type, shape, std::span(&run, 1), epoch, loader);
}

Result<std::shared_ptr<const TreeVersion>> BuildFromSummaryRuns(KeyType key_type, TreeShape shape,
                                                                std::span<const SummaryRun> runs,
                                                                uint64_t epoch,
                                                                LeafLoader* loader) {
  COWTREE_RETURN_IF_ERROR(ValidateTreeShape(shape));
  auto v = std::make_shared<TreeVersion>();
  v->key_type = key_type;
  v->shape = shape;
  v->loader = loader;
  v->epoch = epoch;
  COWTREE_RETURN_IF_ERROR(
      ValidateSummaries(key_type, runs, &v->positive_count, &v->entry_count, &v->leaf_count));
  if (v->leaf_count == 0) return std::shared_ptr<const TreeVersion>(std::move(v));

  MemoryBudget* const budget = loader != nullptr ? loader->memory_budget() : nullptr;
  // Nodes from the pool of the budget (charged to it), as the writer's are.
  InternalNodePool* const pool = PoolsFor(budget).node;
  // Level 1: each node's boxes made as it is filled (from 2 MiB arena blocks, not one malloc
  // each: tree/leaf_box_arena.h), the summaries read run after run.
  LeafBoxArena arena(v->leaf_count);
  std::vector<std::shared_ptr<LeafBox>> boxes;  // one node's
  boxes.reserve(shape.fanout);
  size_t run_index = 0;
  size_t in_run = 0;
  std::vector<std::shared_ptr<InternalNode>> level_nodes =
      BuildLevel(v->leaf_count, shape.fanout, 1, epoch, pool,
                 [&](InternalNode* node, size_t begin, size_t end) {
                   boxes.clear();
                   for (size_t k = begin; k < end; ++k) {
                     while (in_run == runs[run_index].size()) {
                       ++run_index;
                       in_run = 0;
                     }
                     const PersistedSummary& s = runs[run_index][in_run++];
                     boxes.push_back(arena.Make(s.first_key, s.pos_sum, s.entry_count, s.leaf_id,
                                                epoch, budget));
                   }
                   InsertLeaves(node, 0, boxes);
                 });
  boxes.clear();
  uint32_t level = 1;
  while (level_nodes.size() > 1) {
    ++level;
    std::vector<std::shared_ptr<InternalNode>> below = std::move(level_nodes);
    level_nodes = BuildLevel(below.size(), shape.fanout, level, epoch, pool,
                             [&](InternalNode* node, size_t begin, size_t end) {
                               InsertNodes(node, 0, std::span(below).subspan(begin, end - begin));
                             });
  }
  v->root = std::move(level_nodes[0]);
  v->height = level + 1;
  COWTREE_ASSERT(v->root->PosTotal() == v->positive_count);
  COWTREE_ASSERT(v->root->EntryTotal() == v->entry_count);
  return std::shared_ptr<const TreeVersion>(std::move(v));
}

}  // namespace cowtree::tree
