// Runtime, the tree catalog: which trees exist at which epoch (TreeSlot: created at
// create_epoch, dropped at drop_epoch), lookups for readers (FindTree, ListTrees, under
// catalog_mu_ shared; cold trees are promoted on first access, runtime_cold.cc, and restored
// lazily by RestoredTree), and the catalog half of a commit:
// ApplyCommit validates and applies a record to the trees, PublishCommit makes its creates and
// drops visible, UndoCommit takes back the trees it applied (runtime.cc drives them in order).
#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "persistence/assert.h"
#include "persistence/catalog_format.h"
#include "persistence/runtime.h"

namespace cowtree {

TreeType* Runtime::FindType(uint8_t type_id) {
  auto it = types_.find(type_id);
  return it == types_.end() ? nullptr : it->second.get();
}

Result<std::shared_ptr<HostedTree>> Runtime::RestoredTree(TreeSlot* slot) const {
  if (slot->restored.load(std::memory_order_acquire)) return slot->tree;
  MutexLock g(&restore_mu_[slot->id % kRestoreStripes]);
  if (slot->restored.load(std::memory_order_acquire)) return slot->tree;
  // Only a tree of a published checkpoint (the opened one, or a later one for a demoted tree)
  // is ever unrestored, and no commit wrote it since (a commit restores first): its state is
  // that of every published checkpoint since, the newest's epoch included. Versions are
  // stamped with it; VersionAt answers older snapshots with the same (only) version. A tree
  // created inline is unrestored too: its state is that of its create epoch (stamped so).
  // (created_inline first: the checkpoint that lists such a tree sets its `published` meanwhile.)
  COWTREE_ASSERT(slot->created_inline || slot->published);
  auto type = types_.find(slot->type_id);
  COWTREE_ASSERT(type != types_.end());    // checked by PromoteCold and ApplyCommit
  auto* env = const_cast<Runtime*>(this);  // TreeEnvironment: object store + epochs
  const uint64_t epoch = slot->created_inline
                             ? slot->create_epoch
                             : published_checkpoint_epoch_.load(std::memory_order_acquire);
  COWTREE_ASSERT(epoch >= opened_checkpoint_epoch_);
  Result<std::unique_ptr<HostedTree>> tree =
      type->second->Load(slot->params, slot->persisted, epoch, env);
  if (!tree.ok()) return tree.status().WithContext("restoring tree '" + slot->name + "'");
  slot->tree = std::move(tree).value();
  slot->restored.store(true, std::memory_order_release);
  trees_restored_.fetch_add(1, std::memory_order_relaxed);
  return slot->tree;
}

std::shared_ptr<Runtime::TreeSlot> Runtime::FindSlot(std::string_view name, uint64_t epoch) const {
  auto it = names_.find(name);
  if (it == names_.end()) return nullptr;
  for (const TreeSlot* s = it->second; s != nullptr; s = s->older_same_name) {
    if (s->create_epoch <= epoch && epoch < s->drop_epoch) return trees_.at(s->id);
  }
  return nullptr;
}

Result<TreeInfo> Runtime::FindTree(std::string_view name, const RuntimeSnapshot& snapshot) const {
  std::shared_ptr<TreeSlot> slot;
  uint64_t passes = 0;
  {
    ReaderLock g(&catalog_mu_);
    slot = FindSlot(name, snapshot.epoch());
    passes = demotion_passes_;
  }
  while (slot == nullptr) {
    // Not hot: a cold tree of that name (first access) is promoted, then found as hot —
    // unless a demotion pass put it back in cold_ in between (promoted by another reader,
    // then idle): then again.
    COWTREE_RETURN_IF_ERROR(PromoteColdByName(name));
    ReaderLock g(&catalog_mu_);
    slot = FindSlot(name, snapshot.epoch());
    if (slot != nullptr || demotion_passes_ == passes) break;
    passes = demotion_passes_;
  }
  if (slot == nullptr) return Status::NotFound("no tree named '" + std::string(name) + "'");
  slot->MarkAccessed();
  // Restored outside catalog_mu_: a first access does not hold up commits.
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<HostedTree> tree, RestoredTree(slot.get()));
  return TreeInfo{slot->id,     slot->name,         slot->type_id,
                  slot->params, slot->create_epoch, std::move(tree)};
}

