// Internal to `cowtree ingest` (tools/ingest.h): the Ingester, one run of the command, whose
// steps live in several files, one concern each:
// - tools/ingest.cc         the run's frame: the store, its trees, the outcome and its report;
// - tools/ingest_input.cc   the input: its checks, identity and the resume marker read back;
// - tools/ingest_rows.cc    rows to ops: groups, a batch's memory and when it ends;
// - tools/ingest_commit.cc  a batch held in memory: sorted, committed in key order, the NULL
//                           and -0 counts and the resume marker in its last commit;
// - tools/ingest_spill.cc   a batch that spills (--spill-dir): its runs merged and committed.
// Not thread-safe: one Ingester runs on one thread (the input's wait hook calls back on it).
#ifndef COWTREE_TOOLS_INGESTER_H_
#define COWTREE_TOOLS_INGESTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/run_spill.h"
#include "api/sort_buffer.h"
#include "cowtree/cowtree.h"
#include "tools/csv_reader.h"
#include "tools/delta_writer.h"
#include "tools/ingest.h"
#include "tools/input_verifier.h"

namespace cowtree::tools::ingest_internal {
using api_internal::RunSpill;
using api_internal::SortBuffer;
using api_internal::SortedOp;

// The group table's limit under a budget: one group per this many budget bytes (~7 % of the
// budget at ~280 B per group), and at least this many groups.
inline constexpr uint64_t kCacheBytesPerGroup = 4096;
inline constexpr uint64_t kGroupsCachedMin = 1024;

// Microseconds of the steady clock.
uint64_t NowUs();

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

// The input identity (tools/ingest.h "Input identity"); identity "" if the input has none.
struct InputIdentityInfo {
  std::string identity;         // "id:ID" or "file:PATH": what the marker's key hashes
  std::string legacy_identity;  // files: "file:PATH:HASH" of builds before December 2026
  std::string head;             // files: the first min(64 KiB, size) bytes when opened
};

// The input's identity, read from options (tools/ingest.h "Input identity"). IOError if a
// regular file named by its path cannot be opened.
Result<InputIdentityInfo> InputIdentity(const IngestOptions& options);

// A hash as a marker weight: negative (it does not count in the tree's N) and never 0.
int64_t HashWeight(uint64_t hash);

// The content check of a file input's marker: HashWeight of the FNV-1a hash of the first
// `bytes` bytes of `head` (bytes <= head.size()).
int64_t PrefixHashWeight(const std::string& head, size_t bytes);

// `st` with a hint added when the current row holds a CR not followed by LF (CR-only line
// endings, tools/csv_reader.h); `st` itself otherwise.
Status WithLineEndingHint(const CsvReader& csv, Status st);

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
  // The ingest's own int64 tree `name` (`what`: what it holds), if the store has it;
  // InvalidArgument if a tree of that name is of another key type or type.
  Result<std::optional<TreeHandle<int64_t>>> ReservedTree(const std::string& name,
                                                          const std::string& what);
  // The group of the store's tree `name` (key type and handle), if the store has one.
  Result<std::optional<Group>> StoredGroup(const std::string& name);
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
  // The groups seen (a handle each; a group the store has is looked up when a row first names
  // it: no list of the store's trees at open). Emptied at a batch's end once it holds more than
  // groups_cached_max_: ~280 B per group, so 2 M groups of short names took ~550 MB outside a
  // 16 MiB budget (adversarial round 17); a group seen again is looked up again.
  std::unordered_map<std::string, Group, StringHash, std::equal_to<>> groups_;
  size_t groups_cached_max_ = SIZE_MAX;  // cache_bytes / 4096, at least 1024; unlimited: all
  uint64_t rows_in_batch_ = 0;
  uint64_t batch_create_bytes_ = 0;  // the batch's tree creations (BatchFull)
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
  int64_t marker_value_ = 0;  // committed value of this input's entry
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

}  // namespace cowtree::tools::ingest_internal

#endif  // COWTREE_TOOLS_INGESTER_H_
