// fsck pass: the catalog and every tree, from the superblock's catalog root down to the leaves
// (docs/catalog.md, docs/summary_chunk.md, docs/node_format.md).
//
// Per tree: the descriptor, every summary chunk (each against its descriptor entry), then a
// streaming pass over the leaves in key order (each read once, verified, decoded and compared
// with its summary: entry count, first key, positive sum, keys below the next leaf's first key),
// the descriptor's N / entry / leaf counts against both the summaries and the leaves, the
// internal levels rebuilt with tree::BuildFromSummaries, and tree::CheckInvariants on the
// rebuilt version (load_leaves = true up to FsckOptions::invariant_check_max_leaves leaves).
// Every object reached is recorded in ctx.referenced (once: an object referenced twice is an
// error), which is what the leak check compares the object table with.
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"
#include "recovery/store_reader.h"
#include "tree/node_format.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::recovery::fsck {
namespace {

// "tree 'a'", or "retained checkpoint 'r' tree 'a'" while a retained checkpoint is checked.
std::string TreeLabel(const Context& ctx, const CatalogEntry& e) {
  const std::string tree = "tree '" + e.name + "'";
  return ctx.scope_checkpoint.empty()
             ? tree
             : "retained checkpoint '" + ctx.scope_checkpoint + "' " + tree;
}

// Records a reference from the catalog being checked; false (with a finding) if it was
// referenced before in that catalog.
bool Reference(Context& ctx, NodeID id, const std::string& what) {
  if (!ctx.ScopeReferenced().insert(id.raw()).second) {
    ctx.Add(FsckSeverity::kError, "catalog", "", 0, id.raw(),
            what + " is referenced a second time (every object has one owner)");
    return false;
  }
  Result<OtEntry> e = ctx.table->Get(id);
  const uint64_t epoch = ctx.ScopeEpoch();
  if (e.ok() && e->birth_epoch > epoch) {
    ctx.Add(FsckSeverity::kError, "catalog", DataFileOf(*e), e->address.offset_bytes, id.raw(),
            what + " was born at epoch " + std::to_string(e->birth_epoch) +
                ", after the checkpoint epoch " + std::to_string(epoch) + " that references it");
  }
  if (e.ok() && e->retired() && e->retire_epoch <= epoch) {
    ctx.Add(FsckSeverity::kError, "catalog", DataFileOf(*e), e->address.offset_bytes, id.raw(),
            what + " was retired at epoch " + std::to_string(e->retire_epoch) +
                ", not after the checkpoint epoch " + std::to_string(epoch) +
                " that references it (its slot may be reused)");
  }
  return true;
}

void AddAt(Context& ctx, FsckSeverity severity, const std::string& structure, NodeID id,
           std::string message) {
  Result<OtEntry> e = ctx.table->Get(id);
  ctx.Add(severity, structure, e.ok() ? DataFileOf(*e) : "", e.ok() ? e->address.offset_bytes : 0,
          id.raw(), std::move(message));
}

class FsckLeafLoader final : public tree::LeafLoader {
 public:
  FsckLeafLoader(Context& ctx, tree::KeyType key_type) : ctx_(ctx), key_type_(key_type) {}
  Result<std::shared_ptr<const tree::LeafData>> LoadLeaf(NodeID id) override {
    return ReadLeaf(ctx_, id, key_type_);
  }

