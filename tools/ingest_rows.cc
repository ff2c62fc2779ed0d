#include <algorithm>
#include <cmath>

#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "tools/ingester.h"
#include "tree/key_codec.h"

namespace cowtree::tools::ingest_internal {
namespace {

// True for [+-]?[0-9]+: text that ParseInt64Field rejects only when it is out of range.
bool IsIntegerSyntax(std::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// A ragged row or an unparsable value caused by CR-only line endings after an LF-terminated
// header gets the same hint.
Status WithLineEndingHint(const CsvReader& csv, Status st) {
  if (st.ok()) return st;  // the hot path: no scan of the row
  bool bare_cr = false;
  for (size_t i = 0; i < csv.field_count() && !bare_cr; ++i) {
    bare_cr = csv.field(i).find('\r') != std::string_view::npos;
  }
  if (!bare_cr) return st;
  return Status::InvalidArgument(st.message() +
                                 " (the row contains a carriage return not followed by LF: "
                                 "CR-only line endings are not supported)");
}

Result<std::optional<Group>> Ingester::StoredGroup(const std::string& name) {
  Result<TreeHandle<int64_t>> as_int64 = store_->Tree<int64_t>(name);
  Group g;
  if (as_int64.ok()) {
    g.key_type = KeyType::kInt64;
    g.int64_tree = std::move(as_int64).value();
    return std::optional<Group>(std::move(g));
  }
  if (as_int64.status().IsNotFound()) return std::optional<Group>();
  if (as_int64.status().IsInvalidArgument()) {  // another key type
    Result<TreeHandle<double>> as_double = store_->Tree<double>(name);
    if (as_double.ok()) {
      g.key_type = KeyType::kDouble;
      g.double_tree = std::move(as_double).value();
      return std::optional<Group>(std::move(g));
    }
  }
  return as_int64.status().WithContext("group tree '" + name + "'");
}

Result<Group*> Ingester::GroupOf(std::string_view name, bool quoted) {
  // A reserved name would find an internal tree below (the NULL group's, say): refused first.
  if (!name.empty() && name[0] == kReservedTreePrefix[0] && IsInternalTreeName(name)) {
    return Status::InvalidArgument(
        csv_->name() + ":" + std::to_string(csv_->line_number()) + ": column '" +
        options_.group_column + "' (field " + std::to_string(group_col_ + 1) +
        "): group names starting with '" + std::string(kReservedTreePrefix) +
        "' are reserved for cowtree's internal trees");
  }
  const std::string_view tree = GroupTreeOfField(name, quoted);
  auto it = groups_.find(tree);
  if (it != groups_.end()) return &it->second;
  if (name.size() > kTreeNameBytesMax) {
    return Status::InvalidArgument(
        csv_->name() + ":" + std::to_string(csv_->line_number()) + ": column '" +
        options_.group_column + "' (field " + std::to_string(group_col_ + 1) +
        "): a group name of " + std::to_string(name.size()) + " bytes; group names are tree " +
        "names of at most " + std::to_string(kTreeNameBytesMax) + " bytes");
  }
  const std::string tree_name(tree);
  COWTREE_ASSIGN_OR_RETURN(std::optional<Group> stored, StoredGroup(tree_name));
  if (stored.has_value()) return &groups_.emplace(tree_name, std::move(*stored)).first->second;
  KeyType kt = KeyType::kInt64;
  if (options_.value_type == ValueType::kDouble) {
    kt = KeyType::kDouble;
  } else if (options_.value_type == ValueType::kAuto) {
    int64_t probe = 0;
    const std::string_view value = csv_->field(value_col_);
    // A NULL (empty) first value leaves the default, int64 (docs/sql_semantics.md).
    if (!value.empty() && !ParseInt64Field(value, &probe).ok()) {
      // An integer outside int64 would make the group a double tree and round the value (and
      // every later large integer) silently: an error instead. --value-type double is the
      // explicit way to accept that rounding.
      if (IsIntegerSyntax(value)) {
        return Status::InvalidArgument(
            csv_->FieldInt64(value_col_, &probe).message() +
            " (with --value-type auto the group would become a double tree and the value be "
            "rounded; pass --value-type double to accept rounding)");
      }
      kt = KeyType::kDouble;
    }
  }
  // An unquoted empty group field is SQL's NULL group (one group, as GROUP BY makes it); a
  // quoted one the empty string (api/sql_groups.h).
  Group g;
  g.key_type = kt;
  if (kt == KeyType::kInt64) {
    g.int64_tree = batch_->CreateTree<int64_t>(tree_name);
  } else {
    g.double_tree = batch_->CreateTree<double>(tree_name);
  }
  ++stats_.trees_created;
  batch_create_bytes_ += tree_name.size() + kCreateRecordBytes;
  return &groups_.emplace(tree_name, std::move(g)).first->second;
}

Status Ingester::AddRow() {
  if (stats_.marker) {
    // The batch's rows as --resume must find them again (key + 6): group, value, weight.
    for (const size_t col : {group_col_, value_col_, weight_col_}) {
      if (col == SIZE_MAX) continue;
      batch_rows_hash_ = Fnv1a64(csv_->field(col), batch_rows_hash_);
      batch_rows_hash_ = Fnv1a64(csv_->field_quoted(col) ? "\x1f\"" : "\x1f", batch_rows_hash_);
    }
  }
  int64_t weight = 1;
  if (weight_col_ != SIZE_MAX) {
    COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv_, csv_->FieldInt64(weight_col_, &weight)));
  }
  COWTREE_ASSIGN_OR_RETURN(Group * g,
                           GroupOf(csv_->field(group_col_), csv_->field_quoted(group_col_)));
  if (deltas_ != nullptr && g->touched_batch != batch_serial_) {
    g->touched_batch = batch_serial_;
    touched_.push_back(g->key_type == KeyType::kInt64 ? g->int64_tree.name()
                                                      : g->double_tree.name());
  }
  const uint32_t group = BatchIndexOf(g);
  if (csv_->field(value_col_).empty()) {
    // NULL: no item (SQL aggregates skip NULLs), but the group exists (api/sql_groups.h).
    null_weights_[group] += weight;
    ++null_values_in_batch_;
  } else if (g->key_type == KeyType::kInt64) {
    int64_t v = 0;
    COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv_, csv_->FieldInt64(value_col_, &v)));
    if (weight != 0) sort_buffer_.Add(group, tree::EncodeInt64Key(v), weight);
  } else {
    double v = 0;
    COWTREE_RETURN_IF_ERROR(WithLineEndingHint(*csv_, csv_->FieldDouble(value_col_, &v)));
    // The code of -0.0 is that of +0.0, as the tree stores it (tree/key_codec.h).
    if (weight != 0) sort_buffer_.Add(group, tree::EncodeDoubleKey(v), weight);
    if (v == 0.0) g->zero_batch = batch_serial_;
    if (v == 0.0 && weight != 0) {
      pending_counts_.push_back(
          {std::signbit(v) ? PendingCount::Kind::kNegativeZero : PendingCount::Kind::kPositiveZero,
           group, weight});
    }
  }
  if (rows_in_batch_++ == 0 && options_.batch_ms > 0) batch_start_us_ = NowUs();
  return Status::OK();
}

