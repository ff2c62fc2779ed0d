// Store, WriteBatch and TreeHandle (include/cowtree/store.h) over recovery::Open and the Runtime.
#include "cowtree/store.h"

#include <algorithm>
#include <atomic>

#include "api/internal.h"
#include "recovery/open.h"

namespace cowtree {
namespace {

using api_internal::BatchState;
using api_internal::StoreState;

std::atomic<uint64_t> g_next_store_serial{1};

// The key type of a tree of the order-statistics type; nullopt for other tree types.
// From the catalog's params: no tree is restored.
std::optional<KeyType> KeyTypeOfTree(const TreeInfo& info) {
  std::optional<tree::KeyType> kt = tree::OrderStatKeyTypeOf(info.type_id, info.params);
  if (!kt.has_value()) return std::nullopt;
  return api_internal::FromInternal(*kt);
}

// The key type of live tree `id` in the newest snapshot; nullopt if there is none.
std::optional<KeyType> LiveKeyType(Runtime& runtime, TreeId id) {
  RuntimeSnapshot snap = runtime.GetSnapshot();
  std::optional<TreeInfo> info = runtime.DescribeTree(id, snap);
  if (!info.has_value()) return std::nullopt;
  return KeyTypeOfTree(*info);
}

std::string HandleText(TreeId id) { return "tree handle (tree id " + std::to_string(id) + ")"; }

}  // namespace

// ---- WriteBatch ----

WriteBatch::WriteBatch(std::unique_ptr<BatchState> state) : state_(std::move(state)) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

// A moved-from batch (state_ null) records nothing and its Commit is InvalidArgument
// (include/cowtree/store.h): never a crash.
template <TreeKey K>
TreeHandle<K> WriteBatch::CreateTree(std::string name) {
  if (state_ == nullptr) return TreeHandle<K>();
  const TreeId id =
      state_->batch.CreateTree(name, tree::kOrderStatTreeTypeId,
                               tree::OrderStatTreeParams(api_internal::ToInternal(kKeyTypeOf<K>)));
  state_->creates[id] = kKeyTypeOf<K>;
  return TreeHandle<K>(state_->store->serial, id, std::move(name));
}

template <TreeKey K>
void WriteBatch::DropTree(const TreeHandle<K>& tree) {
  if (state_ == nullptr) return;
  if (state_->seen.emplace(tree.store_serial_, tree.tree_id_, kKeyTypeOf<K>, true).second) {
    state_->uses.push_back({tree.store_serial_, tree.tree_id_, kKeyTypeOf<K>, /*drop=*/true});
  }
  if (tree.tree_id_ != 0) state_->batch.DropTree(tree.tree_id_);
}

template <TreeKey K>
void WriteBatch::Add(const TreeHandle<K>& tree, std::type_identity_t<K> key, int64_t weight) {
  AddCode(tree.store_serial_, tree.tree_id_, kKeyTypeOf<K>, api_internal::EncodeKey<K>(key),
          weight);
}

void WriteBatch::AddCode(uint64_t store_serial, uint64_t tree_id, KeyType type, uint64_t code,
                         int64_t weight) {
  if (weight == 0 || state_ == nullptr) return;
  // One hash lookup per Add (none for a run of Adds to one tree).
  BatchState& b = *state_;
  if (b.last_ops == nullptr || b.last_ops_id != tree_id || b.last_serial != store_serial ||
      b.last_type != type) {
    std::string* ops = api_internal::OpsForAdd(b, store_serial, tree_id, type);
    if (ops == nullptr) return;
    b.last_ops = ops;
    b.last_ops_id = tree_id;
    b.last_serial = store_serial;
    b.last_type = type;
  }
  tree::AppendOrderStatOp(b.last_ops, code, weight);
}

bool WriteBatch::empty() const {
  return state_ == nullptr || (state_->batch.empty() && state_->uses.empty());
}

void WriteBatch::Clear() {
  if (state_ == nullptr) return;
  state_->batch.Clear();
  state_->last_ops = nullptr;
  state_->last_ops_id = 0;
  state_->uses.clear();
  state_->seen.clear();
  state_->adds.clear();
  state_->creates.clear();
}

namespace api_internal {

std::string* OpsForAdd(BatchState& b, uint64_t store_serial, TreeId tree_id, KeyType type) {
  auto [it, inserted] = b.adds.try_emplace(tree_id);
  BatchState::AddTarget& target = it->second;
  if (inserted) {
    target = {store_serial, type, tree_id == 0 ? nullptr : b.batch.MutableOps(tree_id)};
    b.uses.push_back({store_serial, tree_id, type, /*drop=*/false});
  } else if (target.store_serial != store_serial || target.type != type) {
    // The same id through another store's or another key type's handle: Commit refuses it.
    if (b.seen.emplace(store_serial, tree_id, type, false).second) {
      b.uses.push_back({store_serial, tree_id, type, /*drop=*/false});
    }
    return nullptr;
  }
  return target.ops;  // null for the invalid id 0: Commit refuses the batch
}

}  // namespace api_internal

// ---- Store ----

Store::Store(std::shared_ptr<StoreState> state) : state_(std::move(state)) {}

Store::~Store() {
  if (state_ != nullptr) (void)state_->runtime->Close();
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const Options& options) {
  COWTREE_RETURN_IF_ERROR(CheckPathHasNoNul(dir, "Store::Open: the directory path"));
  RuntimeOptions ro;
  ro.create_if_missing = options.create_if_missing;
  ro.error_if_exists = options.error_if_exists;
  ro.read_only = options.read_only;
  ro.durability = options.durability;
  ro.sync_interval_ms = options.sync_interval_ms;
  ro.flush_interval_ms = options.flush_interval_ms;
  ro.checkpoint_log_bytes = options.checkpoint_log_bytes;
  ro.checkpoint_interval_ms = options.checkpoint_interval_ms;
  ro.checkpoint_on_close = options.checkpoint_on_close;
  ro.log_file_size_max_bytes = options.log_file_size_max_bytes;
  ro.log_zero_fill_bytes = options.log_zero_fill_bytes;
  ro.leaf_capacity_entries = options.leaf_capacity_entries;
  ro.leaf_capacity_bytes = options.leaf_capacity_bytes;
  ro.hot_trees_min = options.hot_trees_min;
  ro.checkpoint_dirty_trees = options.checkpoint_dirty_trees;
  ro.demotion_pass_promotions = options.demotion_pass_promotions;
  ro.fanout = options.fanout;
  ro.env = options.env;
  ro.background_thread = options.background_thread;
  ro.cache_bytes = options.cache_bytes;
  ro.cache_dirty_percent = options.cache_dirty_percent;
  recovery::OpenReport report;
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> runtime, recovery::Open(dir, ro, &report));
  auto state = std::make_shared<StoreState>();
  state->runtime = std::shared_ptr<Runtime>(std::move(runtime));
  state->serial = g_next_store_serial.fetch_add(1, std::memory_order_relaxed);
  state->options = options;
  state->open_info.created = report.created;
  state->open_info.commits_replayed = report.commits_replayed;
  // state->types fills as trees are used (LiveKeyType): opening lists no tree.
  return std::unique_ptr<Store>(new Store(std::move(state)));
}

