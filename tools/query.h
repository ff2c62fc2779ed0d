// `cowtree query` and the percentile table used by `demo`.
//
// For every tree (or the one named by `group`), sorted by name, computes N (positive weight)
// and, for each p, PERCENTILE_CONT(p) or PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY value [DESC])
// with PostgreSQL's semantics (tree/order_stat_tree.h). A group with N = 0 has a row only if it has
// NULL values (all its percentiles NULL, api/sql_groups.h); NULL prints as an empty CSV field and
// JSON null. Values are printed exactly: the shortest decimal that round-trips (std::to_chars);
// non-finite values (double trees hold ±infinity and NaN, and interpolating between huge values
// overflows) are printed as PostgreSQL prints float8: Infinity, -Infinity, NaN.
//
// Percentiles: each P may be listed once; a repeated value (0.5,0.5 or 0.5,0.50) is a usage
// error, so that every output has one column / one JSON key per percentile.
//
// JSON (--format json) is valid for every store (recovery/json_text.h): an array of
//   {"group": NAME, ["group_bytes_hex": HEX,] "n": N, "percentiles": {"P": VALUE, ...}}
// NAME is the group name with each byte that is not well-formed UTF-8 replaced by U+FFFD;
// only then is "group_bytes_hex" present, holding the name's exact bytes in hex (two names that
// differ only in invalid bytes stay distinguishable). Control characters, '"' and '\\' are
// escaped. VALUE is a JSON number, or the string "Infinity", "-Infinity" or "NaN" (as
// PostgreSQL's to_json writes non-finite float8). "P" is the percentile as given.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "api/group_counts.h"
#include "api/sql_groups.h"
#include "cowtree/cowtree.h"

namespace cowtree::tools {

enum class OutputFormat : uint8_t { kTable, kCsv, kJson };

struct PercentileSpec {
  std::string text;  // as given on the command line (the csv header repeats it)
  double p = 0;
};

struct QueryRow {
  std::string group;         // the group's tree name (kNullGroupTree for the NULL group)
  bool null_group = false;   // the NULL group: printed as NULL
  bool empty_group = false;  // the empty string's group (kEmptyGroupTree): printed as ""
  uint64_t n = 0;
  std::vector<std::string> values;  // formatted, one per percentile; "" = NULL (N = 0)

  bool operator==(const QueryRow&) const = default;
};

// Parses "0.5,0.9"; InvalidArgument if a value is not a number, outside [0, 1] or repeated.
Result<std::vector<PercentileSpec>> ParsePercentiles(const std::string& list);

// Computes the rows on `snapshot` (public API: cowtree/snapshot.h), sorted by group with the
// NULL group last; a group has a row iff N > 0 or it has rows with a NULL value (then N = 0 and
// every value is NULL: api/sql_groups.h). NotFound if `group` is set and no such tree exists.
Result<std::vector<QueryRow>> ComputePercentiles(const Snapshot& snapshot,
                                                 const std::vector<PercentileSpec>& ps, bool disc,
                                                 bool descending,
                                                 const std::optional<std::string>& group);

// The row of one group tree (nullopt: the group has no row). `counts` from the same snapshot.
Result<std::optional<QueryRow>> ComputeRow(const Snapshot& snapshot, const GroupCounts& counts,
                                           const TreeDescription& tree,
                                           const std::vector<PercentileSpec>& ps, bool disc,
                                           bool descending);
// As ComputeRow for the tree named `tree_name`, whatever its key type. NotFound if none.
Result<std::optional<QueryRow>> ComputeGroupRow(const Snapshot& snapshot, const GroupCounts& counts,
                                                const std::string& tree_name,
                                                const std::vector<PercentileSpec>& ps, bool disc,
                                                bool descending);
// Output order: by group name (bytes), the NULL group last.
bool GroupOrder(const QueryRow& a, const QueryRow& b);

// The CSV fields of a row after the group, as --format csv prints them: the group (RFC 4180
// quoting; empty for the NULL group) is CsvGroupField; then n and the values (NULL empty).
std::string CsvGroupField(const QueryRow& row);

void PrintRows(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               OutputFormat format, std::ostream& out);

// Shortest round-trip decimal of a double; "Infinity", "-Infinity", "NaN" if not finite.
std::string FormatDouble(double v);

}  // namespace cowtree::tools
