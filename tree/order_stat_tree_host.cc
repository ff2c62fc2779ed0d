// OrderStatTreeHost: the order-statistics tree hosted by the Runtime (see order_stat_tree_type.h).
#include <algorithm>
#include <iterator>
#include <optional>

#include "persistence/assert.h"
#include "persistence/catalog_format.h"
#include "persistence/coding.h"
#include "persistence/object_store.h"
#include "tree/apply.h"
#include "tree/checkpoint_summaries.h"
#include "tree/key_codec.h"
#include "tree/leaf_merge.h"
#include "tree/leaf_pool.h"
#include "tree/node_format.h"
#include "tree/order_stat_ops.h"
#include "tree/order_stat_tree_type.h"
#include "tree/summaries.h"
#include "tree/summary_format.h"

namespace cowtree::tree {
namespace {

class FrozenOrderStatTree final : public FrozenTree {
 public:
  FrozenOrderStatTree(OrderStatTreeHost* host, std::shared_ptr<const TreeVersion> version)
      : host_(host), version_(std::move(version)) {}

  Result<TreeCheckpointResult> Write(ObjectStore* store, uint64_t checkpoint_epoch) override {
    const TreeVersion& v = *version_;
    if (v.leaf_count <= 1) {
      // Only an empty or one-leaf tree can be inline (docs/catalog.md "Inline trees").
      COWTREE_ASSIGN_OR_RETURN(std::optional<std::string> inline_body, InlineBody(v, Summaries(v)));
      if (inline_body.has_value()) return WriteInline(std::move(*inline_body));
    }
    // The summaries in O(what changed since the published checkpoint), not O(leaves)
    // (tree/checkpoint_summaries.h): under a small budget every commit checkpoints.
    const OrderStatTreeHost::PersistedState& published = host_->published();
    const uint64_t published_epoch =
        published.descriptor.valid() && published.version != nullptr ? published.version->epoch : 0;
    CheckpointSummaries c = CollectCheckpointSummaries(v, published_epoch, published.index.chunks);
    COWTREE_ASSERT(c.summaries.size() == v.leaf_count);
    written_.reserve(c.dirty.size());
    for (size_t i = 0; i < c.dirty.size(); ++i) {
      auto& [index, box] = c.dirty[i];
      // The boxes are cold (a random commit dirties leaves all over the tree): request the box
      // a few leaves ahead, and the content of the one after next.
      if (i + kPrefetchBoxesAhead < c.dirty.size()) {
        __builtin_prefetch(c.dirty[i + kPrefetchBoxesAhead].second.get());
      }
      if (i + kPrefetchContentAhead < c.dirty.size()) {
        c.dirty[i + kPrefetchContentAhead].second->PrefetchContent();
      }
      // A dirty leaf is always in memory: it has never been written anywhere else.
      const LeafData& data = *box->DirtyContent();
      COWTREE_ASSERT(!c.summaries[index].leaf_id.valid());
      COWTREE_ASSIGN_OR_RETURN(NodeID id, store->WriteObject(ObjectKind::kLeaf, checkpoint_epoch,
                                                             EncodeLeaf(v.key_type, data)));
      c.summaries[index].leaf_id = id;
      // Marked persisted only once the checkpoint is published (OnPublished): an aborted
      // checkpoint discards this object and the box stays dirty.
      written_.emplace_back(std::move(box), id);
    }
    std::vector<std::pair<size_t, std::shared_ptr<LeafBox>>>().swap(c.dirty);
    state_.version = version_;
    TreeDescriptor desc;
    desc.key_type = v.key_type;
    desc.leaf_capacity_entries = v.shape.leaf_capacity_entries;
    desc.fanout = v.shape.fanout;
    desc.positive_count = v.positive_count;
    desc.entry_count = v.entry_count;
    desc.leaf_count = v.leaf_count;
    const ChunkWriteFn write = [&](ObjectKind kind, std::string body) {
      return store->WriteObject(kind, checkpoint_epoch, body);
    };
    COWTREE_RETURN_IF_ERROR(WriteSummaryIndex(v.key_type, c.summaries, published.index,
                                              host_->index_limits(), write, &desc, &state_.index));
    COWTREE_ASSIGN_OR_RETURN(state_.descriptor,
                             store->WriteObject(ObjectKind::kTreeDescriptor, checkpoint_epoch,
                                                EncodeTreeDescriptor(desc)));
    // Retired: every object of the previous checkpoint that the new one does not reference —
    // its descriptor, its chunks the new index does not reuse, and the leaves found above.
    TreeCheckpointResult result;
    result.persisted.descriptor = state_.descriptor;
    result.retired = std::move(c.retired_leaves);
    if (published.descriptor.valid()) {
      result.retired.push_back(published.descriptor);
      std::vector<NodeID> old_chunks, new_chunks;
      published.index.AppendChunkIds(&old_chunks);
      state_.index.AppendChunkIds(&new_chunks);
      const auto by_raw = [](NodeID a, NodeID b) { return a.raw() < b.raw(); };
      std::sort(old_chunks.begin(), old_chunks.end(), by_raw);
      std::sort(new_chunks.begin(), new_chunks.end(), by_raw);
      std::set_difference(old_chunks.begin(), old_chunks.end(), new_chunks.begin(),
                          new_chunks.end(), std::back_inserter(result.retired), by_raw);
    }
    return result;
  }

