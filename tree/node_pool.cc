#include "tree/node_pool.h"

#include <algorithm>

#include "persistence/assert.h"
#include "tree/block_cache.h"

namespace cowtree::tree {
namespace {

void ReserveAll(InternalNode* node, size_t capacity) {
  node->first_keys.reserve(capacity);
  node->pos_sums.reserve(capacity);
  node->entry_counts.reserve(capacity);
  if (node->level == 1) {
    node->leaves.reserve(capacity);
    // Key hints: as many as children fit, all null (a recycled node's are stale).
    if (node->key_hint_capacity < capacity) {
      node->key_hints = std::make_unique<std::atomic<const uint64_t*>[]>(capacity);
      node->key_hint_capacity = static_cast<uint32_t>(capacity);
    }
    for (uint32_t i = 0; i < node->key_hint_capacity; ++i) {
      node->key_hints[i].store(nullptr, std::memory_order_relaxed);
    }
  } else {
    node->nodes.reserve(capacity);
  }
}

}  // namespace

InternalNodePool& InternalNodePool::Default() {
  // Leaked on purpose: node deleters may run during static destruction.
  static InternalNodePool* const pool = new InternalNodePool();
  return *pool;
}

uint64_t InternalNodePool::ArrayBytes(const InternalNode& node) {
  return node.first_keys.capacity() * sizeof(uint64_t) +
         node.pos_sums.capacity() * sizeof(uint64_t) +
         node.entry_counts.capacity() * sizeof(uint64_t) +
         node.nodes.capacity() * sizeof(std::shared_ptr<InternalNode>) +
         node.leaves.capacity() * sizeof(std::shared_ptr<LeafBox>) +
         node.key_hint_capacity * sizeof(std::atomic<const uint64_t*>);
}

std::shared_ptr<InternalNode> InternalNodePool::Make(size_t children, uint32_t level) {
  COWTREE_ASSERT(level >= 1);
  if (children == 0) children = 1;
  if (children > kPooledChildrenMax) {
    auto node = std::make_shared<InternalNode>();
    node->level = level;
    ReserveAll(node.get(), children);
    return node;
  }
  InternalNode* node = nullptr;
  if (children <= kSmallChildrenMax) {
    // The root of a small tree: exact arrays, not pooled (Recycle deletes it).
    node = new InternalNode();
    node->level = level;
    ReserveAll(node, children);
  } else {
    const size_t cls = ClassOf(children);
    node = Take(level == 1 ? 0 : 1, cls);
    if (node == nullptr) node = new InternalNode();
    node->level = level;
    ReserveAll(node, cls * kClassChildren);  // no-op for a recycled node of this class
  }
  COWTREE_DASSERT(node->child_count() == 0 && node->nodes.empty() && node->leaves.empty());
  if (node_counter_ != nullptr) {
    node->charged_bytes = static_cast<uint32_t>(NodeBytes(*node));
    node_counter_->fetch_add(node->charged_bytes, std::memory_order_relaxed);
  }
  return std::shared_ptr<InternalNode>(node, Recycler{this, owner_.lock()},
                                       CachingAllocator<InternalNode>());
}

uint64_t InternalNodePool::NodeBytes(const InternalNode& node) {
  // 16 bytes per heap block: glibc's chunk header and rounding (the node and its five arrays).
  // The shared_ptr control block comes from a slab of 48-byte blocks (CachingAllocator,
  // tree/block_slab.h): no header.
  constexpr uint64_t kBlockOverhead = 16;
  constexpr uint64_t kControlBlock = 48;
  const uint64_t heap_blocks = node.key_hint_capacity > 0 ? 7 : 6;  // + the key hints' array
  return sizeof(InternalNode) + kControlBlock + ArrayBytes(node) + heap_blocks * kBlockOverhead;
}

std::shared_ptr<InternalNode> InternalNodePool::CopyOf(const InternalNode& node, size_t children) {
  std::shared_ptr<InternalNode> copy = Make(std::max(children, node.child_count()), node.level);
  copy->epoch = node.epoch;
  copy->first_keys.assign(node.first_keys.begin(), node.first_keys.end());
  copy->pos_sums.assign(node.pos_sums.begin(), node.pos_sums.end());
  copy->entry_counts.assign(node.entry_counts.begin(), node.entry_counts.end());
  copy->nodes.assign(node.nodes.begin(), node.nodes.end());
  copy->leaves.assign(node.leaves.begin(), node.leaves.end());
  return copy;
}

InternalNode* InternalNodePool::Take(size_t kind, size_t cls) {
  COWTREE_ASSERT(kind < 2 && cls < kClassCount);
  MutexLock lock(&mu_);
  std::vector<Cached>& list = free_[kind][cls];
  if (list.empty()) return nullptr;
  const Cached cached = list.back();
  list.pop_back();
  InternalNode* node = cached.node;
  cached_bytes_ -= cached.bytes;
  list_bytes_[kind][cls] -= cached.bytes;
  Account(-static_cast<int64_t>(cached.bytes));
  ++reuses_;
  return node;
}

void InternalNodePool::Recycle(InternalNode* node) {
  if (node->charged_bytes != 0) {
    COWTREE_DASSERT(node_counter_ != nullptr);
    node_counter_->fetch_sub(node->charged_bytes, std::memory_order_relaxed);
    node->charged_bytes = 0;
  }
  // The class: the capacity of the arrays this node's level uses, if they all agree (Make
  // reserves them alike; an array that grew past it makes the node unpooled).
  const size_t capacity = node->first_keys.capacity();
  const size_t child_capacity = node->level == 1 ? node->leaves.capacity() : node->nodes.capacity();
  const bool fits_class = capacity > 0 && capacity % kClassChildren == 0 &&
                          capacity / kClassChildren < kClassCount &&
                          node->pos_sums.capacity() == capacity &&
                          node->entry_counts.capacity() == capacity && child_capacity >= capacity;
  const size_t kind = node->level == 1 ? 0 : 1;
  // Children are released here, outside the lock (their deleters may recycle into this pool).
  // Releasing a leaf touches its box's control block (allocate_shared: just before the box),
  // usually cold: request them all first so that the misses overlap.
  for (const std::shared_ptr<LeafBox>& leaf : node->leaves) {
    const char* box = reinterpret_cast<const char*>(leaf.get());
    __builtin_prefetch(box - 16);
    __builtin_prefetch(box + 48);
  }
  // The boxes released for good (usually one per changed leaf) then read their content's size.
  for (const std::shared_ptr<LeafBox>& leaf : node->leaves) {
    if (leaf.use_count() == 1) leaf->PrefetchContent();
  }
  node->nodes.clear();
  node->leaves.clear();
  node->first_keys.clear();
  node->pos_sums.clear();
  node->entry_counts.clear();
  node->epoch = 0;
  node->level = 1;
  const size_t cls = capacity / kClassChildren;
  std::vector<InternalNode*> victims;  // deleted outside the lock
  if (fits_class) {
    const uint64_t bytes = ArrayBytes(*node);
    MutexLock lock(&mu_);
    if (cached_bytes_ + bytes > max_cached_bytes_) EvictLocked(kind, cls, bytes, &victims);
    if (cached_bytes_ + bytes <= max_cached_bytes_) {
      free_[kind][cls].push_back(Cached{node, bytes});
      cached_bytes_ += bytes;
      list_bytes_[kind][cls] += bytes;
      Account(static_cast<int64_t>(bytes));
      node = nullptr;
    }
  }
  for (InternalNode* victim : victims) delete victim;
  delete node;
}

void InternalNodePool::EvictLocked(size_t kind, size_t keep_cls, uint64_t bytes,
                                   std::vector<InternalNode*>* out) {
  if (cached_bytes_ == list_bytes_[kind][keep_cls]) return;  // nothing of another class
  for (size_t i = 0; i < 2 * kClassCount && cached_bytes_ + bytes > max_cached_bytes_; ++i) {
    evict_cursor_ = (evict_cursor_ + 1) % (2 * kClassCount);
    const size_t k = evict_cursor_ / kClassCount;
    const size_t c = evict_cursor_ % kClassCount;
    if (k == kind && c == keep_cls) continue;
    std::vector<Cached>& list = free_[k][c];
    while (!list.empty() && cached_bytes_ + bytes > max_cached_bytes_) {
      cached_bytes_ -= list.back().bytes;
      list_bytes_[k][c] -= list.back().bytes;
      Account(-static_cast<int64_t>(list.back().bytes));
      out->push_back(list.back().node);
      list.pop_back();
    }
  }
}

uint64_t InternalNodePool::cached_bytes() const {
  MutexLock lock(&mu_);
  return cached_bytes_;
}

uint64_t InternalNodePool::reuses() const {
  MutexLock lock(&mu_);
  return reuses_;
}

void InternalNodePool::Clear() {
  std::vector<InternalNode*> drop;
  {
    MutexLock lock(&mu_);
    for (auto& lists : free_) {
      for (std::vector<Cached>& list : lists) {
        for (const Cached& c : list) drop.push_back(c.node);
        list.clear();
        list.shrink_to_fit();
      }
    }
    Account(-static_cast<int64_t>(cached_bytes_));
    cached_bytes_ = 0;
    for (auto& lists : list_bytes_) {
      for (uint64_t& bytes : lists) bytes = 0;
    }
  }
  for (InternalNode* node : drop) delete node;
}

}  // namespace cowtree::tree
