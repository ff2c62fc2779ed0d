#include "tree/chunk_plan.h"

#include <algorithm>
#include <unordered_map>

#include "persistence/assert.h"

namespace cowtree::tree {
namespace {

// Appends new-chunk plans for the run [begin, end), split evenly.
void PlanRun(size_t begin, size_t end, size_t max, std::vector<ChunkPlan>* out) {
  const size_t r = end - begin;
  if (r == 0) return;
  const size_t pieces = (r + max - 1) / max;
  const size_t base = r / pieces;
  const size_t extra = r % pieces;
  for (size_t j = 0; j < pieces; ++j) {
    const size_t size = base + (j < extra ? 1 : 0);
    out->push_back(ChunkPlan{begin, size, NodeID()});
    begin += size;
  }
  COWTREE_ASSERT(begin == end);
}

// Step 3 of the header: a small new chunk absorbs its left neighbor (or, first in the list,
// its right one); re-split evenly into two when the two exceed max.
std::vector<ChunkPlan> Coalesce(const std::vector<ChunkPlan>& plans, size_t max) {
  const size_t small = max / 4;
  std::vector<ChunkPlan> out;
  out.reserve(plans.size());
  for (const ChunkPlan& p : plans) {
    if (!out.empty()) {
      ChunkPlan& last = out.back();
      const bool last_small_new = !last.reused() && last.count < small;
      const bool p_small_new = !p.reused() && p.count < small;
      if (last_small_new || p_small_new) {
        COWTREE_ASSERT(last.begin + last.count == p.begin);
        const size_t begin = last.begin;
        const size_t total = last.count + p.count;  // < max / 4 + max: at most two chunks
        if (total <= max) {
          last = ChunkPlan{begin, total, NodeID()};
        } else {
          const size_t first = (total + 1) / 2;  // both halves > max / 2: never small
          last = ChunkPlan{begin, first, NodeID()};
          out.push_back(ChunkPlan{begin + first, total - first, NodeID()});
        }
        continue;
      }
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace

namespace {

uint64_t Anchor(const PersistedSummary& s) { return s.leaf_id.raw(); }
uint64_t Anchor(const IndexRef& r) { return r.child_id.raw(); }
const std::vector<PersistedSummary>& Records(const OldChunk& c) { return c.summaries; }
const std::vector<IndexRef>& Records(const OldIndexChunk& c) { return c.refs; }

// The planner of the header, for any level: Record is a summary (level 0) or a ref (level >= 1),
// identified by the NodeID it names (each is named once per checkpoint).
template <typename Record, typename Old>
std::vector<ChunkPlan> PlanChunks(std::span<const Record> records, std::span<const Old> old_chunks,
                                  size_t max) {
  COWTREE_ASSERT(max >= 1);
  const size_t n = records.size();
  std::unordered_map<uint64_t, const Old*> by_first;
  by_first.reserve(old_chunks.size());
  for (const Old& c : old_chunks) {
    const auto& old = Records(c);
    if (old.empty() || old.size() > max) continue;
    COWTREE_ASSERT(c.chunk_id.valid());
    by_first.emplace(Anchor(old.front()), &c);
  }
  std::vector<ChunkPlan> plans;
  size_t pending = 0;  // start of the run of records not yet planned
  size_t i = 0;
  while (i < n) {
    const auto it = by_first.find(Anchor(records[i]));
    if (it != by_first.end()) {
      const auto& old = Records(*it->second);
      if (i + old.size() <= n && std::equal(old.begin(), old.end(), records.begin() + i)) {
        PlanRun(pending, i, max, &plans);
        plans.push_back(ChunkPlan{i, old.size(), it->second->chunk_id});
        i += old.size();
        pending = i;
        continue;
      }
    }
    ++i;
  }
  PlanRun(pending, n, max, &plans);
  plans = Coalesce(plans, max);
  // Post-conditions: exact, ordered cover; sizes within the limit.
  size_t covered = 0;
  for (const ChunkPlan& p : plans) {
    COWTREE_ASSERT(p.begin == covered && p.count >= 1 && p.count <= max);
    covered += p.count;
  }
  COWTREE_ASSERT(covered == n);
  return plans;
}

}  // namespace

std::vector<ChunkPlan> PlanSummaryChunks(std::span<const PersistedSummary> new_summaries,
                                         std::span<const OldChunk> old_chunks,
                                         size_t chunk_summaries_max) {
  return PlanChunks(new_summaries, old_chunks, chunk_summaries_max);
}

std::vector<ChunkPlan> PlanIndexChunks(std::span<const IndexRef> new_refs,
                                       std::span<const OldIndexChunk> old_chunks, size_t refs_max) {
  return PlanChunks(new_refs, old_chunks, refs_max);
}

}  // namespace cowtree::tree