  void OnPublished() override {
    for (auto& [box, id] : written_) LeafBox::MarkPersisted(box, id);
    // Inline now: the objects of the previous state are retired, the leaf among them if it was
    // clean, and the live version keeps that leaf. It stays in memory for good, as the leaf of
    // an inline tree restored from its catalog entry (a reload from the retired object, once
    // reclaimed, failed with NotFound "stale": found by an adversarial run).
    if (inline_leaf_ != nullptr) {
      LeafBox::DetachFromObject(inline_leaf_, std::move(inline_content_));
    }
    host_->SetPublished(std::move(state_));
  }

 private:
  // The inline state of `v` if the tree is small enough (docs/catalog.md "Inline trees"): no
  // leaf (empty body), or one leaf whose body fits kCatalogInlineBytesMax (the leaf body
  // itself). nullopt: the tree is written as objects.
  Result<std::optional<std::string>> InlineBody(const TreeVersion& v,
                                                const std::vector<LeafSummary>& leaves) {
    if (leaves.empty()) return std::optional<std::string>(std::string());
    // The smallest body of n entries (every gap one byte, unit weights) rules out large leaves
    // before their content is needed.
    const size_t n = leaves.size() == 1 ? leaves[0].entry_count : 0;
    if (n == 0 || LeafBodyBytesMin(n) > kCatalogInlineBytesMax) {
      return std::optional<std::string>();
    }
    // A clean leaf may have been evicted (a tree that shrank to one leaf): load it back.
    COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> data,
                             LeafBox::Load(leaves[0].box, host_));
    std::string body = EncodeLeaf(v.key_type, *data);
    if (body.size() > kCatalogInlineBytesMax) return std::optional<std::string>();
    inline_leaf_ = leaves[0].box;
    inline_content_ = std::move(data);
    return std::optional<std::string>(std::move(body));
  }

  // An inline checkpoint: no object written; every object of the previous state is retired.
  Result<TreeCheckpointResult> WriteInline(std::string body) {
    COWTREE_ASSERT(body.size() <= kCatalogInlineBytesMax);
    state_.version = version_;
    state_.descriptor = NodeID();
    state_.index = PersistedIndex();
    TreeCheckpointResult result;
    result.persisted.inline_body = std::move(body);
    result.retired = host_->PersistedObjects();
    return result;
  }

  // How far ahead of the leaf being written Write prefetches the box, and its content.
  static constexpr size_t kPrefetchBoxesAhead = 8;
  static constexpr size_t kPrefetchContentAhead = 2;

