// Fuzz target: the catalog chunk body (persistence/catalog_format.h DecodeCatalogChunk).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeCatalogChunk either fails with Corruption or returns 1..1024 entries in strictly
//   increasing tree-id order with valid fields, and EncodeCatalogChunk of them reproduces the
//   body exactly (CRC included).
#include "persistence/catalog_format.h"
#include "persistence/commit_record.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzCatalogChunk(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<std::vector<CatalogEntry>> entries = DecodeCatalogChunk(ExactBytes(in.bytes).view());
  if (!entries.ok()) {
    FUZZ_CHECK_CORRUPTION(entries.status());
    return 0;
  }
  FUZZ_CHECK(!entries->empty() && entries->size() <= kCatalogChunkEntriesMax);
  for (size_t i = 0; i < entries->size(); ++i) {
    const CatalogEntry& e = (*entries)[i];
    FUZZ_CHECK(i == 0 || e.tree_id > (*entries)[i - 1].tree_id);
    FUZZ_CHECK(e.tree_id != 0 && e.descriptor.valid() && e.type_id != 0);
    FUZZ_CHECK(!e.name.empty() && e.name.size() <= kTreeNameBytesMax);
    FUZZ_CHECK(e.params.size() <= kTreeParamsBytesMax);
  }
  const std::string encoded = EncodeCatalogChunk(*entries);
  FUZZ_CHECK(encoded == in.bytes, "re-encoded chunk differs: " + Hex(encoded) + " vs " +
                                      Hex(in.bytes));
  return 0;
}

}  // namespace cowtree::fuzz
