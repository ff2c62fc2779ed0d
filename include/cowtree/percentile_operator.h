// cowtree public API: the grouped percentile operator (incremental view maintenance of
//   SELECT g, count(v), percentile_cont|disc(p1) WITHIN GROUP (ORDER BY v [DESC]), ...
//   FROM input GROUP BY g
// over a stream of weighted changes, DBSP style: a batch of input deltas in, the state updated
// in O(delta), a batch of output deltas out).
//
// State: one tree per group in a Store (tree `tree_prefix + group`; the NULL group is tree
// "__cowtree_null_group__" + tree_prefix and the empty string's group (not NULL, as in SQL)
// "__cowtree_empty_group__" + tree_prefix; rows with a NULL value are counted per group in the
// int64 tree "__cowtree_null_values__" + tree_prefix; a double operator counts its -0 values
// per group in "__cowtree_negative_zeros__" + tree_prefix, so that an answer landing on a -0
// row is -0 as in PostgreSQL, while the group's tree keeps -0 and +0 as one key, see
// TreeReader::percentile_cont). With tree_prefix "" the state is the
// one `cowtree ingest` writes, so the CLI and this class read each other's stores.
// Checkpoint / restore of the operator is the Store's: reopen the store and make the
// operator again; it resumes at the last acknowledged Step (each Step is one commit).
//
// Semantics (PostgreSQL's, docs/sql_semantics.md): a row of weight w counts as w input rows
// (negative: deletes). NULL values are skipped by the percentiles but keep their group alive: a
// group whose values are all NULL has a row with n = 0 and NULL values; a group with no rows
// left has no row. Percentiles as cowtree/snapshot.h (PostgreSQL's ordered-set aggregates).
//
// Output deltas: Step returns, for each group whose row changed, its old row with weight -1 (if
// it had one) and its new row with weight +1 (if it has one), groups by name (bytes) with the
// NULL group last, -1 before +1. A group whose row did not change emits nothing. Summing all the
// deltas returned since an empty store, per row, leaves exactly Answers() with weight +1.
// Cost of Step: O(changed groups x (log n + outputs)) reads and one commit; never O(groups).
// A group's old row is the new row the previous Step computed when its tree is still the same
// version (no read); the cold trees a Step touches are promoted one catalog chunk at a time.
// Memory: the rows of the last Step's groups (O(batch)).
//
// Thread-safety: one thread calls Step at a time, and the operator must be the only writer of
// its trees (other trees of the store may be written concurrently). Answers may be called from
// any thread. Lifetime: the Store must outlive the operator.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cowtree/options.h"
#include "cowtree/snapshot.h"
#include "cowtree/status.h"
#include "cowtree/store.h"
#include "cowtree/types.h"

namespace cowtree {

enum class PercentileKind : uint8_t { kCont, kDisc };

// One output column: PERCENTILE_CONT or _DISC(fraction) WITHIN GROUP (ORDER BY v order).
struct PercentileOutput {
  double fraction = 0.5;  // in [0, 1]
  PercentileKind kind = PercentileKind::kCont;
  Order order = Order::kAscending;
};

struct OperatorSpec {
  // Group g lives in tree tree_prefix + g (no separator): operators that share a store need
  // prefixes of which none begins another ("sales/" and "web/"; not "p" and "p2", whose trees
  // "p2y" operator "p" would list as its group "2y"; "" lists every tree). docs/api.md.
  std::string tree_prefix;
  std::vector<PercentileOutput> outputs;  // at least one
};

// One input change: `weight` rows (group, value); nullopt = SQL NULL.
template <TreeKey K>
struct InputDelta {
  std::optional<std::string> group;
  std::optional<K> value;
  int64_t weight = 1;
};

// One output value: NULL when the group has no items (n == 0); a kCont output in `cont`, a
// kDisc output (an input value, exactly) in `disc`.
template <TreeKey K>
struct PercentileValue {
  bool is_null = true;
  double cont = 0;
  K disc = K();
  // Bit for bit: a NaN equals itself (every NaN answer is the one positive quiet NaN) and -0
  // differs from +0 (PostgreSQL prints them differently), so that "unchanged" in Step's deltas
  // means "prints the same".
  bool operator==(const PercentileValue& o) const {
    if (is_null != o.is_null || std::bit_cast<uint64_t>(cont) != std::bit_cast<uint64_t>(o.cont))
      return false;
    if constexpr (std::same_as<K, double>) {
      return std::bit_cast<uint64_t>(disc) == std::bit_cast<uint64_t>(o.disc);
    } else {
      return disc == o.disc;
    }
  }
};

template <TreeKey K>
struct OutputRow {
  std::optional<std::string> group;        // nullopt: the NULL group
  uint64_t n = 0;                          // count of non-NULL items
  std::vector<PercentileValue<K>> values;  // one per OperatorSpec::outputs entry
  bool operator==(const OutputRow&) const = default;
};

template <TreeKey K>
struct OutputDelta {
  OutputRow<K> row;
  int64_t weight = 0;  // -1 retracts the row, +1 inserts it
};

template <TreeKey K>
class PercentileOperator {
 public:
  // InvalidArgument: no outputs, a fraction outside [0, 1] or NaN. Reads nothing.
  static Result<std::unique_ptr<PercentileOperator>> Create(Store* store, OperatorSpec spec);

  // Applies `batch` in one commit (durable as `write_options` and the store say) and returns
  // the output deltas. `sequence` (optional) receives the commit's sequence number. Errors:
  // InvalidArgument (a group name too long or reserved, a group's tree of the other key type,
  // weight overflow: nothing changed), or the commit's error (see Store::Commit).
  Result<std::vector<OutputDelta<K>>> Step(const std::vector<InputDelta<K>>& batch,
                                           const WriteOptions& write_options = WriteOptions(),
                                           uint64_t* sequence = nullptr);

  // The whole output table on `snapshot`, in output order. O(groups). Errors: InvalidArgument
  // if a group's tree (a tree named with the spec's prefix) has the other key type (an
  // operator opened with the wrong K), nothing read; IOError / Corruption reading the trees.
  Result<std::vector<OutputRow<K>>> Answers(const Snapshot& snapshot) const;

  const OperatorSpec& spec() const { return spec_; }

  ~PercentileOperator();

 private:
  struct RowCache;  // the new rows of the last Step, Step's buffers (percentile_operator_step.cc)
  PercentileOperator(Store* store, OperatorSpec spec);
  Store* store_;
  OperatorSpec spec_;
  std::unique_ptr<RowCache> last_rows_;  // Step only (one thread at a time)
};

extern template class PercentileOperator<int64_t>;
extern template class PercentileOperator<double>;

}  // namespace cowtree
