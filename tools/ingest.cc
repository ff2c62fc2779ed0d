#include "tools/ingest.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string_view>
#include <unordered_map>

#include "persistence/assert.h"
#include "recovery/open.h"
#include "tools/csv_reader.h"
#include "tree/key_codec.h"
#include "tree/os_tree_type.h"

namespace cowtree::tools {
namespace {

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct Group {
  TreeId id = 0;
  tree::KeyType key_type = tree::KeyType::kInt64;
  std::string* ops = nullptr;  // this batch's op bytes; null until the group's first row in it
  uint64_t batch_serial = 0;
};

// Transparent hashing so that a row's group field (a string_view) is looked up without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// True for [+-]?[0-9]+: text that ParseInt64Field rejects only when it is out of range.
bool IsIntegerSyntax(std::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// CR-only ("old Mac") line endings are not a line end in the reader's dialect (a CR not
// followed by LF is data, tools/csv_reader.h), so such a file parses as one long header row and
// would ingest nothing. A header name never contains a bare CR, so one there is reported as
// FILE:LINE:COLUMN instead. COLUMN is the byte column on the header's line, counted as if the
// header's fields were unquoted (they are, in the files that have this problem).
Status CheckHeaderLineEndings(const CsvReader& csv) {
  size_t column = 1;
  for (size_t i = 0; i < csv.header().size(); ++i) {
    const std::string& h = csv.header()[i];
    for (size_t k = 0; k < h.size(); ++k) {
      if (h[k] == '\r' && (k + 1 == h.size() || h[k + 1] != '\n')) {
        return Status::InvalidArgument(
            csv.name() + ":" + std::to_string(csv.line_number()) + ":" +
            std::to_string(column + k) + ": header field " + std::to_string(i + 1) +
            " contains a carriage return (CR) not followed by LF: CR-only (old Mac) line endings "
            "are not supported; convert them first, e.g. tr '\\r' '\\n'");
      }
    }
    column += h.size() + 1;
  }
  return Status::OK();
}

// A ragged row or an unparsable value caused by CR-only line endings after an LF-terminated
// header gets the same hint.
Status WithLineEndingHint(const CsvReader& csv, Status st) {
  bool bare_cr = false;
  for (size_t i = 0; i < csv.field_count() && !bare_cr; ++i) {
    bare_cr = csv.field(i).find('\r') != std::string_view::npos;
  }
  if (!bare_cr || st.ok()) return st;
  return Status::InvalidArgument(st.message() +
                                 " (the row contains a carriage return not followed by LF: "
                                 "CR-only line endings are not supported)");
}

}  // namespace

Result<IngestStats> RunIngest(const IngestOptions& options, std::ostream& out) {
  IngestStats stats;
  const uint64_t start_us = NowUs();
  if (options.batch_rows == 0) return Status::InvalidArgument("--batch-rows must be >= 1");
  COWTREE_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(options.input));
  COWTREE_RETURN_IF_ERROR(CheckHeaderLineEndings(*csv));
  COWTREE_ASSIGN_OR_RETURN(size_t group_col, csv->ColumnIndex(options.group_column));
  COWTREE_ASSIGN_OR_RETURN(size_t value_col, csv->ColumnIndex(options.value_column));
  size_t weight_col = SIZE_MAX;
  if (!options.weight_column.empty()) {
    COWTREE_ASSIGN_OR_RETURN(weight_col, csv->ColumnIndex(options.weight_column));
  }

  RuntimeOptions ro = options.runtime;
  ro.durability = options.durability;
  COWTREE_ASSIGN_OR_RETURN(auto runtime, recovery::Open(options.db, ro));

  std::unordered_map<std::string, Group, StringHash, std::equal_to<>> groups;
  {
    Snapshot snap = runtime->GetSnapshot();
    for (const TreeInfo& t : runtime->ListTrees(snap)) {
      tree::OsTreeHost* host = tree::AsOsTree(t.tree.get());
      if (host == nullptr) continue;
      groups[t.name] = Group{t.id, host->key_type(), nullptr, 0};
    }
  }

