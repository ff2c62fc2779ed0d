// BulkLoader (include/cowtree/bulk_loader.h): a SortBuffer (api/sort_buffer.h) of the ops added
// since the last flush, committed in (tree, key) order, commit_ops at a time; with a spill
// directory, full buffers are written as sorted runs (api/loader_run.h) and merged by the flush
// (api/loader_merge.h).
#include "cowtree/bulk_loader.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/internal.h"
#include "api/loader_merge.h"
#include "api/loader_run.h"
#include "api/run_spill.h"
#include "api/sort_buffer.h"
#include "persistence/assert.h"
#include "persistence/commit_record.h"
#include "tree/key_codec.h"

namespace cowtree {
namespace api_internal {

struct LoaderState {
  Store* store = nullptr;
  uint64_t store_serial = 0;
  BulkLoader::Options options;
  uint64_t buffer_bytes = 0;  // the capacity chosen from options.buffer_bytes
  SortBuffer ops;             // group = index into trees
  std::vector<LoaderTree> trees;
  std::unordered_map<TreeId, uint32_t> group_of;  // tree id -> index into trees
  // The group of the previous Add (a run of Adds to one tree takes no hash lookup).
  TreeId last_tree_id = 0;
  uint32_t last_group = 0;
  uint64_t committed_ops = 0;
  uint64_t commits = 0;
  uint64_t skip_ops = 0;  // for the next flush (SkipOps)
  bool in_flush = false;  // Add and Flush from the commit hook are refused
  // Bytes of `trees` and `group_of` (TreeBytes per tree): they count in the buffer's bytes.
  uint64_t tree_bytes = 0;
  std::vector<tree::KeyWeight> run;  // one tree's summed ops of the commit being built
  // The store's budget, charged buffer_bytes as fixed bytes while the loader lives (null
  // without a budget).
  std::shared_ptr<MemoryBudget> budget;
  // Spilling (options.spill_dir not empty): the runs of the ops added since the last flush.
  std::unique_ptr<RunSpill> spill;