uint32_t Ingester::BatchIndexOf(Group* g) {
  if (g->in_batch != batch_serial_) {
    g->in_batch = batch_serial_;
    g->batch_index = static_cast<uint32_t>(batch_groups_.size());
    batch_groups_.push_back(g);
    null_weights_.push_back(0);
  }
  COWTREE_ASSERT(g->batch_index < batch_groups_.size() && batch_groups_[g->batch_index] == g);
  return g->batch_index;
}

bool Ingester::BatchFull() const {
  if (resume_batch_end_ != 0) {
    return stats_.rows_skipped + stats_.rows + rows_in_batch_ >= resume_batch_end_;
  }
  // All of a batch's tree creations go in its first commit: bounded here, whatever the ops.
  if (batch_create_bytes_ >= kBatchCreateBytesMax) return true;
  if (batch_spills_) {
    // The buffer spills when full (BufferFull): only the zero rows, held for the whole batch in
    // row order, end a spilled batch early (also one of --batch-rows), at half of its memory.
    if (CountBytes() + sizeof(PendingCount) > batch_bytes_ / 2) return true;
    return batch_rows_ != 0 && rows_in_batch_ >= batch_rows_;
  }
  if (batch_rows_ != 0) return rows_in_batch_ >= batch_rows_;
  return BufferFull();
}

