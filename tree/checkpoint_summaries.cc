#include "tree/checkpoint_summaries.h"

#include <algorithm>
#include <iterator>
#include <span>

#include "persistence/assert.h"

namespace cowtree::tree {
namespace {

class Collector {
 public:
  Collector(uint64_t published_epoch, std::span<const OldChunk> chunks, CheckpointSummaries* out)
      : published_epoch_(chunks.empty() ? 0 : published_epoch), chunks_(chunks), out_(out) {
    starts_.reserve(chunks_.size());
    for (const OldChunk& c : chunks_) {
      COWTREE_ASSERT(!c.summaries.empty());
      starts_.push_back(published_leaves_);
      published_leaves_ += c.summaries.size();
    }
  }

  void Visit(const InternalNode& node) {
    COWTREE_ASSERT(node.child_count() >= 1);
    if (Unchanged(node)) {
      CopyPublishedRun(node);
      return;
    }
    if (node.level > 1) {
      for (const auto& child : node.nodes) Visit(*child);
      return;
    }
    for (const auto& box : node.leaves) {
      ++out_->boxes_visited;
      const PersistedSummary s{box->first_key(), box->pos_sum(), box->entry_count(),
                               box->persisted_id()};
      AppendInOrder(s);
      if (s.leaf_id.valid()) {
        met_ids_.push_back(s.leaf_id.raw());
      } else {
        out_->dirty.emplace_back(out_->summaries.size() - 1, box);
      }
    }
  }

  // The published leaves no run copied and no visited box still names (every published leaf
  // outside the copied runs, minus those met again under a copied level-1 node).
  void Retire() {
    std::vector<uint64_t> gone;
    size_t next = 0;  // first published position not yet classified
    for (const auto& [begin, end] : copied_) {
      AppendPublishedIds(next, begin, &gone);
      next = end;
    }
    AppendPublishedIds(next, published_leaves_, &gone);
    std::sort(gone.begin(), gone.end());
    std::sort(met_ids_.begin(), met_ids_.end());
    std::vector<uint64_t> retired;
    std::set_difference(gone.begin(), gone.end(), met_ids_.begin(), met_ids_.end(),
                        std::back_inserter(retired));
    out_->retired_leaves.reserve(retired.size());
    for (uint64_t raw : retired) out_->retired_leaves.push_back(NodeID::FromRaw(raw));
  }

 private:
  bool Unchanged(const InternalNode& node) const {
    return published_epoch_ != 0 && node.epoch <= published_epoch_;
  }

  static size_t CountLeaves(const InternalNode& node) {
    if (node.level == 1) return node.child_count();
    size_t n = 0;
    for (const auto& child : node.nodes) n += CountLeaves(*child);
    return n;
  }

  void AppendInOrder(const PersistedSummary& s) {
    COWTREE_ASSERT(out_->summaries.empty() || out_->summaries.back().first_key < s.first_key);
    out_->summaries.push_back(s);
  }

  // Position of the published summary whose first key is `key` (it exists: precondition).
  size_t PublishedPosition(uint64_t key) const {
    const auto after = std::upper_bound(
        chunks_.begin(), chunks_.end(), key,
        [](uint64_t k, const OldChunk& c) { return k < c.summaries.front().first_key; });
    COWTREE_ASSERT(after != chunks_.begin());
    const size_t j = static_cast<size_t>(after - chunks_.begin()) - 1;
    const std::vector<PersistedSummary>& s = chunks_[j].summaries;
    const auto it =
        std::lower_bound(s.begin(), s.end(), key,
                         [](const PersistedSummary& x, uint64_t k) { return x.first_key < k; });
    COWTREE_ASSERT(it != s.end() && it->first_key == key);
    return starts_[j] + static_cast<size_t>(it - s.begin());
  }

  // Chunk index and offset of published position `pos` (< published_leaves_).
  std::pair<size_t, size_t> Locate(size_t pos) const {
    const auto after = std::upper_bound(starts_.begin(), starts_.end(), pos);
    const size_t j = static_cast<size_t>(after - starts_.begin()) - 1;
    return {j, pos - starts_[j]};
  }

  // Calls visit(span) for the published summaries [begin, end), one span per chunk touched.
  template <typename Visit>
  void ForEachPublishedSpan(size_t begin, size_t end, Visit visit) const {
    COWTREE_ASSERT(begin <= end && end <= published_leaves_);
    if (begin == end) return;
    auto [j, k] = Locate(begin);
    for (size_t left = end - begin; left > 0; ++j, k = 0) {
      const std::span<const PersistedSummary> chunk(chunks_[j].summaries);
      const size_t take = std::min(left, chunk.size() - k);
      visit(chunk.subspan(k, take));
      left -= take;
    }
  }

  // The node's leaves, copied from the published chunks, with their totals checked against
  // the node's own per-child sums.
  void CopyPublishedRun(const InternalNode& node) {
    const size_t n = CountLeaves(node);
    const size_t begin = PublishedPosition(node.first_keys[0]);
    COWTREE_ASSERT(n >= 1 && begin + n <= published_leaves_);
    COWTREE_ASSERT(copied_.empty() || copied_.back().second <= begin);
    // The junction with what came before; within the run the published order holds.
    COWTREE_ASSERT(out_->summaries.empty() ||
                   out_->summaries.back().first_key < node.first_keys[0]);
    uint64_t pos = 0, entries = 0;
    ForEachPublishedSpan(begin, begin + n, [&](std::span<const PersistedSummary> run) {
      out_->summaries.insert(out_->summaries.end(), run.begin(), run.end());
      for (const PersistedSummary& x : run) {
        COWTREE_DASSERT(x.leaf_id.valid());
        pos += x.pos_sum;
        entries += x.entry_count;
      }
    });
    COWTREE_ASSERT(pos == node.PosTotal() && entries == node.EntryTotal());
    copied_.emplace_back(begin, begin + n);
  }

  void AppendPublishedIds(size_t begin, size_t end, std::vector<uint64_t>* out) const {
    ForEachPublishedSpan(begin, end, [out](std::span<const PersistedSummary> run) {
      for (const PersistedSummary& x : run) out->push_back(x.leaf_id.raw());
    });
  }

  const uint64_t published_epoch_;
  const std::span<const OldChunk> chunks_;
  CheckpointSummaries* const out_;
  std::vector<size_t> starts_;  // published position of each chunk's first summary
  size_t published_leaves_ = 0;
  std::vector<std::pair<size_t, size_t>> copied_;  // published [begin, end) runs, in order
  std::vector<uint64_t> met_ids_;                  // persisted ids of the boxes visited
};

}  // namespace

CheckpointSummaries CollectCheckpointSummaries(const TreeVersion& v, uint64_t published_epoch,
                                               std::span<const OldChunk> published_chunks) {
  CheckpointSummaries out;
  Collector collector(published_epoch, published_chunks, &out);
  if (v.root != nullptr && v.root->child_count() > 0) {
    out.summaries.reserve(v.leaf_count);
    collector.Visit(*v.root);
  }
  COWTREE_ASSERT(out.summaries.size() == v.leaf_count);
  collector.Retire();
  return out;
}

}  // namespace cowtree::tree