  const bool progress = options.progress && isatty(STDERR_FILENO);
  WriteBatch batch(runtime.get());
  uint64_t batch_serial = 1;
  uint64_t rows_in_batch = 0;
  auto commit = [&]() -> Status {
    if (rows_in_batch == 0) return Status::OK();
    uint64_t epoch = 0;
    COWTREE_RETURN_IF_ERROR(runtime->Commit(batch, &epoch));
    stats.rows += rows_in_batch;
    ++stats.commits;
    rows_in_batch = 0;
    batch.Clear();
    ++batch_serial;
    if (options.log_commits) out << "committed " << epoch << ' ' << stats.rows << std::endl;
    if (progress) {
      std::fprintf(stderr, "\ringested %llu rows, %llu commits",
                   static_cast<unsigned long long>(stats.rows),
                   static_cast<unsigned long long>(stats.commits));
    }
    return Status::OK();
  };

  const uint64_t ingest_start_us = NowUs();
  while (true) {
    Result<bool> more = csv->Next();
    if (!more.ok()) return WithLineEndingHint(*csv, more.status());
    if (!*more) break;
    std::string_view group_name = csv->field(group_col);
    if (group_name.empty()) {
      return Status::InvalidArgument(csv->name() + ":" + std::to_string(csv->line_number()) +
                                     ": column '" + options.group_column + "' (field " +
                                     std::to_string(group_col + 1) +
                                     "): expected a group name, found an empty field");
    }
    int64_t weight = 1;
    if (weight_col != SIZE_MAX) {
      COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv, csv->FieldInt64(weight_col, &weight)));
    }
    auto it = groups.find(group_name);
    if (it == groups.end()) {
      tree::KeyType kt = tree::KeyType::kInt64;
      if (options.value_type == ValueType::kDouble) {
        kt = tree::KeyType::kDouble;
      } else if (options.value_type == ValueType::kAuto) {
        int64_t probe = 0;
        const std::string_view value = csv->field(value_col);
        if (!ParseInt64Field(value, &probe).ok()) {
          // An integer outside int64 would make the group a double tree and round the value
          // (and every later large integer) silently: an error instead. --value-type double
          // is the explicit way to accept that rounding.
          if (IsIntegerSyntax(value)) {
            return Status::InvalidArgument(
                csv->FieldInt64(value_col, &probe).message() +
                " (with --value-type auto the group would become a double tree and the value be "
                "rounded; pass --value-type double to accept rounding)");
          }
          kt = tree::KeyType::kDouble;
        }
      }
      const std::string name(group_name);
      const TreeId id = batch.CreateTree(name, tree::kOsTreeTypeId, tree::OsTreeParams(kt));
      it = groups.emplace(name, Group{id, kt, nullptr, 0}).first;
      ++stats.trees_created;
    }
    Group& g = it->second;
    uint64_t key = 0;
    if (g.key_type == tree::KeyType::kInt64) {
      int64_t v = 0;
      COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv, csv->FieldInt64(value_col, &v)));
      key = tree::EncodeInt64Key(v);
    } else {
      double v = 0;
      COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv, csv->FieldDouble(value_col, &v)));
      key = tree::EncodeDoubleKey(v);
    }
    if (g.batch_serial != batch_serial) {
      g.ops = batch.MutableOps(g.id);
      g.batch_serial = batch_serial;
    }
    tree::AppendOsOp(g.ops, key, weight);
    if (++rows_in_batch >= options.batch_rows) COWTREE_RETURN_IF_ERROR(commit());
  }
  COWTREE_RETURN_IF_ERROR(commit());
  stats.ingest_us = NowUs() - ingest_start_us;
  if (progress) std::fprintf(stderr, "\n");
  const uint64_t close_start_us = NowUs();
  COWTREE_RETURN_IF_ERROR(runtime->Close());
  stats.close_us = NowUs() - close_start_us;
  stats.elapsed_us = NowUs() - start_us;
  return stats;
}

}  // namespace cowtree::tools
