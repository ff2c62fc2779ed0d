// InternalNodePool: recycles the InternalNode objects the writer creates, with their per-child
// arrays, so that copying a path (copy-on-write, every commit) does not go through malloc/free
// for five arrays per node.
//
// Why. A commit of random keys copies nearly every level-1 node; a full node's child array of
// the default shape is >= 1 KiB, which glibc serves from its large bins (and, before every such
// request, consolidates its fast bins). In a profile of the 10 M-key ingest these copies and
// the reallocations of their arrays on leaf splits were ~15 % of the time.
//
// Contract
// - Make(children, level) returns a new InternalNode at `level` (epoch 0) whose per-child
//   arrays (first_keys, pos_sums, entry_counts and `leaves` for level 1, `nodes` above) are
//   empty with capacity >= children (rounded up to a multiple of kClassChildren), so that up
//   to `children` children are added without reallocating. Requests over kPooledChildrenMax
//   get an unpooled node with exact reservations, and so do requests of at most
//   kSmallChildrenMax (the roots of small trees: a million one-leaf trees would otherwise keep
//   a 16-child class each), counted like pooled ones but deleted when returned.
// - CopyOf(node, children) is Make(max(children, node.child_count()), node.level) with node's
//   fields and arrays copied in (children shared, not copied).
// - Ownership: the returned shared_ptr owns the node; its deleter (run by whichever thread drops
//   the last reference) clears the node — releasing its children, which may recycle them in
//   turn — and caches it, unless the arrays no longer match a class (then it is deleted).
//   When the pool holds kCachedBytesMax already, cached nodes of other classes are deleted to
//   make room (classes in turn), so that nodes of a rarely requested class (e.g. one that grew
//   during a batch) cannot fill the cache for good.
// - The pool is process-wide (Default()) and never destroyed. Clear() frees every cached node.
// - Memory: a pool caches at most its max_cached_bytes (Default(): kCachedBytesMax); a pool
//   made for a limited budget (PoolsFor, tree/leaf_pool.h) mirrors its cached bytes into the
//   budget's pool counter. Lifetime (SetOwner) as for LeafDataPool.
// Thread-safety: all methods, from any thread (one mutex, never held while children are
// released).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "persistence/thread_annotations.h"
#include "tree/tree_shape.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

class InternalNodePool {
 public:
  static constexpr size_t kClassChildren = 16;
  static constexpr size_t kSmallChildrenMax = 4;
  static constexpr size_t kPooledChildrenMax = 2 * kFanoutMax;
  static constexpr uint64_t kCachedBytesMax = uint64_t{8} << 20;

  static InternalNodePool& Default();

  explicit InternalNodePool(uint64_t max_cached_bytes = kCachedBytesMax,
                            std::shared_ptr<std::atomic<int64_t>> pool_counter = nullptr)
      : max_cached_bytes_(max_cached_bytes), pool_counter_(std::move(pool_counter)) {}
  // As above; node_counter (may be null): a budget's node counter, to which Make adds the
  // bytes of each node it hands out (NodeBytes, recorded in node->charged_bytes) and from which
  // the node's return (or deletion) subtracts them.
  InternalNodePool(uint64_t max_cached_bytes, std::shared_ptr<std::atomic<int64_t>> pool_counter,
                   std::shared_ptr<std::atomic<int64_t>> node_counter)
      : max_cached_bytes_(max_cached_bytes),
        pool_counter_(std::move(pool_counter)),
        node_counter_(std::move(node_counter)) {}
  ~InternalNodePool() { Clear(); }
  // Heap bytes of a node: the object, its arrays by capacity, and malloc's per-block overhead.
  static uint64_t NodeBytes(const InternalNode& node);
  // As LeafDataPool::SetOwner.
  void SetOwner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }
  uint64_t max_cached_bytes() const { return max_cached_bytes_; }
  InternalNodePool(const InternalNodePool&) = delete;
  InternalNodePool& operator=(const InternalNodePool&) = delete;

  std::shared_ptr<InternalNode> Make(size_t children, uint32_t level);
  std::shared_ptr<InternalNode> CopyOf(const InternalNode& node, size_t children);
  uint64_t cached_bytes() const;
  uint64_t reuses() const;
  void Clear();

 private:
  struct Recycler {
    InternalNodePool* pool;
    std::shared_ptr<void> keep_alive;  // the pool's owner, if any
    void operator()(InternalNode* node) const { pool->Recycle(node); }
  };
  void Account(int64_t bytes) {
    if (pool_counter_ != nullptr) pool_counter_->fetch_add(bytes, std::memory_order_relaxed);
  }
  static constexpr size_t kClassCount = kPooledChildrenMax / kClassChildren + 1;
  static size_t ClassOf(size_t children) {
    return (children + kClassChildren - 1) / kClassChildren;
  }
  // Heap bytes of a node's arrays (by capacity).
  static uint64_t ArrayBytes(const InternalNode& node);
  InternalNode* Take(size_t kind, size_t cls);
  void Recycle(InternalNode* node);
  // Removes cached nodes of classes other than (kind, keep_cls), one class after another from
  // the cursor, until `bytes` more fit or nothing else is cached; appends them to *out.
  void EvictLocked(size_t kind, size_t keep_cls, uint64_t bytes, std::vector<InternalNode*>* out)
      COWTREE_REQUIRES(mu_);

  const uint64_t max_cached_bytes_;
  const std::shared_ptr<std::atomic<int64_t>> pool_counter_;
  const std::shared_ptr<std::atomic<int64_t>> node_counter_;
  std::weak_ptr<void> owner_;
  mutable Mutex mu_;
  // free_[0]: nodes last used at level 1 (their `leaves` array is reserved), free_[1]: above.
  struct Cached {
    InternalNode* node;
    uint64_t bytes;  // ArrayBytes(*node), kept here so that Take does not touch the node
  };
  std::vector<Cached> free_[2][kClassCount] COWTREE_GUARDED_BY(mu_);
  uint64_t cached_bytes_ COWTREE_GUARDED_BY(mu_) = 0;
  // Bytes cached per list (sum = cached_bytes_): EvictLocked returns at once when every cached
  // node is of the class it keeps (many small trees: all level-1 nodes of class 1), instead of
  // walking every list on each recycle.
  uint64_t list_bytes_[2][kClassCount] COWTREE_GUARDED_BY(mu_) = {};
  uint64_t reuses_ COWTREE_GUARDED_BY(mu_) = 0;
  size_t evict_cursor_ COWTREE_GUARDED_BY(mu_) = 0;  // over 2 * kClassCount (kind, class) lists
};

}  // namespace cowtree::tree
