// ColdTreeIndex: the trees of the opened checkpoint's catalog that nothing has accessed since
// open ("cold" trees, docs/catalog.md "Opening a store"), indexed by name hash without keeping
// their names: an open-addressed table (linear probing, at most half full) of 16-byte slots
// {tree id, 32-bit name hash}. No per-tree allocation, no name / params / inline bytes: those
// stay in the catalog chunk objects and are read when a tree is first accessed. A lookup by
// name yields candidate ids (same hash); the caller confirms each against the entry's name.
//
// Memory: 32 bytes per tree at worst (16 per slot, load factor 1/4..1/2), 16 at best.
// Thread-safety: none (the Runtime guards it with catalog_mu_: lookups shared, changes
// exclusive). Errors: none (ids are the caller's: 0 and UINT64_MAX are never valid tree ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

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
  // Replaces the contents with `trees` (distinct ids) in one pass that walks the table in
  // order (a counting sort by home slot first: no cache miss per tree, unlike Insert), sized
  // at most half full. Appends to *same_hash every pair of ids whose hashes are equal (the
  // caller compares their names: a name used twice is a corrupt catalog).
  void Build(const std::vector<Tree>& trees, std::vector<std::pair<uint64_t, uint64_t>>* same_hash);
  // Sizes the table for `trees` inserts without growing (optional).
  void Reserve(size_t trees);
  // Adds `id` (not present; 0 < id < UINT64_MAX) under `hash` = NameHash(its name).
  void Insert(uint64_t id, uint32_t hash);
  // Hints the CPU to fetch the table line where `hash` probes start (open: a chunk's entries
  // are prefetched before they are inserted, so that the misses overlap).
  void Prefetch(uint32_t hash) const;
  // Appends to *out the ids whose name hash is `hash` (probe order).
  void Candidates(uint32_t hash, std::vector<uint64_t>* out) const;
  // Whether `id` is present under `hash`.
  bool Contains(uint64_t id, uint32_t hash) const;
  // Removes `id` (under `hash`); false if it was not present.
  bool Remove(uint64_t id, uint32_t hash);
  size_t size() const { return live_; }
  // Heap bytes held (the table).
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t id = 0;  // 0 empty, kTombstone removed
    uint32_t hash = 0;
  };
  static_assert(sizeof(Slot) == 16);
  static constexpr uint64_t kTombstone = UINT64_MAX;
  void Rehash(size_t capacity);
  size_t Find(uint64_t id, uint32_t hash) const;  // slot index or SIZE_MAX
  std::vector<Slot> slots_;                       // size 0 or a power of two
  size_t live_ = 0;
  size_t used_ = 0;  // live + tombstones
};

}  // namespace cowtree
