#include "tree/summary_index.h"

#include <optional>

#include "persistence/assert.h"

namespace cowtree::tree {
namespace {

// Where the fields of a parent's refs are (descriptor v1 has 24-byte refs without totals).
struct RefLayout {
  size_t base = 0;
  size_t ref_bytes = kIndexRefBytes;
  size_t leaf_count_offset = kRefLeafCountOffset;
  size_t first_key_offset = kRefFirstKeyOffset;
  bool totals = true;
  size_t At(size_t j, size_t field) const { return base + ref_bytes * j + field; }
};

// The parent of a run of refs: its name in messages and the layout of its refs.
struct Parent {
  std::string body;  // "tree descriptor body" / "summary index chunk NodeID(...) body"
  std::string name;  // "the tree descriptor" / "level-2 index chunk NodeID(...)"
  RefLayout layout;
};

std::string ChunkName(uint32_t level, NodeID id) {
  return (level == 0 ? std::string("summary chunk ")
                     : "level-" + std::to_string(level) + " index chunk ") +
         DescribeNodeId(id);
}

class Walk {
 public:
  Walk(const TreeDescriptor& desc, const SummaryIndexReader& r) : desc_(desc), r_(r) {}

  // Visits refs (children of level `level`) of `parent`; `upper` bounds the last child's keys.
  Status Children(const Parent& parent, const std::vector<IndexRef>& refs, uint32_t level,
                  std::optional<uint64_t> upper, size_t upper_offset) {
    for (size_t j = 0; j < refs.size(); ++j) {
      const bool last = j + 1 == refs.size();
      const std::optional<uint64_t> bound = last ? upper : refs[j + 1].first_key;
      const size_t bound_offset =
          last ? upper_offset : parent.layout.At(j + 1, parent.layout.first_key_offset);
      COWTREE_RETURN_IF_ERROR(Child(parent, refs[j], j, level, bound, bound_offset));
    }
    return Status::OK();
  }

 private:
  Status Problem(NodeID id, uint32_t level, std::string what, Status status, bool read_failed) {
    IndexProblem p{id,
                   level == 0 ? ObjectKind::kSummaryChunk : ObjectKind::kSummaryIndexChunk,
                   level,
                   std::move(what),
                   std::move(status),
                   read_failed};
    if (r_.on_problem && r_.on_problem(p)) return Status::OK();
    return p.status;
  }

  // The child's totals and key range against the ref that names it.
  Status Match(const Parent& parent, const IndexRef& ref, size_t j, const std::string& child,
               uint64_t leaves, uint64_t entries, unsigned __int128 pos, uint64_t first,
               uint64_t last, std::optional<uint64_t> bound, size_t bound_offset) {
    const RefLayout& l = parent.layout;
    const std::string r = "ref " + std::to_string(j) + " names " + child + ", which ";
    if (leaves != ref.leaf_count) {
      return FormatCorruption(parent.body, l.At(j, l.leaf_count_offset),
                              r + "holds " + std::to_string(leaves) + " leaf summaries, expected " +
                                  std::to_string(ref.leaf_count));
    }
    if (l.totals && entries != ref.entry_count) {
      return FormatCorruption(parent.body, l.At(j, kRefEntryCountOffset),
                              r + "holds " + std::to_string(entries) + " entries, expected " +
                                  std::to_string(ref.entry_count));
    }
    if (l.totals && pos != ref.pos_sum) {
      return FormatCorruption(parent.body, l.At(j, kRefPosSumOffset),
                              r + "holds positive weight " +
                                  (pos > UINT64_MAX ? std::string("(more than 2^64)")
                                                    : std::to_string(static_cast<uint64_t>(pos))) +
                                  ", expected " + std::to_string(ref.pos_sum));
    }
    if (first != ref.first_key) {
      return FormatCorruption(parent.body, l.At(j, l.first_key_offset),
                              r + "starts at key code " + std::to_string(first) + ", expected " +
                                  std::to_string(ref.first_key));
    }
    if (bound.has_value() && last >= *bound) {
      return FormatCorruption(parent.body, bound_offset,
                              r + "reaches key code " + std::to_string(last) +
                                  ", expected below the next ref's first key " +
                                  std::to_string(*bound) + " (key range)");
    }
    return Status::OK();
  }