// The zero rows' array, counted at twice its length (it may double at its next push).
uint64_t Ingester::CountBytes() const {
  return std::max(pending_counts_.capacity(), 2 * pending_counts_.size()) * sizeof(PendingCount);
}

bool Ingester::BufferFull() const {
  // Full when the next row's ops (at most one full op and one zero row's count) might not fit
  // in what stays resident (touched pages: SortBuffer::touched_bytes, the counts' array), and
  // at the row limit of a marker entry.
  const uint64_t next_row_bytes =
      SortBuffer::kOpBytes + SortBuffer::kWeightBytes + sizeof(PendingCount);
  if (!batch_spills_) {
    return sort_buffer_.touched_bytes() + CountBytes() + next_row_bytes > batch_bytes_ ||
           rows_in_batch_ >= SortBuffer::kOpsMax;
  }
  // A batch that spills leaves a quarter for the final merge's read buffers (RunSpill::fan_in),
  // and the ops keep at least a quarter whatever the zero rows take (an unfinished batch being
  // resumed cannot end early): a run is never a handful of ops (found by an adversarial run:
  // one run per row once the zero rows filled the rest).
  const uint64_t limit = batch_bytes_ / 4 * 3;
  const uint64_t counts = CountBytes();
  const uint64_t room = std::max(limit > counts ? limit - counts : 0, batch_bytes_ / 4);
  return sort_buffer_.touched_bytes() + next_row_bytes > room ||
         sort_buffer_.size() >= SortBuffer::kOpsMax;
}

Result<int> Ingester::OnWaitForInput() {
  // The unfinished batch a resume completes ends where the earlier run's did, not by time.
  if (rows_in_batch_ == 0 || options_.batch_ms == 0 || resume_batch_end_ != 0) return -1;
  const uint64_t deadline_us = batch_start_us_ + options_.batch_ms * 1000;
  const uint64_t now_us = NowUs();
  if (now_us >= deadline_us) {
    COWTREE_RETURN_IF_ERROR(CommitBatch());
    return -1;  // nothing pending now: block until input arrives
  }
  return static_cast<int>((deadline_us - now_us + 999) / 1000);
}

Status Ingester::IngestRows() {
  progress_ = options_.progress && isatty(STDERR_FILENO);
  while (true) {
    Result<bool> more = csv_->Next();
    // A commit from the wait hook failed inside Next(): report it as the commit error it is.
    if (!more.ok()) return WithLineEndingHint(*csv_, more.status());
    if (!*more) break;
    COWTREE_RETURN_IF_ERROR(AddRow());
    if (BatchFull()) {
      COWTREE_RETURN_IF_ERROR(CommitBatch());
    } else if (batch_spills_ && BufferFull()) {
      COWTREE_RETURN_IF_ERROR(SpillBuffer());
    }
  }
  if (resume_batch_end_ != 0) {
    const uint64_t rows = stats_.rows_skipped + rows_in_batch_;
    return Status::InvalidArgument(csv_->name() + ": --resume: an earlier run stopped inside " +
                                   "the batch that ends at data row " +
                                   std::to_string(resume_batch_end_) + ", but the input has " +
                                   "only " + std::to_string(rows) +
                                   " data rows (not the same input? nothing was changed)");
  }
  COWTREE_RETURN_IF_ERROR(CommitBatch());
  if (progress_) std::fprintf(stderr, "\n");
  return Status::OK();
}

}  // namespace cowtree::tools::ingest_internal
