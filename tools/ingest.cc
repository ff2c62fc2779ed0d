#include "tools/ingest.h"

#include <algorithm>
#include <cstdio>

#include "cowtree/cowtree.h"
#include "tools/ingester.h"
#include "tools/no_space_advice.h"

namespace cowtree::tools {
namespace ingest_internal {
Status Ingester::OpenStore() {
  Options o = options_.store;
  o.durability = options_.durability;
  const bool weighted = weight_col_ != SIZE_MAX;
  const uint64_t full_op_bytes = SortBuffer::kOpBytes + (weighted ? SortBuffer::kWeightBytes : 0);
  const bool spilling = !options_.spill_dir.empty();
  // A batch that spills has no row limit but --batch-rows; its memory is sized as below.
  batch_rows_ =
      spilling ? options_.batch_rows : std::min<uint64_t>(options_.batch_rows, SortBuffer::kOpsMax);
  if (batch_rows_ == 0 || spilling) {
    // Sized by memory (tools/ingest.h): half of the budget holds the batch's ops (BatchFull).
    constexpr uint64_t kUnlimitedBatchBytes = 64 << 20;
    // Under a budget a larger --commit-ops does not make the batch larger (then a batch is one
    // commit): it once did, and `--cache-mib 2 --commit-ops 100000000` held 284 MiB of ops
    // (found by an adversarial run). Without a budget, a batch holds at least one commit.
    if (o.cache_bytes > 0) {
      batch_bytes_ = o.cache_bytes / 2;
      o.cache_bytes -= batch_bytes_;
    } else {
      batch_bytes_ = std::max<uint64_t>(kUnlimitedBatchBytes, options_.commit_ops * full_op_bytes);
    }
  } else {
    batch_bytes_ = batch_rows_ * full_op_bytes;
  }
  if (options_.batch_bytes_for_test != 0) batch_bytes_ = options_.batch_bytes_for_test;
  stats_.batch_bytes = batch_bytes_;
  const Status reserved = sort_buffer_.Reserve(batch_bytes_, weighted);
  if (!reserved.ok()) {
    // A budget (or --batch-rows) larger than the machine can address: the user's input, so a
    // usage error (exit 2) that names the option first.
    return Status::InvalidArgument(
        (batch_rows_ == 0
             ? "--cache-mib " + std::to_string(options_.store.cache_bytes >> 20) + ": " +
                   reserved.message() + " (half of the memory budget holds a batch)"
             : "--batch-rows " + std::to_string(options_.batch_rows) + ": " + reserved.message() +
                   " (rows of up to 24 bytes each)") +
        "; pass a smaller value");
  }
  COWTREE_ASSIGN_OR_RETURN(store_, Store::Open(options_.db, o));
  if (spilling) {
    // After the store: its directory is locked, so naming it as the spill directory is Busy.
    // The merge's read buffers take a quarter of the batch's memory (BufferFull leaves it).
    COWTREE_ASSIGN_OR_RETURN(
        spill_, RunSpill::Create(o.env != nullptr ? o.env : Env::Default(), options_.spill_dir,
                                 batch_bytes_,
                                 /*budget=*/nullptr, "--spill-dir", options_.db));
    batch_spills_ = true;
  }
  batch_.emplace(store_->NewBatch());
  if (options_.store.cache_bytes != 0) {
    groups_cached_max_ = static_cast<size_t>(
        std::max<uint64_t>(kGroupsCachedMin, options_.store.cache_bytes / kCacheBytesPerGroup));
  }
  COWTREE_RETURN_IF_ERROR(LoadTrees());
  if (!options_.emit_deltas.empty()) {
    COWTREE_ASSIGN_OR_RETURN(
        deltas_,
        DeltaWriter::Open(options_.emit_deltas, options_.deltas, options_.resume,
                          options_.durability == Durability::kStrict, store_->GetSnapshot()));
    // The table (or, with --resume, the reconciliation) is written already: counted even if
    // no commit follows.
    stats_.delta_lines = deltas_->lines_written();
  }
  return Status::OK();
}

Result<std::optional<TreeHandle<int64_t>>> Ingester::ReservedTree(const std::string& name,
                                                                  const std::string& what) {
  Result<TreeHandle<int64_t>> handle = store_->Tree<int64_t>(name);
  if (handle.ok()) return std::optional<TreeHandle<int64_t>>(std::move(handle).value());
  if (handle.status().IsNotFound()) return std::optional<TreeHandle<int64_t>>();
  if (handle.status().IsInvalidArgument() || handle.status().IsNotSupported()) {
    // Not damage: another program made a tree of this name (the library does not reserve
    // names); this store's content is not one an ingest can use.
    return Status::InvalidArgument("tree '" + name + "' is reserved for " + what +
                                   ", but is not an int64 tree (made through the library? "
                                   "drop or rename it)");
  }
  return handle.status();
}

// The ingest's own trees, looked up by name. The store's group trees are looked up when a row
// first names them (GroupOf): listing every tree at open cost O(trees) of memory (~60 B each)
// before the first row.
Status Ingester::LoadTrees() {
  const Snapshot snap = store_->GetSnapshot();
  marker_key_ = static_cast<int64_t>(Fnv1a64(stats_.identity));
  const std::string marker_name(kIngestMarkerTree);
  COWTREE_ASSIGN_OR_RETURN(std::optional<TreeHandle<int64_t>> marker,
                           ReservedTree(marker_name, "ingest markers"));
  if (marker.has_value()) {
    marker_tree_ = std::move(*marker);
    if (stats_.marker) {
      COWTREE_ASSIGN_OR_RETURN(TreeReader<int64_t> reader, snap.Tree<int64_t>(marker_name));
      COWTREE_RETURN_IF_ERROR(ReadMarker(reader));
    }
  }
  for (CountTree* counts : {&null_counts_, &negative_zero_counts_}) {
    COWTREE_ASSIGN_OR_RETURN(std::optional<TreeHandle<int64_t>> handle,
                             ReservedTree(std::string(counts->name()), "per-group counts"));
    if (handle.has_value()) counts->Open(std::move(*handle));
  }
  return Status::OK();
}

IngestOutcome Ingester::Finish(IngestEnd end, Status status) {
  IngestOutcome outcome;
  if (store_ != nullptr) {
    // Sync the log first: then every committed row is durable whatever happens to the closing
    // checkpoint (Close skips the log's own sync when its checkpoint fails). A store poisoned
    // by a failed write returns that failure here.
    Status sync = store_->Sync();
    if (!sync.ok() && end == IngestEnd::kOk) {
      end = IngestEnd::kError;
      status = sync.WithContext("syncing the log before closing");
      outcome.sync_failed = true;
    }
    if (options_.before_close_for_test) options_.before_close_for_test();
    const uint64_t close_start_us = NowUs();
    const Status closed = store_->Close();
    stats_.close_us = NowUs() - close_start_us;
    if (!closed.ok() && end == IngestEnd::kOk) {
      end = IngestEnd::kCloseFailed;
      status = closed;
    }
  }
  stats_.elapsed_us = NowUs() - start_us_;
  outcome.end = end;
  outcome.status = status;
  outcome.batch_in_doubt = end == IngestEnd::kError && commit_failed_;
  outcome.batch_rows_in_doubt = outcome.batch_in_doubt && part_is_whole_batch_ ? rows_in_batch_ : 0;
  outcome.ops_in_doubt = outcome.batch_in_doubt && !part_is_whole_batch_ ? part_ops_ : 0;
  outcome.stats = stats_;
  return outcome;
}

// An error before the first commit of a zstd input whose check has not been waited for yet:
// if the check fails, the damaged input is the cause (a flipped bit decodes to a ragged row or
// a bad number first), so report its Corruption instead of the symptom.
Status Ingester::PreferVerifierError(const Status& st) {
  if (verifier_ == nullptr) return st;
  const Status verified = verifier_->Wait();
  verifier_.reset();
  return verified.ok() ? st : verified;
}

IngestOutcome Ingester::Run() {
  start_us_ = NowUs();
  Status st = OpenInput();
  if (st.ok()) st = OpenStore();
  if (st.ok()) st = SkipCommittedRows();
  if (!st.ok()) return Finish(IngestEnd::kError, PreferVerifierError(st));
  const uint64_t ingest_start_us = NowUs();
  st = IngestRows();
  stats_.ingest_us = NowUs() - ingest_start_us;
  if (!st.ok()) st = PreferVerifierError(st);
  if (!st.ok()) return Finish(output_failed_ ? IngestEnd::kOutputFailed : IngestEnd::kError, st);
  return Finish(IngestEnd::kOk, Status::OK());
}

}  // namespace ingest_internal

using ingest_internal::Ingester;

namespace {

// "; refresh per commit (...): median M us, max X us" of --emit-deltas; "" if no commit.
std::string RefreshSummary(std::vector<uint64_t> us) {
  if (us.empty()) return std::string();
  std::sort(us.begin(), us.end());
  return "; refresh per commit (commit + new rows + lines): median " +
         std::to_string(us[us.size() / 2]) + " us, max " + std::to_string(us.back()) + " us";
}

std::string FormatSeconds(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(us) / 1e6);
  return buf;
}
}  // namespace