WriteBatch Store::NewBatch() { return WriteBatch(std::make_unique<BatchState>(state_)); }

Status Store::Commit(WriteBatch& batch, const WriteOptions& write_options, uint64_t* sequence) {
  if (batch.state_ == nullptr) {
    return Status::InvalidArgument("batch was moved from (its contents went with it)");
  }
  BatchState& b = *batch.state_;
  if (b.store != state_) {
    return Status::InvalidArgument("batch was made by another Store object");
  }
  // Validate every handle before anything changes. The runtime re-checks under its writer
  // lock that dropped / written trees are live (a concurrent drop is caught there).
  {
    std::lock_guard<std::mutex> g(state_->types_mu);
    for (const BatchState::Use& u : b.uses) {
      if (u.id == 0) return Status::InvalidArgument("invalid (default-constructed) tree handle");
      if (u.store_serial != state_->serial) {
        return Status::InvalidArgument(HandleText(u.id) +
                                       " belongs to another Store object (or another store)");
      }
      std::optional<KeyType> actual;
      if (auto c = b.creates.find(u.id); c != b.creates.end()) {
        if (u.drop) {
          return Status::InvalidArgument(HandleText(u.id) +
                                         ": a tree cannot be dropped in the batch that creates it");
        }
        actual = c->second;
      } else if (auto t = state_->types.find(u.id); t != state_->types.end()) {
        actual = t->second;
      } else if (auto live = LiveKeyType(*state_->runtime, u.id)) {
        // Not seen yet (e.g. created by a commit that is still publishing its ids).
        actual = *live;
        state_->types[u.id] = *live;
      } else {
        return Status::InvalidArgument(HandleText(u.id) +
                                       ": no such tree (its creation was never committed)");
      }
      if (*actual != u.type) {
        return Status::InvalidArgument(HandleText(u.id) + " is a " + KeyTypeName(u.type) +
                                       " handle but the tree has " + KeyTypeName(*actual) +
                                       " keys");
      }
    }
    for (const BatchState::Use& u : b.uses) {
      if (u.drop) continue;
      for (TreeId d : b.batch.drops()) {
        if (d == u.id) {
          return Status::InvalidArgument(HandleText(u.id) +
                                         ": ops for a tree dropped in the same batch");
        }
      }
    }
  }
  // WriteOptions::sync: the runtime syncs before the commit becomes visible (a failed
  // fdatasync then leaves it invisible and the batch as it was, as in kStrict).
  Status st = state_->runtime->Commit(b.batch, sequence, write_options.sync);
  if (!st.ok()) {
    if (st.IsInvalidArgument() && st.message().find("unknown tree id") != std::string::npos) {
      return Status::InvalidArgument(st.message() + " (the tree was dropped)");
    }
    return st;
  }
  if (!b.creates.empty()) {  // most commits create nothing: no second trip through the lock
    std::lock_guard<std::mutex> g(state_->types_mu);
    for (const auto& [id, type] : b.creates) state_->types[id] = type;
  }
  batch.Clear();  // committed: a second Commit of the same batch must not apply it twice
  return Status::OK();
}

