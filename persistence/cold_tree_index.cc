#include "persistence/cold_tree_index.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "persistence/assert.h"

namespace cowtree {
namespace {

std::atomic<ColdTreeIndex::NameHashFn> g_name_hash_for_testing{nullptr};

uint64_t Mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  return x;
}

// 8 bytes at a time, each word folded in with a multiply; the length seeds the state.
uint32_t DefaultNameHash(std::string_view name) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ name.size();
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, name.data() + i, 8);
    h = (h ^ Mix(w)) * 0x9fb21c651e98df25ull;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < name.size(); ++k) {
    tail |= static_cast<uint64_t>(static_cast<uint8_t>(name[i + k])) << (8 * k);
  }
  h = Mix(h ^ Mix(tail + 1));
  return static_cast<uint32_t>(h >> 32);
}

size_t Home(uint32_t hash, size_t mask) {
  // Spread the 32-bit hash over the table (a test hash may put everything in few values).
  return static_cast<size_t>(Mix(hash)) & mask;
}

}  // namespace

uint32_t ColdTreeIndex::NameHash(std::string_view name) {
  NameHashFn fn = g_name_hash_for_testing.load(std::memory_order_relaxed);
  return fn != nullptr ? fn(name) : DefaultNameHash(name);
}

void ColdTreeIndex::SetNameHashForTesting(NameHashFn fn) { g_name_hash_for_testing.store(fn); }

void ColdTreeIndex::Reserve(size_t trees) {
  size_t capacity = 16;
  while (capacity < 2 * trees) capacity *= 2;
  if (capacity > slots_.size()) Rehash(capacity);
}

void ColdTreeIndex::Rehash(size_t capacity) {
  COWTREE_ASSERT((capacity & (capacity - 1)) == 0 && capacity >= 2 * live_);
  ZeroedArray<Slot> old = std::move(slots_);
  slots_ = ZeroedArray<Slot>(capacity);
  const size_t mask = capacity - 1;
  for (const Slot& s : old) {
    if (s.id == 0 || s.id == kTombstone) continue;
    size_t i = Home(s.hash, mask);
    while (slots_[i].id != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
  used_ = live_;
}

void ColdTreeIndex::Insert(uint64_t id, uint32_t hash) {
  COWTREE_ASSERT(id != 0 && id != kTombstone);
  if (2 * (used_ + 1) > slots_.size()) {
    size_t capacity = slots_.empty() ? 16 : slots_.size();
    while (capacity < 4 * (live_ + 1)) capacity *= 2;  // after a rehash: at most 1/4 full
    Rehash(capacity);
  }
  const size_t mask = slots_.size() - 1;
  size_t i = Home(hash, mask);
  while (slots_[i].id != 0 && slots_[i].id != kTombstone) {
    COWTREE_ASSERT(slots_[i].id != id);
    i = (i + 1) & mask;
  }
  if (slots_[i].id == 0) ++used_;
  slots_[i] = Slot{id, hash};
  ++live_;
}

void ColdTreeIndex::InsertBatch(std::span<const Tree> trees,
                                std::vector<std::pair<uint64_t, uint64_t>>* same_hash) {
  if (2 * (used_ + trees.size()) > slots_.size()) Reserve(used_ + trees.size());
  const size_t mask = slots_.size() - 1;
  // Enough misses in flight to cover the memory latency, few enough not to evict each other.
  constexpr size_t kAhead = 16;
  for (size_t k = 0; k < std::min(kAhead, trees.size()); ++k) {
    __builtin_prefetch(&slots_[Home(trees[k].hash, mask)], /*rw=*/1);
  }
  for (size_t k = 0; k < trees.size(); ++k) {
    if (k + kAhead < trees.size()) {
      __builtin_prefetch(&slots_[Home(trees[k + kAhead].hash, mask)], /*rw=*/1);
    }
    const Tree& t = trees[k];
    COWTREE_ASSERT(t.id != 0 && t.id != kTombstone);
    size_t i = Home(t.hash, mask);
    for (; slots_[i].id != 0; i = (i + 1) & mask) {
      COWTREE_ASSERT(slots_[i].id != t.id);
      if (slots_[i].id != kTombstone && slots_[i].hash == t.hash) {
        same_hash->emplace_back(slots_[i].id, t.id);
      }
    }
    slots_[i] = Slot{t.id, t.hash};
    ++live_;
    ++used_;
  }
}

void ColdTreeIndex::Candidates(uint32_t hash, std::vector<uint64_t>* out) const {
  if (slots_.empty()) return;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Home(hash, mask); slots_[i].id != 0; i = (i + 1) & mask) {
    if (slots_[i].id != kTombstone && slots_[i].hash == hash) out->push_back(slots_[i].id);
  }
}

size_t ColdTreeIndex::Find(uint64_t id, uint32_t hash) const {
  if (slots_.empty()) return SIZE_MAX;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Home(hash, mask); slots_[i].id != 0; i = (i + 1) & mask) {
    if (slots_[i].id == id) return i;
  }
  return SIZE_MAX;
}

bool ColdTreeIndex::Contains(uint64_t id, uint32_t hash) const {
  return Find(id, hash) != SIZE_MAX;
}

bool ColdTreeIndex::Remove(uint64_t id, uint32_t hash) {
  const size_t i = Find(id, hash);
  if (i == SIZE_MAX) return false;
  slots_[i].id = kTombstone;
  --live_;
  return true;
}

}  // namespace cowtree
