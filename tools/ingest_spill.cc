#include <algorithm>
#include <numeric>

#include "api/loader_merge.h"
#include "tools/ingester.h"
#include "tree/key_codec.h"

namespace cowtree::tools::ingest_internal {
using api_internal::BufferStream;
using api_internal::LoaderTree;
using api_internal::OpStream;
namespace {

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

}  // namespace

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

}  // namespace cowtree::tools::ingest_internal
