// ColdTreeIndex: the trees of the opened checkpoint's catalog that nothing has accessed since
// open ("cold" trees, docs/catalog.md "Opening a store"), indexed by name hash without keeping
// their names: an open-addressed table (linear probing, at most half full) of 16-byte slots
// {tree id, 32-bit name hash}. No per-tree allocation, no name / params / inline bytes: those
// stay in the catalog chunk objects and are read when a tree is first accessed. A lookup by
// name yields candidate ids (same hash); the caller confirms each against the entry's name.
//
// Memory: 32 bytes per tree at worst (16 per slot, load factor 1/4..1/2), 16 at best; a table
// of 2 MiB or more is one zero-filled mapping in huge pages (persistence/zeroed_array.h).
// Thread-safety: none (the Runtime guards it with catalog_mu_: lookups shared, changes
// exclusive). Errors: none (ids are the caller's: 0 and UINT64_MAX are never valid tree ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "persistence/zeroed_array.h"

namespace cowtree {

class ColdTreeIndex {
 public:
  using NameHashFn = uint32_t (*)(std::string_view name);
  // The hash the index is keyed by (a fixed function of the bytes; not stored on disk).
  static uint32_t NameHash(std::string_view name);
  // Test hook: replaces NameHash for the whole process (null restores it), so that tests can
  // force collisions. Set it only while no Runtime is open.
  static void SetNameHashForTesting(NameHashFn fn);

  struct Tree {
    uint64_t id = 0;
    uint32_t hash = 0;
  };
  // Sizes the table for `trees` inserts without growing (optional).
  void Reserve(size_t trees);
  // Inserts `trees` (distinct ids, none present; 0 < id < UINT64_MAX), e.g. the entries of one
  // catalog chunk at open, with the table lines they land on prefetched a few trees ahead so
  // that the cache misses overlap (Reserve the total first: no growth). Appends to *same_hash
  // every pair of ids whose hashes are equal (the caller compares their names).
  void InsertBatch(std::span<const Tree> trees,
                   std::vector<std::pair<uint64_t, uint64_t>>* same_hash);
  // Adds `id` (not present; 0 < id < UINT64_MAX) under `hash` = NameHash(its name).
  void Insert(uint64_t id, uint32_t hash);
  // Appends to *out the ids whose name hash is `hash` (probe order).
  void Candidates(uint32_t hash, std::vector<uint64_t>* out) const;
  // Whether `id` is present under `hash`.
  bool Contains(uint64_t id, uint32_t hash) const;
  // Removes `id` (under `hash`); false if it was not present.
  bool Remove(uint64_t id, uint32_t hash);
  size_t size() const { return live_; }
  // Heap bytes held (the table).
  size_t memory_bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t id = 0;  // 0 empty, kTombstone removed
    uint32_t hash = 0;
  };
  static_assert(sizeof(Slot) == 16);
  static constexpr uint64_t kTombstone = UINT64_MAX;
  void Rehash(size_t capacity);
  size_t Find(uint64_t id, uint32_t hash) const;  // slot index or SIZE_MAX
  ZeroedArray<Slot> slots_;                       // size 0 or a power of two
  size_t live_ = 0;
  size_t used_ = 0;  // live + tombstones
};

}  // namespace cowtree
