// `cowtree ingest --emit-deltas`: the output deltas of the grouped percentile operator, as CSV.
//
// Model (DBSP / Z-sets): the output is a table with one row per group (group, n, P1, ...), as
// `cowtree query --format csv` prints it. Each commit of an ingest changes some groups; for
// each group whose row changed the writer emits its old row with weight -1 (if it had one) and
// its new row with weight +1 (if it has one), in GroupOrder, -1 before +1. A group whose row
// did not change emits nothing. Work per commit is O(changed groups x log n): the new rows are
// read from the store, the old ones kept in memory (one row per group).
//
// File format: header `group,weight,n,P1,...`, then `GROUP,WEIGHT,N,V1,...` lines; GROUP, N
// and the values are formatted exactly as query's CSV (NULL group and NULL values: empty
// fields). Invariant: summing the weights of identical (group, n, values) lines leaves, for
// each group that has a row in `cowtree query`, exactly that row with weight +1, and nothing
// else. The writer keeps it at every point where a commit was acknowledged:
// - a run without --resume starts the file afresh: the header, then the store's current table
//   as +1 lines (nothing for an empty store);
// - a run with --resume appends: it drops a torn last line (a crash in the middle of a write),
//   sums the file, and appends the difference between the store's table and that sum (deltas
//   of commits that were acknowledged but not yet written, or written but lost by the store
//   in a power failure). Cost O(file + groups), once per resumed run.
// stdout (`-`) cannot be read back: with --resume it is refused.
// Durability: lines are written (and, with --durability strict, fdatasync'd) after each
// acknowledged commit; the --resume reconciliation covers any crash in between.
// Thread-safety: one thread.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cowtree/cowtree.h"
#include "tools/query.h"

namespace cowtree::tools {

struct DeltaSpec {
  std::vector<PercentileSpec> percentiles;
  bool disc = false;
  bool descending = false;
};

class DeltaWriter {
 public:
  // Opens `path` ("-" = stdout) and writes the table of `current` as described above.
  // InvalidArgument: resume with stdout; IOError: the file; Corruption: a --resume file whose
  // header does not match the spec (names the file).
  static Result<std::unique_ptr<DeltaWriter>> Open(const std::string& path, const DeltaSpec& spec,
                                                   bool resume, bool sync_each_commit,
                                                   const Snapshot& current);
  ~DeltaWriter();
  DeltaWriter(const DeltaWriter&) = delete;
  DeltaWriter& operator=(const DeltaWriter&) = delete;

  // After a commit was acknowledged: writes the rows that changed among the groups (tree
  // names) it touched, computed on `after` and compared with the rows written so far.
  Status AfterCommit(const Snapshot& after, const std::vector<std::string>& tree_names);

  uint64_t lines_written() const { return lines_written_; }
  const std::string& path() const { return path_; }

 private:
  DeltaWriter(std::string path, DeltaSpec spec, bool sync_each_commit);
  Status WriteHeader();
  Status WriteRow(const QueryRow& row, int64_t weight);
  Status Flush();
  Status Reconcile(const Snapshot& current);
  Status TruncateTornTail();
  Result<std::map<std::string, int64_t>> SumFile();

  std::string path_;
  DeltaSpec spec_;
  bool sync_each_commit_ = false;
  std::FILE* file_ = nullptr;  // stdout or owned
  bool owned_ = false;
  // Tree name -> its row as the file's lines sum to now (absent: no row). The writer is the
  // store's only writer (ingest holds the directory lock), so this is the store's table too:
  // a commit's old rows are read here, not from the store. Memory: one row per group.
  std::unordered_map<std::string, QueryRow> rows_;
  uint64_t lines_written_ = 0;
};

// The line of `row` without its weight ("GROUP,N,V1,..."): the key under which delta lines of
// one row are summed.
std::string RowKey(const QueryRow& row);

}  // namespace cowtree::tools
