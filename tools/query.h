// `cowtree query` and the percentile table used by `demo`.
//
// For every tree (or the one named by `group`), sorted by name, computes N (positive weight)
// and, for each p, PERCENTILE_CONT(p) or PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY value [DESC])
// with PostgreSQL's semantics (tree/order_stat_tree.h). Groups with N = 0 are omitted. Values are
// printed exactly: the shortest decimal that round-trips (std::to_chars); non-finite values
// (double trees hold ±infinity and NaN, and interpolating between huge values overflows) are
// printed as PostgreSQL prints float8: Infinity, -Infinity, NaN.
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

#include "cowtree/cowtree.h"

namespace cowtree::tools {

enum class OutputFormat : uint8_t { kTable, kCsv, kJson };

struct PercentileSpec {
  std::string text;  // as given on the command line (the csv header repeats it)
  double p = 0;
};

struct QueryRow {
  std::string group;
  uint64_t n = 0;
  std::vector<std::string> values;  // formatted, one per percentile
};

// Parses "0.5,0.9"; InvalidArgument if a value is not a number, outside [0, 1] or repeated.
Result<std::vector<PercentileSpec>> ParsePercentiles(const std::string& list);

// Computes the rows on `snapshot` (public API: cowtree/snapshot.h). NotFound if `group` is set
// and no such tree exists.
Result<std::vector<QueryRow>> ComputePercentiles(const Snapshot& snapshot,
                                                 const std::vector<PercentileSpec>& ps, bool disc,
                                                 bool descending,
                                                 const std::optional<std::string>& group);

void PrintRows(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               OutputFormat format, std::ostream& out);

// Shortest round-trip decimal of a double; "Infinity", "-Infinity", "NaN" if not finite.
std::string FormatDouble(double v);

}  // namespace cowtree::tools