IngestOutcome RunIngestReport(const IngestOptions& options, std::ostream& out) {
  return Ingester(options, out).Run();
}

Result<IngestStats> RunIngest(const IngestOptions& options, std::ostream& out) {
  IngestOutcome outcome = RunIngestReport(options, out);
  if (!outcome.status.ok()) return outcome.status;
  return outcome.stats;
}

int IngestExitCode(const IngestOutcome& outcome) {
  switch (outcome.end) {
    case IngestEnd::kOk:
      return 0;
    case IngestEnd::kCloseFailed:
      return kIngestExitCloseFailed;
    case IngestEnd::kOutputFailed:
      return kIngestExitOutputFailed;
    case IngestEnd::kError:
      break;
  }
  const Status& st = outcome.status;
  return st.IsInvalidArgument() && st.message().rfind("--", 0) == 0 ? 2 : 1;
}

std::string DescribeIngestOutcome(const IngestOptions& options, const IngestOutcome& outcome) {
  const IngestStats& s = outcome.stats;
  std::string committed =
      std::to_string(s.rows) + " rows in " + std::to_string(s.commits) + " commits";
  if (s.commits > 0) committed += " (last epoch " + std::to_string(s.last_epoch) + ")";
  if (s.rows_skipped > 0) {
    committed += ", after skipping the " + std::to_string(s.rows_skipped) +
                 " data rows an earlier run committed";
  }
  if (s.unfinished_batch_end_row != 0) {
    committed += ", plus the first " + std::to_string(s.unfinished_batch_ops) +
                 " ops in key order of the batch of data rows up to " +
                 std::to_string(s.unfinished_batch_end_row) + " (a batch of several commits)";
  }
  const std::string resume =
      s.marker ? "re-run with --resume to continue after data row " +
                     std::to_string(s.rows_skipped + s.rows) + " without duplicating"
               : "this input has no identity (stdin without --input-id), so --resume cannot "
                 "skip what is committed";
  switch (outcome.end) {
    case IngestEnd::kOk:
      return "ingested " + std::to_string(s.rows) + " rows, " + std::to_string(s.commits) +
             " commits, " + std::to_string(s.trees_created) + " new trees in " +
             FormatSeconds(s.elapsed_us) + " s" +
             (s.rows_skipped > 0 ? " (--resume skipped " + std::to_string(s.rows_skipped) +
                                       " data rows committed by an earlier run)"
                                 : std::string()) +
             (s.spilled_runs > 0 ? "; " + std::to_string(s.spilled_runs) + " sorted runs " +
                                       "spilled to " + options.spill_dir + " and merged"
                                 : std::string()) +
             (s.null_values > 0 ? "; " + std::to_string(s.null_values) +
                                      " rows had a NULL (empty) value: skipped, as SQL does"
                                : std::string()) +
             (options.emit_deltas.empty()
                  ? std::string()
                  : "; " + std::to_string(s.delta_lines) + " delta lines to " +
                        (options.emit_deltas == "-" ? std::string("stdout") : options.emit_deltas) +
                        RefreshSummary(s.refresh_us));
    case IngestEnd::kCloseFailed:
      return outcome.status.ToString() + " -- but all " + std::to_string(s.rows) +
             " rows are committed (" + committed +
             ") and durable (the log was synced before "
             "closing; recovery replays it at the next open): do not re-run without --resume, " +
             "which would add them again" + NoSpaceAdvice(outcome.status);
    case IngestEnd::kOutputFailed:
      return outcome.status.ToString() + "; stopped after committing " + committed +
             " (the store was closed normally); " + resume;
    case IngestEnd::kError:
      break;
  }
  std::string msg = outcome.status.ToString() + "; committed by this run: " + committed;
  if (outcome.sync_failed) {
    msg += "; rows committed since the last successful log sync may not be durable";
  }
  if (outcome.batch_in_doubt && outcome.batch_rows_in_doubt > 0) {
    msg += "; the failing commit of " + std::to_string(outcome.batch_rows_in_doubt) +
           " more rows may or may not be durable";
  } else if (outcome.batch_in_doubt && outcome.ops_in_doubt > 0) {
    // One commit of a batch of several: it held the next ops of the batch in key order, not
    // the batch's rows.
    msg += "; the failing commit of the next " + std::to_string(outcome.ops_in_doubt) +
           " ops in key order of that batch may or may not be durable";
  }
  if (s.commits > 0 || outcome.batch_in_doubt || outcome.sync_failed) msg += "; " + resume;
  return msg + NoSpaceAdvice(outcome.status);
}

}  // namespace cowtree::tools
