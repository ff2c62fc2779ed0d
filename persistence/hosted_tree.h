// HostedTree / TreeType: how a tree type plugs into the Runtime.
//
// persistence/ knows no tree type (DESIGN.md "Layering"): a tree type registers a TreeType
// with the Runtime; every tree in the catalog is a HostedTree created or loaded by its type.
// The Runtime owns the commit protocol (redo record, epochs, durability), the checkpoint
// protocol (freeze, write, OT deltas, manifest, superblock, reclamation) and the catalog; the
// tree type owns its in-memory versions, its op encoding and its object formats.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/memory_budget.h"
#include "persistence/node_id.h"
#include "persistence/status.h"

namespace cowtree {

class ObjectStore;

using TreeId = uint64_t;  // assigned by the Runtime, never reused; 0 is invalid

// What a tree needs from the Runtime while it runs.
class TreeEnvironment {
 public:
  virtual ~TreeEnvironment() = default;
  // Objects of this store (leaf loads go through ObjectStore::ReadObject).
  virtual ObjectStore* object_store() = 0;
  // The smallest epoch a reader may still ask for: min(pinned snapshots, visible epoch).
  // Versions older than the newest version at or below it can be dropped.
  virtual uint64_t OldestReadableEpoch() const = 0;
  // The epochs readers may still ask for, ascending and not empty: every pinned snapshot
  // epoch below the visible epoch, then the visible epoch. A version is needed iff it is the
  // newest at or below one of them, or newer than the last (a commit not yet visible): the
  // versions between two pinned snapshots are not (a snapshot held while commits go on would
  // otherwise keep every version made since, and their leaves). Default: {OldestReadableEpoch()}.
  virtual std::vector<uint64_t> ReadableEpochs() const { return {OldestReadableEpoch()}; }
  // The runtime's memory budget (persistence/memory_budget.h), or null (none). Trees charge
  // their fixed and leaf bytes there and keep the pointer alive while they exist.
  virtual std::shared_ptr<MemoryBudget> memory_budget() const { return nullptr; }
};

// Where a checkpointed tree's state is (its catalog entry, docs/catalog.md): a descriptor
// object, or — for a small tree — inline bytes carried by the catalog entry itself (no object
// at all; the bytes are the tree type's, at most kCatalogInlineBytesMax, possibly empty).
struct PersistedTreeRef {
  NodeID descriptor;        // valid: the tree's root object; invalid: stored inline
  std::string inline_body;  // the inline state when descriptor is invalid; else empty
  bool is_inline() const { return !descriptor.valid(); }
};

// The result of writing one tree's checkpoint at epoch C.
struct TreeCheckpointResult {
  PersistedTreeRef persisted;   // the tree's state at C (descriptor or inline)
  std::vector<NodeID> retired;  // objects of the previous checkpoint no longer referenced
};

// Counts a tree type reports for `stat` (type-specific meaning).
struct TreeCounts {
  uint64_t entry_count = 0;
  uint64_t leaf_count = 0;
};

// A tree's state frozen at a checkpoint epoch; written without holding the writer lock.
class FrozenTree {
 public:
  virtual ~FrozenTree() = default;
  // Writes the dirty objects of the frozen version as new objects (birth epoch = C), or encodes
  // it inline (then it writes no object), and returns where it is and the objects the new
  // state supersedes. Must not publish anything and must
  // leave no in-memory trace: the tree switches to the new persisted set (and marks leaves
  // clean) only in OnPublished(). If the checkpoint is aborted (e.g. NoSpace), the FrozenTree
  // is destroyed without OnPublished and the runtime discards every object it wrote.
  virtual Result<TreeCheckpointResult> Write(ObjectStore* store, uint64_t checkpoint_epoch) = 0;
  // Called after the superblock naming this checkpoint is durable.
  virtual void OnPublished() = 0;
};

class HostedTree {
 public:
  virtual ~HostedTree() = default;
  // Applies one commit's ops for this tree (bytes produced by the type's op encoder) at epoch
  // `epoch` (> every epoch applied before). Called with the Runtime's writer lock held. The new
  // version is installed but readers see it only once the Runtime makes `epoch` visible.
  // Errors: InvalidArgument (bad ops, e.g. weight overflow) leaves the tree unchanged.
  virtual Status Apply(std::string_view ops, uint64_t epoch) = 0;
  // Reinstalls the version before the last Apply (the commit failed for another tree or at
  // the log). Only valid immediately after a successful Apply in the same commit.
  virtual void UndoLastApply() = 0;
  // The commit of the last Apply is published (writer lock held): UndoLastApply is no longer
  // possible, so whatever the tree kept for it (the pre-batch version) can go.
  virtual void FinishApply() {}
  // Captures the version as of the newest applied epoch (writer lock held). Returns nullptr
  // if nothing changed since the last published checkpoint.
  virtual std::unique_ptr<FrozenTree> Freeze(uint64_t checkpoint_epoch) = 0;
  // Every object NodeID of the last published checkpoint (used when the tree is dropped).
  virtual std::vector<NodeID> PersistedObjects() const = 0;
  // Drops cached leaf data that is persisted and not dirty; returns bytes released.
  virtual uint64_t EvictClean() = 0;
  // Drops versions no reader can ask for any more (older than the newest one at or below
  // OldestReadableEpoch()), so that their leaves can be freed or evicted. Called by the
  // runtime for every tree after a checkpoint and for the trees a commit wrote once it is
  // visible; thread-safe against readers (VersionAt) and the writer.
  virtual void ReleaseOldVersions() {}
  // True if the tree keeps only its newest version (no snapshot can ask for an older one) and
  // holds no pre-batch version of a commit in flight. The runtime may then drop the tree from
  // memory after a checkpoint, if no commit wrote it since (demotion, runtime_demote.cc), and
  // load it again from its published state on its next access. Default false: never demoted.
  virtual bool KeepsOnlyNewestVersion() const { return false; }
  // Entry/leaf counts of the newest version for `stat` (type-specific meaning documented by
  // the type).
  virtual uint64_t entry_count() const = 0;
  virtual uint64_t leaf_count() const = 0;
};

class TreeType {
 public:
  virtual ~TreeType() = default;
  virtual uint8_t type_id() const = 0;  // stored in the catalog; 0 invalid
  virtual std::string_view name() const = 0;
  // Validates creation parameters (type-specific bytes stored in the catalog).
  virtual Status ValidateParams(std::string_view params) const = 0;
  // A new empty tree.
  virtual Result<std::unique_ptr<HostedTree>> Create(std::string_view params,
                                                     TreeEnvironment* env) = 0;
  // The fast path for a tree a commit creates (docs/catalog.md "Trees created inline"): the
  // inline state (PersistedTreeRef::inline_body, as Load takes it) of a new tree of `params`
  // (validated by the caller) after `ops` (the encoding Apply takes; empty: none) are applied
  // to it, when that state is one the type stores inline. nullopt when it is not, or when the
  // ops are anything this path does not certify: the Runtime then creates the tree and calls
  // Apply, which gives the answer or the error. So a body returned here must be exactly what
  // Create + Apply(ops) + a checkpoint would store, and Load of it must give that tree.
  // Called with the Runtime's writer lock held (one caller at a time). Default: never.
  virtual std::optional<std::string> InlineBodyOfNewTree(std::string_view params,
                                                         std::string_view ops) {
    (void)params;
    (void)ops;
    return std::nullopt;
  }
  // The tree whose checkpointed state is `persisted` (epoch = checkpoint epoch). Must not read
  // leaves (they load lazily). Called lazily, on a tree's first access after open, from any
  // thread (the Runtime serializes calls for one tree); Corruption / IOError on bad state.
  virtual Result<std::unique_ptr<HostedTree>> Load(std::string_view params,
                                                   const PersistedTreeRef& persisted,
                                                   uint64_t checkpoint_epoch,
                                                   TreeEnvironment* env) = 0;
  // The counts of a tree that was not loaded, from its persisted state alone (inline bytes, or
  // at most its descriptor object). Thread-safe.
  virtual Result<TreeCounts> PersistedCounts(std::string_view params,
                                             const PersistedTreeRef& persisted,
                                             TreeEnvironment* env) = 0;
};

}  // namespace cowtree