  OrderStatTreeHost* host_;
  std::shared_ptr<const TreeVersion> version_;
  OrderStatTreeHost::PersistedState state_;
  std::vector<std::pair<std::shared_ptr<LeafBox>, NodeID>> written_;  // leaves written by Write
  // The one leaf of an inline checkpoint and its content (InlineBody); null otherwise.
  std::shared_ptr<LeafBox> inline_leaf_;
  std::shared_ptr<const LeafData> inline_content_;
};

class OrderStatTreeType final : public TreeType {
 public:
  OrderStatTreeType(TreeShape shape, SummaryIndexLimits index_limits)
      : shape_(shape), index_limits_(index_limits) {
    COWTREE_ASSERT(index_limits_.Validate().ok());
  }
  uint8_t type_id() const override { return kOrderStatTreeTypeId; }
  std::string_view name() const override { return "order-statistics"; }
  Status ValidateParams(std::string_view params) const override {
    if (params.size() != kOrderStatParamsBytes) {
      return Status::InvalidArgument("order-statistics tree params must be 8 bytes");
    }
    const auto kt = static_cast<uint8_t>(params[0]);
    if (kt != static_cast<uint8_t>(KeyType::kInt64) &&
        kt != static_cast<uint8_t>(KeyType::kDouble)) {
      return Status::InvalidArgument("unknown key type " + std::to_string(kt));
    }
    for (size_t i = 1; i < kOrderStatParamsBytes; ++i) {
      if (params[i] != 0) return Status::InvalidArgument("reserved params bytes not zero");
    }
    return Status::OK();
  }
  Result<std::unique_ptr<HostedTree>> Create(std::string_view params,
                                             TreeEnvironment* env) override {
    COWTREE_RETURN_IF_ERROR(ValidateParams(params));
    return std::unique_ptr<HostedTree>(
        new OrderStatTreeHost(static_cast<KeyType>(params[0]), shape_, env, index_limits_));
  }
  // A new tree that fits one inline leaf is encoded here, with no tree built: the ops sorted
  // and summed as Apply sorts and sums them (DecodeOrderStatOps), then checked for what Apply
  // would refuse (a non-canonical key, N over 2^64 - 1: nullopt, and Apply reports it). On an
  // empty tree Apply writes n <= leaf_capacity_entries entries of a body within
  // leaf_capacity_bytes (if set) as one leaf, which the
  // checkpoint stores inline when its body fits kCatalogInlineBytesMax — the same bytes as
  // EncodeLeaf here (tests/tree_inline_create_test.cc compares both paths).
  std::optional<std::string> InlineBodyOfNewTree(std::string_view params,
                                                 std::string_view ops) override {
    COWTREE_DASSERT(ValidateParams(params).ok());
    const auto key_type = static_cast<KeyType>(params[0]);
    if (ops.empty()) return std::string();  // an empty tree: the empty inline body
    if (ops.size() / kOrderStatOpBytes > shape_.leaf_capacity_entries) return std::nullopt;
    if (!DecodeOrderStatOps(ops, key_type, &scratch_ops_).ok()) return std::nullopt;
    if (scratch_ops_.empty()) return std::string();  // the ops cancel out
    const size_t n = scratch_ops_.size();
    if (n > shape_.leaf_capacity_entries || LeafBodyBytesMin(n) > kCatalogInlineBytesMax) {
      return std::nullopt;
    }
    LeafData& leaf = scratch_leaf_;
    leaf.keys.resize(n);
    leaf.weights.resize(n);
    bool unit = true;
    for (size_t i = 0; i < n; ++i) {
      const KeyWeight& op = scratch_ops_[i];
      if (!IsCanonicalKey(key_type, op.key)) return std::nullopt;
      leaf.keys[i] = op.key;
      leaf.weights[i] = op.weight;
      unit &= op.weight == 1;
    }
    if (unit) leaf.weights.clear();  // as the writer builds it (implicit unit weights)
    uint64_t pos_sum = 0;
    if (!LeafPositiveSum(leaf, &pos_sum)) return std::nullopt;
    const size_t body_bytes = EncodedLeafBytes(leaf);
    if (body_bytes > kCatalogInlineBytesMax) return std::nullopt;
    // Apply would split it by bytes (SplitLeaf): not one leaf.
    if (shape_.leaf_capacity_bytes != 0 && body_bytes > shape_.leaf_capacity_bytes) {
      return std::nullopt;
    }
    return EncodeLeaf(key_type, leaf);
  }
  Result<std::unique_ptr<HostedTree>> Load(std::string_view params,
                                           const PersistedTreeRef& persisted,
                                           uint64_t checkpoint_epoch,
                                           TreeEnvironment* env) override {
    Status p = ValidateParams(params);
    if (!p.ok()) return Status::Corruption("catalog params: " + p.message());
    const auto key_type = static_cast<KeyType>(params[0]);
    if (persisted.is_inline())
      return LoadInline(key_type, persisted.inline_body, checkpoint_epoch, env);
    const NodeID descriptor = persisted.descriptor;
    ObjectStore* store = env->object_store();
    COWTREE_ASSIGN_OR_RETURN(std::string body,
                             store->ReadObject(descriptor, ObjectKind::kTreeDescriptor));
    COWTREE_ASSIGN_OR_RETURN(TreeDescriptor desc, DecodeTreeDescriptor(body));
    if (desc.key_type != key_type) {
      return Status::Corruption("tree descriptor key type differs from the catalog's");
    }
    OrderStatTreeHost::PersistedState state;
    state.descriptor = descriptor;
    state.index.levels.resize(desc.index_height - 1);
    SummaryIndexReader reader;
    reader.read = [store](NodeID id, ObjectKind kind) { return store->ReadObject(id, kind); };
    reader.on_index_chunk = [&](NodeID id, const IndexChunk& chunk) {
      state.index.levels[chunk.level - 1].push_back(OldIndexChunk{id, chunk.refs});
    };
    reader.on_summary_chunk = [&](NodeID id, std::vector<PersistedSummary> summaries) {
      state.index.chunks.push_back(OldChunk{id, std::move(summaries)});
    };
    Status read = ReadSummaryIndex(desc, reader);
    if (!read.ok()) {
      if (read.IsCorruption()) {
        return Status::Corruption("summary index of tree descriptor " +
                                  std::to_string(descriptor.raw()) + ": " + read.message());
      }
      return read;
    }
    auto host = std::make_unique<OrderStatTreeHost>(key_type, shape_, env, index_limits_);
    // The summaries stay in their chunks (kept to plan the next checkpoint): no second copy.
    std::vector<SummaryRun> runs;
    runs.reserve(state.index.chunks.size());
    for (const OldChunk& c : state.index.chunks) runs.push_back(c.summaries);
    COWTREE_ASSIGN_OR_RETURN(
        state.version, BuildFromSummaryRuns(key_type, shape_, runs, checkpoint_epoch, host.get()));
    if (state.version->positive_count != desc.positive_count ||
        state.version->entry_count != desc.entry_count ||
        state.version->leaf_count != desc.leaf_count) {
      return Status::Corruption("tree descriptor " + std::to_string(descriptor.raw()) +
                                ": N/entry/leaf counts differ from the sum of its summaries");
    }
    host->InstallRecovered(std::move(state));
    return std::unique_ptr<HostedTree>(std::move(host));
  }

