#include "recovery/cold_index_builder.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree::recovery {
namespace {

Status NameTwice(std::string_view name) {
  return Status::Corruption("catalog: tree name '" + std::string(name) + "' twice");
}

}  // namespace

ColdIndexBuilder::ColdIndexBuilder(ColdTreeIndex* index, ChunkReader read_chunk)
    : index_(index), read_chunk_(std::move(read_chunk)) {
  COWTREE_ASSERT(index_ != nullptr && read_chunk_);
}

Status ColdIndexBuilder::AddChunk(NodeID chunk, const std::vector<CatalogEntryView>& views) {
  COWTREE_ASSERT(!views.empty());  // (the catalog format has no empty chunk)
  const TreeId first = views.front().tree_id;
  chunk_trees_.clear();
  for (const CatalogEntryView& e : views) {
    // Ids rise across chunks too (the reader reports it only after the last chunk; the index
    // must never see an id twice).
    if (e.tree_id <= previous_) {
      return Status::Corruption("catalog chunk " + std::to_string(chunk.raw()) + ": tree id " +
                                std::to_string(e.tree_id) + " is not above the previous " +
                                std::to_string(previous_));
    }
    // No valid id is UINT64_MAX (the root's next_tree_id is above every id; it is checked
    // only after the last chunk, and the index reserves the value).
    if (e.tree_id == UINT64_MAX) {
      return Status::Corruption("catalog chunk " + std::to_string(chunk.raw()) +
                                ": tree id 18446744073709551615 is not a valid tree id");
    }
    previous_ = e.tree_id;
    chunk_trees_.push_back(ColdTreeIndex::Tree{e.tree_id, ColdTreeIndex::NameHash(e.name)});
  }
  chunks_.emplace_back(first, chunk);
  same_hash_.clear();
  index_->InsertBatch(chunk_trees_, &same_hash_);
  tree_count_ += chunk_trees_.size();
  for (const auto& [a, b] : same_hash_) {
    COWTREE_ASSERT(a < b && b >= first);  // (InsertBatch: the one present, the new one)
    const CatalogEntryView* entry_b = FindCatalogEntry(views, b);
    COWTREE_ASSERT(entry_b != nullptr);
    std::string_view name_a;
    if (a >= first) {
      const CatalogEntryView* entry_a = FindCatalogEntry(views, a);
      COWTREE_ASSERT(entry_a != nullptr);
      name_a = entry_a->name;
    } else {
      COWTREE_ASSIGN_OR_RETURN(name_a, EarlierName(a));
    }
    if (name_a == entry_b->name) return NameTwice(name_a);
  }
  return Status::OK();
}

Result<std::string_view> ColdIndexBuilder::EarlierName(TreeId id) {
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), id,
                             [](TreeId v, const auto& c) { return v < c.first; });
  COWTREE_ASSERT(it != chunks_.begin());
  const NodeID chunk = std::prev(it)->second;
  Parsed* parsed = nullptr;
  for (Parsed& p : cache_) {
    if (p.chunk_raw == chunk.raw()) parsed = &p;
  }
  if (parsed == nullptr) {
    parsed = &cache_[next_++ % cache_.size()];
    parsed->chunk_raw = 0;  // (empty until it parsed)
    ++chunks_reread_;
    COWTREE_ASSIGN_OR_RETURN(std::string_view body, read_chunk_(chunk, &parsed->body));
    COWTREE_RETURN_IF_ERROR(ParseCatalogChunk(body, &parsed->views));
    parsed->chunk_raw = chunk.raw();
  }
  const CatalogEntryView* e = FindCatalogEntry(parsed->views, id);
  // The chunk verified and indexed moments ago; a different body now is a store changed
  // under the open (Corruption, never an assertion).
  if (e == nullptr) {
    return Status::Corruption("catalog chunk " + std::to_string(chunk.raw()) +
                              " no longer holds tree id " + std::to_string(id));
  }
  return e->name;
}

}  // namespace cowtree::recovery
