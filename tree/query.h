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
// - percentile_cont(p): with the N items in the requested order, pos = p * (N - 1), lo =
//   floor(pos), hi = ceil(pos); the result is the lo-th item if lo == hi, else
//   lo_val + ((pos - lo) * (hi_val - lo_val)) with values converted by KeyToDouble (PostgreSQL
//   float8_lerp, same operation order).
// - percentile_disc(p): the first item whose cumulative fraction is >= p: row
//   max(ceil(p * N), 1) - 1 (0-based).
// - How p * N and p * (N - 1) are evaluated (the row rule):
//   * N <= kFloat8ExactRows (2^53): in float8 exactly as PostgreSQL does (N and N - 1
//     converted to double, one rounded multiplication, floor/ceil), so results are
//     PostgreSQL's bit for bit — e.g. percentile_disc(0.1) over 10 rows is row 0, because
//     0.1 * 10.0 rounds to 1.0 (the exact product, 1.00000000000000005551, would give row 1).
//   * N > 2^53: exactly. p is a dyadic rational m * 2^-s (m < 2^53), so p * x is computed in
//     128-bit integers (m * x < 2^117); floor and ceil are exact and only the fractional part
//     used by percentile_cont is rounded (once) to double. Above 2^53 a double cannot hold
//     every row number: float8 rounds N itself (N = 2^64 - 1 becomes 2^64, whose conversion
//     to an integer is undefined behaviour (PostgreSQL's own int64 cast has the same flaw near
//     2^63) and gave "no value"; N = 2^53 + 1 becomes 2^53, so percentile_disc(1) missed the last
//     row), moves rows by up to 2^11 near 2^64, and broke symmetry (the median of
//     {10 x (2^63 - 1), 20 x (2^63 - 1)} came out 20 instead of 15). PostgreSQL itself counts
//     rows in int64, so it has no defined answer to match there; exact arithmetic is the one
//     rule that is monotone in p, symmetric between ASC and DESC, and gives the first row at
//     p = 0 and the last at p = 1. The two rules differ only when p * x lies within half a
//     float8 ulp of an integer, so the switch at 2^53 moves no answer by more than one row.
//   * Either way every row is in [0, N - 1] (p <= 1 guarantees it; the code also clamps), so
//     a tree with N > 0 always has a value, for every reachable N up to 2^64 - 1.
// - descending = true orders the items in reverse (Select(k, desc) == Select(N - 1 - k, asc)).
//   DESC p is never rewritten as ASC 1 - p (wrong for disc: {10,20,30,40},
//   percentile_disc(0.75) WITHIN GROUP (ORDER BY x DESC) = 20).
// - p NaN or outside [0, 1]: InvalidArgument (PostgreSQL: "percentile value %g is not between 0
//   and 1"). N == 0: std::nullopt (SQL NULL).
//
// Errors: a query that needs a non-resident leaf loads it through v.loader; IOError/Corruption
// from the loader (or a leaf that does not match its summary) are returned as the Status.
// Cost: O(height * fanout) node work plus one leaf scan (O(leaf size)); Rank and Select load at
// most one leaf, percentiles at most two, RangePositiveSum two. Rank and Select read a resident
// leaf through LeafBox::ReadPin (no shared_ptr copy: no lock, no reference-count traffic);
// Select in a leaf whose weights are all 1 indexes its k-th key, and Rank searches a leaf's keys
// (and each node's first keys) from an interpolated guess, then counts the index (all weights
// 1) or sums the positive weights before it. Level-1 nodes keep per-child hints of where a
// leaf's keys were last seen, prefetched while the leaf's box is read (tree_version.h).
// Thread-safety: any number of threads may call these concurrently on the same or different
// versions, concurrently with the writer producing newer versions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "persistence/status.h"
#include "tree/tree_version.h"

namespace cowtree::tree {

// Up to this N, percentile row numbers are computed in float8 as PostgreSQL does (see above).
inline constexpr uint64_t kFloat8ExactRows = uint64_t{1} << 53;

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
//
// Signed zeros (double trees only; ignored for int64): keys store -0 as +0 (key_codec.h). A
// caller that counts its -0 items passes negative_zero_items: that many of the items of key 0
// are -0 and come first among the zeros in ascending order (last in descending), the order of
// IEEE 754 totalOrder. A chosen item that is one of them is -0.0 (PercentileDisc: the code of
// -0.0, which DecodeDoubleKey turns into -0.0; not a canonical key), and percentile_cont
// interpolates with it as PostgreSQL's float8_lerp would. More than the tree's zeros are
// clamped to them. PostgreSQL compares -0 = +0 and returns whichever its sort put in place, so
// this matches it exactly whenever a group's zeros all have one sign (docs/sql_semantics.md).
// A NaN answer is always the positive quiet NaN (std::numeric_limits<double>::quiet_NaN()).
Result<std::optional<double>> PercentileCont(const TreeVersion& v, double p, bool descending,
                                             uint64_t negative_zero_items = 0);
Result<std::optional<uint64_t>> PercentileDisc(const TreeVersion& v, double p, bool descending,
                                               uint64_t negative_zero_items = 0);
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
