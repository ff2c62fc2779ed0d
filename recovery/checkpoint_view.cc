#include "recovery/checkpoint_view.h"

#include <algorithm>

#include "persistence/assert.h"
#include "recovery/store_reader.h"

namespace cowtree::recovery {

CheckpointView::CheckpointView(std::shared_ptr<Runtime> runtime, Runtime::RetainedCheckpointPin pin,
                               RuntimeSnapshot reader_pin, std::vector<CatalogEntry> entries)
    : runtime_(std::move(runtime)),
      pin_(std::move(pin)),
      reader_pin_(std::move(reader_pin)),
      entries_(std::move(entries)) {}

Result<std::shared_ptr<CheckpointView>> CheckpointView::Open(std::shared_ptr<Runtime> runtime,
                                                             std::string_view name) {
  COWTREE_ASSERT(runtime != nullptr);
  COWTREE_ASSIGN_OR_RETURN(Runtime::RetainedCheckpointPin pin,
                           runtime->PinRetainedCheckpoint(name));
  RuntimeSnapshot reader_pin = runtime->GetSnapshot();
  ObjectStore* store = runtime->object_store();
  CatalogReadHooks hooks;
  hooks.read = [store](NodeID id, ObjectKind kind) { return store->ReadObject(id, kind); };
  hooks.report = [](const CatalogProblem&) { return false; };  // stop at the first problem
  hooks.check_names = true;
  CatalogContents catalog;
  Status st = ReadCatalogObjects(pin.checkpoint.catalog_root, hooks, &catalog);
  if (!st.ok()) {
    return st.WithContext("reading the catalog of retained checkpoint '" + std::string(name) + "'");
  }
  if (catalog.root.tree_count != pin.checkpoint.tree_count) {
    return Status::Corruption("retained checkpoint '" + std::string(name) +
                              "': the manifest says " + std::to_string(pin.checkpoint.tree_count) +
                              " trees, its catalog holds " +
                              std::to_string(catalog.root.tree_count));
  }
  std::vector<CatalogEntry> entries = std::move(catalog.entries);
  std::sort(entries.begin(), entries.end(),
            [](const CatalogEntry& a, const CatalogEntry& b) { return a.name < b.name; });
  return std::shared_ptr<CheckpointView>(new CheckpointView(
      std::move(runtime), std::move(pin), std::move(reader_pin), std::move(entries)));
}

Result<TreeInfo> CheckpointView::FindTree(std::string_view name) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), name,
      [](const CatalogEntry& e, std::string_view n) { return std::string_view(e.name) < n; });
  if (it == entries_.end() || it->name != name) {
    return Status::NotFound("no tree named '" + std::string(name) + "' in retained checkpoint '" +
                            pin_.checkpoint.name + "'");
  }
  std::shared_ptr<HostedTree> tree;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto found = loaded_.find(it->tree_id);
    if (found != loaded_.end()) {
      tree = found->second;
    } else {
      PersistedTreeRef ref{it->descriptor, it->inline_body};
      Result<std::unique_ptr<HostedTree>> loaded =
          runtime_->LoadTreeAt(it->type_id, it->params, ref, pin_.checkpoint.epoch);
      if (!loaded.ok()) {
        return loaded.status().WithContext("restoring tree '" + it->name +
                                           "' of retained checkpoint '" + pin_.checkpoint.name +
                                           "'");
      }
      tree = std::shared_ptr<HostedTree>(std::move(loaded).value());
      if (loaded_.size() == kLoadedTreesMax) {
        loaded_.erase(loaded_order_.front());
        loaded_order_.pop_front();
      }
      loaded_.emplace(it->tree_id, tree);
      loaded_order_.push_back(it->tree_id);
      COWTREE_ASSERT(loaded_.size() == loaded_order_.size() && loaded_.size() <= kLoadedTreesMax);
    }
  }
  return TreeInfo{it->tree_id, it->name,         it->type_id,
                  it->params,  it->create_epoch, std::move(tree)};
}

size_t CheckpointView::loaded_tree_count() const {
  std::lock_guard<std::mutex> g(mu_);
  return loaded_.size();
}

std::vector<TreeInfo> CheckpointView::ListTrees() const {
  std::vector<TreeInfo> out;
  out.reserve(entries_.size());
  for (const CatalogEntry& e : entries_) {
    out.push_back(TreeInfo{e.tree_id, e.name, e.type_id, e.params, e.create_epoch, nullptr});
  }
  return out;
}

}  // namespace cowtree::recovery
