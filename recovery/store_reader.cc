#include "recovery/store_reader.h"

#include <algorithm>
#include <string_view>

namespace cowtree::recovery {

OtDeltaDisposition ClassifyOtDelta(uint64_t record_epoch, uint64_t ot_checkpoint_epoch,
                                   uint64_t checkpoint_epoch) {
  if (record_epoch <= ot_checkpoint_epoch) return OtDeltaDisposition::kInOtCheckpoint;
  if (record_epoch > checkpoint_epoch) return OtDeltaDisposition::kUnpublished;
  return OtDeltaDisposition::kApply;
}

namespace {

// Reports a problem; the Status to return if the reporter stops (OK to go on).
Status Problem(const CatalogReadHooks& hooks, NodeID at, ObjectKind kind, std::string what,
               Status status, bool read_failed = false) {
  CatalogProblem p{at, kind, std::move(what), std::move(status), read_failed};
  if (hooks.report(p)) return Status::OK();
  if (read_failed && !p.status.IsCorruption()) return p.status;  // IOError stays IOError
  return Status::Corruption(p.what + " (object " + std::to_string(at.raw()) +
                            "): " + p.status.message());
}

// Names unique (fsck): one sorted array of views (no allocation per tree).
Status CheckNames(const CatalogReadHooks& hooks, NodeID root_id, const CatalogContents& c) {
  std::vector<std::pair<std::string_view, TreeId>> names;
  names.reserve(c.entries.size());
  for (const CatalogEntry& e : c.entries) names.emplace_back(e.name, e.tree_id);
  std::sort(names.begin(), names.end());
  for (size_t i = 1; i < names.size(); ++i) {
    if (names[i].first == names[i - 1].first) {
      COWTREE_RETURN_IF_ERROR(Problem(
          hooks, root_id, ObjectKind::kCatalogRoot, "catalog root",
          Status::Corruption("tree name '" + std::string(names[i].first) +
                             "' is used by tree ids " + std::to_string(names[i - 1].second) +
                             " and " + std::to_string(names[i].second))));
    }
  }
  return Status::OK();
}

// Reads page `i` of a two-level root and appends its chunk references to root->chunks, after
// checking them against the root's reference (chunk count, first tree id, tree count) and the
// chunks before it. A page that cannot be used is reported and its chunks are skipped
// (*usable = false): Open stops there (the reporter's status), fsck goes on with the others.
Status ReadRootPage(const CatalogReadHooks& hooks, size_t i, CatalogRoot* root, bool* usable) {
  const CatalogRootPageRef& ref = root->pages[i];
  const std::string what = "catalog root page " + std::to_string(i);
  *usable = false;
  if (hooks.reference && !hooks.reference(ref.page_id, what)) return Status::OK();  // reported
  Result<std::string> body = hooks.read(ref.page_id, ObjectKind::kCatalogRootPage);
  if (!body.ok()) {
    return Problem(hooks, ref.page_id, ObjectKind::kCatalogRootPage, what, body.status(),
                   /*read_failed=*/true);
  }
  Result<std::vector<CatalogChunkRef>> chunks = DecodeCatalogRootPage(*body);
  if (!chunks.ok()) {
    return Problem(hooks, ref.page_id, ObjectKind::kCatalogRootPage, what,
                   Status::Corruption("does not decode: " + chunks.status().message()));
  }
  uint64_t trees = 0;
  for (const CatalogChunkRef& c : *chunks) trees += c.entry_count;
  const TreeId after = root->chunks.empty() ? 0 : root->chunks.back().first_tree_id;
  if (chunks->size() != ref.chunk_count || chunks->front().first_tree_id != ref.first_tree_id ||
      trees != ref.tree_count || ref.first_tree_id <= after ||
      chunks->back().first_tree_id >= root->next_tree_id) {
    return Problem(hooks, ref.page_id, ObjectKind::kCatalogRootPage, what,
                   Status::Corruption("lists " + std::to_string(chunks->size()) + " chunks of " +
                                      std::to_string(trees) + " trees from tree id " +
                                      std::to_string(chunks->front().first_tree_id) +
                                      "; the catalog root says " + std::to_string(ref.chunk_count) +
                                      " of " + std::to_string(ref.tree_count) + " from " +
                                      std::to_string(ref.first_tree_id)));
  }
  root->chunks.insert(root->chunks.end(), chunks->begin(), chunks->end());
  *usable = true;
  return Status::OK();
}

}  // namespace

Status ReadCatalogObjects(uint64_t catalog_root_raw, const CatalogReadHooks& hooks,
                          CatalogContents* out) {
  *out = CatalogContents();
  if (catalog_root_raw == 0) {  // no checkpoint has written a catalog yet
    out->complete = true;
    return Status::OK();
  }
  const NodeID root_id = NodeID::FromRaw(catalog_root_raw);
  if (hooks.reference && !hooks.reference(root_id, "catalog root")) return Status::OK();
  Result<std::string> body = hooks.read(root_id, ObjectKind::kCatalogRoot);
  if (!body.ok()) {
    return Problem(hooks, root_id, ObjectKind::kCatalogRoot, "catalog root named by the superblock",
                   body.status(), /*read_failed=*/true);
  }
  Result<CatalogRoot> root = DecodeCatalogRoot(*body);
  if (!root.ok()) {
    return Problem(hooks, root_id, ObjectKind::kCatalogRoot, "catalog root",
                   Status::Corruption("does not decode: " + root.status().message()));
  }
  // A two-level root: its pages' chunk references, in order, make up root->chunks.
  bool complete = true;
  for (size_t i = 0; i < root->pages.size(); ++i) {
    bool usable = false;
    COWTREE_RETURN_IF_ERROR(ReadRootPage(hooks, i, &*root, &usable));
    complete &= usable;
  }
  out->root = *root;
  if (hooks.root) hooks.root(*root);
  // Entry-level rules across the whole catalog, checked while streaming, reported once every
  // chunk was read: tree ids strictly increasing across chunks, counts consistent.
  std::vector<std::string> order_problems;
  TreeId previous = 0;
  uint64_t entry_count = 0;
  std::vector<CatalogEntryView> views;
  std::string buffer;  // hooks.read_into's, reused by every chunk
  const auto read_chunk = [&](NodeID id) -> Result<std::string_view> {
    if (hooks.read_into) return hooks.read_into(id, ObjectKind::kCatalogChunk, &buffer);
    COWTREE_ASSIGN_OR_RETURN(buffer, hooks.read(id, ObjectKind::kCatalogChunk));
    return std::string_view(buffer);
  };
  for (size_t i = 0; i < root->chunks.size(); ++i) {
    const CatalogChunkRef& ref = root->chunks[i];
    const std::string what = "catalog chunk " + std::to_string(i);
    if (hooks.reference && !hooks.reference(ref.chunk_id, what)) {
      complete = false;
      continue;
    }
    Result<std::string_view> chunk_body = read_chunk(ref.chunk_id);
    if (!chunk_body.ok()) {
      complete = false;
      COWTREE_RETURN_IF_ERROR(Problem(hooks, ref.chunk_id, ObjectKind::kCatalogChunk, what,
                                      chunk_body.status(), /*read_failed=*/true));
      continue;
    }
    if (Status st = ParseCatalogChunk(*chunk_body, &views); !st.ok()) {
      complete = false;
      COWTREE_RETURN_IF_ERROR(Problem(hooks, ref.chunk_id, ObjectKind::kCatalogChunk, what,
                                      Status::Corruption("does not decode: " + st.message())));
      continue;
    }
    if (views.size() != ref.entry_count || views.front().tree_id != ref.first_tree_id) {
      COWTREE_RETURN_IF_ERROR(Problem(
          hooks, ref.chunk_id, ObjectKind::kCatalogChunk, what,
          Status::Corruption("holds " + std::to_string(views.size()) + " entries from tree id " +
                             std::to_string(views.front().tree_id) + "; the catalog root says " +
                             std::to_string(ref.entry_count) + " from " +
                             std::to_string(ref.first_tree_id))));
    }
    for (const CatalogEntryView& e : views) {
      if (e.tree_id <= previous) {
        order_problems.push_back("tree id " + std::to_string(e.tree_id) + " ('" +
                                 std::string(e.name) + "') is not above the previous tree id " +
                                 std::to_string(previous));
      }
      previous = std::max(previous, e.tree_id);
    }
    entry_count += views.size();
    if (hooks.entries) {
      COWTREE_RETURN_IF_ERROR(hooks.entries(ref.chunk_id, views));
    } else {
      for (const CatalogEntryView& e : views) out->entries.push_back(e.ToEntry());
    }
  }
  out->complete = complete;
  if (!complete) return Status::OK();
  const auto bad = [&](const std::string& message) {
    return Problem(hooks, root_id, ObjectKind::kCatalogRoot, "catalog root",
                   Status::Corruption(message));
  };
  for (const std::string& p : order_problems) COWTREE_RETURN_IF_ERROR(bad(p));
  if (root->tree_count != entry_count) {
    COWTREE_RETURN_IF_ERROR(bad("catalog root says " + std::to_string(root->tree_count) +
                                " trees; its chunks hold " + std::to_string(entry_count)));
  }
  if (entry_count != 0 && root->next_tree_id <= previous) {
    COWTREE_RETURN_IF_ERROR(bad("catalog root next_tree_id " + std::to_string(root->next_tree_id) +
                                " is not above the largest tree id " + std::to_string(previous)));
  }
  if (!hooks.check_names || hooks.entries) return Status::OK();
  return CheckNames(hooks, root_id, *out);
}

}  // namespace cowtree::recovery
