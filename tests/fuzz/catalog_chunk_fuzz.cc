// Fuzz target: the catalog chunk body (persistence/catalog_format.h DecodeCatalogChunk).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeCatalogChunk either fails with Corruption or returns 1..1024 entries in strictly
//   increasing tree-id order with valid fields (a descriptor or inline bytes, never both), and
//   EncodeCatalogChunk of them reproduces a version-2 body exactly (CRC included); a version-1
//   body re-encodes as version 2 holding the same entries.
#include "persistence/catalog_format.h"
#include "persistence/coding.h"
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
    FUZZ_CHECK(e.tree_id != 0 && e.type_id != 0);
    // Exactly one of a descriptor and inline bytes (an empty inline tree has neither).
    FUZZ_CHECK(!e.descriptor.valid() || e.inline_body.empty());
    FUZZ_CHECK(e.inline_body.size() <= kCatalogInlineBytesMax);
    FUZZ_CHECK(!e.name.empty() && e.name.size() <= kTreeNameBytesMax);
    FUZZ_CHECK(e.params.size() <= kTreeParamsBytesMax);
  }
  const std::string encoded = EncodeCatalogChunk(*entries);
  const uint16_t version = DecodeFixed16(in.bytes.data() + 4);
  if (version == kCatalogChunkFormatVersion) {
    FUZZ_CHECK(encoded == in.bytes, "re-encoded chunk differs: " + Hex(encoded) + " vs " +
                                        Hex(in.bytes));
  } else {
    // A version-1 chunk is re-encoded as version 2: the same entries.
    FUZZ_CHECK(version == kCatalogChunkFormatVersionV1);
    Result<std::vector<CatalogEntry>> again = DecodeCatalogChunk(encoded);
    FUZZ_CHECK(again.ok() && *again == *entries, "v1 chunk re-encoded as v2 differs");
  }
  return 0;
}

}  // namespace cowtree::fuzz
