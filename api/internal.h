// Private state behind the public API (include/cowtree/). Not installed; included only by
// api/*.cc. The public classes are thin handles over these structs.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cowtree/options.h"
#include "cowtree/store.h"
#include "cowtree/types.h"
#include "persistence/runtime.h"
#include "recovery/checkpoint_view.h"
#include "tree/key_codec.h"
#include "tree/order_stat_ops.h"
#include "tree/order_stat_tree_type.h"
#include "tree/tree_version.h"

namespace cowtree::api_internal {

inline tree::KeyType ToInternal(KeyType t) {
  return t == KeyType::kInt64 ? tree::KeyType::kInt64 : tree::KeyType::kDouble;
}
inline KeyType FromInternal(tree::KeyType t) {
  return t == tree::KeyType::kInt64 ? KeyType::kInt64 : KeyType::kDouble;
}

// The order-statistics host of tree `name` found as `info`, checked to have keys of type K:
// NotSupported for another tree type, InvalidArgument (naming both) for another key type.
template <TreeKey K>
Result<tree::OrderStatTreeHost*> OrderStatHostOf(const TreeInfo& info, const std::string& name) {
  tree::OrderStatTreeHost* host =
      info.type_id == tree::kOrderStatTreeTypeId ? tree::AsOrderStatTree(info.tree.get()) : nullptr;
  if (host == nullptr) {
    return Status::NotSupported("tree '" + name + "' is not an order-statistics tree");
  }
  const KeyType type = FromInternal(host->key_type());
  if (type != kKeyTypeOf<K>) {
    return Status::InvalidArgument("tree '" + name + "' has " + KeyTypeName(type) + " keys, not " +
                                   KeyTypeName(kKeyTypeOf<K>));
  }
  return host;
}

template <TreeKey K>
uint64_t EncodeKey(K key) {
  if constexpr (std::same_as<K, int64_t>) {
    return tree::EncodeInt64Key(key);
  } else {
    return tree::EncodeDoubleKey(key);
  }
}
template <TreeKey K>
K DecodeKey(uint64_t code) {
  if constexpr (std::same_as<K, int64_t>) {
    return tree::DecodeInt64Key(code);
  } else {
    return tree::DecodeDoubleKey(code);
  }
}

struct StoreState {
  std::shared_ptr<Runtime> runtime;
  uint64_t serial = 0;  // identity of this Store object (process-unique)
  Options options;
  Store::OpenInfo open_info;
  // Key type of every tree id this store has seen (ids are never reused and a tree's key type
  // never changes, so entries never go stale; a dropped tree is refused by the runtime).
  std::mutex types_mu;
  std::unordered_map<TreeId, KeyType> types;
};

struct BatchState {
  std::shared_ptr<StoreState> store;
  RuntimeWriteBatch batch;
  struct Use {
    uint64_t store_serial;
    TreeId id;
    KeyType type;
    bool drop;
  };
  std::vector<Use> uses;  // every distinct handle used by Add / DropTree, in first-use order
  // (store serial, tree id, key type, drop) of drops and of mismatching Adds already in `uses`.
  std::set<std::tuple<uint64_t, TreeId, KeyType, bool>> seen;
  std::unordered_map<TreeId, KeyType> creates;  // trees created by this batch
  // Per tree id added to: the handle it was first used through and the batch's op bytes for
  // it (nullptr for the invalid id 0).
  struct AddTarget {
    uint64_t store_serial = 0;
    KeyType type = KeyType::kInt64;
    std::string* ops = nullptr;
  };
  std::unordered_map<TreeId, AddTarget> adds;
  // The target of the last Add (last_ops == nullptr: none since the last Clear).
  TreeId last_ops_id = 0;
  uint64_t last_serial = 0;
  KeyType last_type = KeyType::kInt64;
  std::string* last_ops = nullptr;
  explicit BatchState(std::shared_ptr<StoreState> s)
      : store(std::move(s)), batch(store->runtime.get()) {}
};

// The op bytes of tree `tree_id` in `b` for an Add through a handle (store_serial, type): the
// tree's first Add in the batch records the handle's use (validated once, by Commit). nullptr
// when nothing is to be appended: the invalid id 0, or the id already used through a handle of
// another store or key type (the use is recorded; Commit refuses the batch either way).
std::string* OpsForAdd(BatchState& b, uint64_t store_serial, TreeId tree_id, KeyType type);

struct SnapshotState {
  std::shared_ptr<Runtime> runtime;  // keeps the runtime's memory alive
  RuntimeSnapshot pin;               // unused (invalid) for a retained checkpoint's snapshot
  // A retained checkpoint's snapshot (Store::GetCheckpointSnapshot): reads go to its view.
  std::shared_ptr<recovery::CheckpointView> view;
  uint64_t epoch() const { return view != nullptr ? view->epoch() : pin.epoch(); }
};

struct ReaderState {
  std::shared_ptr<const SnapshotState> snapshot;
  std::string name;
  std::shared_ptr<HostedTree> host;  // keeps the tree (and its leaf loader) alive
  std::shared_ptr<const tree::TreeVersion> version;
};

struct CursorState {
  std::shared_ptr<const ReaderState> reader;
  bool forward = true;
  // Root-to-level-1 path: node and child index taken at each level.
  std::vector<std::pair<const tree::InternalNode*, size_t>> path;
  std::shared_ptr<const tree::LeafData> leaf;
  size_t pos = 0;
  bool valid = false;
  Status status;
};

// The library's own operators (PercentileOperator) reach past the public handles: the store's
// runtime (batch promotion of cold trees, lookups on a runtime pin) and handles made from a
// tree id already looked up (no second lookup). Friend of Store and TreeHandle.
struct Access {
  static StoreState& Of(Store& store) { return *store.state_; }
  // The runtime whose trees `snapshot` reads, or null (an empty snapshot, or a retained
  // checkpoint's: its trees are the checkpoint view's).
  static Runtime* RuntimeOf(const Snapshot& snapshot) {
    const SnapshotState* s = snapshot.state_.get();
    return s == nullptr || s->view != nullptr ? nullptr : s->runtime.get();
  }
  // The retained checkpoint view `snapshot` reads, or null.
  static const recovery::CheckpointView* ViewOf(const Snapshot& snapshot) {
    const SnapshotState* s = snapshot.state_.get();
    return s == nullptr ? nullptr : s->view.get();
  }
  // A handle to tree `id` (an order-statistics tree with K keys, found in the catalog), with
  // its key type recorded as Store::Tree records it (for Commit's validation).
  template <TreeKey K>
  static TreeHandle<K> Handle(StoreState& store, TreeId id, std::string name) {
    {
      std::lock_guard<std::mutex> g(store.types_mu);
      store.types[id] = kKeyTypeOf<K>;
    }
    return TreeHandle<K>(store.serial, id, std::move(name));
  }
  // Appends `ops` (key codes of K, weights) to `tree` in `batch` as that many Adds would, in one
  // copy (PercentileOperator::Step's ops, sorted and summed per tree: the tree then applies
  // them without sorting, tree/order_stat_ops.h).
  template <TreeKey K>
  static void AddCodes(WriteBatch& batch, const TreeHandle<K>& tree,
                       std::span<const tree::KeyWeight> ops) {
    if (ops.empty()) return;
    std::string* buffer =
        OpsForAdd(*batch.state_, tree.store_serial_, tree.tree_id_, kKeyTypeOf<K>);
    if (buffer != nullptr) tree::AppendOrderStatOps(ops, buffer);
  }
};

}  // namespace cowtree::api_internal
