// The output deltas of `cowtree ingest --emit-deltas` (tools/delta_writer.h) applied to an
// empty table, for tests: sums the weights of equal (group, n, values) lines.
#pragma once

#include <string>
#include <vector>

namespace cowtree::testutil {

// The `cowtree query --format csv` text the deltas leave: `query_header`, then the rows whose
// net weight is +1, by group (bytes; the NULL group, an empty field, last). Rows with a net
// weight other than 0 or +1 are appended to *out_of_range (a correct file has none).
std::string ApplyDeltas(const std::string& deltas_csv, const std::string& query_header,
                        std::vector<std::string>* out_of_range);

}  // namespace cowtree::testutil
