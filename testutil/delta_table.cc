#include "testutil/delta_table.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>

namespace cowtree::testutil {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Splits "GROUP,WEIGHT,REST" after the (possibly quoted) group field.
void SplitDeltaLine(const std::string& line, std::string* group, int64_t* weight,
                    std::string* rest) {
  size_t cut = 0;
  if (!line.empty() && line[0] == '"') {
    cut = 1;
    while (cut < line.size() &&
           !(line[cut] == '"' && (cut + 1 == line.size() || line[cut + 1] != '"'))) {
      cut += line[cut] == '"' ? 2 : 1;
    }
    ++cut;
  } else {
    cut = line.find(',');
  }
  *group = line.substr(0, cut);
  const size_t next = line.find(',', cut + 1);
  *weight = std::stoll(line.substr(cut + 1, next - cut - 1));
  *rest = line.substr(next);  // ",N,V..."
}

}  // namespace

std::string ApplyDeltas(const std::string& deltas_csv, const std::string& query_header,
                        std::vector<std::string>* out_of_range) {
  std::vector<std::string> lines = Lines(deltas_csv);

  std::map<std::string, int64_t> table;  // "GROUP,N,V..." -> net weight
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string group, rest;
    int64_t weight = 0;
    SplitDeltaLine(lines[i], &group, &weight, &rest);
    table[group + rest] += weight;
  }
  std::string out = query_header + "\n";
  std::vector<std::string> rows;
  for (const auto& [row, weight] : table) {
    if (weight == 1) {
      rows.push_back(row);
    } else if (weight != 0) {
      out_of_range->push_back(row + " has net weight " + std::to_string(weight));
    }
  }
  // Query order: by group bytes, the NULL group (empty field) last; quoted names sort by
  // their text (no test group needs more).
  std::sort(rows.begin(), rows.end(), [](const std::string& a, const std::string& b) {
    const bool a_null = a[0] == ',', b_null = b[0] == ',';
    if (a_null != b_null) return b_null;
    auto name = [](const std::string& r) {
      return r[0] == '"' ? r.substr(1, r.find('"', 1) - 1) : r.substr(0, r.find(','));
    };
    return name(a) < name(b);
  });
  for (const std::string& r : rows) out += r + "\n";
  return out;
}

}  // namespace cowtree::testutil
