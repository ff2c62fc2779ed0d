// cowtree public API: reading — Snapshot, TreeReader<K>, Cursor<K>.
//
// All reads go through a Snapshot (Store::GetSnapshot). A snapshot pins the newest
// acknowledged commit at the time it was taken: every reader and cursor made from it answers
// for exactly that state, never for a later or partial commit, however many commits happen
// meanwhile, and never blocks writers (copy-on-write versions).
//
// Data model: a tree maps keys to nonzero int64 weights. An entry of weight w > 0 stands for w
// equal items; an entry of weight <= 0 stands for none (negative weights are Z-set deltas that
// other commits may cancel). count(), rank(), select(), the percentiles and sum_weights()
// count items, i.e. positive weight only; cursors visit every entry, negative ones included.
//
// Percentile semantics are PostgreSQL's ordered-set aggregates, bit for bit for N <= 2^53
// (https://www.postgresql.org/docs/current/functions-aggregate.html, table "Ordered-Set
// Aggregate Functions"; src/backend/utils/adt/orderedsetaggs.c):
//   percentile_cont(p) WITHIN GROUP (ORDER BY key [DESC]) — interpolates between the rows
//     floor(p * (N - 1)) and ceil(p * (N - 1)) in float8;
//   percentile_disc(p) — the first item whose cumulative fraction is >= p;
//   median = percentile_cont(0.5).
// p must be in [0, 1] (NaN refused): InvalidArgument "percentile value ... is not between 0
// and 1", as PostgreSQL. An empty tree (N == 0) gives std::nullopt (SQL NULL).
//
// Errors: a read may need a leaf that is not in memory; reading it can fail with IOError or
// Corruption, returned as the Status of that call (never an abort). Calls that never read a
// leaf (count, entry_count, key_type, name) cannot fail.
// Thread-safety: Snapshot, TreeReader and Cursor are cheap, copyable (Cursor: movable)
// handles to immutable state; any number of threads may use different objects, and const
// methods of one object, concurrently with each other and with commits. A single Cursor is
// used by one thread at a time.
// Lifetime: readers and cursors keep their snapshot's state alive (memory-safe in any order of
// destruction). Destroy them before Store::Close when you can: a snapshot pins its commit, so
// checkpoints cannot reclaim the space of data it still sees. Reading after the Store was
// closed is memory-safe, and fails with IOError for data that is not in memory (once the Store
// is closed its directory is no longer locked: another Store may reuse the space).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cowtree/status.h"
#include "cowtree/types.h"

namespace cowtree {

namespace api_internal {
struct SnapshotState;
struct ReaderState;
struct CursorState;
struct Access;  // the library's own operators (api/internal.h); not for users
}  // namespace api_internal

// A position in a tree of one snapshot, yielding (key, weight) entries in key order
// (kForward: ascending, kBackward: descending).
// Usage:  for (auto c = reader.Seek(k, Direction::kForward); c.valid(); c.Next()) {...}
//         if (!c.status().ok()) ... // an I/O error ended the iteration early
// Complexity: Seek is O(height * log fanout) plus one leaf read; Next is O(1) within a leaf and
// O(height) plus one leaf read when it crosses to the next leaf (each leaf is read once per
// pass). Memory: one leaf's arrays (shared, not copied) and a root-to-leaf path.
template <TreeKey K>
class Cursor {
 public:
  Cursor();
  ~Cursor();
  Cursor(Cursor&&) noexcept;
  Cursor& operator=(Cursor&&) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // True while the cursor is on an entry. False past the end, or after an error (status()).
  bool valid() const;
  // The current entry; requires valid() (else returns K{} / 0).
  K key() const;
  int64_t weight() const;
  // Moves to the next entry in the cursor's direction; no-op when !valid().
  void Next();
  // OK, or the IOError/Corruption that stopped the iteration.
  const Status& status() const;

 private:
  template <TreeKey>
  friend class TreeReader;
  explicit Cursor(std::unique_ptr<api_internal::CursorState> state);
  std::unique_ptr<api_internal::CursorState> state_;
};

// The state of one tree in one snapshot. Obtained from Snapshot::Tree<K>(name). Copyable
// (copies share the pin); moving copies too, so a moved-from reader still reads the same tree.
template <TreeKey K>
class TreeReader {
 public:
  ~TreeReader();
  TreeReader(const TreeReader&);
  TreeReader& operator=(const TreeReader&);
  TreeReader(TreeReader&&) noexcept;
  TreeReader& operator=(TreeReader&&) noexcept;

