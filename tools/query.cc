#include "tools/query.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <sstream>

#include "recovery/json_text.h"
#include "tools/ingest.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::tools {

std::string FormatDouble(double v) {
  if (const char* name = recovery::NonFiniteName(v)) return name;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

Result<std::vector<PercentileSpec>> ParsePercentiles(const std::string& list) {
  std::vector<PercentileSpec> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string text = list.substr(start, comma - start);
    double p = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), p);
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

Result<std::vector<QueryRow>> ComputePercentiles(Runtime* runtime, const RuntimeSnapshot& snapshot,
                                                 const std::vector<PercentileSpec>& ps, bool disc,
                                                 bool descending,
                                                 const std::optional<std::string>& group) {
  std::vector<TreeInfo> trees;
  if (group.has_value()) {
    if (IsInternalTreeName(*group)) {
      return Status::NotFound("no group '" + *group + "' ('" + std::string(kReservedTreePrefix) +
                              "' names are cowtree's internal trees)");
    }
    COWTREE_ASSIGN_OR_RETURN(TreeInfo t, runtime->FindTree(*group, snapshot));
    trees.push_back(std::move(t));
  } else {
    trees = runtime->ListTrees(snapshot);
    // Internal trees (the ingest resume markers, tools/ingest.h) are not groups.
    std::erase_if(trees, [](const TreeInfo& t) { return IsInternalTreeName(t.name); });
  }
  std::vector<QueryRow> rows;
  rows.reserve(trees.size());
  for (TreeInfo& t : trees) {
    if (t.tree == nullptr) {  // listed, not yet restored
      COWTREE_ASSIGN_OR_RETURN(t, runtime->FindTree(t.name, snapshot));
    }
    tree::OrderStatTreeHost* host = tree::AsOrderStatTree(t.tree.get());
    if (host == nullptr) continue;
    std::shared_ptr<const tree::TreeVersion> v = host->VersionAt(snapshot.epoch());
    const uint64_t n = tree::PositiveCount(*v);
    if (n == 0) continue;
    QueryRow row;
    row.group = t.name;
    row.n = n;
    for (const PercentileSpec& p : ps) {
      if (disc) {
        COWTREE_ASSIGN_OR_RETURN(std::optional<uint64_t> key,
                                 tree::PercentileDisc(*v, p.p, descending));
        if (!key.has_value())
          return Status::Corruption("tree '" + t.name + "': N > 0 but no value");
        if (host->key_type() == tree::KeyType::kInt64) {
          row.values.push_back(std::to_string(tree::DecodeInt64Key(*key)));
        } else {
          row.values.push_back(FormatDouble(tree::DecodeDoubleKey(*key)));
        }
      } else {
        COWTREE_ASSIGN_OR_RETURN(std::optional<double> value,
                                 tree::PercentileCont(*v, p.p, descending));
        if (!value.has_value())
          return Status::Corruption("tree '" + t.name + "': N > 0 but no value");
        row.values.push_back(FormatDouble(*value));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

using JsonWriter = recovery::Utf8SafeWriter<rapidjson::Writer<rapidjson::StringBuffer>>;

// A formatted value (FormatDouble / std::to_string): a JSON number, except the non-finite
// names, which are JSON strings (recovery/json_text.h).
void JsonValue(JsonWriter& w, const std::string& text) {
  if (text == "Infinity" || text == "-Infinity" || text == "NaN") {
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
    w.String(r.group);
    if (!recovery::IsValidUtf8(r.group)) {
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

void PrintRows(const std::vector<QueryRow>& rows, const std::vector<PercentileSpec>& ps,
               OutputFormat format, std::ostream& out) {
  switch (format) {
    case OutputFormat::kCsv: {
      out << "group,n";
      for (const auto& p : ps) out << ',' << p.text;
      out << '\n';
      for (const QueryRow& r : rows) {
        // Group names come from user data: quote them if they need it (RFC 4180).
        if (r.group.find_first_of(",\"\n\r") != std::string::npos) {
          std::string q = "\"";
          for (char c : r.group) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
          out << q << '"';
        } else {
          out << r.group;
        }
        out << ',' << r.n;
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
        width[0] = std::max(width[0], r.group.size());
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
        cell(r.group, width[0], true);
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
