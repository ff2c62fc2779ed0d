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

}  // namespace

Result<IngestStats> RunIngest(const IngestOptions& options, std::ostream& out) {
  IngestStats stats;
  const uint64_t start_us = NowUs();
  if (options.batch_rows == 0) return Status::InvalidArgument("--batch-rows must be >= 1");
  COWTREE_ASSIGN_OR_RETURN(auto csv, CsvReader::Open(options.input));
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
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::string_view group_name = csv->field(group_col);
    if (group_name.empty()) {
      return Status::InvalidArgument(csv->name() + ":" + std::to_string(csv->line_number()) +
                                     ": column '" + options.group_column + "' (field " +
                                     std::to_string(group_col + 1) +
                                     "): expected a group name, found an empty field");
    }
    int64_t weight = 1;
    if (weight_col != SIZE_MAX) COWTREE_RETURN_IF_ERROR(csv->FieldInt64(weight_col, &weight));
    auto it = groups.find(group_name);
    if (it == groups.end()) {
      tree::KeyType kt = tree::KeyType::kInt64;
      if (options.value_type == ValueType::kDouble) {
        kt = tree::KeyType::kDouble;
      } else if (options.value_type == ValueType::kAuto) {
        int64_t probe = 0;
        if (!ParseInt64Field(csv->field(value_col), &probe).ok()) kt = tree::KeyType::kDouble;
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
      COWTREE_RETURN_IF_ERROR(csv->FieldInt64(value_col, &v));
      key = tree::EncodeInt64Key(v);
    } else {
      double v = 0;
      COWTREE_RETURN_IF_ERROR(csv->FieldDouble(value_col, &v));
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
