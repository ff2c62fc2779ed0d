#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "persistence/assert.h"
#include "tools/ingester.h"

namespace cowtree::tools::ingest_internal {
namespace {

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

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

int64_t HashWeight(uint64_t hash) { return -static_cast<int64_t>((hash >> 1) | 1); }

int64_t PrefixHashWeight(const std::string& head, size_t bytes) {
  COWTREE_ASSERT(bytes <= head.size());
  return HashWeight(Fnv1a64(std::string_view(head).substr(0, bytes)));
}

Result<InputIdentityInfo> InputIdentity(const IngestOptions& options) {
  InputIdentityInfo info;
  if (!options.input_id.empty()) {
    info.identity = "id:" + options.input_id;
    return info;
  }
  if (options.input == "-") return info;
  struct stat st;
  if (stat(options.input.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return info;
  const int fd = open(options.input.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open " + options.input, errno);
  constexpr size_t kIdentityBytes = 64 << 10;
  std::string head(kIdentityBytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    const ssize_t r = read(fd, head.data() + got, head.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  close(fd);
  head.resize(got);
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(options.input, ec);
  if (ec) path = options.input;
  info.identity = "file:" + path.lexically_normal().string();
  info.legacy_identity = info.identity + ":" + Hex64(Fnv1a64(head));
  info.head = std::move(head);
  return info;
}

Status Ingester::OpenInput() {
  if (options_.commit_ops == 0) return Status::InvalidArgument("--commit-ops must be >= 1");
  if (options_.log_commits && options_.emit_deltas == "-") {
    return Status::InvalidArgument(
        "--log-commits and --emit-deltas - would both write to stdout: send the deltas to a "
        "FILE");
  }
  if (!options_.emit_deltas.empty() && options_.emit_deltas != "-" && options_.input != "-") {
    // Opening the deltas file truncates it: never the input itself (under any name).
    struct stat in_st;
    struct stat out_st;
    if (stat(options_.input.c_str(), &in_st) == 0 &&
        stat(options_.emit_deltas.c_str(), &out_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
      return Status::InvalidArgument("--emit-deltas " + options_.emit_deltas +
                                     " is the input file " + options_.input +
                                     ": writing the deltas would destroy it");
    }
  }
  if (!options_.spill_dir.empty()) COWTREE_RETURN_IF_ERROR(CheckInputIsNoLeftoverRun());
  COWTREE_ASSIGN_OR_RETURN(InputIdentityInfo identity, InputIdentity(options_));
  stats_.identity = std::move(identity.identity);
  legacy_identity_ = std::move(identity.legacy_identity);
  input_head_ = std::move(identity.head);
  stats_.marker = !stats_.identity.empty();
  if (options_.resume && !stats_.marker) {
    return Status::InvalidArgument(
        "--resume: " + std::string(options_.input == "-" ? "stdin" : options_.input) +
        " has no identity to resume from (only a regular file named by its path has one): pass "
        "--input-id ID (the same ID as the run to resume) and feed the same input again from "
        "its start");
  }
  COWTREE_ASSIGN_OR_RETURN(csv_, CsvReader::Open(options_.input));
  // A zstd file is checked end to end (checksums) before the first commit (InputVerifier).
  verifier_ = InputVerifier::Start(csv_->stream());
  COWTREE_RETURN_IF_ERROR(CheckHeaderLineEndings(*csv_));
  COWTREE_ASSIGN_OR_RETURN(group_col_, csv_->ColumnIndex(options_.group_column));
  COWTREE_ASSIGN_OR_RETURN(value_col_, csv_->ColumnIndex(options_.value_column));
  if (!options_.weight_column.empty()) {
    COWTREE_ASSIGN_OR_RETURN(weight_col_, csv_->ColumnIndex(options_.weight_column));
  }
  if (options_.batch_ms > 0) csv_->SetWaitHook([this] { return OnWaitForInput(); });
  return Status::OK();
}

// --spill-dir deletes the runs a killed ingest left there (api/run_spill.h), by name: never the
// input. Compared by file (device and inode), so that a link to such a file, or the file on
// stdin, counts too (found by adversarial runs: an input named like a run lying there, then a
// link to one, was deleted).
Status Ingester::CheckInputIsNoLeftoverRun() const {
  struct stat input_st;
  const int got = options_.input == "-" ? fstat(STDIN_FILENO, &input_st)
                                        : stat(options_.input.c_str(), &input_st);
  if (got != 0) return Status::OK();  // the open that follows reports it
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.spill_dir, ec)) {
    const std::string name = entry.path().filename().string();
    struct stat run_st;
    if (name.starts_with("cowtree-loader-") && name.ends_with(".run") &&
        stat(entry.path().c_str(), &run_st) == 0 && run_st.st_dev == input_st.st_dev &&
        run_st.st_ino == input_st.st_ino) {
      return Status::InvalidArgument(
          "the input " + std::string(options_.input == "-" ? "(stdin)" : options_.input) +
          " is the file " + entry.path().string() + ", named like a run in --spill-dir " +
          options_.spill_dir + ", which deletes such files left by a killed ingest: move or " +
          "rename it");
    }
  }
  return Status::OK();  // (a spill directory that does not exist yet holds no run)
}

// The bytes of the input's start that the marker's content check covers: those of the rows read
// so far (all committed when a commit carries the marker), at most the 64 KiB head — so that a
// row fixed after them (the one an error named) keeps the input the same. A compressed input's
// position counts decompressed bytes, so there the whole head is checked.
size_t Ingester::CheckedPrefixBytes() const {
  if (csv_->compressed()) return input_head_.size();
  return static_cast<size_t>(std::min<uint64_t>(input_head_.size(), csv_->consumed_bytes()));
}

Status Ingester::ReadMarkerEntries(const TreeReader<int64_t>& marker) {
  COWTREE_ASSIGN_OR_RETURN(marker_value_, marker.weight(marker_key_));
  COWTREE_ASSIGN_OR_RETURN(unfinished_end_value_, marker.weight(MarkerKey(1)));
  COWTREE_ASSIGN_OR_RETURN(unfinished_ops_value_, marker.weight(MarkerKey(2)));
  COWTREE_ASSIGN_OR_RETURN(unfinished_order_value_, marker.weight(MarkerKey(3)));
  COWTREE_ASSIGN_OR_RETURN(unfinished_rows_hash_value_, marker.weight(MarkerKey(6)));
  if (!input_head_.empty() || !legacy_identity_.empty()) {
    COWTREE_ASSIGN_OR_RETURN(prefix_bytes_value_, marker.weight(MarkerKey(4)));
    COWTREE_ASSIGN_OR_RETURN(prefix_hash_value_, marker.weight(MarkerKey(5)));
  }
  return Status::OK();
}

// The entries of this input (tools/ingest.h "Input identity"): a file's are keyed by its path
// and carry a content check; a marker of a build before December 2026 (keyed by path and the
// hash of the first 64 KiB, no check) is used as it is when the path has no entry of its own.
Status Ingester::ReadMarker(const TreeReader<int64_t>& marker) {
  COWTREE_RETURN_IF_ERROR(ReadMarkerEntries(marker));
  if (legacy_identity_.empty()) return Status::OK();  // --input-id, or no identity
  const bool found = marker_value_ != 0 || unfinished_end_value_ != 0 ||
                     unfinished_ops_value_ != 0 || prefix_bytes_value_ != 0;
  if (found) {
    // A different file under the same path (or a file cut shorter) is a different input: its
    // rows start at 1, and its first commit replaces these entries.
    const bool same = prefix_bytes_value_ > 0 &&
                      static_cast<uint64_t>(prefix_bytes_value_) <= input_head_.size() &&
                      PrefixHashWeight(input_head_, static_cast<size_t>(prefix_bytes_value_)) ==
                          prefix_hash_value_;
    marker_of_other_input_ = !same;
    return Status::OK();
  }
  const int64_t path_key = marker_key_;
  marker_key_ = static_cast<int64_t>(Fnv1a64(legacy_identity_));
  COWTREE_RETURN_IF_ERROR(ReadMarkerEntries(marker));
  if (marker_value_ != 0 || unfinished_end_value_ != 0 || unfinished_ops_value_ != 0) {
    legacy_marker_ = true;  // this run keeps updating the old entries, as the old build did
    prefix_bytes_value_ = 0;
    prefix_hash_value_ = 0;
    return Status::OK();
  }
  marker_key_ = path_key;  // nothing anywhere: a new input, keyed by its path
  return ReadMarkerEntries(marker);
}

Status Ingester::SkipCommittedRows() {
  if (!options_.resume) return Status::OK();
  if (marker_of_other_input_) return Status::OK();  // starts at row 1 (see ReadMarker)
  if (unfinished_end_value_ != 0 || unfinished_ops_value_ != 0) {
    // An earlier run stopped inside a batch of several commits (tools/ingest.h).
    // (A spilled batch has no row limit; another holds at most kOpsMax rows.)
    const bool spilled = unfinished_order_value_ == kSpillOrderVersion;
    if (unfinished_end_value_ <= marker_value_ || unfinished_ops_value_ <= 0 ||
        (!spilled &&
         static_cast<uint64_t>(unfinished_end_value_ - std::max<int64_t>(marker_value_, 0)) >
             SortBuffer::kOpsMax) ||
        unfinished_ops_value_ >= unfinished_end_value_ - std::max<int64_t>(marker_value_, 0)) {
      return Status::Corruption(
          "tree '" + std::string(kIngestMarkerTree) + "': the resume entries of this input " +
          "are inconsistent (rows committed " + std::to_string(marker_value_) +
          ", unfinished batch ending at row " + std::to_string(unfinished_end_value_) + " with " +
          std::to_string(unfinished_ops_value_) + " ops committed)");
    }
    if (spilled && spill_ == nullptr) {
      return Status::InvalidArgument(
          csv_->name() + ": --resume: an earlier run with --spill-dir stopped inside a batch (" +
          std::to_string(unfinished_ops_value_) + " ops of the batch ending at data row " +
          std::to_string(unfinished_end_value_) + " committed, in the order of spilled " +
          "batches); resume it with --spill-dir (nothing was changed)");
    }
    // The unfinished batch is completed the way it was started; later ones as this run says.
    batch_spills_ = spilled;
    if (!spilled && unfinished_order_value_ != SortBuffer::kSortOrderVersion) {
      // Skipping the committed ops needs the order they were committed in.
      return Status::InvalidArgument(
          csv_->name() + ": --resume: an earlier run stopped inside a batch (" +
          std::to_string(unfinished_ops_value_) + " ops of the batch ending at data row " +
          std::to_string(unfinished_end_value_) + " committed) in sort order " +
          std::to_string(unfinished_order_value_) + " (0: a cowtree built before December " +
          "2026), but this build sorts in order " + std::to_string(SortBuffer::kSortOrderVersion) +
          "; finish it with the build that started it (nothing was changed)");
    }
    resume_batch_end_ = static_cast<uint64_t>(unfinished_end_value_);
    resume_skip_ops_ = static_cast<uint64_t>(unfinished_ops_value_);
  }
  if (marker_value_ <= 0) return Status::OK();
  const auto skip = static_cast<uint64_t>(marker_value_);
  for (; stats_.rows_skipped < skip; ++stats_.rows_skipped) {
    COWTREE_ASSIGN_OR_RETURN(const bool more, csv_->Next());
    if (!more) {
      return Status::InvalidArgument(
          csv_->name() + ": --resume: an earlier run committed " + std::to_string(skip) +
          " data rows of this input, but it has only " + std::to_string(stats_.rows_skipped) +
          " (not the same input? nothing was changed)");
    }
  }
  return Status::OK();
}

}  // namespace cowtree::tools::ingest_internal