 private:
  Context& ctx_;
  tree::KeyType key_type_;
};

// The streaming leaf pass; returns true if every leaf matched its summary.
bool CheckLeaves(Context& ctx, const TreeImage& img) {
  const std::string label = TreeLabel(ctx, img.entry);
  bool clean = true;
  bool all_read = true;
  uint64_t pos_total = 0, entry_total = 0;
  bool overflow = false;
  for (size_t i = 0; i < img.summaries.size(); ++i) {
    const tree::PersistedSummary& s = img.summaries[i];
    ++ctx.report.leaves_checked;
    const std::string what = label + " leaf " + std::to_string(i);
    Result<std::string> body = ReadBody(ctx, s.leaf_id, ObjectKind::kLeaf);
    if (!body.ok()) {
      ReportReadFailure(ctx, s.leaf_id, ObjectKind::kLeaf, body.status(), "tree", what);
      clean = all_read = false;
      continue;
    }
    Result<std::shared_ptr<const tree::LeafData>> leaf = tree::DecodeLeaf(*body, img.key_type);
    if (!leaf.ok()) {
      AddAt(ctx, FsckSeverity::kError, "tree", s.leaf_id,
            what + " does not decode: " + leaf.status().message());
      clean = all_read = false;
      continue;
    }
    const tree::LeafData& d = **leaf;
    uint64_t pos_sum = 0;
    const bool sum_ok = tree::LeafPositiveSum(d, &pos_sum);
    std::string bad;
    if (d.entry_count() != s.entry_count) {
      bad += "; entry_count: summary " + std::to_string(s.entry_count) + ", leaf " +
             std::to_string(d.entry_count());
    }
    if (d.keys.front() != s.first_key) {
      bad += "; first key: summary " + std::to_string(s.first_key) + ", leaf " +
             std::to_string(d.keys.front());
    }
    if (!sum_ok || pos_sum != s.pos_sum) {
      bad += "; positive sum: summary " + std::to_string(s.pos_sum) + ", leaf " +
             (sum_ok ? std::to_string(pos_sum) : std::string("overflows"));
    }
    if (i + 1 < img.summaries.size() && d.keys.back() >= img.summaries[i + 1].first_key) {
      bad += "; last key " + std::to_string(d.keys.back()) +
             " is not below the next leaf's first key " +
             std::to_string(img.summaries[i + 1].first_key) + " (key order / separator)";
    }
    if (!bad.empty()) {
      AddAt(ctx, FsckSeverity::kError, "tree", s.leaf_id, what + " differs from its summary" + bad);
      clean = false;
    }
    overflow |= __builtin_add_overflow(pos_total, pos_sum, &pos_total);
    entry_total += d.entry_count();
  }
  if (all_read && img.descriptor.has_value() &&
      (overflow || pos_total != img.descriptor->positive_count ||
       entry_total != img.descriptor->entry_count)) {
    AddAt(ctx, FsckSeverity::kError, "tree", img.descriptor_id,
          label + " descriptor says N " + std::to_string(img.descriptor->positive_count) + " and " +
              std::to_string(img.descriptor->entry_count) + " entries; its leaves hold N " +
              (overflow ? std::string("(overflows)") : std::to_string(pos_total)) + " and " +
              std::to_string(entry_total) + " entries");
    clean = false;
  }
  return clean;
}

// Rebuilds the internal levels and runs the tree's own invariant checker.
void CheckRebuilt(Context& ctx, const TreeImage& img, bool leaves_clean) {
  const std::string label = TreeLabel(ctx, img.entry);
  const tree::TreeDescriptor& desc = *img.descriptor;
  tree::TreeShape shape{desc.leaf_capacity_entries, desc.fanout};
  if (!shape.Validate().ok()) shape = tree::kDefaultTreeShape;
  FsckLeafLoader loader(ctx, img.key_type);
  auto v = tree::BuildFromSummaries(img.key_type, shape, img.summaries, ctx.ScopeEpoch(), &loader);
  if (!v.ok()) {
    AddAt(ctx, FsckSeverity::kError, "tree", img.descriptor_id,
          label + ": the summaries do not rebuild a tree: " + v.status().message() +
              " (recovery refuses the store)");
    return;
  }
  const tree::TreeVersion& version = **v;
  if (version.positive_count != desc.positive_count || version.entry_count != desc.entry_count ||
      version.leaf_count != desc.leaf_count) {
    AddAt(ctx, FsckSeverity::kError, "tree", img.descriptor_id,
          label + " descriptor says N " + std::to_string(desc.positive_count) + ", " +
              std::to_string(desc.entry_count) + " entries, " + std::to_string(desc.leaf_count) +
              " leaves; its summaries sum to N " + std::to_string(version.positive_count) + ", " +
              std::to_string(version.entry_count) + " entries, " +
              std::to_string(version.leaf_count) + " leaves (recovery refuses the store)");
    return;
  }
  if (!leaves_clean) return;  // each bad leaf is already named; the checker would stop at it
  const bool load = version.leaf_count <= ctx.options.invariant_check_max_leaves;
  Status st = tree::CheckInvariants(version, load);
  if (!st.ok()) {
    AddAt(ctx, FsckSeverity::kError, "tree", img.descriptor_id,
          label + ": tree invariant violated: " + st.message());
  }
}

// A tree stored inline in its catalog entry (docs/catalog.md "Inline trees"): no object; the
// bytes are empty (an empty tree) or one leaf body, verified as a leaf read from disk is.
void CheckInlineTree(Context& ctx, const CatalogEntry& entry) {
  ++ctx.report.inline_trees_checked;
  if (entry.inline_body.empty()) return;
  ++ctx.report.leaves_checked;
  const auto key_type = static_cast<tree::KeyType>(entry.params[0]);
  Result<std::shared_ptr<const tree::LeafData>> leaf =
      tree::DecodeLeaf(entry.inline_body, key_type);
  if (!leaf.ok()) {
    ctx.Add(FsckSeverity::kError, "catalog", "", 0, 0,
            TreeLabel(ctx, entry) + ": its inline leaf does not decode: " +
                leaf.status().message() + " (the tree's first access fails)");
  }
}

void CheckTree(Context& ctx, const CatalogEntry& entry, const TreeType& type) {
  ++ctx.report.trees_checked;
  const std::string label = TreeLabel(ctx, entry);
  if (entry.type_id != tree::kOrderStatTreeTypeId) {
    ctx.Add(FsckSeverity::kError, "catalog", "", 0, entry.descriptor.raw(),
            label + " has unknown tree type " + std::to_string(entry.type_id));
    ctx.reachability_ok = false;
    return;
  }
  Status params = type.ValidateParams(entry.params);
  if (!params.ok()) {
    ctx.Add(FsckSeverity::kError, "catalog", "", 0, entry.descriptor.raw(),
            label + " has bad creation params: " + params.message());
    ctx.reachability_ok = false;
    return;
  }
  if (entry.create_epoch > ctx.ScopeEpoch()) {
    ctx.Add(FsckSeverity::kError, "catalog", "", 0, entry.descriptor.raw(),
            label + " was created at epoch " + std::to_string(entry.create_epoch) +
                ", after the checkpoint epoch " + std::to_string(ctx.ScopeEpoch()));
  }
  if (!entry.descriptor.valid()) {
    CheckInlineTree(ctx, entry);
    return;
  }
  TreeImage img = ReadTreeImage(ctx, entry);
  if (!img.complete) ctx.reachability_ok = false;
  const bool leaves_clean = CheckLeaves(ctx, img);
  if (img.complete) CheckRebuilt(ctx, img, leaves_clean);
}

}  // namespace

