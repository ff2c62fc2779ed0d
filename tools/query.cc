#include "tools/query.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "recovery/json_text.h"
#include "tools/ingest.h"

namespace cowtree::tools {

std::string FormatDouble(double v) {
  if (const char* name = recovery::NonFiniteName(v)) return name;
  // PostgreSQL's float8 output (12+, extra_float_digits = 1): the shortest digits that read back
  // as v, in fixed notation when the decimal exponent is in [-4, 15), else in scientific
  // notation with a signed exponent of at least two digits (src/common/d2s.c). std::to_chars
  // gives the same shortest digits in either notation; plain to_chars would pick the shorter
  // text ("1e+05" where PostgreSQL prints "100000").
  char buf[64];
  const auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  const std::string_view text(buf, static_cast<size_t>(sci.ptr - buf));
  const size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  if (exponent < -4 || exponent >= 15) return std::string(text);
  const auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

Result<std::vector<PercentileSpec>> ParsePercentiles(const std::string& list) {
  std::vector<PercentileSpec> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string text = list.substr(start, comma - start);
    double p = 0;
    // A leading '+' is accepted, as PostgreSQL's float8 input does (from_chars does not).
    const char* first = text.data() + (text.size() > 1 && text[0] == '+' && text[1] != '-');
    auto r = std::from_chars(first, text.data() + text.size(), p);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      return Status::InvalidArgument("--percentile: expected a number in [0, 1], found '" + text +
                                     "'");
    }
    if (!(p >= 0.0 && p <= 1.0)) {
      return Status::InvalidArgument("--percentile: " + text +
                                     " is outside [0, 1] (PostgreSQL rejects it too)");
    }
    for (const PercentileSpec& earlier : out) {
      if (earlier.p == p) {
        return Status::InvalidArgument("--percentile: " + text + " is given twice (" +
                                       earlier.text + " and " + text +
                                       "); list each percentile once");
      }
    }
    out.push_back(PercentileSpec{text, p});
    start = comma + 1;
  }
  return out;
}

namespace {

// One row for the tree `reader` reads; nullopt when it has no row (N = 0 and no NULL values).
template <TreeKey K>
Result<std::optional<QueryRow>> RowOf(const TreeReader<K>& reader, int64_t null_rows,
                                      uint64_t negative_zero_rows,
                                      const std::vector<PercentileSpec>& ps, bool disc,
                                      bool descending) {
  const uint64_t n = reader.count();
  QueryRow row;
  row.group = reader.name();
  row.null_group = IsNullGroupTree(row.group);
  row.empty_group = IsEmptyGroupTree(row.group);
  row.n = n;
  if (n == 0) {
    if (null_rows <= 0) return std::optional<QueryRow>();
    row.values.assign(ps.size(), std::string());  // SQL: NULL for a group of NULL values
    return std::optional<QueryRow>(std::move(row));
  }
  const Order order = descending ? Order::kDescending : Order::kAscending;
  for (const PercentileSpec& p : ps) {
    if (disc) {
      COWTREE_ASSIGN_OR_RETURN(std::optional<K> key,
                               reader.percentile_disc(p.p, order, negative_zero_rows));
      if (key.has_value()) {
        if constexpr (std::same_as<K, int64_t>) {
          row.values.push_back(std::to_string(*key));
        } else {
          row.values.push_back(FormatDouble(*key));
        }
        continue;
      }
    } else {
      COWTREE_ASSIGN_OR_RETURN(std::optional<double> value,
                               reader.percentile_cont(p.p, order, negative_zero_rows));
      if (value.has_value()) {
        row.values.push_back(FormatDouble(*value));
        continue;
      }
    }
    return Status::Corruption("tree '" + row.group + "': N > 0 but no value");
  }
  return std::optional<QueryRow>(std::move(row));
}

}  // namespace