  Result<TreeCounts> PersistedCounts(std::string_view params, const PersistedTreeRef& persisted,
                                     TreeEnvironment* env) override {
    Status p = ValidateParams(params);
    if (!p.ok()) return Status::Corruption("catalog params: " + p.message());
    const auto key_type = static_cast<KeyType>(params[0]);
    if (persisted.is_inline()) {
      if (persisted.inline_body.empty()) return TreeCounts{};
      COWTREE_ASSIGN_OR_RETURN(auto leaf, DecodeLeaf(persisted.inline_body, key_type));
      return TreeCounts{leaf->entry_count(), 1};
    }
    COWTREE_ASSIGN_OR_RETURN(
        std::string body,
        env->object_store()->ReadObject(persisted.descriptor, ObjectKind::kTreeDescriptor));
    COWTREE_ASSIGN_OR_RETURN(TreeDescriptor desc, DecodeTreeDescriptor(body));
    return TreeCounts{desc.entry_count, desc.leaf_count};
  }

 private:
  // An inline tree: empty, or the one leaf body (tree/node_format.h), rebuilt by applying its
  // entries to an empty tree at the checkpoint epoch (no object read) — as ONE leaf whatever
  // this shape's capacity (a leaf over capacity is allowed until its next write splits it:
  // tree/tree_shape.h). Several leaves (a store reopened with smaller leaves) would be dirty
  // leaves of the restore that no checkpoint writes until a commit changes one of them; the
  // others would then be written by that later checkpoint, objects born later than their
  // content, which a held snapshot reads and the reclamation rule of
  // persistence/snapshot_intervals.h would free (found by an adversarial run). One leaf is
  // replaced whole by any write.
  Result<std::unique_ptr<HostedTree>> LoadInline(KeyType key_type, std::string_view body,
                                                 uint64_t checkpoint_epoch, TreeEnvironment* env) {
    auto host = std::make_unique<OrderStatTreeHost>(key_type, shape_, env, index_limits_);
    if (!body.empty()) {
      COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf, DecodeLeaf(body, key_type));
      if (leaf->entry_count() > kLeafCapacityMax) {
        return Status::Corruption("inline tree of " + std::to_string(leaf->entry_count()) +
                                  " entries: more than one leaf holds (" +
                                  std::to_string(kLeafCapacityMax) + ")");
      }
      std::vector<KeyWeight> entries(leaf->entry_count());
      for (size_t i = 0; i < entries.size(); ++i) {
        entries[i] = KeyWeight{leaf->keys[i], leaf->weight(i)};
      }
      COWTREE_ASSERT(checkpoint_epoch > 0);
      std::shared_ptr<const TreeVersion> empty = host->tree().current();
      TreeVersion wide = *empty;
      wide.shape.leaf_capacity_entries =
          std::max<uint32_t>(shape_.leaf_capacity_entries, static_cast<uint32_t>(entries.size()));
      wide.shape.leaf_capacity_bytes = 0;
      Result<std::shared_ptr<const TreeVersion>> built =
          ApplyBatch(wide, entries, checkpoint_epoch);
      if (!built.ok()) return Status::Corruption("inline tree: " + built.status().message());
      COWTREE_ASSERT((*built)->leaf_count == 1);
      auto one_leaf = std::make_shared<TreeVersion>(**built);
      one_leaf->shape = shape_;
      COWTREE_RETURN_IF_ERROR(host->tree().Install(std::move(one_leaf)));
    }
    OrderStatTreeHost::PersistedState state;
    state.version = host->tree().current();
    host->InstallRecovered(std::move(state));
    return std::unique_ptr<HostedTree>(std::move(host));
  }