  Status Child(const Parent& parent, const IndexRef& ref, size_t j, uint32_t level,
               std::optional<uint64_t> bound, size_t bound_offset) {
    const std::string child = ChunkName(level, ref.child_id);
    const std::string what = child + " (ref " + std::to_string(j) + " of " + parent.name + ")";
    const ObjectKind kind = level == 0 ? ObjectKind::kSummaryChunk : ObjectKind::kSummaryIndexChunk;
    Result<std::string> body = r_.read(ref.child_id, kind);
    if (!body.ok()) return Problem(ref.child_id, level, what, body.status(), true);
    if (level == 0) {
      Result<std::vector<PersistedSummary>> s = DecodeSummaryChunk(*body);
      if (!s.ok()) return Problem(ref.child_id, level, what, s.status(), false);
      uint64_t entries = 0;
      unsigned __int128 pos = 0;
      for (const PersistedSummary& x : *s) {
        entries += x.entry_count;  // <= 2^32 * 4096: no overflow
        pos += x.pos_sum;
      }
      Status m = Match(parent, ref, j, child, s->size(), entries, pos, s->front().first_key,
                       s->back().first_key, bound, bound_offset);
      if (!m.ok()) return Problem(ref.child_id, level, what, std::move(m), false);
      r_.on_summary_chunk(ref.child_id, std::move(s).value());
      return Status::OK();
    }
    Result<IndexChunk> c = DecodeIndexChunk(*body);
    if (!c.ok()) return Problem(ref.child_id, level, what, c.status(), false);
    const std::string body_name = "summary index chunk " + DescribeNodeId(ref.child_id) + " body";
    if (c->key_type != desc_.key_type) {
      return Problem(ref.child_id, level, what,
                     FormatCorruption(body_name, kIndexKeyTypeOffset,
                                      "key_type " + std::to_string(static_cast<int>(c->key_type)) +
                                          ", expected the descriptor's " +
                                          std::to_string(static_cast<int>(desc_.key_type))),
                     false);
    }
    if (c->level != level) {
      return Problem(
          ref.child_id, level, what,
          FormatCorruption(body_name, kIndexLevelOffset,
                           "level " + std::to_string(c->level) + ", expected " +
                               std::to_string(level) + " (named by " + parent.name + ")"),
          false);
    }
    RefTotals t;
    for (const IndexRef& x : c->refs) {
      t.leaf_count += x.leaf_count;
      t.entry_count += x.entry_count;
      t.pos_sum += x.pos_sum;
    }
    // A leaf count beyond u64 cannot match the ref's: report it as the largest value.
    const uint64_t leaves =
        t.leaf_count > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(t.leaf_count);
    const uint64_t entries =
        t.entry_count > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(t.entry_count);
    // Keys of the subtree: from its first ref's first key to below the bound; the children
    // check their own last keys against the bound handed down.
    Status m = Match(parent, ref, j, child, leaves, entries, t.pos_sum, c->refs.front().first_key,
                     c->refs.back().first_key, bound, bound_offset);
    if (!m.ok()) return Problem(ref.child_id, level, what, std::move(m), false);
    if (r_.on_index_chunk) r_.on_index_chunk(ref.child_id, *c);
    Parent me{body_name, child, RefLayout{kIndexHeaderBytes}};
    return Children(me, c->refs, level - 1, bound, bound_offset);
  }

