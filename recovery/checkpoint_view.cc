#include "recovery/checkpoint_view.h"

#include <algorithm>

#include "persistence/assert.h"
#include "recovery/cold_index_builder.h"
#include "recovery/store_reader.h"

namespace cowtree::recovery {

CheckpointView::CheckpointView(std::shared_ptr<Runtime> runtime, Runtime::RetainedCheckpointPin pin,
                               RuntimeSnapshot reader_pin)
    : runtime_(std::move(runtime)), pin_(std::move(pin)), reader_pin_(std::move(reader_pin)) {}

Result<std::shared_ptr<CheckpointView>> CheckpointView::Open(std::shared_ptr<Runtime> runtime,
                                                             std::string_view name) {
  COWTREE_ASSERT(runtime != nullptr);
  COWTREE_ASSIGN_OR_RETURN(Runtime::RetainedCheckpointPin pin,
                           runtime->PinRetainedCheckpoint(name));
  RuntimeSnapshot reader_pin = runtime->GetSnapshot();
  const ObjectStore* store = runtime->object_store();
  std::shared_ptr<CheckpointView> view(
      new CheckpointView(std::move(runtime), std::move(pin), std::move(reader_pin)));
  // As recovery::Open reads the store's own catalog (recovery/open.cc ReadCatalog): each chunk
  // into the name-hash index as soon as it is parsed, names checked for duplicates there.
  CatalogReadHooks hooks;
  hooks.read = [store](NodeID id, ObjectKind kind) { return store->ReadObjectOnce(id, kind); };
  hooks.read_into = [store](NodeID id, ObjectKind kind, std::string* buffer) {
    return store->ReadObjectOnceInto(id, kind, buffer);
  };
  hooks.report = [](const CatalogProblem&) { return false; };  // stop at the first problem
  ColdIndexBuilder builder(&view->names_, [&hooks](NodeID id, std::string* buffer) {
    return hooks.read_into(id, ObjectKind::kCatalogChunk, buffer);
  });
  hooks.root = [&](const CatalogRoot& root) { view->names_.Reserve(root.tree_count); };
  hooks.entries = [&](NodeID chunk, const std::vector<CatalogEntryView>& views) -> Status {
    if (!views.empty()) view->chunks_.emplace_back(views.front().tree_id, chunk);
    return builder.AddChunk(chunk, views);
  };
  const std::string& checkpoint = view->pin_.checkpoint.name;
  CatalogContents catalog;
  Status st = ReadCatalogObjects(view->pin_.checkpoint.catalog_root, hooks, &catalog);
  if (!st.ok()) {
    return st.WithContext("reading the catalog of retained checkpoint '" + checkpoint + "'");
  }
  if (builder.tree_count() != view->pin_.checkpoint.tree_count) {
    return Status::Corruption("retained checkpoint '" + checkpoint + "': the manifest says " +
                              std::to_string(view->pin_.checkpoint.tree_count) +
                              " trees, its catalog holds " + std::to_string(builder.tree_count()));
  }
  COWTREE_ASSERT(view->names_.size() == builder.tree_count());
  view->chunks_.shrink_to_fit();
  return view;
}

Result<const std::vector<CatalogEntryView>*> CheckpointView::ChunkHolding(TreeId id) const {
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), id,
                             [](TreeId t, const auto& c) { return t < c.first; });
  COWTREE_ASSERT(it != chunks_.begin());  // ids come from the index, built from these chunks
  const NodeID chunk = std::prev(it)->second;
  if (chunk == chunk_in_hand_) return &chunk_views_;
  chunk_in_hand_ = NodeID();
  ++chunk_reads_;
  Result<std::string_view> body =
      runtime_->object_store()->ReadObjectOnceInto(chunk, ObjectKind::kCatalogChunk, &chunk_body_);
  Status st = body.ok() ? ParseCatalogChunk(*body, &chunk_views_) : body.status();
  if (!st.ok()) {
    return st.WithContext("reading catalog chunk " + DescribeNodeId(chunk) +
                          " of retained checkpoint '" + pin_.checkpoint.name + "'");
  }
  chunk_in_hand_ = chunk;
  return &chunk_views_;
}