  TreeShape shape_;
  SummaryIndexLimits index_limits_;
  // InlineBodyOfNewTree's scratch (one caller at a time: the Runtime's writer).
  std::vector<KeyWeight> scratch_ops_;
  LeafData scratch_leaf_;
};

}  // namespace

std::string OrderStatTreeParams(KeyType key_type) {
  std::string p(kOrderStatParamsBytes, '\0');
  p[0] = static_cast<char>(key_type);
  return p;
}

std::optional<KeyType> OrderStatKeyTypeOf(uint8_t type_id, std::string_view params) {
  if (type_id != kOrderStatTreeTypeId || params.size() != kOrderStatParamsBytes)
    return std::nullopt;
  const auto kt = static_cast<uint8_t>(params[0]);
  if (kt != static_cast<uint8_t>(KeyType::kInt64) && kt != static_cast<uint8_t>(KeyType::kDouble)) {
    return std::nullopt;
  }
  return static_cast<KeyType>(kt);
}

Status ValidateShape(uint32_t leaf_capacity_entries, uint32_t fanout,
                     uint32_t leaf_capacity_bytes) {
  return TreeShape{leaf_capacity_entries, fanout, leaf_capacity_bytes}.Validate();
}

std::unique_ptr<TreeType> MakeOrderStatTreeType(TreeShape shape, SummaryIndexLimits index_limits) {
  COWTREE_ASSERT(shape.Validate().ok());
  return std::make_unique<OrderStatTreeType>(shape, index_limits);
}