template <TreeKey K>
Result<TreeHandle<K>> Store::Tree(const std::string& name) {
  RuntimeSnapshot snap = state_->runtime->GetSnapshot();
  COWTREE_ASSIGN_OR_RETURN(TreeInfo info, state_->runtime->FindTree(name, snap));
  std::optional<KeyType> type = KeyTypeOfTree(info);
  if (!type.has_value()) {
    return Status::NotSupported("tree '" + name + "' is not an order-statistics tree");
  }
  if (*type != kKeyTypeOf<K>) {
    return Status::InvalidArgument("tree '" + name + "' has " + KeyTypeName(*type) + " keys, not " +
                                   KeyTypeName(kKeyTypeOf<K>));
  }
  {
    std::lock_guard<std::mutex> g(state_->types_mu);
    state_->types[info.id] = *type;
  }
  return TreeHandle<K>(state_->serial, info.id, name);
}

Snapshot Store::GetSnapshot() {
  auto s = std::make_shared<api_internal::SnapshotState>();
  s->runtime = state_->runtime;
  s->pin = state_->runtime->GetSnapshot();
  return Snapshot(std::move(s));
}

Status Store::Checkpoint() { return state_->runtime->Checkpoint(); }

namespace {
Store::CheckpointInfo ToInfo(const ManifestRetainedCheckpoint& c) {
  return Store::CheckpointInfo{c.name, c.epoch, c.created_unix_ms, c.tree_count, c.live_bytes};
}
}  // namespace

Status Store::Checkpoint(const std::string& name, CheckpointInfo* info) {
  ManifestRetainedCheckpoint c;
  COWTREE_RETURN_IF_ERROR(state_->runtime->RetainCheckpoint(name, &c));
  if (info != nullptr) *info = ToInfo(c);
  return Status::OK();
}

std::vector<Store::CheckpointInfo> Store::ListCheckpoints() {
  std::vector<CheckpointInfo> out;
  for (const ManifestRetainedCheckpoint& c : state_->runtime->ListRetainedCheckpoints()) {
    out.push_back(ToInfo(c));
  }
  return out;
}

Status Store::DeleteCheckpoint(const std::string& name) {
  return state_->runtime->DeleteRetainedCheckpoint(name);
}

Status Store::KeepLastCheckpoints(size_t keep_last, const std::vector<std::string>& except,
                                  std::vector<std::string>* deleted) {
  return state_->runtime->TrimRetainedCheckpoints(keep_last, except, deleted);
}

Result<Snapshot> Store::GetCheckpointSnapshot(const std::string& name) {
  auto s = std::make_shared<api_internal::SnapshotState>();
  s->runtime = state_->runtime;
  COWTREE_ASSIGN_OR_RETURN(s->view, recovery::CheckpointView::Open(state_->runtime, name));
  return Snapshot(std::move(s));
}
Status Store::Sync() { return state_->runtime->SyncLog(); }
Status Store::Close() { return state_->runtime->Close(); }
const std::string& Store::dir() const { return state_->runtime->dir(); }
const Store::OpenInfo& Store::open_info() const { return state_->open_info; }

Store::LogStats Store::log_stats() const {
  const LogWriterStats s = state_->runtime->GetLogStats();
  return LogStats{s.records_appended, s.syncs, s.writes, s.sync_requests};
}

template TreeHandle<int64_t> WriteBatch::CreateTree<int64_t>(std::string);
template TreeHandle<double> WriteBatch::CreateTree<double>(std::string);
template void WriteBatch::DropTree<int64_t>(const TreeHandle<int64_t>&);
template void WriteBatch::DropTree<double>(const TreeHandle<double>&);
template void WriteBatch::Add<int64_t>(const TreeHandle<int64_t>&, int64_t, int64_t);
template void WriteBatch::Add<double>(const TreeHandle<double>&, double, int64_t);
template Result<TreeHandle<int64_t>> Store::Tree<int64_t>(const std::string&);
template Result<TreeHandle<double>> Store::Tree<double>(const std::string&);

}  // namespace cowtree
