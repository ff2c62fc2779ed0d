// Fuzz target: the catalog root body (persistence/catalog_format.h DecodeCatalogRoot).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeCatalogRoot either fails with Corruption or returns a root with next_tree_id >= 1,
//   chunk references with valid ids, 1..1024 entries each, strictly increasing first tree ids
//   below next_tree_id, entry counts summing to tree_count; EncodeCatalogRoot of it reproduces
//   the body exactly, and decoding that gives the same root.
#include "persistence/catalog_format.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzCatalogRoot(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<CatalogRoot> root = DecodeCatalogRoot(ExactBytes(in.bytes).view());
  if (!root.ok()) {
    FUZZ_CHECK_CORRUPTION(root.status());
    return 0;
  }
  FUZZ_CHECK(root->next_tree_id >= 1);
  uint64_t counted = 0;
  for (size_t i = 0; i < root->chunks.size(); ++i) {
    const CatalogChunkRef& c = root->chunks[i];
    FUZZ_CHECK(c.chunk_id.valid() && c.entry_count >= 1 && c.entry_count <= kCatalogChunkEntriesMax);
    FUZZ_CHECK(i == 0 || c.first_tree_id > root->chunks[i - 1].first_tree_id);
    FUZZ_CHECK(c.first_tree_id >= 1 && c.first_tree_id < root->next_tree_id);
    counted += c.entry_count;
  }
  FUZZ_CHECK(counted == root->tree_count);
  const std::string encoded = EncodeCatalogRoot(*root);
  FUZZ_CHECK(encoded == in.bytes, "re-encoded root differs: " + Hex(encoded) + " vs " +
                                      Hex(in.bytes));
  Result<CatalogRoot> again = DecodeCatalogRoot(encoded);
  FUZZ_CHECK(again.ok() && again->next_tree_id == root->next_tree_id &&
             again->tree_count == root->tree_count && again->chunks.size() == root->chunks.size());
  return 0;
}

}  // namespace cowtree::fuzz