OrderStatTreeHost* AsOrderStatTree(HostedTree* tree) {
  return dynamic_cast<OrderStatTreeHost*>(tree);
}

OrderStatTreeHost::OrderStatTreeHost(KeyType key_type, TreeShape shape, TreeEnvironment* env,
                                     SummaryIndexLimits index_limits)
    : key_type_(key_type),
      shape_(shape),
      index_limits_(index_limits),
      env_(env),
      budget_(env != nullptr ? env->memory_budget() : nullptr),
      tree_(key_type, shape, this) {
  versions_.emplace_back(0, tree_.current());
}

OrderStatTreeHost::~OrderStatTreeHost() {
  if (budget_ != nullptr) budget_->ChargeFixed(-fixed_charged_bytes_);
}

void OrderStatTreeHost::UpdateFixedCharge() {
  if (budget_ == nullptr) return;
  const int64_t now = static_cast<int64_t>(tree_.current()->leaf_count) * kFixedBytesPerLeaf;
  budget_->ChargeFixed(now - fixed_charged_bytes_);
  fixed_charged_bytes_ = now;
}

std::shared_ptr<const TreeVersion> OrderStatTreeHost::VersionAt(uint64_t epoch) const {
  std::lock_guard<std::mutex> g(versions_mu_);
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
    if (it->first <= epoch) return it->second;
  }
  return versions_.front().second;  // older than everything kept: the oldest kept version
}

size_t OrderStatTreeHost::version_count() const {
  std::lock_guard<std::mutex> g(versions_mu_);
  return versions_.size();
}

bool OrderStatTreeHost::KeepsOnlyNewestVersion() const {
  std::lock_guard<std::mutex> g(versions_mu_);
  return versions_.size() == 1 && before_last_apply_ == nullptr;
}

void OrderStatTreeHost::TrimVersions() {
  const std::vector<uint64_t> readable = env_->ReadableEpochs();
  COWTREE_ASSERT(!readable.empty() && std::is_sorted(readable.begin(), readable.end()));
  std::vector<std::shared_ptr<const TreeVersion>> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> g(versions_mu_);
    // Keep version i iff VersionAt(r) is version i for a readable epoch r: epoch_i <= r <
    // epoch_(i+1), or r < epoch_1 for the oldest (VersionAt answers an epoch older than every
    // version with the oldest: a tree restored from a checkpoint later than a pinned snapshot
    // has only versions newer than it, and the oldest is that snapshot's state); or epoch_i >
    // the last readable epoch (not visible yet). The newest version is always kept.
    size_t r = 0, kept = 0;
    for (size_t i = 0; i < versions_.size(); ++i) {
      const uint64_t epoch = versions_[i].first;
      const uint64_t next = i + 1 < versions_.size() ? versions_[i + 1].first : UINT64_MAX;
      if (i > 0) {
        while (r < readable.size() && readable[r] < epoch) ++r;
      }
      const bool needed =
          epoch > readable.back() ||
          (r < readable.size() && (readable[r] < next || i + 1 == versions_.size()));
      if (needed) {
        if (kept != i) versions_[kept] = std::move(versions_[i]);
        ++kept;
      } else {
        dropped.push_back(std::move(versions_[i].second));
      }
    }
    COWTREE_ASSERT(kept >= 1);
    versions_.resize(kept);
  }
}

Status OrderStatTreeHost::Apply(std::string_view ops, uint64_t epoch) {
  // Epochs only grow. A second op section for this tree in one commit (RuntimeWriteBatch keeps one
  // per tree, so only a crafted log holds one) would apply at the same epoch: refuse it here
  // (replay reports it as Corruption) instead of tripping OrderStatTree::Apply's assertion.
  const uint64_t written = std::max(last_apply_epoch_, tree_.current()->epoch);
  if (epoch <= written) {
    return Status::InvalidArgument(
        "ops at epoch " + std::to_string(epoch) + " for a tree already written at epoch " +
        std::to_string(written) + " (two op sections for one tree in one commit?)");
  }
  COWTREE_RETURN_IF_ERROR(DecodeOrderStatOps(ops, tree_.current()->key_type, &scratch_));
  std::shared_ptr<const TreeVersion> before = tree_.current();
  if (!scratch_.empty()) {
    COWTREE_RETURN_IF_ERROR(tree_.Apply(scratch_, epoch));
    {
      std::lock_guard<std::mutex> g(versions_mu_);
      COWTREE_ASSERT(versions_.back().first < epoch);
      versions_.emplace_back(epoch, tree_.current());
    }
    TrimVersions();
    UpdateFixedCharge();
    if (budget_ != nullptr) budget_->EnforceBudget();  // new dirty leaves push clean ones out
  }
  // Ops that cancel out publish no new version, but Undo must still be valid.
  before_last_apply_ = std::move(before);
  epoch_before_last_apply_ = last_apply_epoch_;
  last_apply_epoch_ = epoch;
  return Status::OK();
}

