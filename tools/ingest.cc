#include "tools/ingest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "api/loader_merge.h"
#include "api/run_spill.h"
#include "api/sort_buffer.h"
#include "cowtree/cowtree.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "tools/csv_reader.h"
#include "tools/delta_writer.h"
#include "tools/input_verifier.h"
#include "tools/no_space_advice.h"
#include "tree/key_codec.h"

namespace cowtree::tools {
using api_internal::BufferStream;
using api_internal::LoaderTree;
using api_internal::OpStream;
using api_internal::RunSpill;
using api_internal::SortBuffer;
using api_internal::SortedOp;
namespace {

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// A group seen by this run: its tree's key type and a handle of that type (the other unused).
struct Group {
  KeyType key_type = KeyType::kInt64;
  uint64_t touched_batch = 0;  // --emit-deltas: the last batch serial that changed the group
  uint64_t in_batch = 0;       // the last batch serial that has an op of the group
  uint32_t batch_index = 0;    // its index in Ingester::batch_groups_ during that batch
  uint64_t zero_batch = 0;     // double groups: the last batch serial with a +0 or -0 row
  TreeHandle<int64_t> int64_tree;
  TreeHandle<double> double_tree;
};

// An internal per-group count tree (api/sql_groups.h: the NULL values, the -0 values), made
// by the first batch that needs it.
class CountTree {
 public:
  explicit CountTree(std::string_view name) : name_(name) {}
  std::string_view name() const { return name_; }
  void Open(TreeHandle<int64_t> handle) { handle_ = std::move(handle); }
  // Adds `weight` to the count of the group stored in tree `group_tree` in batch `b`.
  void Add(WriteBatch* b, std::string_view group_tree, int64_t weight) {
    if (handle_.name().empty()) {
      handle_ = b->CreateTree<int64_t>(std::string(name_));
      created_by_batch_ = true;
    }
    b->Add(handle_, GroupCountKey(group_tree), weight);
  }
  // After the batch's commit: a tree created by a refused batch does not exist.
  void Committed(bool ok) {
    if (!ok && created_by_batch_) handle_ = TreeHandle<int64_t>();
    created_by_batch_ = false;
  }

 private:
  std::string_view name_;
  TreeHandle<int64_t> handle_;
  bool created_by_batch_ = false;
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

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The input identity (tools/ingest.h "Input identity"); identity "" if the input has none.
struct InputIdentityInfo {
  std::string identity;         // "id:ID" or "file:PATH": what the marker's key hashes
  std::string legacy_identity;  // files: "file:PATH:HASH" of builds before December 2026
  std::string head;             // files: the first min(64 KiB, size) bytes when opened
};

// The content check of a file input's marker: the FNV-1a hash of its first `bytes` bytes (of
// `head`) as a negative int64 weight: never 0 (weight 0 would be no entry), and not counted in
// the marker tree's total of positive weights (N < 2^64: a few 63-bit hashes would pass it).
// A hash as a marker weight: negative (it does not count in the tree's N) and never 0.
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

namespace {

// One run of `cowtree ingest`; RunIngestReport drives it. Errors are values: each step returns
// a Status, and the outcome's category is decided by where it failed.
class Ingester {
 public:
  Ingester(const IngestOptions& options, std::ostream& out) : options_(options), out_(out) {}

  IngestOutcome Run();

 private:
  Status OpenInput();
  Status OpenStore();
  Status CheckInputIsNoLeftoverRun() const;
  Status LoadTrees();
  Status SkipCommittedRows();
  Status IngestRows();
  Status PreferVerifierError(const Status& st);
  // last_part_zeros[g]: the summed weight of value 0 in the batch's last commit, per group.
  Status AddNegativeZeroClamps(const std::vector<__int128>& last_part_zeros);
  std::vector<__int128> LastPartZeros(size_t begin, size_t end) const;
  Status AddRow();
  // The group of a group field (quoted: "" is the empty string, not NULL).
  Result<Group*> GroupOf(std::string_view name, bool quoted);
  uint32_t BatchIndexOf(Group* g);
  // True when the pending rows make a whole batch (or the unfinished batch resume completes).
  bool BatchFull() const;
  // True when the batch's memory is full (BatchFull's limit; three quarters of it when the
  // batch spills, the rest being the final merge's read buffers).
  bool BufferFull() const;
  uint64_t CountBytes() const;
  // --spill-dir: sorts the buffer and writes it as a run of the batch.
  Status SpillBuffer();
  Status CommitBatch();
  // CommitBatch of a batch that spills: its runs merged with the buffer, committed in order.
  Status CommitSpilledBatch(uint64_t position);
  // CommitBatch of a batch held in memory: sorted (SortBatch), then committed in that order.
  Status CommitSortedBatch(uint64_t position);
  // Adds `sum` (the summed ops of one value of group index `group`) to batch_.
  void AddSummedOp(uint32_t group, uint64_t key_code, __int128 sum);
  Status SortBatch();
  void AddOps(size_t begin, size_t end);  // sorted ops [begin, end) to batch_
  void AddPendingCounts();
  // One commit of the batch: batch_ as filled by the caller, plus the resume marker's entries
  // moved to `marker` (rows committed), `unfinished_end` and `unfinished_ops` (key + 1, + 2).
  Status CommitPart(uint64_t marker, uint64_t unfinished_end, uint64_t unfinished_ops);
  void AddMarkerEntry(int64_t key, int64_t* committed, uint64_t target, bool* created);
  // Reads this input's resume entries (ReadMarkerEntries: at marker_key_) and decides which
  // key this run uses and whether the entries belong to this file.
  Status ReadMarker(const TreeReader<int64_t>& marker);
  Status ReadMarkerEntries(const TreeReader<int64_t>& marker);
  size_t CheckedPrefixBytes() const;
  // InputStream wait hook: commits pending rows once batch_ms passed; returns the poll timeout.
  Result<int> OnWaitForInput();
  IngestOutcome Finish(IngestEnd end, Status status);