Result<std::shared_ptr<const tree::LeafData>> ReadLeaf(Context& ctx, NodeID id,
                                                       tree::KeyType key_type) {
  COWTREE_ASSIGN_OR_RETURN(std::string body, ReadBody(ctx, id, ObjectKind::kLeaf));
  return tree::DecodeLeaf(body, key_type);
}

// The catalog through the reader recovery::Open uses (recovery/store_reader.h): the same
// checks, every problem a finding instead of a stop.
void ReadCatalog(Context& ctx) { ReadCatalogAt(ctx, ctx.sb->catalog_root); }

void ReadCatalogAt(Context& ctx, uint64_t catalog_root_raw) {
  ctx.catalog.clear();
  ctx.catalog_ok = false;
  CatalogReadHooks hooks;
  hooks.read = [&ctx](NodeID id, ObjectKind kind) { return ReadBody(ctx, id, kind); };
  hooks.reference = [&ctx](NodeID id, const std::string& what) { return Reference(ctx, id, what); };
  hooks.report = [&ctx](const CatalogProblem& p) {
    if (p.read_failed) {
      ReportReadFailure(ctx, p.at, p.kind, p.status, "catalog", p.what);
    } else {
      const bool refused =
          p.what.rfind("catalog chunk", 0) == 0 && p.status.message().rfind("holds ", 0) == 0;
      AddAt(ctx, FsckSeverity::kError, "catalog", p.at,
            p.what + " " + p.status.message() + (refused ? " (recovery refuses the store)" : ""));
    }
    return true;  // fsck collects every problem
  };
  CatalogContents catalog;
  // The reporter never stops, so the result is OK; what went wrong is in the findings.
  (void)ReadCatalogObjects(catalog_root_raw, hooks, &catalog);
  ctx.catalog = std::move(catalog.entries);
  ctx.catalog_ok = catalog.complete;
  ctx.catalog_tree_count = catalog.root.tree_count;
}

