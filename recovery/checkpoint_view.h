// CheckpointView: a read-only, point-in-time view of one retained checkpoint of an open Runtime
// (docs/retained_checkpoints.md), while the store keeps running.
//
// Open pins the checkpoint (Runtime::PinRetainedCheckpoint: its objects stay readable even if
// it is deleted meanwhile, until the view is destroyed) and, like any snapshot, the newest
// epoch in the runtime's reader registry (so compaction frees no old slot of an object it
// relocates while the view may be reading it), and indexes its catalog — the catalog root the
// manifest entry names, read through the reader recovery and fsck share
// (recovery/store_reader.h), chunk by chunk — as recovery::Open does: into a name-hash index of
// 16–32 bytes per tree (persistence/cold_tree_index.h, recovery/cold_index_builder.h) and the
// list of catalog chunks (16 bytes per chunk), keeping no name, params or inline body. It kept
// every catalog entry (~550 B per group of small trees, 1 M groups ~550 MB outside the budget;
// adversarial round 16). A lookup reads the tree's catalog chunk (the last one read is kept, so
// lookups in catalog order — Snapshot::VisitTrees — read each chunk once). Trees are loaded on
// first access, at the checkpoint's epoch, by their type's Load (no leaf is read before a
// query needs it); they are the view's own instances, never the live trees. The view keeps the
// kLoadedTreesMax trees it loaded last (first in, first out; a reader's TreeInfo keeps its own
// tree alive): a read of every group of a store through one view held every tree it loaded
// (~1.8 KB each, 196 MB for 80 000 groups under a 2 MiB budget; adversarial round 15).
//
// Errors: NotFound (no retained checkpoint of that name; FindTree: no tree of that name in it);
// Corruption / IOError when its catalog or a tree's persisted state cannot be read (Open reads
// every chunk: a name used twice, a broken chunk are found there).
// Thread-safety: every method is thread-safe (lookups serialize on one mutex). Lifetime: the
// view keeps its Runtime alive (the shared_ptr); reading after the Runtime was closed may fail
// with IOError.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/cold_tree_index.h"
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
  // Reads every catalog chunk (O(catalog bytes), the list itself O(trees)).
  Result<std::vector<TreeInfo>> ListTrees() const;
  // Trees the view holds now (at most kLoadedTreesMax).
  size_t loaded_tree_count() const;
  static constexpr size_t kLoadedTreesMax = 1024;
  // Heap bytes of the catalog index (name hashes and chunk list), for tests.
  size_t catalog_index_bytes() const;
  // Catalog chunks read since Open (lookups and listings), for tests.
  uint64_t chunk_reads() const;

 private:
  CheckpointView(std::shared_ptr<Runtime> runtime, Runtime::RetainedCheckpointPin pin,
                 RuntimeSnapshot reader_pin);
  // The parsed chunk holding tree `id` (the one in hand if it holds it). Caller holds mu_.
  Result<const std::vector<CatalogEntryView>*> ChunkHolding(TreeId id) const;
  // The catalog entry of `name`, or nullptr (no such tree). Caller holds mu_.
  Result<const CatalogEntryView*> FindEntry(std::string_view name) const;

  std::shared_ptr<Runtime> runtime_;
  Runtime::RetainedCheckpointPin pin_;
  RuntimeSnapshot reader_pin_;  // a reader, as far as reclamation of relocated slots goes
  ColdTreeIndex names_;         // every tree, by name hash (immutable after Open)
  std::vector<std::pair<TreeId, NodeID>> chunks_;  // first tree id, chunk; in catalog order
  mutable std::mutex mu_;  // guards everything below (held across one tree's Load)
  mutable NodeID chunk_in_hand_;
  mutable std::string chunk_body_;                     // its verified body (a reused buffer)
  mutable std::vector<CatalogEntryView> chunk_views_;  // its entries, views into chunk_body_
  mutable uint64_t chunk_reads_ = 0;
  mutable std::unordered_map<TreeId, std::shared_ptr<HostedTree>> loaded_;
  mutable std::deque<TreeId> loaded_order_;  // loaded_'s keys, oldest first
};

}  // namespace cowtree::recovery
