// fsck pass: the redo records recovery would replay (epoch > C), checked against the catalog
// as Runtime::ApplyCommit would check them — without applying their ops: creates name a known
// type with valid params and a name no live tree has, drops and op sections name live trees,
// op sections are whole 16-byte ops. A record that fails here makes recovery refuse the store.
// (Weight overflow while summing ops is not checked: that needs the trees' contents.)
#include <map>
#include <set>

#include "persistence/file_names.h"
#include "recovery/fsck_context.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::recovery::fsck {

void CheckRedo(Context& ctx) {
  if (!ctx.catalog_ok || ctx.commits.empty()) return;
  std::unique_ptr<TreeType> type = tree::MakeOrderStatTreeType(tree::kDefaultTreeShape);
  std::set<TreeId> known;              // every tree id recovery would hold (dropped included)
  std::map<TreeId, std::string> live;  // id -> name of trees not dropped
  std::set<std::string> live_names;
  for (const CatalogEntry& e : ctx.catalog) {
    known.insert(e.tree_id);
    live[e.tree_id] = e.name;
    live_names.insert(e.name);
  }
  for (const CommitInfo& c : ctx.commits) {
    std::vector<std::string> problems;
    std::map<TreeId, std::string> created;
    for (const CommitCreate& cr : c.creates) {
      if (cr.type_id != type->type_id()) {
        problems.push_back("create '" + cr.name + "': unknown tree type " +
                           std::to_string(cr.type_id));
      } else if (Status p = type->ValidateParams(cr.params); !p.ok()) {
        problems.push_back("create '" + cr.name + "': " + p.message());
      }
      if (cr.name.empty() || cr.name.size() > kTreeNameBytesMax) {
        problems.push_back("create: tree name must have 1..1024 bytes");
      }
      bool twice = false;
      for (const auto& [id, name] : created) twice |= name == cr.name;
      // A live name is allowed when this same record drops that tree (atomic replace).
      bool replaced = false;
      for (TreeId id : c.drops) replaced |= live.count(id) != 0 && live[id] == cr.name;
      if ((live_names.count(cr.name) != 0 && !replaced) || known.count(cr.tree_id) != 0 || twice) {
        problems.push_back("create '" + cr.name + "' (id " + std::to_string(cr.tree_id) +
                           "): the tree already exists");
      }
      created[cr.tree_id] = cr.name;
    }
    for (TreeId id : c.drops) {
      if (live.count(id) == 0) problems.push_back("drop of unknown tree id " + std::to_string(id));
    }
    for (const auto& [id, bytes] : c.ops) {
      if (live.count(id) == 0 && created.count(id) == 0) {
        problems.push_back("ops for unknown tree id " + std::to_string(id));
      } else if (bytes % tree::kOrderStatOpBytes != 0) {
        problems.push_back("ops of tree id " + std::to_string(id) + ": " + std::to_string(bytes) +
                           " bytes is not a multiple of 16");
      }
    }
    for (const std::string& p : problems) {
      ctx.Add(
          FsckSeverity::kError, "redo", LogFileName(c.start.file_number), c.start.offset_bytes, 0,
          "commit epoch " + std::to_string(c.epoch) + ": " + p + " (recovery refuses the store)");
    }
    if (!problems.empty()) continue;
    for (TreeId id : c.drops) {  // drops first: a replace re-creates the name just dropped
      live_names.erase(live[id]);
      live.erase(id);
    }
    for (const auto& [id, name] : created) {
      known.insert(id);
      live[id] = name;
      live_names.insert(name);
    }
  }
}

}  // namespace cowtree::recovery::fsck