Result<const CatalogEntryView*> CheckpointView::FindEntry(std::string_view name) const {
  std::vector<uint64_t> candidates;
  names_.Candidates(ColdTreeIndex::NameHash(name), &candidates);
  for (uint64_t id : candidates) {
    COWTREE_ASSIGN_OR_RETURN(const std::vector<CatalogEntryView>* views, ChunkHolding(id));
    const CatalogEntryView* e = FindCatalogEntry(*views, id);
    if (e == nullptr) {
      return Status::Corruption("retained checkpoint '" + pin_.checkpoint.name +
                                "': its catalog chunk no longer holds tree " + std::to_string(id));
    }
    if (e->name == name) return e;
  }
  return static_cast<const CatalogEntryView*>(nullptr);
}

Result<TreeInfo> CheckpointView::FindTree(std::string_view name) const {
  std::lock_guard<std::mutex> g(mu_);
  COWTREE_ASSIGN_OR_RETURN(const CatalogEntryView* e, FindEntry(name));
  if (e == nullptr) {
    return Status::NotFound("no tree named '" + std::string(name) + "' in retained checkpoint '" +
                            pin_.checkpoint.name + "'");
  }
  std::shared_ptr<HostedTree> tree;
  auto found = loaded_.find(e->tree_id);
  if (found != loaded_.end()) {
    tree = found->second;
  } else {
    PersistedTreeRef ref{e->descriptor, std::string(e->inline_body)};
    Result<std::unique_ptr<HostedTree>> loaded =
        runtime_->LoadTreeAt(e->type_id, e->params, ref, pin_.checkpoint.epoch);
    if (!loaded.ok()) {
      return loaded.status().WithContext("restoring tree '" + std::string(name) +
                                         "' of retained checkpoint '" + pin_.checkpoint.name + "'");
    }
    tree = std::shared_ptr<HostedTree>(std::move(loaded).value());
    if (loaded_.size() == kLoadedTreesMax) {
      loaded_.erase(loaded_order_.front());
      loaded_order_.pop_front();
    }
    loaded_.emplace(e->tree_id, tree);
    loaded_order_.push_back(e->tree_id);
    COWTREE_ASSERT(loaded_.size() == loaded_order_.size() && loaded_.size() <= kLoadedTreesMax);
  }
  return TreeInfo{e->tree_id,      std::string(e->name), e->type_id, std::string(e->params),
                  e->create_epoch, std::move(tree)};
}

size_t CheckpointView::loaded_tree_count() const {
  std::lock_guard<std::mutex> g(mu_);
  return loaded_.size();
}

size_t CheckpointView::catalog_index_bytes() const {
  return names_.memory_bytes() + chunks_.capacity() * sizeof(chunks_[0]);
}

uint64_t CheckpointView::chunk_reads() const {
  std::lock_guard<std::mutex> g(mu_);
  return chunk_reads_;
}

Result<std::vector<TreeInfo>> CheckpointView::ListTrees() const {
  std::vector<TreeInfo> out;
  out.reserve(names_.size());
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [first, chunk] : chunks_) {
    COWTREE_ASSIGN_OR_RETURN(const std::vector<CatalogEntryView>* views, ChunkHolding(first));
    for (const CatalogEntryView& e : *views) {
      out.push_back(TreeInfo{e.tree_id, std::string(e.name), e.type_id, std::string(e.params),
                             e.create_epoch, nullptr});
    }
  }
  COWTREE_ASSERT(out.size() == names_.size());
  std::sort(out.begin(), out.end(),
            [](const TreeInfo& a, const TreeInfo& b) { return a.name < b.name; });
  return out;
}

}  // namespace cowtree::recovery