  bool spilling() const { return spill != nullptr; }
  uint64_t spilled_ops() const { return spill != nullptr ? spill->spilled_ops() : 0; }
  void DeleteRuns() {
    if (spill != nullptr) spill->DeleteRuns();
  }
  ~LoaderState() {
    spill.reset();  // deletes the runs; releases its charge before the buffer's
    if (budget != nullptr) budget->ChargeFixed(-static_cast<int64_t>(buffer_bytes));
  }
};

}  // namespace api_internal

using api_internal::BufferStream;
using api_internal::LoaderState;
using api_internal::LoaderTree;
using api_internal::MergeStream;
using api_internal::OpStream;
using api_internal::RunSpill;
using api_internal::SortBuffer;

namespace {

constexpr uint64_t kMinBufferBytes = 4096;

// What one tree of a flush costs the loader beside its ops: its LoaderTree with its copy of the
// name, its hash-map node (about four words with the bucket) and its rank in the sort (4 B).
uint64_t TreeBytes(const std::string& name) {
  return sizeof(LoaderTree) + name.size() + 1 + 4 * sizeof(void*) + sizeof(uint32_t);
}
constexpr uint64_t kDefaultBufferBytesUnlimited = 64ull << 20;
constexpr uint64_t kMinDefaultBufferBytes = 1ull << 20;

uint64_t BufferBytesOf(const BulkLoader::Options& options, const Options& store_options) {
  uint64_t bytes = options.buffer_bytes;
  if (bytes == 0) {
    bytes = store_options.cache_bytes == 0
                ? kDefaultBufferBytesUnlimited
                : std::max(store_options.cache_bytes / 4, kMinDefaultBufferBytes);
  }
  return std::max(bytes, kMinBufferBytes);
}

// "key 2.5e-07 (code ...)": tree/key_codec.h's text (a double in its shortest round trip).
std::string KeyText(KeyType type, uint64_t code) {
  return tree::KeyText(api_internal::ToInternal(type), code);
}

}  // namespace

// Appends the summed ops of tree `t` (state_->run: key order, no zero) to `batch` through a
// handle of that tree, and empties them.
void BulkLoader::AppendRun(WriteBatch& batch, const LoaderTree& t) {
  LoaderState& s = *state_;
  if (s.run.empty()) return;
  if (t.type == KeyType::kInt64) {
    api_internal::Access::AddCodes(batch, TreeHandle<int64_t>(s.store_serial, t.tree_id, t.name),
                                   s.run);
  } else {
    api_internal::Access::AddCodes(batch, TreeHandle<double>(s.store_serial, t.tree_id, t.name),
                                   s.run);
  }
  s.run.clear();
}

BulkLoader::BulkLoader(std::unique_ptr<LoaderState> state) : state_(std::move(state)) {}
BulkLoader::~BulkLoader() = default;

Result<std::unique_ptr<BulkLoader>> BulkLoader::Create(Store& store) {
  return Create(store, Options());
}

Result<std::unique_ptr<BulkLoader>> BulkLoader::Create(Store& store, const Options& options) {
  api_internal::StoreState& s = api_internal::Access::Of(store);
  if (options.commit_ops == 0) {
    return Status::InvalidArgument("BulkLoader: commit_ops must be >= 1");
  }
  if (s.options.read_only) {
    return Status::InvalidArgument("BulkLoader: store " + store.dir() + " is open read-only");
  }
  auto state = std::make_unique<LoaderState>();
  state->store = &store;
  state->store_serial = s.serial;
  state->options = options;
  state->buffer_bytes = BufferBytesOf(options, s.options);
  if (!options.spill_dir.empty()) {
    // Checked first: a bad path fails before anything is reserved or charged.
    COWTREE_RETURN_IF_ERROR(CheckPathHasNoNul(options.spill_dir, "BulkLoader: spill_dir"));
  }
  COWTREE_RETURN_IF_ERROR(state->ops.Reserve(state->buffer_bytes, /*weighted=*/false));
  // The buffer counts against the store's budget (fixed bytes: eviction makes room for it).
  std::shared_ptr<MemoryBudget> budget = s.runtime->memory_budget();
  if (budget != nullptr && budget->limited()) {
    budget->ChargeFixed(static_cast<int64_t>(state->buffer_bytes));
    state->budget = std::move(budget);
    state->budget->EnforceBudget();
  }
  if (!options.spill_dir.empty()) {
    Env* env = s.options.env != nullptr ? s.options.env : Env::Default();
    COWTREE_ASSIGN_OR_RETURN(
        state->spill, RunSpill::Create(env, options.spill_dir, state->buffer_bytes,
                                       state->budget.get(), "BulkLoader: spill_dir", store.dir()));
  }
  return std::unique_ptr<BulkLoader>(new BulkLoader(std::move(state)));
}

template <TreeKey K>
Status BulkLoader::Add(const TreeHandle<K>& tree, std::type_identity_t<K> key, int64_t weight) {
  return AddCode(tree.store_serial_, tree.tree_id_, tree.name_, kKeyTypeOf<K>,
                 api_internal::EncodeKey<K>(key), weight);
}

Status BulkLoader::AddCode(uint64_t store_serial, uint64_t tree_id, const std::string& name,
                           KeyType type, uint64_t code, int64_t weight) {
  LoaderState& s = *state_;
  if (s.in_flush) {
    return Status::InvalidArgument("BulkLoader::Add called from the commit hook of a flush");
  }
  if (weight == 0) return Status::OK();
  if (tree_id == 0 || store_serial != s.store_serial) {
    return Status::InvalidArgument("BulkLoader::Add: the handle of tree '" + name +
                                   "' is not a tree of this Store object");
  }
  if (name.empty() || name.size() > kTreeNameBytesMax) {
    // A handle whose CreateTree was refused at its commit (no tree can have this name).
    return Status::InvalidArgument("BulkLoader::Add: tree name of " + std::to_string(name.size()) +
                                   " bytes, expected 1.." + std::to_string(kTreeNameBytesMax));
  }
  uint32_t group = s.last_group;
  if (tree_id != s.last_tree_id || s.trees.empty()) {
    const auto found = s.group_of.find(tree_id);
    group = found != s.group_of.end() ? found->second : static_cast<uint32_t>(s.trees.size());
  }
  const bool new_group = group == s.trees.size();
  if (!new_group && s.trees[group].type != type) {
    return Status::InvalidArgument("BulkLoader::Add: tree '" + name + "' was added to with " +
                                   KeyTypeName(s.trees[group].type) + " keys and now with " +
                                   KeyTypeName(type) + " keys");
  }
  // Full: flush first (the op then starts the next buffer, as the first op of its first tree).
  const uint64_t new_tree_bytes = new_group ? TreeBytes(name) : 0;
  if (s.ops.size() >= SortBuffer::kOpsMax ||
      s.ops.bytes() + s.tree_bytes + new_tree_bytes + s.ops.BytesToAdd(group, weight) >
          s.buffer_bytes) {
    if (s.ops.size() == 0) {
      return Status::InvalidArgument("BulkLoader::Add: the name of tree '" + name.substr(0, 64) +
                                     "' does not fit in buffer_bytes (" +
                                     std::to_string(s.buffer_bytes) + ")");
    }
    COWTREE_RETURN_IF_ERROR(s.spilling() ? Spill() : Flush());
    return AddCode(store_serial, tree_id, name, type, code, weight);
  }
  if (new_group) {
    s.trees.push_back(LoaderTree{tree_id, type, name});
    s.group_of.emplace(tree_id, group);
    s.tree_bytes += new_tree_bytes;
  }
  s.last_tree_id = tree_id;
  s.last_group = group;
  s.ops.Add(group, code, weight);
  return Status::OK();
}

Status BulkLoader::Flush(uint64_t* sequence) {
  LoaderState& s = *state_;
  if (s.in_flush) {
    return Status::InvalidArgument("BulkLoader::Flush called from the commit hook of a flush");
  }
  s.in_flush = true;
  const Status st = FlushBuffer(sequence);
  s.in_flush = false;
  return st;
}

// Sorts the buffer: trees by ascending id when spilling (the order of runs), else in the order of
// their first Add. Returns the tree of each sorted group.
std::vector<const LoaderTree*> BulkLoader::SortHeldOps() {
  LoaderState& s = *state_;
  std::vector<uint32_t> by_rank(s.trees.size());  // old group of each rank
  std::iota(by_rank.begin(), by_rank.end(), 0u);
  if (s.spilling()) {
    std::sort(by_rank.begin(), by_rank.end(),
              [&s](uint32_t a, uint32_t b) { return s.trees[a].tree_id < s.trees[b].tree_id; });
  }
  std::vector<uint32_t> rank(s.trees.size());
  std::vector<const LoaderTree*> tree_of_group(s.trees.size());
  for (uint32_t r = 0; r < by_rank.size(); ++r) {
    rank[by_rank[r]] = r;
    tree_of_group[r] = &s.trees[by_rank[r]];
  }
  s.ops.Sort(rank);
  return tree_of_group;
}

// The buffer is full: sorts it and writes it as a run, then merges full levels of runs. On error
// every op since the last flush is dropped.
Status BulkLoader::Spill() {
  LoaderState& s = *state_;
  const uint64_t held = s.spilled_ops() + s.ops.size();
  Status st;
  {
    const std::vector<const LoaderTree*> tree_of_group = SortHeldOps();
    BufferStream in(s.ops, tree_of_group);
    st = s.spill->Spill(in, s.ops.size());
  }
  ForgetBuffer();
  if (!st.ok()) {
    s.DeleteRuns();
    s.skip_ops = 0;  // as a failed flush: the ops it applied to are gone
    return st.WithContext("BulkLoader: spilling to " + s.options.spill_dir + "; the " +
                          std::to_string(held) + " ops added since the last flush were dropped");
  }
  return Status::OK();
}

Status BulkLoader::FlushBuffer(uint64_t* sequence) {
  LoaderState& s = *state_;
  const uint64_t n = s.spilled_ops() + s.ops.size();
  const uint64_t skip = s.skip_ops;
  s.skip_ops = 0;
  Status result;
  uint64_t committed = 0;  // ops of this flush in successful commits
  uint64_t last_sequence = 0;
  if (skip > n) {
    result = Status::InvalidArgument("SkipOps(" + std::to_string(skip) + ") but the flush holds " +
                                     std::to_string(n) +
                                     " ops (not the same ops as the run that was interrupted?); "
                                     "nothing was committed");
  } else {
    result = CommitInOrder(n, skip, &committed, &last_sequence);
  }
  ForgetBuffer();
  s.DeleteRuns();
  if (!result.ok()) {
    return result.WithContext("BulkLoader::Flush: " + std::to_string(committed) + " of " +
                              std::to_string(n - std::min(skip, n)) + " ops committed");
  }
  COWTREE_ASSERT(skip + committed == n);
  if (sequence != nullptr) {
    *sequence = last_sequence != 0 ? last_sequence : s.store->GetSnapshot().sequence();
  }
  return Status::OK();
}

// Commits the flush's `n` ops in order (the buffer merged with the runs), skipping the first
// `skip`: one pass in which the ops of one key are summed (in 128 bits, which only 2^64 ops of
// one key could pass) and a commit is closed at the first key change after commit_ops
// ops.
Status BulkLoader::CommitInOrder(uint64_t n, uint64_t skip, uint64_t* committed,
                                 uint64_t* last_sequence) {
  LoaderState& s = *state_;
  Store& store = *s.store;
  const std::vector<const LoaderTree*> tree_of_group = SortHeldOps();
  std::unique_ptr<OpStream> in = std::make_unique<BufferStream>(s.ops, tree_of_group);
  if (s.spilling() && s.spill->runs() != 0) {
    // The runs merged with the buffer (their buffers charged to the budget until DeleteRuns).
    COWTREE_ASSIGN_OR_RETURN(in, s.spill->MergeAll(std::move(in)));
  }
  WriteBatch batch = store.NewBatch();
  uint64_t batch_ops = 0;  // ops in `batch`
  LoaderTree run_tree;     // the tree of s.run (and of the current key)
  uint64_t key = 0;        // the current key
  __int128 sum = 0;        // its summed weight
  const auto close_key = [&]() -> Status {
    if (sum < INT64_MIN || sum > INT64_MAX) {
      return Status::InvalidArgument("tree '" + run_tree.name + "': the weights added to " +
                                     KeyText(run_tree.type, key) + " sum past the int64 range");
    }
    if (sum != 0) s.run.push_back(tree::KeyWeight{key, static_cast<int64_t>(sum)});
    return Status::OK();
  };
  const auto commit = [&](bool last) -> Status {
    AppendRun(batch, run_tree);
    if (s.options.commit_hook) {
      const FlushProgress progress{n - skip, skip, skip + *committed + batch_ops, last,
                                   s.spilling() ? FlushOrder::kTreeId : FlushOrder::kFirstAdd};
      COWTREE_RETURN_IF_ERROR(s.options.commit_hook(batch, progress));
    }
    if (!batch.empty()) {  // empty when every sum was 0 (and the hook added nothing)
      COWTREE_RETURN_IF_ERROR(store.Commit(batch, s.options.write_options, last_sequence));
      ++s.commits;
    }
    *committed += batch_ops;
    s.committed_ops += batch_ops;
    batch_ops = 0;
    return Status::OK();
  };
  // The runs' readers check their op counts (RunReader), so the stream holds exactly n ops;
  // checked again here as values, not assertions: the runs are files.
  const auto count_mismatch = [&](uint64_t at) {
    return Status::Corruption("BulkLoader::Flush: the runs in " + s.options.spill_dir + " hold " +
                              (at < n ? "fewer" : "more") + " than the " + std::to_string(n) +
                              " ops written to them and the buffer");
  };
  bool has = false;
  for (uint64_t i = 0; i < skip; ++i) {
    COWTREE_RETURN_IF_ERROR(in->Next(&has));
    if (!has) return count_mismatch(i);
  }
  for (uint64_t i = skip; i < n; ++i) {
    COWTREE_RETURN_IF_ERROR(in->Next(&has));
    if (!has) return count_mismatch(i);
    const LoaderTree& t = in->tree();
    if (i == skip) {
      run_tree = t;
      key = in->key_code();
    } else if (t.tree_id != run_tree.tree_id || in->key_code() != key) {
      COWTREE_ASSERT(t.tree_id != run_tree.tree_id || in->key_code() > key);
      COWTREE_RETURN_IF_ERROR(close_key());
      if (batch_ops >= s.options.commit_ops) {
        COWTREE_RETURN_IF_ERROR(commit(/*last=*/false));
      } else if (t.tree_id != run_tree.tree_id) {
        AppendRun(batch, run_tree);
      }
      if (t.tree_id != run_tree.tree_id) run_tree = t;
      key = in->key_code();
      sum = 0;
    }
    sum += in->weight();
    ++batch_ops;
  }
  COWTREE_RETURN_IF_ERROR(in->Next(&has));
  if (has) return count_mismatch(n + 1);
  if (n > skip) {
    COWTREE_RETURN_IF_ERROR(close_key());
    COWTREE_RETURN_IF_ERROR(commit(/*last=*/true));
  }
  return Status::OK();
}

// Empties the buffer and frees its pages (so that what fills it next is the next ops alone:
// automatic flushes fall where the ops alone say, see Determinism in the header).
void BulkLoader::ForgetBuffer() {
  LoaderState& s = *state_;
  s.ops.Reset();
  std::vector<LoaderTree>().swap(s.trees);  // a flush of many trees frees their names
  std::unordered_map<TreeId, uint32_t>().swap(s.group_of);
  s.tree_bytes = 0;
  s.run.clear();
  s.last_tree_id = 0;
  s.last_group = 0;
}

void BulkLoader::SkipOps(uint64_t ops) { state_->skip_ops = ops; }

uint64_t BulkLoader::buffered_ops() const { return state_->ops.size(); }
uint64_t BulkLoader::spilled_ops() const { return state_->spilled_ops(); }
uint64_t BulkLoader::spilled_runs() const { return state_->spilling() ? state_->spill->runs() : 0; }
uint64_t BulkLoader::buffered_bytes() const { return state_->ops.bytes(); }
uint64_t BulkLoader::buffer_bytes() const { return state_->buffer_bytes; }
uint64_t BulkLoader::committed_ops() const { return state_->committed_ops; }
uint64_t BulkLoader::commits() const { return state_->commits; }

template Status BulkLoader::Add<int64_t>(const TreeHandle<int64_t>&, int64_t, int64_t);
template Status BulkLoader::Add<double>(const TreeHandle<double>&, double, int64_t);

}  // namespace cowtree