std::vector<TreeInfo> Runtime::ListTrees(const RuntimeSnapshot& snapshot) const {
  std::vector<TreeInfo> out;
  (void)ListTrees(snapshot, &out);  // documented: lossy if a catalog chunk cannot be read
  return out;
}

Status Runtime::ListTrees(const RuntimeSnapshot& snapshot, std::vector<TreeInfo>* out_ptr) const {
  while (true) {
    // A tree demoted between the cold walk and the hot one is in neither: walk again.
    const uint64_t passes = DemotionPasses();
    bool complete = true;
    Status st = ListTreesOnce(snapshot, out_ptr, passes, &complete);
    if (complete) return st;
  }
}

Status Runtime::ListTreesOnce(const RuntimeSnapshot& snapshot, std::vector<TreeInfo>* out_ptr,
                              uint64_t demotion_passes, bool* complete) const {
  std::vector<TreeInfo>& out = *out_ptr;
  out.clear();
  // Cold trees first (read from the catalog chunks, nothing promoted), then the hot ones not
  // listed already.
  std::vector<TreeId> cold_ids;
  Result<std::vector<TreeId>> visited = ForEachColdTree([&](const CatalogEntryView& e) {
    if (e.create_epoch > snapshot.epoch()) return;
    out.push_back(TreeInfo{e.tree_id, std::string(e.name), e.type_id, std::string(e.params),
                           e.create_epoch, nullptr});
  });
  Status status;
  if (visited.ok()) {
    cold_ids = std::move(visited).value();
  } else {
    status = visited.status().WithContext("listing trees");
    out.clear();  // a partial cold list: keep only the hot trees
  }
  ReaderLock g(&catalog_mu_);
  *complete = demotion_passes_ == demotion_passes;
  if (!*complete) return status;
  for (const auto& [id, slot] : trees_) {
    if (std::binary_search(cold_ids.begin(), cold_ids.end(), id)) continue;
    if (slot->create_epoch <= snapshot.epoch() && snapshot.epoch() < slot->drop_epoch) {
      out.push_back(
          TreeInfo{slot->id, slot->name, slot->type_id, slot->params, slot->create_epoch, nullptr});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreeInfo& a, const TreeInfo& b) { return a.name < b.name; });
  return status;
}

std::optional<TreeInfo> Runtime::DescribeTree(TreeId id, const RuntimeSnapshot& snapshot) const {
  const auto visible = [&](const TreeSlot& s) -> std::optional<TreeInfo> {
    if (s.create_epoch > snapshot.epoch() || snapshot.epoch() >= s.drop_epoch) return std::nullopt;
    return TreeInfo{s.id, s.name, s.type_id, s.params, s.create_epoch, nullptr};
  };
  {
    ReaderLock g(&catalog_mu_);
    if (auto it = trees_.find(id); it != trees_.end()) return visible(*it->second);
  }
  // Cold (or unknown): its catalog entry, without promoting it. Unreadable counts as unknown.
  Result<std::optional<CatalogEntry>> entry = ReadPublishedEntry(id);
  if (!entry.ok() || !entry->has_value()) return std::nullopt;
  const CatalogEntry& e = **entry;
  ReaderLock g(&catalog_mu_);
  if (auto it = trees_.find(id); it != trees_.end()) return visible(*it->second);
  if (!cold_.Contains(id, ColdTreeIndex::NameHash(e.name))) return std::nullopt;
  if (e.create_epoch > snapshot.epoch()) return std::nullopt;
  return TreeInfo{e.tree_id, e.name, e.type_id, e.params, e.create_epoch, nullptr};
}

// Makes hot every cold tree `record` names (by a created name, a drop or ops), so that the
// checks below see every tree involved in trees_ / names_. Promoted trees stay hot.
Status Runtime::PromoteColdTreesOf(const CommitRecordView& record) const {
  for (const CommitCreate& c : record.creates) COWTREE_RETURN_IF_ERROR(PromoteColdByName(c.name));
  for (TreeId id : record.drops) COWTREE_RETURN_IF_ERROR(PromoteCold(id, std::nullopt).status());
  // A tree this record creates is new: no catalog lists it (no chunk read for its ops).
  std::vector<TreeId> created;
  created.reserve(record.creates.size());
  for (const CommitCreate& c : record.creates) created.push_back(c.tree_id);
  std::sort(created.begin(), created.end());
  for (const CommitOps& s : record.ops) {
    if (std::binary_search(created.begin(), created.end(), s.tree_id)) continue;
    COWTREE_RETURN_IF_ERROR(PromoteCold(s.tree_id, std::nullopt).status());
  }
  return Status::OK();
}