  const IngestOptions& options_;
  std::ostream& out_;
  IngestStats stats_;
  uint64_t start_us_ = 0;
  std::unique_ptr<CsvReader> csv_;
  size_t group_col_ = 0, value_col_ = 0, weight_col_ = SIZE_MAX;
  std::unique_ptr<Store> store_;
  std::optional<WriteBatch> batch_;
  // Key type of every group tree in the store at open (their handles are made on first use).
  std::unordered_map<std::string, KeyType, StringHash, std::equal_to<>> existing_;
  std::unordered_map<std::string, Group, StringHash, std::equal_to<>> groups_;
  uint64_t rows_in_batch_ = 0;
  uint64_t batch_serial_ = 1;
  uint64_t batch_rows_ = 0;   // rows per batch (options_.batch_rows); 0: by batch_bytes_
  uint64_t batch_bytes_ = 0;  // the most bytes a batch's ops take (half the budget, ...)
  // The batch's ops (sorted before they are committed) and the groups they touch, by index.
  SortBuffer sort_buffer_;
  std::vector<Group*> batch_groups_;
  // --spill-dir: the runs of the current batch, and whether the current batch spills (a resumed
  // unfinished batch keeps the way it was started: in memory, or spilling).
  std::unique_ptr<RunSpill> spill_;
  bool batch_spills_ = false;
  // Zero rows of the batch, in row order: the -0 counts are written in the batch's last commit
  // (after its ops); the +0 rows are kept too, because the -0 count is clamped to the group's
  // zeros after each row, in row order (AddNegativeZeroClamps).
  struct PendingCount {
    enum class Kind : uint8_t { kNegativeZero, kPositiveZero };
    Kind kind = Kind::kNegativeZero;
    uint32_t group = 0;  // index in batch_groups_
    int64_t weight = 0;
  };
  std::vector<PendingCount> pending_counts_;
  // The weights of the batch's NULL rows, summed per group (index in batch_groups_): the NULL
  // count is a plain sum, so its rows need no order and take no memory each.
  std::vector<__int128> null_weights_;
  // NULL and -0 values (api/sql_groups.h): counted per group.
  std::unique_ptr<InputVerifier> verifier_;  // until the first commit (zstd files only)
  CountTree null_counts_{kNullCountTree};
  CountTree negative_zero_counts_{kNegativeZeroCountTree};
  uint64_t null_values_in_batch_ = 0;
  // --emit-deltas.
  std::unique_ptr<DeltaWriter> deltas_;
  std::vector<std::string> touched_;  // tree names of the groups this batch changes
  uint64_t batch_start_us_ = 0;       // when the batch's first row was added
  bool progress_ = false;
  // Resume marker (tools/ingest.h).
  TreeHandle<int64_t> marker_tree_;  // default (no name): the marker tree does not exist yet
  int64_t marker_key_ = 0;           // key of this input's entry
  // Key of the entry `offset` after it (1, 2, 3: an unfinished batch), wrapping around.
  int64_t MarkerKey(uint64_t offset) const {
    return static_cast<int64_t>(static_cast<uint64_t>(marker_key_) + offset);
  }
  int64_t marker_value_ = 0;         // committed value of this input's entry
  // Committed values of the entries key + 1 and key + 2 (an unfinished batch, tools/ingest.h).
  int64_t unfinished_end_value_ = 0;
  int64_t unfinished_ops_value_ = 0;
  // Committed value of the entry key + 3: the sort order (kSortOrderVersion) of the unfinished
  // batch that key + 1 and + 2 describe; 0 with them, or when an older build wrote them.
  int64_t unfinished_order_value_ = 0;
  // Committed values of the entries key + 4 and key + 5 of a file input: how many bytes of its
  // start the marker's content check covers, and their hash (PrefixHashWeight); 0: none.
  int64_t prefix_bytes_value_ = 0;
  int64_t prefix_hash_value_ = 0;
  // Committed value of the entry key + 6 beside an unfinished batch: the hash of that batch's
  // rows (RowsHashWeight of their group, value and weight fields), so that a resume over rows
  // that changed is refused; 0: none (no unfinished batch, or an older build's).
  int64_t unfinished_rows_hash_value_ = 0;
  // The hash of the current batch's rows so far (FNV-1a over their fields), for key + 6.
  uint64_t batch_rows_hash_ = kFnv1a64OffsetBasis;
  std::string legacy_identity_;         // files: the identity of builds before December 2026
  std::string input_head_;              // files: the first min(64 KiB, size) bytes, for the check
  bool legacy_marker_ = false;          // the entries are an older build's (keyed with the content)
  bool marker_of_other_input_ = false;  // the path's entries belong to a different file
  // resume of an unfinished batch: the input position where the first batch must end and how
  // many of its sorted ops are already committed (0, 0: none).
  uint64_t resume_batch_end_ = 0;
  uint64_t resume_skip_ops_ = 0;
  // The commit being made: how many of the batch's sorted ops it holds, and whether it is the
  // batch's only commit (then it holds all of the batch's rows).
  uint64_t part_ops_ = 0;
  bool part_is_whole_batch_ = true;
  // Failure classification.
  bool commit_failed_ = false;
  bool output_failed_ = false;
  int output_errno_ = 0;
};

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

Status Ingester::LoadTrees() {
  const Snapshot snap = store_->GetSnapshot();
  marker_key_ = static_cast<int64_t>(Fnv1a64(stats_.identity));
  COWTREE_ASSIGN_OR_RETURN(std::vector<TreeDescription> trees, snap.ListTrees());
  for (TreeDescription& t : trees) {
    if (t.name == kIngestMarkerTree) {
      if (t.key_type != KeyType::kInt64) {
        // Not damage: another program made a tree of this name (the library does not
        // reserve names); this store's content is not one an ingest can use.
        return Status::InvalidArgument("tree '" + t.name +
                                       "' is reserved for ingest markers, "
                                       "but is not an int64 tree (made through the library? "
                                       "drop or rename it)");
      }
      COWTREE_ASSIGN_OR_RETURN(marker_tree_, store_->Tree<int64_t>(t.name));
      if (stats_.marker) {
        COWTREE_ASSIGN_OR_RETURN(TreeReader<int64_t> marker, snap.Tree<int64_t>(t.name));
        COWTREE_RETURN_IF_ERROR(ReadMarker(marker));
      }
      continue;
    }
    if (t.name == null_counts_.name() || t.name == negative_zero_counts_.name()) {
      if (t.key_type != KeyType::kInt64) {
        return Status::InvalidArgument(
            "tree '" + t.name + "' is reserved for per-group counts, but " +
            "is not an int64 tree (made through the library? drop or rename it)");
      }
      CountTree& counts = t.name == null_counts_.name() ? null_counts_ : negative_zero_counts_;
      COWTREE_ASSIGN_OR_RETURN(TreeHandle<int64_t> handle, store_->Tree<int64_t>(t.name));
      counts.Open(std::move(handle));
      continue;
    }
    if (!IsGroupTree(t.name)) continue;
    existing_.emplace(std::move(t.name), t.key_type);  // the NULL and empty groups' included
  }
  return Status::OK();
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
  if (auto e = existing_.find(tree); e != existing_.end()) {
    Group g;
    g.key_type = e->second;
    if (g.key_type == KeyType::kInt64) {
      COWTREE_ASSIGN_OR_RETURN(g.int64_tree, store_->Tree<int64_t>(e->first));
    } else {
      COWTREE_ASSIGN_OR_RETURN(g.double_tree, store_->Tree<double>(e->first));
    }
    return &groups_.emplace(e->first, std::move(g)).first->second;
  }
  if (name.size() > kTreeNameBytesMax) {
    return Status::InvalidArgument(
        csv_->name() + ":" + std::to_string(csv_->line_number()) + ": column '" +
        options_.group_column + "' (field " + std::to_string(group_col_ + 1) +
        "): a group name of " + std::to_string(name.size()) + " bytes; group names are tree " +
        "names of at most " + std::to_string(kTreeNameBytesMax) + " bytes");
  }
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
  const std::string tree_name(tree);
  Group g;
  g.key_type = kt;
  if (kt == KeyType::kInt64) {
    g.int64_tree = batch_->CreateTree<int64_t>(tree_name);
  } else {
    g.double_tree = batch_->CreateTree<double>(tree_name);
  }
  ++stats_.trees_created;
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

// The batch's groups as trees of runs (api/loader_run.h): id = batch index + 1, so that runs and
// the final merge order groups by their first row in the batch.
std::vector<LoaderTree> SpillTrees(const std::vector<Group*>& groups) {
  std::vector<LoaderTree> trees;
  trees.reserve(groups.size());
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group* g = groups[i];
    trees.push_back(
        LoaderTree{i + 1, g->key_type,
                   g->key_type == KeyType::kInt64 ? g->int64_tree.name() : g->double_tree.name()});
  }
  return trees;
}

std::vector<const LoaderTree*> TreePointers(const std::vector<LoaderTree>& trees) {
  std::vector<const LoaderTree*> out;
  out.reserve(trees.size());
  for (const LoaderTree& t : trees) out.push_back(&t);
  return out;
}

Status Ingester::SpillBuffer() {
  if (sort_buffer_.size() == 0) return Status::OK();
  stats_.batch_resident_bytes_max = std::max<uint64_t>(
      stats_.batch_resident_bytes_max,
      sort_buffer_.touched_bytes() + pending_counts_.capacity() * sizeof(PendingCount));
  std::vector<uint32_t> by_first_row(batch_groups_.size());
  std::iota(by_first_row.begin(), by_first_row.end(), 0u);
  sort_buffer_.Sort(by_first_row);
  const std::vector<LoaderTree> trees = SpillTrees(batch_groups_);
  const std::vector<const LoaderTree*> tree_of_group = TreePointers(trees);
  BufferStream in(sort_buffer_, tree_of_group);
  const Status st = spill_->Spill(in, sort_buffer_.size());
  sort_buffer_.Reset();  // its pages freed: the next part of the batch fills it from empty
  ++stats_.spilled_runs;
  return st.WithContext(csv_->name() + ": --spill-dir " + options_.spill_dir);
}

// Ranks the batch's groups by tree name (an order that depends only on the rows, unlike the
// order of first appearance, which depends on where the batch starts) and sorts the ops.
Status Ingester::SortBatch() {
  std::vector<uint32_t> by_name(batch_groups_.size());
  for (uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  const auto name_of = [this](uint32_t i) -> const std::string& {
    const Group* g = batch_groups_[i];
    return g->key_type == KeyType::kInt64 ? g->int64_tree.name() : g->double_tree.name();
  };
  std::sort(by_name.begin(), by_name.end(),
            [&](uint32_t a, uint32_t b) { return name_of(a) < name_of(b); });
  std::vector<uint32_t> rank(by_name.size());
  std::vector<Group*> ranked(by_name.size());
  for (uint32_t r = 0; r < by_name.size(); ++r) {
    rank[by_name[r]] = r;
    ranked[r] = batch_groups_[by_name[r]];
  }
  sort_buffer_.Sort(rank);
  for (PendingCount& c : pending_counts_) c.group = rank[c.group];
  std::vector<__int128> null_weights(null_weights_.size());
  for (uint32_t i = 0; i < rank.size(); ++i) null_weights[rank[i]] = null_weights_[i];
  null_weights_ = std::move(null_weights);
  batch_groups_ = std::move(ranked);
  for (uint32_t r = 0; r < batch_groups_.size(); ++r) batch_groups_[r]->batch_index = r;
  if (resume_skip_ops_ > sort_buffer_.size()) {
    return Status::InvalidArgument(
        csv_->name() + ": --resume: an earlier run committed " + std::to_string(resume_skip_ops_) +
        " ops of the batch ending at data row " + std::to_string(resume_batch_end_) +
        ", but these rows make only " + std::to_string(sort_buffer_.size()) +
        " (not the same input? nothing was changed)");
  }
  return Status::OK();
}

void Ingester::AddOps(size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    const SortedOp op = sort_buffer_.op(i);
    const Group* g = batch_groups_[op.group];
    if (g->key_type == KeyType::kInt64) {
      batch_->Add(g->int64_tree, tree::DecodeInt64Key(op.key_code), op.weight);
    } else {
      batch_->Add(g->double_tree, tree::DecodeDoubleKey(op.key_code), op.weight);
    }
  }
}

void Ingester::AddPendingCounts() {
  const auto tree_name = [this](uint32_t group) -> const std::string& {
    const Group* g = batch_groups_[group];
    return g->key_type == KeyType::kInt64 ? g->int64_tree.name() : g->double_tree.name();
  };
  for (const PendingCount& c : pending_counts_) {
    if (c.kind == PendingCount::Kind::kPositiveZero) continue;
    negative_zero_counts_.Add(&*batch_, tree_name(c.group), c.weight);
  }
  for (uint32_t group = 0; group < null_weights_.size(); ++group) {
    AddInInt64Pieces(null_weights_[group],
                     [&](int64_t w) { null_counts_.Add(&*batch_, tree_name(group), w); });
  }
}

// A group's -0 count stays within [0, its zeros] after every row (api/sql_groups.h
// NegativeZeroCountCorrection), in row order — not once per batch from the batch's sums: the
// clamp is not linear, so `0`, then a retraction of `-0`, then `-0` must leave one -0 row (the
// retraction took the +0 row), whatever batch the rows fall in (found by an adversarial run:
// a batch of millions of rows answered `0` where PostgreSQL answers `-0`). The batch's rows
// are replayed per group from the count and zeros before the batch; the difference from the
// raw -0 rows (AddPendingCounts) is added in the batch's last commit. last_part_zeros: the
// last part's zero ops, not yet committed; the earlier parts are in the store.
std::vector<__int128> Ingester::LastPartZeros(size_t begin, size_t end) const {
  const uint64_t zero = tree::EncodeDoubleKey(0.0);
  std::vector<__int128> zeros(batch_groups_.size());
  for (size_t i = begin; i < end; ++i) {
    const SortedOp op = sort_buffer_.op(i);
    if (op.key_code == zero) zeros[op.group] += op.weight;
  }
  return zeros;
}

Status Ingester::AddNegativeZeroClamps(const std::vector<__int128>& last_part_zeros) {
  using Kind = PendingCount::Kind;
  // Per group of the batch (one pass each, so no cost per pair of groups): the batch's zero
  // rows and its raw -0 count rows.
  const size_t groups = batch_groups_.size();
  COWTREE_ASSERT(last_part_zeros.size() == groups);
  std::vector<__int128> zero_rows(groups), count_rows(groups);
  for (const PendingCount& c : pending_counts_) {
    zero_rows[c.group] += c.weight;
    if (c.kind == Kind::kNegativeZero) count_rows[c.group] += c.weight;
  }
  // Each group's -0 count and zeros before the batch (the earlier parts of the batch, in the
  // store, changed only its zeros), then the replay.
  std::vector<__int128> count_before(groups), count(groups), zeros(groups);
  std::vector<bool> replayed(groups, false);
  std::optional<Snapshot> snap;
  std::optional<Result<TreeReader<int64_t>>> counts;
  for (uint32_t gi = 0; gi < groups; ++gi) {
    const Group* g = batch_groups_[gi];
    if (g->key_type != KeyType::kDouble || g->zero_batch != batch_serial_) continue;
    if (!snap.has_value()) {
      snap.emplace(store_->GetSnapshot());
      counts.emplace(snap->Tree<int64_t>(std::string(kNegativeZeroCountTree)));
    }
    const std::string& name = g->double_tree.name();
    int64_t count_now = 0;
    if (counts->ok()) {
      COWTREE_ASSIGN_OR_RETURN(count_now, (*counts)->weight(GroupCountKey(name)));
    }
    __int128 zeros_after = last_part_zeros[gi];
    if (Result<TreeReader<double>> t = snap->Tree<double>(name); t.ok()) {
      COWTREE_ASSIGN_OR_RETURN(const int64_t zeros_now, t->weight(0.0));
      zeros_after += zeros_now;
    }
    count_before[gi] = count[gi] = count_now;
    zeros[gi] = zeros_after - zero_rows[gi];
    replayed[gi] = true;
  }
  for (const PendingCount& c : pending_counts_) {
    if (!replayed[c.group]) continue;
    zeros[c.group] += c.weight;
    if (c.kind == Kind::kNegativeZero) count[c.group] += c.weight;
    count[c.group] += NegativeZeroCountCorrection(count[c.group], zeros[c.group]);
  }
  for (uint32_t gi = 0; gi < groups; ++gi) {
    if (!replayed[gi]) continue;
    // What the raw rows leave in the count tree, and what the replay says it must hold.
    const __int128 raw_after = count_before[gi] + count_rows[gi];
    AddInInt64Pieces(count[gi] - raw_after, [&](int64_t w) {
      negative_zero_counts_.Add(&*batch_, batch_groups_[gi]->double_tree.name(), w);
    });
  }
  return Status::OK();
}

// Moves the entry `key` of the resume marker from *committed to `target` in batch_.
void Ingester::AddMarkerEntry(int64_t key, int64_t* committed, uint64_t target, bool* created) {
  const int64_t delta = static_cast<int64_t>(target) - *committed;
  if (delta == 0) return;
  if (marker_tree_.name().empty()) {
    marker_tree_ = batch_->CreateTree<int64_t>(std::string(kIngestMarkerTree));
    *created = true;
  }
  batch_->Add(marker_tree_, key, delta);
}

Status Ingester::CommitPart(uint64_t marker, uint64_t unfinished_end, uint64_t unfinished_ops) {
  bool created_marker = false;
  if (stats_.marker) {
    int64_t m = marker_value_, e = unfinished_end_value_, o = unfinished_ops_value_,
            v = unfinished_order_value_;
    const uint64_t order = unfinished_end == 0 ? 0
                           : batch_spills_     ? kSpillOrderVersion
                                               : SortBuffer::kSortOrderVersion;
    AddMarkerEntry(marker_key_, &m, marker, &created_marker);
    AddMarkerEntry(MarkerKey(1), &e, unfinished_end, &created_marker);
    AddMarkerEntry(MarkerKey(2), &o, unfinished_ops, &created_marker);
    AddMarkerEntry(MarkerKey(3), &v, order, &created_marker);
    int64_t r = unfinished_rows_hash_value_;
    AddMarkerEntry(MarkerKey(6), &r,
                   unfinished_end == 0 ? 0 : static_cast<uint64_t>(HashWeight(batch_rows_hash_)),
                   &created_marker);
    if (!input_head_.empty() && !legacy_marker_) {
      int64_t p = prefix_bytes_value_, h = prefix_hash_value_;
      const size_t checked = CheckedPrefixBytes();
      AddMarkerEntry(MarkerKey(4), &p, checked, &created_marker);
      AddMarkerEntry(MarkerKey(5), &h,
                     static_cast<uint64_t>(PrefixHashWeight(input_head_, checked)),
                     &created_marker);
    }
  }
  uint64_t epoch = 0;
  const Status st = store_->Commit(*batch_, WriteOptions(), &epoch);
  if (!st.ok()) {
    // A refused batch (InvalidArgument: a limit, checked before anything changes) is certainly
    // not committed; only an I/O failure leaves the batch in doubt.
    commit_failed_ = !st.IsInvalidArgument();
    if (created_marker) marker_tree_ = TreeHandle<int64_t>();
    null_counts_.Committed(false);
    negative_zero_counts_.Committed(false);
    return st;
  }
  null_counts_.Committed(true);
  negative_zero_counts_.Committed(true);
  if (stats_.marker) {
    marker_value_ = static_cast<int64_t>(marker);
    unfinished_end_value_ = static_cast<int64_t>(unfinished_end);
    unfinished_ops_value_ = static_cast<int64_t>(unfinished_ops);
    unfinished_order_value_ = unfinished_end == 0 ? 0
                              : batch_spills_     ? kSpillOrderVersion
                                                  : SortBuffer::kSortOrderVersion;
    unfinished_rows_hash_value_ = unfinished_end == 0 ? 0 : HashWeight(batch_rows_hash_);
    if (!input_head_.empty() && !legacy_marker_) {
      const size_t checked = CheckedPrefixBytes();
      prefix_bytes_value_ = static_cast<int64_t>(checked);
      prefix_hash_value_ = PrefixHashWeight(input_head_, checked);
    }
    marker_of_other_input_ = false;
  }
  stats_.unfinished_batch_end_row = unfinished_end;
  stats_.unfinished_batch_ops = unfinished_ops;
  stats_.last_epoch = epoch;
  ++stats_.commits;
  return Status::OK();
}

// Commits the batch: its ops in key order, commit_ops at a time; the last commit also carries
// the NULL and -0 counts and moves the resume marker to the batch's end (tools/ingest.h).
Status Ingester::CommitBatch() {
  if (rows_in_batch_ == 0) return Status::OK();
  if (verifier_ != nullptr) {
    // Rows decoded from a frame whose checksum fails must not be committed: wait for the check
    // of the whole file (it runs ahead of the parser, on another core).
    const Status verified = verifier_->Wait();
    verifier_.reset();
    COWTREE_RETURN_IF_ERROR(verified);
  }
  const uint64_t refresh_start_us = deltas_ != nullptr ? NowUs() : 0;
  stats_.batch_resident_bytes_max = std::max<uint64_t>(
      stats_.batch_resident_bytes_max,
      sort_buffer_.touched_bytes() + pending_counts_.capacity() * sizeof(PendingCount));
  const uint64_t position = stats_.rows_skipped + stats_.rows + rows_in_batch_;
  COWTREE_ASSERT(resume_batch_end_ == 0 || resume_batch_end_ == position);
  if (resume_batch_end_ != 0 && unfinished_rows_hash_value_ != 0 &&
      unfinished_rows_hash_value_ != HashWeight(batch_rows_hash_)) {
    // Part of this batch is committed in key order: its rows must be the same ones, or the
    // skipped ops would not be the committed ones (found by an adversarial run: one row lost,
    // another applied twice).
    return Status::InvalidArgument(
        csv_->name() + ": --resume: an earlier run stopped inside the batch of data rows " +
        std::to_string(position - rows_in_batch_ + 1) + ".." + std::to_string(position) + " (" +
        std::to_string(resume_skip_ops_) + " of its ops committed), but these rows " +
        "are not the ones it read (the input changed there? nothing was changed)");
  }
  COWTREE_RETURN_IF_ERROR(batch_spills_ ? CommitSpilledBatch(position)
                                        : CommitSortedBatch(position));
  resume_batch_end_ = 0;
  resume_skip_ops_ = 0;
  if (batch_spills_) {
    sort_buffer_.Reset();  // as after a spill (BufferFull counts touched pages)
  } else {
    sort_buffer_.Clear();
  }
  batch_spills_ = spill_ != nullptr;
  batch_groups_.clear();
  null_weights_.clear();
  batch_rows_hash_ = kFnv1a64OffsetBasis;
  pending_counts_.clear();
  // A batch of many zero rows leaves a large array: free it (BatchFull counts it).
  if (pending_counts_.capacity() * sizeof(PendingCount) > batch_bytes_ / 8) {
    std::vector<PendingCount>().swap(pending_counts_);
  }
  stats_.null_values += null_values_in_batch_;
  null_values_in_batch_ = 0;
  stats_.rows += rows_in_batch_;
  rows_in_batch_ = 0;
  ++batch_serial_;
  if (deltas_ != nullptr) {
    const Status written = deltas_->AfterCommit(store_->GetSnapshot(), touched_);
    touched_.clear();
    if (!written.ok()) {
      output_failed_ = true;  // committed; the deltas file says less (--resume reconciles)
      return written;
    }
    stats_.delta_lines = deltas_->lines_written();
    stats_.refresh_us.push_back(NowUs() - refresh_start_us);
  }
  if (options_.log_commits) {
    errno = 0;
    out_ << "committed " << stats_.last_epoch << ' ' << stats_.rows << std::endl;
    if (!out_) {
      output_failed_ = true;
      output_errno_ = errno;
      return Status::IOError(std::string("cannot write the --log-commits line to stdout: ") +
                             (output_errno_ != 0 ? std::strerror(output_errno_) : "write error"));
    }
  }
  if (progress_) {
    std::fprintf(stderr, "\ringested %llu rows, %llu commits",
                 static_cast<unsigned long long>(stats_.rows),
                 static_cast<unsigned long long>(stats_.commits));
  }
  return Status::OK();
}

// The batch's ops in the order SortBatch gives them, commit_ops per commit.
Status Ingester::CommitSortedBatch(uint64_t position) {
  COWTREE_RETURN_IF_ERROR(SortBatch());
  // Ops an earlier run committed (resume of an unfinished batch): only their trees' creation,
  // which that run committed too, is left out of batch_ (the groups exist: GroupOf found them).
  size_t begin = resume_skip_ops_;
  bool last = false;
  while (!last) {
    const size_t end = std::min<size_t>(sort_buffer_.size(), begin + options_.commit_ops);
    last = end == sort_buffer_.size();
    part_ops_ = end - begin;
    part_is_whole_batch_ = last && begin == resume_skip_ops_ && resume_skip_ops_ == 0;
    AddOps(begin, end);
    if (last) {
      AddPendingCounts();
      COWTREE_RETURN_IF_ERROR(AddNegativeZeroClamps(LastPartZeros(begin, end)));
      COWTREE_RETURN_IF_ERROR(CommitPart(position, 0, 0));
    } else {
      // The marker says what this run's whole batches committed: a run from row 1 over a
      // store with an earlier run's marker resets it here, not only at the batch's end, or a
      // crash before that end would make --resume skip the earlier run's rows.
      COWTREE_RETURN_IF_ERROR(CommitPart(position - rows_in_batch_, position, end));
    }
    begin = end;
  }
  return Status::OK();
}

void Ingester::AddSummedOp(uint32_t group, uint64_t key_code, __int128 sum) {
  const Group* g = batch_groups_[group];
  AddInInt64Pieces(sum, [&](int64_t w) {
    if (g->key_type == KeyType::kInt64) {
      batch_->Add(g->int64_tree, tree::DecodeInt64Key(key_code), w);
    } else {
      batch_->Add(g->double_tree, tree::DecodeDoubleKey(key_code), w);
    }
  });
}

// The runs merged with the buffer, in (group by first row, value) order; the ops of one value
// summed; a commit closed at the first value change after commit_ops ops (tools/ingest.h
// "Spilled batches"). The ops an earlier run committed (resume_skip_ops_) are skipped; they
// end where a value changes, as every commit does.
Status Ingester::CommitSpilledBatch(uint64_t position) {
  std::vector<uint32_t> by_first_row(batch_groups_.size());
  std::iota(by_first_row.begin(), by_first_row.end(), 0u);
  sort_buffer_.Sort(by_first_row);
  const std::vector<LoaderTree> trees = SpillTrees(batch_groups_);
  const std::vector<const LoaderTree*> tree_of_group = TreePointers(trees);
  const uint64_t n = spill_->spilled_ops() + sort_buffer_.size();
  const uint64_t skip = resume_skip_ops_;
  const auto not_the_same = [&](const std::string& what) {
    return Status::InvalidArgument(csv_->name() + ": --resume: an earlier run committed " +
                                   std::to_string(skip) + " ops of the batch ending at data row " +
                                   std::to_string(resume_batch_end_) + ", but " + what +
                                   " (not the same input? nothing was changed)");
  };
  if (skip > n) return not_the_same("these rows make only " + std::to_string(n));
  COWTREE_ASSIGN_OR_RETURN(
      std::unique_ptr<OpStream> in,
      spill_->MergeAll(std::make_unique<BufferStream>(sort_buffer_, tree_of_group)));
  const auto runs_mismatch = [&] {
    return Status::Corruption("--spill-dir " + options_.spill_dir + ": the runs and the buffer " +
                              "hold another number of ops than the " + std::to_string(n) +
                              " written to them");
  };
  bool has = false;
  // A run's Corruption or IOError names the run; this says whose runs they are.
  const auto next = [&]() -> Status {
    Status st = in->Next(&has);
    return st.ok() ? st : st.WithContext("--spill-dir " + options_.spill_dir);
  };
  uint64_t i = 0;
  uint64_t group_id = 0, key = 0;  // the current value's (tree id of the run, key code)
  for (; i < skip; ++i) {
    COWTREE_RETURN_IF_ERROR(next());
    if (!has) return runs_mismatch();
    group_id = in->tree().tree_id;
    key = in->key_code();
  }
  COWTREE_RETURN_IF_ERROR(next());
  if (skip > 0 && has && in->tree().tree_id == group_id && in->key_code() == key) {
    return not_the_same("they do not end where a value changes");
  }
  const uint64_t zero = tree::EncodeDoubleKey(0.0);
  std::vector<__int128> zeros(batch_groups_.size());  // of the part being built
  const auto close_value = [&](__int128 sum) {
    if (key == zero) zeros[group_id - 1] += sum;
    AddSummedOp(static_cast<uint32_t>(group_id - 1), key, sum);
  };
  uint64_t part_begin = skip;
  __int128 sum = 0;
  group_id = 0;
  for (; has; ++i) {
    if (i == n) return runs_mismatch();
    const uint64_t g = in->tree().tree_id;
    if (g == 0 || g > batch_groups_.size()) {
      // Runs are files: a value, never an assertion (their checksums make this unlikely).
      return Status::Corruption("--spill-dir " + options_.spill_dir + ": a run names group " +
                                std::to_string(g) + " of a batch of " +
                                std::to_string(batch_groups_.size()));
    }
    if (g != group_id || in->key_code() != key) {
      if (group_id != 0) {
        close_value(sum);
        if (i - part_begin >= options_.commit_ops) {
          part_ops_ = i - part_begin;
          part_is_whole_batch_ = false;
          COWTREE_RETURN_IF_ERROR(CommitPart(position - rows_in_batch_, position, i));
          part_begin = i;
          std::fill(zeros.begin(), zeros.end(), 0);
        }
      }
      group_id = g;
      key = in->key_code();
      sum = 0;
    }
    sum += in->weight();
    COWTREE_RETURN_IF_ERROR(next());
  }
  if (i != n) return runs_mismatch();
  if (group_id != 0) close_value(sum);
  part_ops_ = n - part_begin;
  part_is_whole_batch_ = part_begin == 0;
  AddPendingCounts();
  COWTREE_RETURN_IF_ERROR(AddNegativeZeroClamps(zeros));
  COWTREE_RETURN_IF_ERROR(CommitPart(position, 0, 0));
  in.reset();
  spill_->DeleteRuns();
  return Status::OK();
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
