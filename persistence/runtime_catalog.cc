// Runtime, the tree catalog: which trees exist at which epoch (TreeSlot: created at
// create_epoch, dropped at drop_epoch), lookups for readers (FindTree, ListTrees, under
// catalog_mu_ shared), recovered trees (AddRecoveredTree), and the catalog half of a commit:
// ApplyCommit validates and applies a record to the trees, PublishCommit makes its creates and
// drops visible, UndoCommit takes back the trees it applied (runtime.cc drives them in order).
#include <algorithm>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {

TreeType* Runtime::FindType(uint8_t type_id) {
  auto it = types_.find(type_id);
  return it == types_.end() ? nullptr : it->second.get();
}

Status Runtime::AddRecoveredTree(const CatalogEntry& entry, std::unique_ptr<HostedTree> tree) {
  auto slot = std::make_shared<TreeSlot>();
  slot->id = entry.tree_id;
  slot->name = entry.name;
  slot->type_id = entry.type_id;
  slot->params = entry.params;
  slot->create_epoch = entry.create_epoch;
  slot->descriptor = entry.descriptor;
  slot->tree = std::move(tree);
  WriterLock g(&catalog_mu_);
  if (trees_.count(entry.tree_id) != 0) {
    return Status::Corruption("catalog: tree id " + std::to_string(entry.tree_id) + " twice");
  }
  auto& ids = names_[entry.name];
  if (!ids.empty()) return Status::Corruption("catalog: tree name '" + entry.name + "' twice");
  ids.push_back(entry.tree_id);
  trees_[entry.tree_id] = std::move(slot);
  if (entry.tree_id >= next_tree_id_.load()) next_tree_id_.store(entry.tree_id + 1);
  return Status::OK();
}

std::shared_ptr<Runtime::TreeSlot> Runtime::FindSlot(std::string_view name, uint64_t epoch) const {
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return nullptr;
  for (TreeId id : it->second) {
    auto t = trees_.find(id);
    if (t == trees_.end()) continue;
    const TreeSlot& s = *t->second;
    if (s.create_epoch <= epoch && epoch < s.drop_epoch) return t->second;
  }
  return nullptr;
}

Result<TreeInfo> Runtime::FindTree(std::string_view name, const RuntimeSnapshot& snapshot) const {
  ReaderLock g(&catalog_mu_);
  auto slot = FindSlot(name, snapshot.epoch());
  if (slot == nullptr) return Status::NotFound("no tree named '" + std::string(name) + "'");
  return TreeInfo{slot->id,     slot->name,         slot->type_id,
                  slot->params, slot->create_epoch, slot->tree};
}

std::vector<TreeInfo> Runtime::ListTrees(const RuntimeSnapshot& snapshot) const {
  std::vector<TreeInfo> out;
  ReaderLock g(&catalog_mu_);
  for (const auto& [id, slot] : trees_) {
    if (slot->create_epoch <= snapshot.epoch() && snapshot.epoch() < slot->drop_epoch) {
      out.push_back(TreeInfo{slot->id, slot->name, slot->type_id, slot->params, slot->create_epoch,
                             slot->tree});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreeInfo& a, const TreeInfo& b) { return a.name < b.name; });
  return out;
}

// Validates and applies `record` at `epoch` to in-memory state. On error nothing is changed
// (trees already applied are undone by the caller through `prepared`).
Status Runtime::ApplyCommit(const CommitRecordView& record, uint64_t epoch,
                            PreparedCommit* prepared) {
  std::unordered_map<TreeId, std::shared_ptr<TreeSlot>> local;  // trees created in this commit
  {
    ReaderLock g(&catalog_mu_);
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
      if ((existing != nullptr && std::find(record.drops.begin(), record.drops.end(),
                                            existing->id) == record.drops.end()) ||
          trees_.count(c.tree_id) != 0) {
        return Status::InvalidArgument("tree '" + c.name + "' already exists");
      }
      for (const auto& [id, s] : local) {
        if (s->name == c.name) return Status::InvalidArgument("tree '" + c.name + "' twice");
      }
      auto slot = std::make_shared<TreeSlot>();
      slot->id = c.tree_id;
      slot->name = c.name;
      slot->type_id = c.type_id;
      slot->params = c.params;
      slot->create_epoch = epoch;
      COWTREE_ASSIGN_OR_RETURN(auto tree, type->Create(c.params, this));
      slot->tree = std::move(tree);
      local[c.tree_id] = slot;
      prepared->created.push_back(slot);
    }
    for (TreeId id : record.drops) {
      auto it = trees_.find(id);
      if (it == trees_.end() || it->second->drop_epoch != UINT64_MAX) {
        return Status::InvalidArgument("drop of unknown tree id " + std::to_string(id));
      }
      prepared->dropped.push_back(it->second);
    }
    for (const CommitOps& s : record.ops) {
      std::shared_ptr<TreeSlot> slot;
      if (auto l = local.find(s.tree_id); l != local.end()) {
        slot = l->second;
      } else if (auto it = trees_.find(s.tree_id);
                 it != trees_.end() && it->second->drop_epoch == UINT64_MAX) {
        slot = it->second;
      } else {
        return Status::InvalidArgument("ops for unknown tree id " + std::to_string(s.tree_id));
      }
      Status st = slot->tree->Apply(s.ops, epoch);
      if (!st.ok()) return st.WithContext("tree '" + slot->name + "'");
      prepared->applied.push_back(slot->tree);
    }
  }
  return Status::OK();
}

void Runtime::UndoCommit(PreparedCommit* prepared) {
  for (auto it = prepared->applied.rbegin(); it != prepared->applied.rend(); ++it) {
    (*it)->UndoLastApply();
  }
  prepared->applied.clear();
}

void Runtime::PublishCommit(PreparedCommit* prepared, uint64_t epoch) {
  WriterLock g(&catalog_mu_);
  for (auto& slot : prepared->created) {
    names_[slot->name].push_back(slot->id);
    trees_[slot->id] = slot;
    if (slot->id >= next_tree_id_.load()) next_tree_id_.store(slot->id + 1);
  }
  for (auto& slot : prepared->dropped) slot->drop_epoch = epoch;
  for (const auto& tree : prepared->applied) tree->FinishApply();
}

}  // namespace cowtree
