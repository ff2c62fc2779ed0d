#include <algorithm>
#include <cstring>

#include "persistence/assert.h"
#include "tools/ingester.h"
#include "tree/key_codec.h"

namespace cowtree::tools::ingest_internal {

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
  batch_groups_.clear();  // no pointer into groups_ is left
  if (groups_.size() > groups_cached_max_) {
    groups_.clear();
    ++stats_.group_table_clears;
  }
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
  batch_create_bytes_ = 0;
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

}  // namespace cowtree::tools::ingest_internal
