// CheckpointView: a read-only, point-in-time view of one retained checkpoint of an open Runtime
// (docs/retained_checkpoints.md), while the store keeps running.
//
// Open pins the checkpoint (Runtime::PinRetainedCheckpoint: its objects stay readable even if
// it is deleted meanwhile, until the view is destroyed) and, like any snapshot, the newest
// epoch in the runtime's reader registry (so compaction frees no old slot of an object it
// relocates while the view may be reading it), and reads its catalog — the catalog
// root the manifest entry names, through the reader recovery and fsck share
// (recovery/store_reader.h) — O(catalog bytes). Trees are loaded on first access, at the
// checkpoint's epoch, by their type's Load (no leaf is read before a query needs it); they are
// the view's own instances, never the live trees. The view keeps the kLoadedTreesMax trees it
// loaded last (first in, first out; a reader's TreeInfo keeps its own tree alive): a read of
// every group of a store through one view held every tree it loaded (~1.8 KB each, 196 MB for
// 80 000 groups under a 2 MiB budget; adversarial round 15).
//
// Errors: NotFound (no retained checkpoint of that name; FindTree: no tree of that name in it);
// Corruption / IOError when its catalog or a tree's persisted state cannot be read.
// Thread-safety: every method is thread-safe. Lifetime: the view keeps its Runtime alive (the
// shared_ptr); reading after the Runtime was closed may fail with IOError.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/runtime.h"

namespace cowtree::recovery {

class CheckpointView {
 public:
  static Result<std::shared_ptr<CheckpointView>> Open(std::shared_ptr<Runtime> runtime,
                                                      std::string_view name);
  const ManifestRetainedCheckpoint& checkpoint() const { return pin_.checkpoint; }
  uint64_t epoch() const { return pin_.checkpoint.epoch; }
  // The tree `name` of the checkpoint, loaded on its first access through this view.
  Result<TreeInfo> FindTree(std::string_view name) const;
  // Every tree of the checkpoint, sorted by name; TreeInfo::tree is null (nothing loaded).
  std::vector<TreeInfo> ListTrees() const;
  // Trees the view holds now (at most kLoadedTreesMax).
  size_t loaded_tree_count() const;
  static constexpr size_t kLoadedTreesMax = 1024;

 private:
  CheckpointView(std::shared_ptr<Runtime> runtime, Runtime::RetainedCheckpointPin pin,
                 RuntimeSnapshot reader_pin, std::vector<CatalogEntry> entries);
  std::shared_ptr<Runtime> runtime_;
  Runtime::RetainedCheckpointPin pin_;
  RuntimeSnapshot reader_pin_;         // a reader, as far as reclamation of relocated slots goes
  std::vector<CatalogEntry> entries_;  // sorted by name
  mutable std::mutex mu_;  // guards loaded_ and loaded_order_ (held across one tree's Load)
  mutable std::unordered_map<TreeId, std::shared_ptr<HostedTree>> loaded_;
  mutable std::deque<TreeId> loaded_order_;  // loaded_'s keys, oldest first
};

}  // namespace cowtree::recovery