  const std::string& name() const;
  // N: the number of items (total positive weight). O(1), no I/O.
  uint64_t count() const;
  // The number of entries (keys with a nonzero weight, negative ones included). O(1).
  uint64_t entry_count() const;
  // The weight stored for `key` (0 if absent).
  Result<int64_t> weight(K key) const;
  // The number of items with a key < `key` (SQL: count(*) FILTER (WHERE x < key)).
  Result<uint64_t> rank(K key) const;
  // The key of the k-th item (0-based, counting multiplicity) in `order`; nullopt if k >= N.
  Result<std::optional<K>> select(uint64_t k, Order order = Order::kAscending) const;
  // PostgreSQL percentile_cont(p) WITHIN GROUP (ORDER BY key ASC|DESC); keys converted to
  // double (an int64 beyond 2^53 rounds, as PostgreSQL's cast to float8). nullopt if N == 0;
  // InvalidArgument unless 0 <= p <= 1.
  // Signed zeros (double trees; ignored for int64): a tree stores -0.0 as +0.0 (one key, as
  // PostgreSQL compares them equal). A caller that counted the -0.0 items it added passes that
  // count as negative_zero_items: those items come first among the zeros in ascending order
  // (last in descending), and an answer that lands on one of them is -0.0, interpolated as
  // PostgreSQL's float8_lerp does (e.g. the median of {-0, -0, -0} is -0; the 0.25 quantile
  // is +0, since -0 + 0.5 * (-0 - -0) = +0). A count above the tree's zeros is clamped.
  Result<std::optional<double>> percentile_cont(double p, Order order = Order::kAscending,
                                                uint64_t negative_zero_items = 0) const;
  // PostgreSQL percentile_disc(p) WITHIN GROUP (ORDER BY key ASC|DESC): an existing key (or
  // -0.0, see negative_zero_items above).
  Result<std::optional<K>> percentile_disc(double p, Order order = Order::kAscending,
                                           uint64_t negative_zero_items = 0) const;
  // percentile_cont(0.5, order).
  Result<std::optional<double>> median(Order order = Order::kAscending) const;
  // The number of items with lo <= key < hi (0 if lo >= hi).
  Result<uint64_t> sum_weights(K lo, K hi) const;
  // The number of items with key >= lo (the upper end includes the largest key).
  Result<uint64_t> sum_weights_from(K lo) const;

  // A cursor on the first entry with key >= `key` (kForward) or the last entry with key <=
  // `key` (kBackward, as RocksDB's SeekForPrev); invalid if there is none. For double trees
  // -0.0 seeks as +0.0 and NaN seeks to the NaN key (the largest).
  Cursor<K> Seek(K key, Direction direction = Direction::kForward) const;
  // A cursor on the smallest (kForward) or largest (kBackward) entry.
  Cursor<K> SeekToFirst() const;
  Cursor<K> SeekToLast() const;

 private:
  friend class Snapshot;
  explicit TreeReader(std::shared_ptr<const api_internal::ReaderState> state);
  std::shared_ptr<const api_internal::ReaderState> state_;
};

// A pinned, consistent view of every tree of a store. Copyable (copies share the pin); the pin
// is released when the last copy, reader and cursor is destroyed.
class Snapshot {
 public:
  Snapshot();  // an empty snapshot: every lookup returns InvalidArgument
  ~Snapshot();
  Snapshot(const Snapshot&);
  Snapshot& operator=(const Snapshot&);
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;

  // The tree `name` as of this snapshot. NotFound if no such tree is visible; InvalidArgument
  // if it was created with another key type (the message names both) or the snapshot is empty;
  // NotSupported for a tree type this API does not know. One hash lookup in the catalog; no I/O
  // for a tree in memory. A tree not touched since open (or dropped from memory since) is read
  // from its catalog chunk; every Options::demotion_pass_promotions such reads, the lookup
  // also runs a demotion pass (trees idle since the previous pass leave memory; it holds
  // commits for a walk of the trees in memory), so looking up many trees one by one stays
  // within memory — VisitTrees reads many trees more cheaply.
  template <TreeKey K>
  Result<TreeReader<K>> Tree(const std::string& name) const;
  // Every tree visible in this snapshot whose key type this API knows, sorted by name.
  // O(trees log trees). Trees not touched since open are listed from their catalog chunks
  // (docs/catalog_format.md), read with pread and restored not at all; so this can fail:
  // IOError if a chunk cannot be read, Corruption (naming the data file and offset) if one
  // fails its checksum. Never a partial list. An empty snapshot lists nothing.
  Result<std::vector<TreeDescription>> ListTrees() const;
  // Reads many trees cheaply: calls visit(i) once for every i in [0, names.size()), in the
  // order the catalog keeps the trees (creation order, not by name), a slice of names at a
  // time. Before a slice's visits, the trees of the slice not touched since open are read from
  // their catalog chunks together (one pread per chunk instead of one per tree); after them,
  // the trees visited so far may leave memory again (Options::demotion_pass_promotions), so
  // that visiting a million trees keeps about a slice and two passes' worth in memory — as
  // long as visit does not keep their readers. visit reads names[i] with Tree<K> as usual (a
  // name not visible gets NotFound there; duplicates are visited once per index). The first
  // non-OK status visit returns stops the walk and is returned. Errors besides visit's: as
  // ListTrees (IOError / Corruption reading a catalog chunk); InvalidArgument for an empty
  // snapshot. A retained checkpoint's snapshot (Store::GetCheckpointSnapshot) visits in the
  // same order, reading each catalog chunk of that checkpoint once, and keeps at most 1 024 of
  // the trees it loaded. Thread-safety: as Tree (visit runs on the calling thread).
  Status VisitTrees(std::span<const std::string> names,
                    const std::function<Status(size_t index)>& visit) const;
  // The commit sequence number this snapshot sees (increases with every commit). For logs and
  // tests; never needed to read.
  uint64_t sequence() const;

 private:
  friend class Store;
  friend struct api_internal::Access;
  explicit Snapshot(std::shared_ptr<const api_internal::SnapshotState> state);
  std::shared_ptr<const api_internal::SnapshotState> state_;
};

extern template class Cursor<int64_t>;
extern template class Cursor<double>;
extern template class TreeReader<int64_t>;
extern template class TreeReader<double>;
extern template Result<TreeReader<int64_t>> Snapshot::Tree<int64_t>(const std::string&) const;
extern template Result<TreeReader<double>> Snapshot::Tree<double>(const std::string&) const;

}  // namespace cowtree