Result<std::optional<QueryRow>> ComputeRow(const Snapshot& snapshot, const GroupCounts& counts,
                                           const TreeDescription& t,
                                           const std::vector<PercentileSpec>& ps, bool disc,
                                           bool descending) {
  COWTREE_ASSIGN_OR_RETURN(const int64_t null_rows, counts.NullsOf(t.name));
  if (t.key_type == KeyType::kInt64) {
    COWTREE_ASSIGN_OR_RETURN(TreeReader<int64_t> r, snapshot.Tree<int64_t>(t.name));
    return RowOf(r, null_rows, 0, ps, disc, descending);
  }
  COWTREE_ASSIGN_OR_RETURN(const uint64_t negative_zero_rows, counts.NegativeZerosOf(t.name));
  COWTREE_ASSIGN_OR_RETURN(TreeReader<double> r, snapshot.Tree<double>(t.name));
  return RowOf(r, null_rows, negative_zero_rows, ps, disc, descending);
}

Result<std::optional<QueryRow>> ComputeGroupRow(const Snapshot& snapshot, const GroupCounts& counts,
                                                const std::string& tree_name,
                                                const std::vector<PercentileSpec>& ps, bool disc,
                                                bool descending) {
  // The key type decides the reader; an int64 reader of a double tree is InvalidArgument.
  Result<TreeReader<int64_t>> probe = snapshot.Tree<int64_t>(tree_name);
  if (!probe.ok() && !probe.status().IsInvalidArgument()) return probe.status();
  return ComputeRow(snapshot, counts, {tree_name, probe.ok() ? KeyType::kInt64 : KeyType::kDouble},
                    ps, disc, descending);
}

bool GroupOrder(const QueryRow& a, const QueryRow& b) {
  if (a.null_group != b.null_group) return b.null_group;  // NULL last (ASC NULLS LAST)
  if (a.empty_group != b.empty_group) return a.empty_group;  // '' before every other string
  return a.group < b.group;
}

Result<std::vector<QueryRow>> ComputePercentiles(const Snapshot& snapshot,
                                                 const std::vector<PercentileSpec>& ps, bool disc,
                                                 bool descending,
                                                 const std::optional<std::string>& group) {
  COWTREE_ASSIGN_OR_RETURN(const GroupCounts counts, GroupCounts::Read(snapshot));
  std::vector<QueryRow> rows;
  if (group.has_value()) {
    if (IsInternalTreeName(*group)) {
      return Status::NotFound("no group '" + *group + "' ('" + std::string(kReservedTreePrefix) +
                              "' names are cowtree's internal trees)");
    }
    // --group "" is the empty string's group (the NULL group cannot be named).
    Result<std::optional<QueryRow>> computed =
        ComputeGroupRow(snapshot, counts, std::string(GroupTreeOfField(*group, /*quoted=*/true)),
                        ps, disc, descending);
    if (computed.status().IsNotFound() &&
        computed.status().message().rfind("no tree named ", 0) == 0) {
      return Status::NotFound("no group '" + *group + "'");  // not the internal tree name
    }
    COWTREE_ASSIGN_OR_RETURN(std::optional<QueryRow> row, std::move(computed));
    if (row.has_value()) rows.push_back(std::move(*row));
    return rows;
  }
  COWTREE_ASSIGN_OR_RETURN(std::vector<TreeDescription> trees, snapshot.ListTrees());
  // Internal trees (the ingest resume markers, the NULL counts) are not groups.
  std::erase_if(trees, [](const TreeDescription& t) { return !IsGroupTree(t.name); });
  // Every group is read once: in catalog order, a slice at a time, so that a million groups
  // cost a catalog chunk read per chunk and stay within memory (Snapshot::VisitTrees).
  std::vector<std::string> names;
  names.reserve(trees.size());
  for (const TreeDescription& t : trees) names.push_back(t.name);
  std::vector<std::optional<QueryRow>> by_tree(trees.size());
  COWTREE_RETURN_IF_ERROR(snapshot.VisitTrees(names, [&](size_t i) -> Status {
    COWTREE_ASSIGN_OR_RETURN(by_tree[i],
                             ComputeRow(snapshot, counts, trees[i], ps, disc, descending));
    return Status::OK();
  }));
  rows.reserve(trees.size());
  for (std::optional<QueryRow>& row : by_tree) {
    if (row.has_value()) rows.push_back(std::move(*row));
  }
  std::sort(rows.begin(), rows.end(), GroupOrder);
  return rows;
}