  const TreeDescriptor& desc_;
  const SummaryIndexReader& r_;
};

}  // namespace

Status SummaryIndexLimits::Validate() const {
  if (summaries_per_chunk < 1 || summaries_per_chunk > kSummaryChunkEntriesMax) {
    return Status::InvalidArgument("summaries per summary chunk " +
                                   std::to_string(summaries_per_chunk) + " outside 1.." +
                                   std::to_string(kSummaryChunkEntriesMax));
  }
  if (refs_per_chunk < 2 || refs_per_chunk > kIndexRefsMax) {
    return Status::InvalidArgument("refs per summary index chunk " +
                                   std::to_string(refs_per_chunk) + " outside 2.." +
                                   std::to_string(kIndexRefsMax));
  }
  return Status::OK();
}

void PersistedIndex::AppendChunkIds(std::vector<NodeID>* out) const {
  for (const OldChunk& c : chunks) out->push_back(c.chunk_id);
  for (const auto& level : levels) {
    for (const OldIndexChunk& c : level) out->push_back(c.chunk_id);
  }
}

Status WriteSummaryIndex(KeyType key_type, std::span<const PersistedSummary> summaries,
                         const PersistedIndex& old, const SummaryIndexLimits& limits,
                         const ChunkWriteFn& write, TreeDescriptor* desc, PersistedIndex* out) {
  COWTREE_ASSERT(limits.Validate().ok());
  *out = PersistedIndex();
  std::vector<IndexRef> refs;
  for (const ChunkPlan& plan :
       PlanSummaryChunks(summaries, old.chunks, limits.summaries_per_chunk)) {
    std::span<const PersistedSummary> run = summaries.subspan(plan.begin, plan.count);
    NodeID id = plan.reuse_chunk_id;
    if (!id.valid()) {
      COWTREE_ASSIGN_OR_RETURN(id, write(ObjectKind::kSummaryChunk, EncodeSummaryChunk(run)));
    }
    IndexRef ref{id, run.front().first_key, run.size(), 0, 0};
    for (const PersistedSummary& s : run) {
      ref.entry_count += s.entry_count;
      ref.pos_sum += s.pos_sum;  // <= the tree's N: fits
    }
    refs.push_back(ref);
    out->chunks.push_back(OldChunk{id, std::vector<PersistedSummary>(run.begin(), run.end())});
  }
  uint32_t height = 1;
  while (refs.size() > limits.refs_per_chunk) {
    COWTREE_ASSERT(height < kIndexHeightMax);
    static const std::vector<OldIndexChunk> kNone;
    const std::vector<OldIndexChunk>& old_level =
        height - 1 < old.levels.size() ? old.levels[height - 1] : kNone;
    std::vector<ChunkPlan> plans = PlanIndexChunks(refs, old_level, limits.refs_per_chunk);
    if (plans.size() > (refs.size() + 1) / 2)
      plans = PlanIndexChunks(refs, {}, limits.refs_per_chunk);
    COWTREE_ASSERT(plans.size() < refs.size());
    std::vector<IndexRef> up;
    out->levels.emplace_back();
    for (const ChunkPlan& plan : plans) {
      IndexChunk chunk{
          key_type, height,
          std::vector<IndexRef>(refs.begin() + plan.begin, refs.begin() + plan.begin + plan.count)};
      NodeID id = plan.reuse_chunk_id;
      if (!id.valid()) {
        COWTREE_ASSIGN_OR_RETURN(id,
                                 write(ObjectKind::kSummaryIndexChunk, EncodeIndexChunk(chunk)));
      }
      IndexRef ref{id, chunk.refs.front().first_key, 0, 0, 0};
      for (const IndexRef& r : chunk.refs) {
        ref.leaf_count += r.leaf_count;
        ref.entry_count += r.entry_count;
        ref.pos_sum += r.pos_sum;
      }
      up.push_back(ref);
      out->levels.back().push_back(OldIndexChunk{id, std::move(chunk.refs)});
    }
    refs = std::move(up);
    ++height;
  }
  desc->index_height = height;
  desc->refs = std::move(refs);
  return Status::OK();
}

Status ReadSummaryIndex(const TreeDescriptor& desc, const SummaryIndexReader& reader) {
  COWTREE_ASSERT(reader.read && reader.on_summary_chunk);
  RefLayout layout{kDescHeaderBytes};
  if (!desc.ref_totals_known()) {
    layout = RefLayout{kDescHeaderBytes, kDescRefBytesV1, 8, 16, false};
  }
  Parent top{"tree descriptor body", "the tree descriptor", layout};
  Walk walk(desc, reader);
  return walk.Children(top, desc.refs, desc.index_height - 1, std::nullopt, 0);
}

}  // namespace cowtree::tree