TreeImage ReadTreeImage(Context& ctx, const CatalogEntry& entry) {
  TreeImage img;
  img.entry = entry;
  img.key_type = static_cast<tree::KeyType>(entry.params.empty() ? 0 : entry.params[0]);
  img.descriptor_id = entry.descriptor;
  const std::string label = TreeLabel(ctx, entry);
  if (!Reference(ctx, entry.descriptor, label + " descriptor")) return img;
  Result<std::string> body = ReadBody(ctx, entry.descriptor, ObjectKind::kTreeDescriptor);
  if (!body.ok()) {
    ReportReadFailure(ctx, entry.descriptor, ObjectKind::kTreeDescriptor, body.status(), "tree",
                      label + " descriptor");
    return img;
  }
  Result<tree::TreeDescriptor> desc = tree::DecodeTreeDescriptor(*body);
  if (!desc.ok()) {
    AddAt(ctx, FsckSeverity::kError, "tree", entry.descriptor,
          label + " descriptor does not decode: " + desc.status().message());
    return img;
  }
  if (desc->key_type != img.key_type) {
    AddAt(ctx, FsckSeverity::kError, "tree", entry.descriptor,
          label + " descriptor key type " + std::string(tree::KeyTypeName(desc->key_type)) +
              " differs from the catalog's " + std::string(tree::KeyTypeName(img.key_type)) +
              " (recovery refuses the store)");
    return img;
  }
  img.descriptor = *desc;
  bool complete = true;
  for (size_t j = 0; j < desc->chunks.size(); ++j) {
    const tree::DescriptorChunk& ref = desc->chunks[j];
    const std::string what = label + " summary chunk " + std::to_string(j);
    if (!Reference(ctx, ref.chunk_id, what)) {
      complete = false;
      continue;
    }
    Result<std::string> chunk_body = ReadBody(ctx, ref.chunk_id, ObjectKind::kSummaryChunk);
    if (!chunk_body.ok()) {
      ReportReadFailure(ctx, ref.chunk_id, ObjectKind::kSummaryChunk, chunk_body.status(), "tree",
                        what);
      complete = false;
      continue;
    }
    Result<std::vector<tree::PersistedSummary>> summaries = tree::DecodeSummaryChunk(*chunk_body);
    if (!summaries.ok()) {
      AddAt(ctx, FsckSeverity::kError, "tree", ref.chunk_id,
            what + " does not decode: " + summaries.status().message());
      complete = false;
      continue;
    }
    Status matches = tree::CheckChunkAgainstDescriptor(ref, *summaries);
    if (!matches.ok()) {
      AddAt(ctx, FsckSeverity::kError, "tree", ref.chunk_id,
            what + " differs from its descriptor entry: " + matches.message() +
                " (recovery refuses the store)");
      complete = false;
      continue;
    }
    img.summaries.insert(img.summaries.end(), summaries->begin(), summaries->end());
    img.chunks.emplace_back(ref, std::move(summaries).value());
  }
  for (size_t i = 0; i < img.summaries.size(); ++i) {
    if (!Reference(ctx, img.summaries[i].leaf_id, label + " leaf " + std::to_string(i))) {
      complete = false;
    }
  }
  img.complete = complete;
  return img;
}

void CheckCatalogAndTrees(Context& ctx) {
  ReadCatalog(ctx);
  ctx.reachability_ok = ctx.catalog_ok;
  std::unique_ptr<TreeType> type = tree::MakeOrderStatTreeType(
      tree::kDefaultTreeShape.leaf_capacity_entries, tree::kDefaultTreeShape.fanout);
  for (const CatalogEntry& e : ctx.catalog) CheckTree(ctx, e, *type);
}

// Every retained checkpoint the manifest lists (docs/retained_checkpoints.md), as the
// published one: its catalog and every tree down to the leaves, each object verified, born at
// or before its epoch and not retired at or before it. The published catalog (ctx.catalog)
// is restored afterwards for the passes that follow.
void CheckRetainedCheckpoints(Context& ctx) {
  if (!ctx.manifest.has_value() || ctx.manifest->retained_checkpoints.empty()) return;
  std::vector<CatalogEntry> published = std::move(ctx.catalog);
  const bool published_ok = ctx.catalog_ok;
  const bool reachability_ok = ctx.reachability_ok;
  const uint64_t published_tree_count = ctx.catalog_tree_count;
  std::unique_ptr<TreeType> type = tree::MakeOrderStatTreeType(
      tree::kDefaultTreeShape.leaf_capacity_entries, tree::kDefaultTreeShape.fanout);
  for (const ManifestRetainedCheckpoint& c : ctx.manifest->retained_checkpoints) {
    ++ctx.report.retained_checkpoints_checked;
    std::unordered_set<uint64_t> referenced;
    ctx.scope_checkpoint = c.name;
    ctx.scope_epoch = c.epoch;
    ctx.scope_referenced = &referenced;
    if (c.epoch > ctx.sb->checkpoint_epoch) {
      ctx.Add(FsckSeverity::kError, "manifest", ManifestFileName(ctx.manifest->generation), 0, 0,
              "retained checkpoint '" + c.name + "' has epoch " + std::to_string(c.epoch) +
                  ", past the published checkpoint epoch " +
                  std::to_string(ctx.sb->checkpoint_epoch) + " (recovery refuses the store)");
    }
    ReadCatalogAt(ctx, c.catalog_root);
    if (ctx.catalog_ok && ctx.catalog_tree_count != c.tree_count) {
      ctx.Add(FsckSeverity::kError, "manifest", ManifestFileName(ctx.manifest->generation), 0,
              c.catalog_root,
              "retained checkpoint '" + c.name + "': the manifest says " +
                  std::to_string(c.tree_count) + " trees, its catalog holds " +
                  std::to_string(ctx.catalog_tree_count));
    }
    for (const CatalogEntry& e : ctx.catalog) CheckTree(ctx, e, *type);
    ctx.retained_referenced.insert(referenced.begin(), referenced.end());
    ctx.scope_checkpoint.clear();
    ctx.scope_referenced = nullptr;
  }
  ctx.catalog = std::move(published);
  ctx.catalog_ok = published_ok;
  ctx.reachability_ok = reachability_ok;
  ctx.catalog_tree_count = published_tree_count;
}

}  // namespace cowtree::recovery::fsck
