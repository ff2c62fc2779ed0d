// `cowtree ingest`: loads CSV rows (group, value[, weight]) into one order-statistics tree per
// distinct group value, all in one runtime, a batch of rows at a time.
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
//
// Batches and commits (docs/ingest_batches.md). A batch ends every batch_rows rows (or, with
// batch_rows 0, when its ops fill its memory: below); when the input is not a regular file (a
// pipe, a terminal: rows may arrive slowly), also at least every batch_ms ms while rows are
// pending, including while waiting for more input (0 = only by size). A regular file is read as
// fast as the disk allows and the batch's size alone decides.
// - A batch's ops (one per row with a value: add the row's weight to the value in its group's
//   tree) are sorted into key order (api/sort_buffer.h: group, value, kind,
//   arrival) and
//   committed in that order, at most commit_ops ops per commit: a batch of B ops is
//   max(1, ceil(B / commit_ops)) commits; the per-group NULL and -0 counts go in the last.
//   Under a memory budget much smaller than the trees, this visits each touched leaf once per
//   batch instead of once per row.
// - batch_rows = 0 (the default) sizes the batch by memory: half of store.cache_bytes holds
//   the batch's ops (what its arrays keep resident: SortBuffer::touched_bytes) and the store
//   gets the other half; unlimited cache: 64 MiB. A batch ends when its ops fill that half: 8 B per
//   op of the batch's first group with weight 1, 16 B per other op, 24 once a weight is not
//   1 (api/sort_buffer.h), so a batch of one group without weights holds twice the
//   rows. An explicit batch_rows holds up to 24 B x batch_rows outside the budget; a
//   commit_ops larger than a budget's batch does not enlarge it (each batch is then one
//   commit); without a budget a batch holds at least commit_ops ops.
// - A batch also ends once the trees it creates (one per new group, all in the batch's first
//   commit) take kBatchCreateBytesMax of that commit's record (name + kCreateRecordBytes
//   each), spilled or not: a file of ~2 M new groups made one first commit past the log's
//   64 MiB record limit, and nothing was committed (adversarial round 17).
// - Atomicity: a batch of at most commit_ops ops is one commit, so a crash leaves a prefix
//   of the batches. A larger batch is several commits: a crash between them leaves the store
//   with part of the batch (its first ops in key order, not a prefix of the rows). The
//   resume marker records exactly which part (below), and resume completes it; --log-commits
//   lines and --emit-deltas advance per batch, once all its commits are acknowledged.
//
// Resume marker (why: a failed or killed ingest must be re-runnable without duplicating rows).
// Every commit also records, in the same WriteBatch and therefore atomically with the rows, how
// many data rows of this input are committed: after any crash or error the marker and the rows
// agree exactly, in every durability mode. `resume` reads it and skips that many data rows.
// - Where: the int64 tree kIngestMarkerTree ("__cowtree_ingest__"), key = 64-bit FNV-1a hash
//   of the input identity, weight = number of data rows of that input committed by the last
//   run over it (a run that starts from row 1 resets it). One tree for every input, so markers
//   cost one entry each. Tree names starting with kReservedTreePrefix ("__cowtree_") are
//   internal: ingest refuses them as group names, query and stat do not show them; fsck and
//   dump do (they show the store as it is).
// - Input identity: input_id if given ("id:" + input_id); otherwise, for a regular file,
//   "file:" + its absolute path, with a content check: two more entries, key + 4 = how many
//   bytes of the file's start the check covers (those of the rows read when the commit was
//   made, all of them committed, at most 64 KiB; a zstd input: its first min(64 KiB, size)
//   bytes) and key + 5 = minus their hash (FNV-1a, shifted right by one, lowest bit set: never
//   0, and negative so that it does not count in the tree's N). A run over a file whose first
//   key + 4 bytes hash to key + 5 is the same input: a file that only grew (appended rows,
//   whatever its size), or whose rows after the committed ones changed (the bad row an error
//   named, fixed), resumes after the committed rows. Any other file under that path (or the
//   same one cut shorter) is a different input: --resume starts it at row 1 and its first
//   commit replaces the path's entries. The path tells apart identical files ingested on
//   purpose. Size and mtime are not used: appending changes both. Stores written before
//   December 2026 keyed a file's entries by "file:" + path + ":" + the hash of its first 64
//   KiB, without key + 4 and + 5 (so a file under 64 KiB that grew lost its marker and was
//   ingested again from row 1): when the path has no entry, such an entry is used as it is,
//   and that run keeps updating it. stdin and other non-regular inputs have no identity
//   without input_id (they cannot be read twice), so no marker is written and resume is
//   refused.
// - resume with no marker for this input starts at row 1 (safe to always pass).
// - Spilled batches (spill_dir set): a batch may be larger than its memory. Its ops are
//   committed in (group, value) order where groups come in the order of their first row in
//   the batch (not by name), the ops of one group and value are summed into one, each commit
//   holds at least commit_ops of the batch's ops (counted before summing) and ends where the
//   value changes, and key + 2 counts ops before summing. Key + 3 is then
//   kSpillOrderVersion, and --resume of such a batch needs --spill-dir again (InvalidArgument,
//   nothing changed, without it). A batch that spilled nothing is committed the same way.
// - A batch of several commits: each commit but the last also sets four more entries of the
//   same tree, key + 1 = the input position where the unfinished batch ends, key + 2 = how
//   many of its ops (in the sorted order above) are committed and key + 3 = that order's
//   version (SortBuffer::kSortOrderVersion), key + 6 below; the batch's last commit moves the
//   marker to the batch's end and sets the four back to 0 (no entry). resume then skips the
//   marker's rows, reads the batch's rows again up to that position, sorts them into the same order
//   and commits only the ops after those already committed (key + 6, minus a hash of the unfinished
//   batch's rows, refuses rows that changed since: InvalidArgument, nothing changed); an unfinished
//   batch of another order (an older build's: key + 3 reads 0) is refused (InvalidArgument, nothing
//   changed). (Keys
//   + 1 to + 3 of one input could equal another input's key only by a 64-bit hash collision.)
//
// Outcome (RunIngestReport): every error reports exactly what was committed — stats.rows rows
// of this run (after stats.rows_skipped rows skipped by resume) up to epoch stats.last_epoch.
// The log is synced before the store is closed, so a closing checkpoint (or close) that fails
// leaves every committed row durable: that is IngestEnd::kCloseFailed, its own exit code.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "api/sql_groups.h"
#include "cowtree/options.h"
#include "cowtree/status.h"
#include "tools/delta_writer.h"