namespace {

using JsonWriter = recovery::Utf8SafeWriter<rapidjson::Writer<rapidjson::StringBuffer>>;

// A formatted value (FormatDouble / std::to_string): a JSON number, except the non-finite
// names, which are JSON strings (recovery/json_text.h).
void JsonValue(JsonWriter& w, const std::string& text) {
  if (text.empty()) {
    w.Null();  // SQL NULL
  } else if (text == "Infinity" || text == "-Infinity" || text == "NaN") {
    w.String(text);
  } else {
    w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
  }
}

void PrintJson(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               std::ostream& out) {
  rapidjson::StringBuffer buf;
  out << "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const QueryRow& r = rows[i];
    buf.Clear();
    JsonWriter w(buf);
    w.StartObject();
    w.Key("group");
    if (r.null_group) {
      w.Null();
    } else {
      w.String(r.empty_group ? std::string() : r.group);
    }
    if (!r.null_group && !r.empty_group && !recovery::IsValidUtf8(r.group)) {
      w.Key("group_bytes_hex");
      w.String(recovery::HexBytes(r.group));
    }
    w.Key("n");
    w.Uint64(r.n);
    w.Key("percentiles");
    w.StartObject();
    for (size_t j = 0; j < ps.size(); ++j) {
      w.Key(ps[j].text);
      JsonValue(w, r.values[j]);
    }
    w.EndObject();
    w.EndObject();
    out << (i ? ",\n " : "\n ") << buf.GetString();
  }
  out << "\n]\n";
}

}  // namespace

std::string CsvGroupField(const QueryRow& row) {
  if (row.null_group) return std::string();  // NULL: an empty field, as PostgreSQL's COPY CSV
  if (row.empty_group) return "\"\"";        // '': a quoted empty field, as COPY writes it
  // Group names come from user data: quote them if they need it (RFC 4180).
  if (row.group.find_first_of(",\"\n\r") == std::string::npos) return row.group;
  std::string q = "\"";
  for (char c : row.group) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + '"';
}

void PrintRows(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               OutputFormat format, std::ostream& out) {
  switch (format) {
    case OutputFormat::kCsv: {
      out << "group,n";
      for (const auto& p : ps) out << ',' << p.text;
      out << '\n';
      for (const QueryRow& r : rows) {
        out << CsvGroupField(r) << ',' << r.n;
        for (const auto& v : r.values) out << ',' << v;
        out << '\n';
      }
      break;
    }
    case OutputFormat::kJson:
      PrintJson(rows, ps, out);
      break;
    case OutputFormat::kTable: {
      std::vector<size_t> width(2 + ps.size());
      width[0] = 5;
      width[1] = 1;
      for (size_t j = 0; j < ps.size(); ++j) width[2 + j] = ps[j].text.size();
      for (const QueryRow& r : rows) {
        width[0] = std::max(width[0], r.null_group || r.empty_group ? 0 : r.group.size());
        width[1] = std::max(width[1], std::to_string(r.n).size());
        for (size_t j = 0; j < r.values.size(); ++j) {
          width[2 + j] = std::max(width[2 + j], r.values[j].size());
        }
      }
      auto cell = [&](const std::string& s, size_t w, bool left) {
        if (left)
          out << s << std::string(w - s.size(), ' ');
        else
          out << std::string(w - s.size(), ' ') << s;
      };
      cell("group", width[0], true);
      out << "  ";
      cell("n", width[1], false);
      for (size_t j = 0; j < ps.size(); ++j) {
        out << "  ";
        cell(ps[j].text, width[2 + j], false);
      }
      out << '\n';
      for (const QueryRow& r : rows) {
        // NULL and '': blank, as psql prints both.
        cell(r.null_group || r.empty_group ? std::string() : r.group, width[0], true);
        out << "  ";
        cell(std::to_string(r.n), width[1], false);
        for (size_t j = 0; j < r.values.size(); ++j) {
          out << "  ";
          cell(r.values[j], width[2 + j], false);
        }
        out << '\n';
      }
      break;
    }
  }
}

}  // namespace cowtree::tools