void OrderStatTreeHost::UndoLastApply() {
  COWTREE_ASSERT(before_last_apply_ != nullptr);
  if (tree_.current() != before_last_apply_) {
    COWTREE_ASSERT(tree_.Install(before_last_apply_).ok());
    std::lock_guard<std::mutex> g(versions_mu_);
    versions_.pop_back();
  }
  UpdateFixedCharge();
  before_last_apply_ = nullptr;
  last_apply_epoch_ = epoch_before_last_apply_;  // the failed commit's epoch is reused
}

std::unique_ptr<FrozenTree> OrderStatTreeHost::Freeze(uint64_t checkpoint_epoch) {
  std::shared_ptr<const TreeVersion> v = tree_.current();
  COWTREE_ASSERT(v->epoch <= checkpoint_epoch);
  if (published_.version == v) return nullptr;  // null until the first checkpoint / restore
  return std::make_unique<FrozenOrderStatTree>(this, std::move(v));
}

std::vector<NodeID> OrderStatTreeHost::PersistedObjects() const {
  std::vector<NodeID> ids;
  if (!published_.descriptor.valid()) return ids;
  ids.push_back(published_.descriptor);
  published_.index.AppendChunkIds(&ids);
  for (const OldChunk& c : published_.index.chunks) {
    for (const PersistedSummary& s : c.summaries) ids.push_back(s.leaf_id);
  }
  return ids;
}

uint64_t OrderStatTreeHost::EvictClean() {
  uint64_t released = 0;
  for (const LeafSummary& s : Summaries(*tree_.current())) released += s.box->EvictClean();
  return released;
}

uint64_t OrderStatTreeHost::entry_count() const { return tree_.current()->entry_count; }
uint64_t OrderStatTreeHost::leaf_count() const { return tree_.current()->leaf_count; }

Result<std::shared_ptr<const LeafData>> OrderStatTreeHost::LoadLeaf(NodeID id) {
  leaf_loads_.fetch_add(1, std::memory_order_relaxed);
  // Read into this thread's buffer, reused by every leaf load the thread makes: under a budget
  // an evicted leaf is read again on each access, and a fresh body per read (zero-filled, then
  // copied out of the read's own copy) cost two allocations and two copies. DecodeLeaf copies
  // what it keeps, so the view need not outlive this call. Memory: the largest leaf read, per
  // thread.
  thread_local std::string buffer;
  COWTREE_ASSIGN_OR_RETURN(std::string_view body,
                           env_->object_store()->ReadObjectInto(id, ObjectKind::kLeaf, &buffer));
  // The content comes from the budget's leaf pool: under a budget, loads and evictions
  // alternate, and the buffers of the leaf evicted last serve the next load (no malloc/free).
  return DecodeLeaf(body, key_type_, PoolsFor(budget_.get()).leaf);
}

void OrderStatTreeHost::InstallRecovered(PersistedState state) {
  COWTREE_ASSERT(tree_.Install(state.version).ok());
  {
    std::lock_guard<std::mutex> g(versions_mu_);
    versions_.clear();
    versions_.emplace_back(state.version->epoch, state.version);
  }
  published_ = std::move(state);
  UpdateFixedCharge();
}

void OrderStatTreeHost::SetPublished(PersistedState state) { published_ = std::move(state); }

}  // namespace cowtree::tree
