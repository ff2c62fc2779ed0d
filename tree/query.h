// Readers of the order-statistics tree: rank, select, percentiles, range sums, iteration.
//
// Every function takes one published TreeVersion and answers for exactly that state. Keys are
// ordered codes (tree/key_codec.h). Only positive weight counts as "items": an entry of weight
// w > 0 stands for w equal items, an entry of weight <= 0 for none; N = PositiveCount(v). N and
// Select use the same per-child positive sums, so they always agree.
//
// SQL semantics are PostgreSQL's ordered-set aggregates
// (https://www.postgresql.org/docs/current/functions-aggregate.html, table "Ordered-Set
// Aggregate Functions"; src/backend/utils/adt/orderedsetaggs.c):
// - percentile_cont(p): with the N items in the requested order, pos = p * (N - 1) (in double,
//   N - 1 converted to double), lo = floor(pos), hi = ceil(pos); the result is the lo-th item if
//   lo == hi, else lo_val + ((pos - lo) * (hi_val - lo_val)) with values converted by
//   KeyToDouble (PostgreSQL float8_lerp, same operation order).
// - percentile_disc(p): the first item whose cumulative fraction is >= p: index
//   max(ceil(p * N), 1) - 1 (0-based), computed in double as PostgreSQL does.
// - descending = true orders the items in reverse (Select(k, desc) == Select(N - 1 - k, asc)).
//   DESC p is never rewritten as ASC 1 - p (wrong for disc: {10,20,30,40},
//   percentile_disc(0.75) WITHIN GROUP (ORDER BY x DESC) = 20).
// - p NaN or outside [0, 1]: InvalidArgument (PostgreSQL: "percentile value %g is not between 0
//   and 1"). N == 0: std::nullopt (SQL NULL).
//
// Errors: a query that needs a non-resident leaf loads it through v.loader; IOError/Corruption
// from the loader (or a leaf that does not match its summary) are returned as the Status.
// Cost: O(height * fanout) node work plus one leaf scan (O(leaf size)); Rank and Select load at
// most one leaf, percentiles at most two, RangePositiveSum two.
// Thread-safety: any number of threads may call these concurrently on the same or different
// versions, concurrently with the writer producing newer versions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

// N: the total positive weight.
inline uint64_t PositiveCount(const TreeVersion& v) { return v.positive_count; }

// Positive weight of all entries with key < `key`.
Result<uint64_t> Rank(const TreeVersion& v, uint64_t key);

// The weight stored for `key`, 0 if absent.
Result<int64_t> WeightOf(const TreeVersion& v, uint64_t key);

// The key of the k-th item (0-based, counting multiplicity) in ascending or descending order;
// std::nullopt if k >= N.
Result<std::optional<uint64_t>> Select(const TreeVersion& v, uint64_t k, bool descending);

// PostgreSQL percentile_cont / percentile_disc / median (= percentile_cont(0.5) ascending).
// PercentileDisc returns the key code of the chosen item.
Result<std::optional<double>> PercentileCont(const TreeVersion& v, double p, bool descending);
Result<std::optional<uint64_t>> PercentileDisc(const TreeVersion& v, double p, bool descending);
Result<std::optional<double>> Median(const TreeVersion& v);

// Positive weight of the entries with lo_key <= key < hi_key (0 if lo_key >= hi_key). For an
// upper end that includes the largest code use PositiveCount(v) - Rank(v, lo_key).
Result<uint64_t> RangePositiveSum(const TreeVersion& v, uint64_t lo_key, uint64_t hi_key);

// Calls fn(key, weight) for every entry with lo_key <= key < hi_key in ascending key order,
// including entries of negative weight, until fn returns false. ForEachAll visits every entry.
using EntryVisitor = std::function<bool(uint64_t key, int64_t weight)>;
Status ForEach(const TreeVersion& v, uint64_t lo_key, uint64_t hi_key, const EntryVisitor& fn);
Status ForEachAll(const TreeVersion& v, const EntryVisitor& fn);

// InvalidArgument unless 0 <= p <= 1 (NaN is rejected).
Status CheckPercentile(double p);

}  // namespace cowtree::tree
