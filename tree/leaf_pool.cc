#include "tree/leaf_pool.h"

#include <algorithm>
#include <utility>

#include "persistence/assert.h"
#include "tree/block_cache.h"
#include "tree/node_pool.h"

namespace cowtree::tree {

LeafDataPool& LeafDataPool::Default() {
  // Leaked on purpose: deleters of LeafData may run during static destruction.
  static LeafDataPool* const pool = new LeafDataPool();
  return *pool;
}

std::shared_ptr<LeafData> LeafDataPool::Make(size_t entries) {
  if (entries == 0) entries = 1;
  if (entries > kPooledEntriesMax) {
    auto data = std::make_shared<LeafData>();
    data->keys.reserve(entries);
    return data;
  }
  const size_t cls = ClassOf(entries);
  LeafData* data = Take(cls);
  if (data == nullptr) {
    data = new LeafData();
    data->keys.reserve(cls * kClassEntries);
  }
  COWTREE_DASSERT(data->keys.empty() && data->weights.empty());
  COWTREE_DASSERT(data->keys.capacity() == cls * kClassEntries);
  COWTREE_DASSERT(data->weights.capacity() == 0 || data->weights.capacity() == cls * kClassEntries);
  return std::shared_ptr<LeafData>(data, Recycler{this, owner_.lock()},
                                   CachingAllocator<LeafData>());
}

LeafData* LeafDataPool::Take(size_t cls) {
  COWTREE_ASSERT(cls < kClassCount);
  MutexLock lock(&mu_);
  for (size_t kind = 0; kind < kKindCount; ++kind) {
    if (free_[kind][cls].empty()) continue;
    LeafData* data = PopLocked(kind, cls);
    cached_bytes_ -= ClassBytes(kind, cls);
    Account(-static_cast<int64_t>(ClassBytes(kind, cls)));
    ++reuses_;
    return data;
  }
  return nullptr;
}

void LeafDataPool::Recycle(LeafData* data) {
  const size_t capacity = data->keys.capacity();
  const size_t weights_capacity = data->weights.capacity();
  const bool fits_class = (weights_capacity == 0 || weights_capacity == capacity) && capacity > 0 &&
                          capacity % kClassEntries == 0 && capacity / kClassEntries < kClassCount;
  LeafData* victim = nullptr;
  if (fits_class) {
    data->keys.clear();
    data->weights.clear();
    const size_t cls = capacity / kClassEntries;
    const size_t kind = weights_capacity == 0 ? 0 : 1;
    const uint64_t bytes = ClassBytes(kind, cls);
    COWTREE_DASSERT(bytes == data->size_bytes());
    MutexLock lock(&mu_);
    if (cached_bytes_ + bytes > max_cached_bytes_) victim = EvictOneLocked(cls);
    if (cached_bytes_ + bytes <= max_cached_bytes_) {
      PushLocked(kind, cls, data);
      cached_bytes_ += bytes;
      Account(static_cast<int64_t>(bytes));
      data = nullptr;
    }
  }
  delete victim;  // outside the lock
  delete data;
}

void LeafDataPool::PushLocked(size_t kind, size_t cls, LeafData* data) {
  const size_t i = kind * kClassCount + cls;
  free_[kind][cls].push_back(data);
  nonempty_[i / 64] |= uint64_t{1} << (i % 64);
}

LeafData* LeafDataPool::PopLocked(size_t kind, size_t cls) {
  std::vector<LeafData*>& list = free_[kind][cls];
  COWTREE_DASSERT(!list.empty());
  LeafData* data = list.back();
  list.pop_back();
  if (list.empty()) {
    const size_t i = kind * kClassCount + cls;
    nonempty_[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
  return data;
}

size_t LeafDataPool::NextNonEmptyLocked(size_t from) const {
  size_t w = from / 64;
  if (w >= kNonEmptyWords) return kListCount;
  uint64_t bits = nonempty_[w] & (~uint64_t{0} << (from % 64));
  while (bits == 0) {
    if (++w == kNonEmptyWords) return kListCount;
    bits = nonempty_[w];
  }
  return w * 64 + static_cast<size_t>(__builtin_ctzll(bits));  // < kListCount: no bit beyond
}

LeafData* LeafDataPool::EvictOneLocked(size_t keep_cls) {
  // The lists after the cursor, then from the start up to and including the cursor.
  const size_t start = (evict_cursor_ + 1) % kListCount;
  for (const auto& [from, end] : {std::pair<size_t, size_t>{start, kListCount}, {0, start}}) {
    for (size_t i = NextNonEmptyLocked(from); i < end; i = NextNonEmptyLocked(i + 1)) {
      const size_t kind = i / kClassCount;
      const size_t cls = i % kClassCount;
      COWTREE_DASSERT(!free_[kind][cls].empty());
      if (cls == keep_cls) continue;
      evict_cursor_ = i;
      LeafData* victim = PopLocked(kind, cls);
      cached_bytes_ -= ClassBytes(kind, cls);
      Account(-static_cast<int64_t>(ClassBytes(kind, cls)));
      return victim;
    }
  }
  return nullptr;
}

namespace {

// The pools attached to one limited budget (MemoryBudget::Attachment).
struct BudgetPools {
  explicit BudgetPools(const MemoryBudget& budget)
      : leaf(budget.pool_limit_bytes() / 4 * 3, budget.pool_counter()),
        node(budget.pool_limit_bytes() / 4, budget.pool_counter(), budget.node_counter()) {}
  LeafDataPool leaf;
  InternalNodePool node;
};

}  // namespace

TreePools PoolsFor(MemoryBudget* budget) {
  if (budget == nullptr || !budget->limited()) {
    return TreePools{&LeafDataPool::Default(), &InternalNodePool::Default()};
  }
  auto* pools = static_cast<BudgetPools*>(budget->Attachment([budget] {
    auto p = std::make_shared<BudgetPools>(*budget);
    p->leaf.SetOwner(p);
    p->node.SetOwner(p);
    return std::shared_ptr<void>(p);
  }));
  return TreePools{&pools->leaf, &pools->node};
}

std::shared_ptr<LeafData> NewLeafData(size_t entries, MemoryBudget* budget) {
  return PoolsFor(budget).leaf->Make(entries);
}

uint64_t LeafDataPool::cached_bytes() const {
  MutexLock lock(&mu_);
  return cached_bytes_;
}

uint64_t LeafDataPool::reuses() const {
  MutexLock lock(&mu_);
  return reuses_;
}

void LeafDataPool::Clear() {
  std::vector<LeafData*> drop;
  {
    MutexLock lock(&mu_);
    for (auto& lists : free_) {
      for (std::vector<LeafData*>& list : lists) {
        drop.insert(drop.end(), list.begin(), list.end());
        list.clear();
        list.shrink_to_fit();
      }
    }
    std::fill(std::begin(nonempty_), std::end(nonempty_), 0);
    Account(-static_cast<int64_t>(cached_bytes_));
    cached_bytes_ = 0;
  }
  for (LeafData* data : drop) delete data;
}

}  // namespace cowtree::tree