// The slots of the trees `record` creates, validated (catalog_mu_ shared), in record order in
// prepared->created; their trees are not built yet (ApplyCommit decides how).
Status Runtime::CreateSlots(const CommitRecordView& record, uint64_t epoch,
                            PreparedCommit* prepared) {
  std::vector<std::string_view> names;  // to find a name created twice
  names.reserve(record.creates.size());
  for (const CommitCreate& c : record.creates) {
    TreeType* type = FindType(c.type_id);
    if (type == nullptr) {
      return Status::InvalidArgument("create tree '" + c.name + "': unknown tree type " +
                                     std::to_string(c.type_id));
    }
    COWTREE_RETURN_IF_ERROR(type->ValidateParams(c.params).WithContext("create tree " + c.name));
    if (c.name.empty() || c.name.size() > kTreeNameBytesMax) {
      return Status::InvalidArgument("tree name must have 1..1024 bytes");
    }
    // A live tree of the same name is allowed only if this same commit drops it (atomic
    // replace): at this commit's epoch the old tree is gone and the new one visible.
    auto existing = FindSlot(c.name, UINT64_MAX - 1);
    if ((existing != nullptr &&
         std::find(record.drops.begin(), record.drops.end(), existing->id) == record.drops.end()) ||
        trees_.count(c.tree_id) != 0) {
      return Status::InvalidArgument("tree '" + c.name + "' already exists");
    }
    names.push_back(c.name);
    auto slot = std::make_shared<TreeSlot>();
    slot->id = c.tree_id;
    slot->name = c.name;
    slot->type_id = c.type_id;
    slot->params = c.params;
    slot->create_epoch = epoch;
    prepared->created.push_back(std::move(slot));
  }
  std::sort(names.begin(), names.end());
  if (auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
    return Status::InvalidArgument("tree '" + std::string(*twice) + "' twice");
  }
  return Status::OK();
}

// Builds the tree of a slot CreateSlots made, with `ops` (empty: none) applied at its create
// epoch: straight into its inline form when its type can (TreeType::InlineBodyOfNewTree: no
// tree in memory until its first access), otherwise as a new tree with ops applied (Apply's
// errors returned; the caller undoes `prepared`).
Status Runtime::BuildCreatedTree(TreeSlot* slot, std::string_view ops, PreparedCommit* prepared) {
  COWTREE_ASSERT(slot->tree == nullptr && !slot->created_inline);
  TreeType* type = FindType(slot->type_id);
  COWTREE_ASSERT(type != nullptr);  // checked by CreateSlots
  if (std::optional<std::string> body = type->InlineBodyOfNewTree(slot->params, ops)) {
    COWTREE_ASSERT(body->size() <= kCatalogInlineBytesMax);
    slot->persisted.inline_body = std::move(*body);
    slot->created_inline = true;
    return Status::OK();
  }
  COWTREE_ASSIGN_OR_RETURN(auto tree, type->Create(slot->params, this));
  slot->tree = std::move(tree);
  slot->restored.store(true, std::memory_order_release);  // not shared yet
  if (ops.empty()) return Status::OK();
  Status st = slot->tree->Apply(ops, slot->create_epoch);
  if (!st.ok()) return st.WithContext("tree '" + slot->name + "'");
  prepared->applied.push_back(slot->tree);
  prepared->applied_ids.push_back(slot->id);
  prepared->applied_slots.push_back(slot);
  return Status::OK();
}

