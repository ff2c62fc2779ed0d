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
#include <utility>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"
#include "recovery/store_reader.h"
#include "tree/node_format.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"
#include "tree/summary_index.h"

namespace cowtree::recovery::fsck {
namespace {

// "tree 'a'", or "retained checkpoint 'r' tree 'a'" while a retained checkpoint is checked.
std::string TreeLabel(const Context& ctx, const CatalogEntry& e) {
  const std::string tree = "tree '" + e.name + "'";
  return ctx.scope_checkpoint.empty() ? tree
                                      : "retained checkpoint '" + ctx.scope_checkpoint + "' " + tree;
}

// Records a reference from the catalog being checked; false (with a finding) if it was
// referenced before in that catalog.
bool Reference(Context& ctx, NodeID id, const std::string& what) {
  if (!ctx.ScopeReferenced().Insert(id)) {
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

// The streaming pass over a tree's leaves, fed one verified summary chunk at a time in key
// order: each leaf is referenced, read once, decoded and compared with its summary; the
// summaries themselves get the checks BuildFromSummaries would make (canonical keys, positive
// sums within bounds, first keys increasing); totals are summed for the descriptor check.
// Memory: one leaf at a time, plus the summaries of small trees (for CheckRebuilt).
class LeafPass {
 public:
  LeafPass(Context& ctx, const TreeImage& img, bool keep_summaries)
      : ctx_(ctx), img_(img), label_(TreeLabel(ctx, img.entry)), keep_(keep_summaries) {}

  void Feed(const std::vector<tree::PersistedSummary>& summaries) {
    for (const tree::PersistedSummary& s : summaries) {
      if (keep_) kept_.push_back(s);
      Leaf(s);
      ++index_;
    }
  }
  uint64_t leaf_count() const { return index_; }
  bool clean() const { return clean_; }
  bool summaries_ok() const { return summaries_ok_; }
  const std::vector<tree::PersistedSummary>& kept() const { return kept_; }

  // The descriptor's totals against the summaries (when the whole index was read) and against
  // the leaves (when every leaf was read too).
  void Finish(bool index_complete) {
    if (!index_complete || !img_.descriptor.has_value()) return;
    const tree::TreeDescriptor& d = *img_.descriptor;
    if (summaries_ok_ &&
        (sum_pos_ != d.positive_count || sum_entries_ != d.entry_count || index_ != d.leaf_count)) {
      AddAt(ctx_, FsckSeverity::kError, "tree", img_.descriptor_id,
            label_ + " descriptor says N " + std::to_string(d.positive_count) + ", " +
                std::to_string(d.entry_count) + " entries, " + std::to_string(d.leaf_count) +
                " leaves; its summaries sum to N " + U128(sum_pos_) + ", " +
                std::to_string(sum_entries_) + " entries, " + std::to_string(index_) +
                " leaves (recovery refuses the store)");
      clean_ = false;
      return;
    }
    if (all_read_ && (leaf_pos_ != d.positive_count || leaf_entries_ != d.entry_count)) {
      AddAt(ctx_, FsckSeverity::kError, "tree", img_.descriptor_id,
            label_ + " descriptor says N " + std::to_string(d.positive_count) + " and " +
                std::to_string(d.entry_count) + " entries; its leaves hold N " + U128(leaf_pos_) +
                " and " + std::to_string(leaf_entries_) + " entries");
      clean_ = false;
    }
  }

 private:
  static std::string U128(unsigned __int128 v) {
    return v > UINT64_MAX ? std::string("(overflows)") : std::to_string(static_cast<uint64_t>(v));
  }

  // What only the whole list shows (tree/summaries.h BuildFromSummaries refuses these).
  void SummaryRules(const tree::PersistedSummary& s, const std::string& what) {
    std::string bad;
    if (have_prev_ && s.first_key <= prev_first_key_) {
      bad = "first_key " + std::to_string(s.first_key) + " is not greater than the previous " +
            std::to_string(prev_first_key_);
    } else if (!tree::IsCanonicalKey(img_.key_type, s.first_key)) {
      bad = "first_key " + std::to_string(s.first_key) + " is not a canonical " +
            std::string(tree::KeyTypeName(img_.key_type)) + " key code";
    } else if (static_cast<unsigned __int128>(s.pos_sum) >
               static_cast<unsigned __int128>(s.entry_count) * INT64_MAX) {
      bad = "pos_sum " + std::to_string(s.pos_sum) + " exceeds entry_count * (2^63 - 1)";
    }
    if (!bad.empty()) {
      AddAt(ctx_, FsckSeverity::kError, "tree", s.leaf_id,
            what + " summary: " + bad + " (recovery refuses the store)");
      summaries_ok_ = clean_ = false;
    }
    sum_pos_ += s.pos_sum;
    sum_entries_ += s.entry_count;
  }

  void Leaf(const tree::PersistedSummary& s) {
    const std::string what = label_ + " leaf " + std::to_string(index_);
    SummaryRules(s, what);
    if (have_prev_ && prev_last_key_.has_value() && *prev_last_key_ >= s.first_key) {
      AddAt(ctx_, FsckSeverity::kError, "tree", prev_leaf_,
            label_ + " leaf " + std::to_string(index_ - 1) +
                " differs from its summary; last key " + std::to_string(*prev_last_key_) +
                " is not below the next leaf's first key " + std::to_string(s.first_key) +
                " (key order / separator)");
      clean_ = false;
    }
    have_prev_ = true;
    prev_first_key_ = s.first_key;
    prev_leaf_ = s.leaf_id;
    prev_last_key_.reset();
    ++ctx_.report.leaves_checked;
    if (!Reference(ctx_, s.leaf_id, what)) {
      all_read_ = clean_ = false;
      return;
    }
    Result<std::string> body = ReadBody(ctx_, s.leaf_id, ObjectKind::kLeaf);
    if (!body.ok()) {
      ReportReadFailure(ctx_, s.leaf_id, ObjectKind::kLeaf, body.status(), "tree", what);
      all_read_ = clean_ = false;
      return;
    }
    Result<std::shared_ptr<const tree::LeafData>> leaf = tree::DecodeLeaf(*body, img_.key_type);
    if (!leaf.ok()) {
      AddAt(ctx_, FsckSeverity::kError, "tree", s.leaf_id,
            what + " does not decode: " + leaf.status().message());
      all_read_ = clean_ = false;
      return;
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
    if (!bad.empty()) {
      AddAt(ctx_, FsckSeverity::kError, "tree", s.leaf_id,
            what + " differs from its summary" + bad);
      clean_ = false;
    }
    prev_last_key_ = d.keys.back();
    leaf_pos_ += sum_ok ? pos_sum : (unsigned __int128)UINT64_MAX + 1;
    leaf_entries_ += d.entry_count();
  }

  Context& ctx_;
  const TreeImage& img_;
  const std::string label_;
  const bool keep_;
  std::vector<tree::PersistedSummary> kept_;
  uint64_t index_ = 0;
  bool clean_ = true, all_read_ = true, summaries_ok_ = true;
  bool have_prev_ = false;
  uint64_t prev_first_key_ = 0;
  NodeID prev_leaf_;
  std::optional<uint64_t> prev_last_key_;
  unsigned __int128 sum_pos_ = 0, leaf_pos_ = 0;
  uint64_t sum_entries_ = 0, leaf_entries_ = 0;
};

// Rebuilds the internal levels of a small tree and runs the tree's own invariant checker.
void CheckRebuilt(Context& ctx, const TreeImage& img,
                  const std::vector<tree::PersistedSummary>& all, bool leaves_clean) {
  const std::string label = TreeLabel(ctx, img.entry);
  const tree::TreeDescriptor& desc = *img.descriptor;
  tree::TreeShape shape{desc.leaf_capacity_entries, desc.fanout};
  if (!shape.Validate().ok()) shape = tree::kDefaultTreeShape;
  FsckLeafLoader loader(ctx, img.key_type);
  auto v = tree::BuildFromSummaries(img.key_type, shape, all, ctx.ScopeEpoch(), &loader);
  if (!v.ok()) {
    AddAt(ctx, FsckSeverity::kError, "tree", img.descriptor_id,
          label + ": the summaries do not rebuild a tree: " + v.status().message() +
              " (recovery refuses the store)");
    return;
  }
  if (!leaves_clean) return;  // each bad leaf is already named; the checker would stop at it
  Status st = tree::CheckInvariants(**v, /*load_leaves=*/true);
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
            TreeLabel(ctx, entry) + ": its inline leaf does not decode: " + leaf.status().message() +
                " (the tree's first access fails)");
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
  TreeImage img;
  if (!ReadDescriptor(ctx, entry, &img)) {
    ctx.reachability_ok = false;
    return;
  }
  // Small trees are also rebuilt and checked by tree::CheckInvariants (which keeps their
  // leaves in memory); larger ones rely on the streaming pass, in bounded memory.
  const bool small = img.descriptor->leaf_count <= ctx.options.invariant_check_max_leaves;
  LeafPass pass(ctx, img, small);
  const bool complete = WalkIndex(
      ctx, img, nullptr,
      [&](NodeID, std::vector<tree::PersistedSummary> summaries) { pass.Feed(summaries); });
  if (!complete) ctx.reachability_ok = false;
  pass.Finish(complete);
  if (complete && small && pass.summaries_ok() && pass.clean()) {
    CheckRebuilt(ctx, img, pass.kept(), pass.clean());
  }
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

bool ReadDescriptor(Context& ctx, const CatalogEntry& entry, TreeImage* img) {
  img->entry = entry;
  img->key_type = static_cast<tree::KeyType>(entry.params.empty() ? 0 : entry.params[0]);
  img->descriptor_id = entry.descriptor;
  const std::string label = TreeLabel(ctx, entry);
  if (!Reference(ctx, entry.descriptor, label + " descriptor")) return false;
  Result<std::string> body = ReadBody(ctx, entry.descriptor, ObjectKind::kTreeDescriptor);
  if (!body.ok()) {
    ReportReadFailure(ctx, entry.descriptor, ObjectKind::kTreeDescriptor, body.status(), "tree",
                      label + " descriptor");
    return false;
  }
  Result<tree::TreeDescriptor> desc = tree::DecodeTreeDescriptor(*body);
  if (!desc.ok()) {
    AddAt(ctx, FsckSeverity::kError, "tree", entry.descriptor,
          label + " descriptor does not decode: " + desc.status().message());
    return false;
  }
  if (desc->key_type != img->key_type) {
    AddAt(ctx, FsckSeverity::kError, "tree", entry.descriptor,
          label + " descriptor key type " + std::string(tree::KeyTypeName(desc->key_type)) +
              " differs from the catalog's " + std::string(tree::KeyTypeName(img->key_type)) +
              " (recovery refuses the store)");
    return false;
  }
  img->descriptor = std::move(desc).value();
  return true;
}

bool WalkIndex(
    Context& ctx, const TreeImage& img,
    const std::function<void(NodeID, const tree::IndexChunk&)>& on_index,
    const std::function<void(NodeID, std::vector<tree::PersistedSummary>)>& on_summaries) {
  const std::string label = TreeLabel(ctx, img.entry);
  bool complete = true;
  bool reported = false;  // the read hook already reported this problem
  tree::SummaryIndexReader reader;
  reader.read = [&](NodeID id, ObjectKind kind) -> Result<std::string> {
    const std::string what =
        label + " " + (kind == ObjectKind::kSummaryChunk ? "summary chunk" : "index chunk");
    if (!Reference(ctx, id, what)) {
      reported = true;
      return Status::Corruption(what + " referenced a second time");
    }
    ++ctx.report.index_chunks_checked;
    return ReadBody(ctx, id, kind);
  };
  reader.on_index_chunk = [&](NodeID id, const tree::IndexChunk& c) {
    if (on_index) on_index(id, c);
  };
  reader.on_summary_chunk = on_summaries;
  reader.on_problem = [&](const tree::IndexProblem& p) {
    complete = false;
    if (std::exchange(reported, false)) return true;
    const std::string what = label + " " + p.what;
    if (p.read_failed) {
      ReportReadFailure(ctx, p.id, p.kind, p.status, "tree", what);
    } else {
      AddAt(ctx, FsckSeverity::kError, "tree", p.id,
            what + ": " + p.status.message() + " (recovery refuses the store)");
    }
    return true;  // skip this subtree, check the others
  };
  const Status st = tree::ReadSummaryIndex(*img.descriptor, reader);
  COWTREE_ASSERT(st.ok());  // every problem was reported and skipped
  return complete;
}

TreeImage ReadTreeImage(Context& ctx, const CatalogEntry& entry) {
  TreeImage img;
  if (!ReadDescriptor(ctx, entry, &img)) return img;
  const std::string label = TreeLabel(ctx, entry);
  bool complete = WalkIndex(
      ctx, img, [&](NodeID id, const tree::IndexChunk& c) { img.index_chunks.emplace_back(id, c); },
      [&](NodeID id, std::vector<tree::PersistedSummary> summaries) {
        for (const tree::PersistedSummary& s : summaries) {
          if (!Reference(ctx, s.leaf_id, label + " leaf")) complete = false;
        }
        img.chunks.emplace_back(id, std::move(summaries));
      });
  img.complete = complete;
  return img;
}

void CheckCatalogAndTrees(Context& ctx) {
  ReadCatalog(ctx);
  ctx.reachability_ok = ctx.catalog_ok;
  std::unique_ptr<TreeType> type = tree::MakeOrderStatTreeType(tree::kDefaultTreeShape);
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
  std::unique_ptr<TreeType> type = tree::MakeOrderStatTreeType(tree::kDefaultTreeShape);
  for (const ManifestRetainedCheckpoint& c : ctx.manifest->retained_checkpoints) {
    ++ctx.report.retained_checkpoints_checked;
    NodeIdSet referenced;
    referenced.Reserve(ctx.handle_lanes);
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
    ctx.retained_referenced.InsertAll(referenced);
    ctx.scope_checkpoint.clear();
    ctx.scope_referenced = nullptr;
  }
  ctx.catalog = std::move(published);
  ctx.catalog_ok = published_ok;
  ctx.reachability_ok = reachability_ok;
  ctx.catalog_tree_count = published_tree_count;
}

}  // namespace cowtree::recovery::fsck