namespace cowtree::tools {

enum class ValueType : uint8_t { kAuto, kInt64, kDouble };

// The bytes of tree creations that end a batch (above), and what one creation costs in the
// commit record besides its name (an upper bound: docs/commit_record.md).
inline constexpr uint64_t kBatchCreateBytesMax = 128ull << 10;
inline constexpr uint64_t kCreateRecordBytes = 64;

// The leaf shape of the stores `cowtree` writes leaves into (ingest, demo, bench, backup):
// leaves split by encoded bytes at one 4 KiB slot of the data files (a 4064-byte body plus the
// 32-byte object envelope; the entry capacity, the most there is, never decides first for
// int64 keys wider apart than one). The command's writes are sorted batches
// (docs/ingest_batches.md), so a touched leaf takes many keys at once and larger leaves cost
// less per entry: 30 M random int64 rows under --cache-mib 64 take 0.63x the time and 0.84x
// the bytes of the library's default shape (240 entries, no byte limit; docs/node_format.md
// "Leaves split by bytes"). Stores written by the library keep whatever shape they are opened
// with: a shape is a write rule, and any leaf of up to 4096 entries is read.
inline constexpr uint32_t kCliLeafCapacityEntries = 4096;
inline constexpr uint32_t kCliLeafCapacityBytes = 4064;
// `o` with the shape above.
inline Options WithCliLeafShape(Options o) {
  o.leaf_capacity_entries = kCliLeafCapacityEntries;
  o.leaf_capacity_bytes = kCliLeafCapacityBytes;
  return o;
}

struct IngestOptions {
  std::string db;
  std::string input = "-";
  std::string group_column;
  std::string value_column;
  std::string weight_column;  // empty: every row has weight 1
  uint64_t batch_rows = 0;    // rows per batch; 0 = sized by the memory budget (above)
  uint64_t commit_ops = 10000;  // most ops per commit of a batch (>= 1)
  uint64_t batch_ms = 1000;  // non-regular inputs: commit pending rows at least this often
  Durability durability = Durability::kBalanced;
  ValueType value_type = ValueType::kAuto;
  // Print "committed EPOCH ROWS_TOTAL" after each batch, once its last commit is acknowledged
  // (durable only as far as `durability` promises; see --help). ROWS_TOTAL counts this run's
  // rows (without skipped).
  bool log_commits = false;
  bool progress = false;  // progress line on stderr
  bool resume = false;    // skip the data rows an earlier run committed (marker above)
  std::string input_id;   // the input's identity for the marker (needed for stdin)
  // --spill-dir (docs/ingest_batches.md "Spilled batches"): "" = batches are committed when
  // their memory is full. Else a batch whose memory is full is sorted and written to this
  // directory as a run (api/run_spill.h), and the batch ends only at the end of the input,
  // after batch_rows rows, or by batch_ms (pipes); its runs are then merged with what is in
  // memory and committed in one pass.
  std::string spill_dir;
  // env, shape, ... (public API; durability is taken from above). Default: the library's
  // defaults with the CLI's leaf shape (WithCliLeafShape).
  Options store = WithCliLeafShape(Options());
  // --emit-deltas FILE|-: the output deltas of every commit (tools/delta_writer.h); "" = none.
  std::string emit_deltas;
  DeltaSpec deltas;  // the percentile outputs of the deltas
  // Test seam: the batch's memory in bytes instead of the one sized above (0: as above), so that
  // a small input spills (spill_dir) or ends batches by memory many times.
  uint64_t batch_bytes_for_test = 0;
  // Test seam: called after the last commit and the log sync, before the store is closed.
  std::function<void()> before_close_for_test;
};

// The order version the resume marker records (key + 3) beside an unfinished spilled batch:
// groups by first row, ops of one value summed (above). SortBuffer::kSortOrderVersion is the
// other batches'.
inline constexpr int64_t kSpillOrderVersion = 1002;
struct IngestStats {
  uint64_t rows = 0;  // rows committed by this run
  uint64_t commits = 0;
  uint64_t trees_created = 0;
  // Times the group table (a handle per group seen) was emptied at a batch's end, past
  // Ingester's groups-cached limit (a budget's share; tools/ingester.h).
  uint64_t group_table_clears = 0;
  uint64_t rows_skipped = 0;  // resume: data rows skipped (committed by an earlier run)
  uint64_t null_values = 0;   // committed rows whose value was NULL (empty): no item added
  uint64_t delta_lines = 0;   // --emit-deltas lines written
  // --emit-deltas: time of each commit's refresh (old rows, commit, new rows, lines written).
  std::vector<uint64_t> refresh_us;
  uint64_t last_epoch = 0;  // epoch of this run's last commit (0: none)
  uint64_t batch_bytes = 0;  // the most bytes of ops per batch this run used (see BatchFull)
  uint64_t spilled_runs = 0;  // --spill-dir: runs written (before merges of runs)
  // The most bytes a batch's arrays kept resident (pages touched since they were reserved),
  // at a batch's end: at most batch_bytes when batches are sized by memory.
  uint64_t batch_resident_bytes_max = 0;
  // A stop in the middle of a batch of several commits: that batch's ops committed so far
  // (in key order) and the input position where the batch ends (0: no unfinished batch).
  uint64_t unfinished_batch_ops = 0;
  uint64_t unfinished_batch_end_row = 0;
  bool marker = false;      // commits carried the resume marker
  std::string identity;     // the input identity (empty: none)
  uint64_t elapsed_us = 0;  // open + ingest + close
  uint64_t ingest_us = 0;   // reading, applying and committing rows
  uint64_t close_us = 0;    // final checkpoint + close
};

enum class IngestEnd : uint8_t {
  kOk,
  // Stopped by an error (bad input, I/O, a failed commit): rows after stats.rows are not
  // committed — except, if batch_in_doubt, the failing commit's own batch, which a failed log
  // write or fdatasync may or may not have made durable (resume settles it either way).
  kError,
  // Every row was committed and the log synced, then the closing checkpoint or close failed.
  kCloseFailed,
  // Writing a --log-commits line to `out` failed (e.g. EPIPE: the reader went away): the
  // ingest stopped after that commit; the store was closed normally.
  kOutputFailed,
};

struct IngestOutcome {
  IngestEnd end = IngestEnd::kOk;
  Status status;  // OK iff end == kOk
  bool batch_in_doubt = false;
  bool sync_failed = false;  // kError from the final log sync: the last interval may be lost
  uint64_t batch_rows_in_doubt = 0;  // the failing commit was a whole batch of these rows
  uint64_t ops_in_doubt = 0;         // ... or one commit of a batch of several, of these sorted ops
  IngestStats stats;
};

// `out` receives the --log-commits lines (flushed after each).
IngestOutcome RunIngestReport(const IngestOptions& options, std::ostream& out);
// RunIngestReport for callers that only need success or the error (demo, bench).
Result<IngestStats> RunIngest(const IngestOptions& options, std::ostream& out);

// The CLI's exit code and one-line stderr message for an outcome (exit codes: README, cli.h):
// 0 ok, 1 error, 3 committed but closing failed, 4 stdout write failed.
inline constexpr int kIngestExitCloseFailed = 3;
inline constexpr int kIngestExitOutputFailed = 4;
int IngestExitCode(const IngestOutcome& outcome);
std::string DescribeIngestOutcome(const IngestOptions& options, const IngestOutcome& outcome);

}  // namespace cowtree::tools