// Validates and applies `record` at `epoch` to in-memory state. On error nothing is changed
// (trees already applied are undone by the caller through `prepared`).
Status Runtime::ApplyCommit(const CommitRecordView& record, uint64_t epoch,
                            PreparedCommit* prepared) {
  COWTREE_RETURN_IF_ERROR(PromoteColdTreesOf(record));
  ReaderLock g(&catalog_mu_);
  COWTREE_RETURN_IF_ERROR(CreateSlots(record, epoch, prepared));
  // The slots created here by id (one sorted vector per commit, not a node per tree).
  std::vector<std::pair<TreeId, TreeSlot*>> local;
  local.reserve(prepared->created.size());
  for (const auto& slot : prepared->created) local.emplace_back(slot->id, slot.get());
  std::sort(local.begin(), local.end());
  const auto find_local = [&](TreeId id) -> TreeSlot* {
    auto it = std::lower_bound(local.begin(), local.end(), std::make_pair(id, nullptr),
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    return it != local.end() && it->first == id ? it->second : nullptr;
  };
  for (TreeId id : record.drops) {
    auto it = trees_.find(id);
    if (it == trees_.end() || it->second->drop_epoch != UINT64_MAX) {
      return Status::InvalidArgument("drop of unknown tree id " + std::to_string(id));
    }
    prepared->dropped.push_back(it->second);
  }
  for (const CommitOps& s : record.ops) {
    TreeSlot* slot = find_local(s.tree_id);
    if (slot != nullptr && slot->tree == nullptr && !slot->created_inline) {
      COWTREE_RETURN_IF_ERROR(BuildCreatedTree(slot, s.ops, prepared));
      continue;
    }
    // A tree created here with a second op section (only a crafted log holds one) is
    // restored from its inline form and refuses the ops (Apply: same epoch twice).
    if (slot == nullptr) {
      auto it = trees_.find(s.tree_id);
      if (it == trees_.end() || it->second->drop_epoch != UINT64_MAX) {
        return Status::InvalidArgument("ops for unknown tree id " + std::to_string(s.tree_id));
      }
      slot = it->second.get();
    }
    COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<HostedTree> tree, RestoredTree(slot));
    slot->MarkAccessed();
    Status st = tree->Apply(s.ops, epoch);
    if (!st.ok()) return st.WithContext("tree '" + slot->name + "'");
    prepared->applied.push_back(std::move(tree));
    prepared->applied_ids.push_back(s.tree_id);
    prepared->applied_slots.push_back(slot);
  }
  for (const auto& slot : prepared->created) {  // created without ops: empty trees
    if (slot->tree == nullptr && !slot->created_inline) {
      COWTREE_RETURN_IF_ERROR(BuildCreatedTree(slot.get(), std::string_view(), prepared));
    }
  }
  return Status::OK();
}

void Runtime::UndoCommit(PreparedCommit* prepared) {
  for (auto it = prepared->applied.rbegin(); it != prepared->applied.rend(); ++it) {
    (*it)->UndoLastApply();
  }
  prepared->applied.clear();
  prepared->applied_ids.clear();
  prepared->applied_slots.clear();
}

void Runtime::CountDirtyTree(TreeSlot* slot) {
  if (slot->dirty_generation == dirty_generation_) return;  // counted since the freeze
  slot->dirty_generation = dirty_generation_;
  ++dirty_tree_count_;
  const uint64_t limit = options_.checkpoint_dirty_trees;
  if (limit != 0 && dirty_tree_count_ >= limit) dirty_trees_over_limit_.store(true);
}

void Runtime::PublishCommit(PreparedCommit* prepared, uint64_t epoch) {
  for (auto& slot : prepared->created) dirty_trees_.push_back(slot->id);
  for (auto& slot : prepared->dropped) dirty_trees_.push_back(slot->id);
  dirty_trees_.insert(dirty_trees_.end(), prepared->applied_ids.begin(),
                      prepared->applied_ids.end());
  uint64_t created_inline = 0;
  for (auto& slot : prepared->created) {
    CountDirtyTree(slot.get());
    created_inline += slot->created_inline ? 1 : 0;
  }
  trees_created_inline_.fetch_add(created_inline, std::memory_order_relaxed);
  for (TreeSlot* slot : prepared->applied_slots) CountDirtyTree(slot);
  WriterLock g(&catalog_mu_);
  for (auto& slot : prepared->created) {
    // The new slot heads its name's chain (re-keyed to view its own name). One lookup when
    // the name is new.
    auto [it, inserted] = names_.try_emplace(std::string_view(slot->name), slot.get());
    if (!inserted) {
      slot->older_same_name = it->second;
      auto node = names_.extract(it);
      node.key() = std::string_view(slot->name);
      node.mapped() = slot.get();
      names_.insert(std::move(node));
    }
    trees_[slot->id] = slot;
    if (slot->id >= next_tree_id_.load()) next_tree_id_.store(slot->id + 1);
  }
  for (auto& slot : prepared->dropped) slot->drop_epoch = epoch;
  for (const auto& tree : prepared->applied) tree->FinishApply();
}

}  // namespace cowtree
