// `cowtree query` and the percentile table used by `demo`.
//
// For every tree (or the one named by `group`), sorted by name, computes N (positive weight)
// and, for each p, PERCENTILE_CONT(p) or PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY value [DESC])
// with PostgreSQL's semantics (tree/os_tree.h). Groups with N = 0 are omitted. Values are
// printed exactly: the shortest decimal that round-trips (std::to_chars).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "persistence/runtime.h"
#include "persistence/status.h"

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

// Parses "0.5,0.9"; InvalidArgument if a value is not a number or outside [0, 1].
Result<std::vector<PercentileSpec>> ParsePercentiles(const std::string& list);

// Computes the rows on `snapshot`. NotFound if `group` is set and no such tree exists.
Result<std::vector<QueryRow>> ComputePercentiles(Runtime* runtime, const Snapshot& snapshot,
                                                 const std::vector<PercentileSpec>& ps,
                                                 bool disc, bool descending,
                                                 const std::optional<std::string>& group);

void PrintRows(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               OutputFormat format, std::ostream& out);

// Shortest round-trip decimal of a double / an integer.
std::string FormatDouble(double v);

}  // namespace cowtree::tools
