// BulkLoader (include/cowtree/bulk_loader.h): a SortBuffer (api/sort_buffer.h) of the ops added
// since the last flush, committed in (tree, key) order, commit_ops at a time.
#include "cowtree/bulk_loader.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/internal.h"
#include "api/sort_buffer.h"
#include "persistence/assert.h"
#include "tree/key_codec.h"

namespace cowtree {
namespace api_internal {

// One tree added to since the last flush: the handle it came through, rebuilt at commit time.
struct LoaderTree {
  uint64_t tree_id = 0;
  KeyType type = KeyType::kInt64;
  std::string name;
};

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

  ~LoaderState() {
    if (budget != nullptr) budget->ChargeFixed(-static_cast<int64_t>(buffer_bytes));
  }
};

}  // namespace api_internal

using api_internal::LoaderState;
using api_internal::LoaderTree;
using api_internal::SortBuffer;
using api_internal::SortedOp;

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

// Appends the summed ops of tree `group` (state_->run: key order, no zero) to `batch` through a
// handle of that tree, and empties them.
void BulkLoader::AppendRun(WriteBatch& batch, uint32_t group) {
  LoaderState& s = *state_;
  if (s.run.empty()) return;
  const LoaderTree& t = s.trees[group];
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
  COWTREE_RETURN_IF_ERROR(state->ops.Reserve(state->buffer_bytes, /*weighted=*/false));
  // The buffer counts against the store's budget (fixed bytes: eviction makes room for it).
  std::shared_ptr<MemoryBudget> budget = s.runtime->memory_budget();
  if (budget != nullptr && budget->limited()) {
    budget->ChargeFixed(static_cast<int64_t>(state->buffer_bytes));
    state->budget = std::move(budget);
    state->budget->EnforceBudget();
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
    COWTREE_RETURN_IF_ERROR(Flush());
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

Status BulkLoader::FlushBuffer(uint64_t* sequence) {
  LoaderState& s = *state_;
  Store& store = *s.store;
  const size_t n = s.ops.size();
  const uint64_t skip = s.skip_ops;
  s.skip_ops = 0;
  if (skip > n) {
    ForgetBuffer();
    return Status::InvalidArgument("BulkLoader::Flush: SkipOps(" + std::to_string(skip) +
                                   ") but the flush holds " + std::to_string(n) +
                                   " ops (not the same ops as the run that was interrupted?); "
                                   "nothing was committed");
  }
  std::vector<uint32_t> rank(s.trees.size());
  std::iota(rank.begin(), rank.end(), 0u);
  s.ops.Sort(rank);
  // One pass in sorted order: the ops of one key are summed (128 bits: at most 2^32 int64
  // weights) and a commit is closed at the first key change after commit_ops ops.
  WriteBatch batch = store.NewBatch();
  uint64_t committed = 0;  // ops of this flush in successful commits
  uint64_t batch_ops = 0;  // ops in `batch`
  uint32_t run_group = 0;  // the tree of s.run (and of the current key)
  uint64_t key = 0;        // the current key
  __int128 sum = 0;        // its summed weight
  uint64_t last_sequence = 0;
  Status result;
  const auto fail = [&](Status st) {
    return st.WithContext("BulkLoader::Flush: " + std::to_string(committed) + " of " +
                          std::to_string(n - skip) + " ops committed");
  };
  const auto close_key = [&]() -> Status {
    const LoaderTree& t = s.trees[run_group];
    if (sum < INT64_MIN || sum > INT64_MAX) {
      return Status::InvalidArgument("tree '" + t.name + "': the weights added to " +
                                     KeyText(t.type, key) + " sum past the int64 range");
    }
    if (sum != 0) s.run.push_back(tree::KeyWeight{key, static_cast<int64_t>(sum)});
    return Status::OK();
  };
  const auto commit = [&](bool last) -> Status {
    AppendRun(batch, run_group);
    if (s.options.commit_hook) {
      const FlushProgress progress{n - skip, skip, skip + committed + batch_ops, last};
      COWTREE_RETURN_IF_ERROR(s.options.commit_hook(batch, progress));
    }
    if (!batch.empty()) {  // empty when every sum was 0 (and the hook added nothing)
      COWTREE_RETURN_IF_ERROR(store.Commit(batch, s.options.write_options, &last_sequence));
      ++s.commits;
    }
    committed += batch_ops;
    s.committed_ops += batch_ops;
    batch_ops = 0;
    return Status::OK();
  };
  for (size_t i = skip; i < n && result.ok(); ++i) {
    const SortedOp op = s.ops.op(i);
    if (i == skip) {
      run_group = op.group;
      key = op.key_code;
    } else if (op.group != run_group || op.key_code != key) {
      result = close_key();
      if (result.ok() && batch_ops >= s.options.commit_ops) {
        result = commit(/*last=*/false);
      } else if (result.ok() && op.group != run_group) {
        AppendRun(batch, run_group);
      }
      COWTREE_ASSERT(op.group > run_group || (op.group == run_group && op.key_code > key));
      run_group = op.group;
      key = op.key_code;
      sum = 0;
    }
    sum += op.weight;
    ++batch_ops;
  }
  if (result.ok() && n > skip) result = close_key();
  if (result.ok() && n > skip) result = commit(/*last=*/true);
  ForgetBuffer();
  if (!result.ok()) return fail(result);
  COWTREE_ASSERT(skip + committed == n);
  if (sequence != nullptr) {
    *sequence = last_sequence != 0 ? last_sequence : store.GetSnapshot().sequence();
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
uint64_t BulkLoader::buffered_bytes() const { return state_->ops.bytes(); }
uint64_t BulkLoader::buffer_bytes() const { return state_->buffer_bytes; }
uint64_t BulkLoader::committed_ops() const { return state_->committed_ops; }
uint64_t BulkLoader::commits() const { return state_->commits; }

template Status BulkLoader::Add<int64_t>(const TreeHandle<int64_t>&, int64_t, int64_t);
template Status BulkLoader::Add<double>(const TreeHandle<double>&, double, int64_t);

}  // namespace cowtree
