// Fuzz target: the catalog root body and the root page body (persistence/catalog_format.h
// DecodeCatalogRoot, DecodeCatalogRootPage).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C; bit 1: decode as a root page), then
// the body.
// Properties
// - A root: DecodeCatalogRoot either fails with Corruption or returns a root with
//   next_tree_id >= 1 and either chunk references (one level) with valid ids, 1..1024 entries
//   each, strictly increasing first tree ids below next_tree_id, entry counts summing to
//   tree_count; or 1..8000 page references (two levels) with valid ids, 1..10000 chunks and
//   1..chunks*1024 trees each, strictly increasing first tree ids below next_tree_id, tree
//   counts summing to tree_count. EncodeCatalogRoot of it reproduces the body exactly, and
//   decoding that gives the same root.
// - A page: DecodeCatalogRootPage either fails with Corruption or returns 1..10000 chunk
//   references as above (ids, counts, increasing first tree ids); EncodeCatalogRootPage of
//   them reproduces the body exactly.
#include "persistence/catalog_format.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {
namespace {

void CheckChunks(const std::vector<CatalogChunkRef>& chunks, TreeId id_end, uint64_t* counted) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    const CatalogChunkRef& c = chunks[i];
    FUZZ_CHECK(c.chunk_id.valid() && c.entry_count >= 1 &&
               c.entry_count <= kCatalogChunkEntriesMax);
    FUZZ_CHECK(i == 0 || c.first_tree_id > chunks[i - 1].first_tree_id);
    FUZZ_CHECK(c.first_tree_id >= 1 && c.first_tree_id < id_end);
    *counted += c.entry_count;
  }
}

int FuzzPage(const FuzzInput& in) {
  Result<std::vector<CatalogChunkRef>> chunks = DecodeCatalogRootPage(ExactBytes(in.bytes).view());
  if (!chunks.ok()) {
    FUZZ_CHECK_CORRUPTION(chunks.status());
    return 0;
  }
  FUZZ_CHECK(!chunks->empty() && chunks->size() <= kCatalogRootChunksMax);
  uint64_t counted = 0;
  CheckChunks(*chunks, UINT64_MAX, &counted);
  const std::string encoded = EncodeCatalogRootPage(*chunks);
  FUZZ_CHECK(encoded == in.bytes,
             "re-encoded page differs: " + Hex(encoded) + " vs " + Hex(in.bytes));
  return 0;
}

}  // namespace

int FuzzCatalogRoot(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  if (in.flag(1)) return FuzzPage(in);
  Result<CatalogRoot> root = DecodeCatalogRoot(ExactBytes(in.bytes).view());
  if (!root.ok()) {
    FUZZ_CHECK_CORRUPTION(root.status());
    return 0;
  }
  FUZZ_CHECK(root->next_tree_id >= 1);
  FUZZ_CHECK(root->chunks.empty() || root->pages.empty());
  FUZZ_CHECK(root->pages.size() <= kCatalogRootPagesMax);
  uint64_t counted = 0;
  CheckChunks(root->chunks, root->next_tree_id, &counted);
  for (size_t i = 0; i < root->pages.size(); ++i) {
    const CatalogRootPageRef& p = root->pages[i];
    FUZZ_CHECK(p.page_id.valid() && p.chunk_count >= 1 && p.chunk_count <= kCatalogRootChunksMax);
    FUZZ_CHECK(p.tree_count >= 1 &&
               p.tree_count <= uint64_t{p.chunk_count} * kCatalogChunkEntriesMax);
    FUZZ_CHECK(i == 0 || p.first_tree_id > root->pages[i - 1].first_tree_id);
    FUZZ_CHECK(p.first_tree_id >= 1 && p.first_tree_id < root->next_tree_id);
    counted += p.tree_count;
  }
  FUZZ_CHECK(counted == root->tree_count);
  const std::string encoded = EncodeCatalogRoot(*root);
  FUZZ_CHECK(encoded == in.bytes, "re-encoded root differs: " + Hex(encoded) + " vs " +
                                      Hex(in.bytes));
  Result<CatalogRoot> again = DecodeCatalogRoot(encoded);
  FUZZ_CHECK(again.ok() && again->next_tree_id == root->next_tree_id &&
             again->tree_count == root->tree_count && again->chunks.size() == root->chunks.size() &&
             again->pages.size() == root->pages.size());
  return 0;
}

}  // namespace cowtree::fuzz
