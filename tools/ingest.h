// `cowtree ingest`: loads CSV rows (group, value[, weight]) into one order-statistics tree per
// distinct group value, all in one runtime; each batch of batch_rows rows is one commit.
//
// Value type: a new group's tree takes its key type from --value-type (int64 | double | auto;
// auto = int64 if the group's first value is an integer, else double). Values of an int64 tree
// must be integers; values of a double tree may be any finite number (rounded to the nearest
// double, as PostgreSQL's float8). With auto, a first value that is an integer outside int64
// is an error (it would silently make a double tree and round): --value-type double accepts it.
// Errors: the first bad row (missing column, non-numeric value, ragged row) stops the ingest
// with a one-line InvalidArgument naming file, line and column; the batch it was in is not
// committed; every batch committed before it stays committed and unchanged.
// Line endings: LF or CRLF (tools/csv_reader.h). CR-only ("old Mac") files are rejected: a
// header containing a CR not followed by LF is "FILE:LINE:COLUMN: header field K contains a
// carriage return ..."; a data row whose bad field holds a bare CR gets the same hint.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "persistence/runtime_options.h"
#include "persistence/status.h"

namespace cowtree::tools {

enum class ValueType : uint8_t { kAuto, kInt64, kDouble };

struct IngestOptions {
  std::string db;
  std::string input = "-";
  std::string group_column;
  std::string value_column;
  std::string weight_column;  // empty: every row has weight 1
  uint64_t batch_rows = 10000;
  Durability durability = Durability::kBalanced;
  ValueType value_type = ValueType::kAuto;
  // Print "committed EPOCH ROWS_TOTAL" after each acknowledged commit (durable only as far as
  // `durability` promises; see --help).
  bool log_commits = false;
  bool progress = false;   // progress line on stderr
  RuntimeOptions runtime;  // env, shape, ... (durability is taken from above)
};

struct IngestStats {
  uint64_t rows = 0;
  uint64_t commits = 0;
  uint64_t trees_created = 0;
  uint64_t elapsed_us = 0;  // open + ingest + close
  uint64_t ingest_us = 0;   // reading, applying and committing rows
  uint64_t close_us = 0;    // final checkpoint + close
};

// `out` receives the --log-commits lines (flushed after each).
Result<IngestStats> RunIngest(const IngestOptions& options, std::ostream& out);

}  // namespace cowtree::tools
