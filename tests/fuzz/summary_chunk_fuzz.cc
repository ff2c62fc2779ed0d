// Fuzz target: the summary chunk body (tree/summary_format.h DecodeSummaryChunk,
// docs/summary_chunk.md).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeSummaryChunk either fails with Corruption or returns >= 1 summaries with strictly
//   increasing first keys, entry counts in 1..kLeafCapacityMax and valid leaf ids;
//   EncodeSummaryChunk reproduces the body exactly; CheckChunkAgainstDescriptor accepts the
//   chunk against the descriptor entry made from it and rejects a wrong count.
#include "tree/summary_format.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzSummaryChunk(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<std::vector<tree::PersistedSummary>> chunk = tree::DecodeSummaryChunk(ExactBytes(in.bytes).view());
  if (!chunk.ok()) {
    FUZZ_CHECK_CORRUPTION(chunk.status());
    return 0;
  }
  FUZZ_CHECK(!chunk->empty());
  for (size_t i = 0; i < chunk->size(); ++i) {
    const tree::PersistedSummary& s = (*chunk)[i];
    FUZZ_CHECK(i == 0 || s.first_key > (*chunk)[i - 1].first_key);
    FUZZ_CHECK(s.entry_count >= 1 && s.entry_count <= tree::kLeafCapacityMax);
    FUZZ_CHECK(s.leaf_id.valid());
  }
  const std::string encoded = tree::EncodeSummaryChunk(*chunk);
  FUZZ_CHECK(encoded == in.bytes, "re-encoded chunk differs: " + Hex(encoded) + " vs " +
                                      Hex(in.bytes));
  tree::DescriptorChunk ref{NodeID::Make(1, 1), static_cast<uint32_t>(chunk->size()),
                            chunk->front().first_key};
  FUZZ_CHECK(tree::CheckChunkAgainstDescriptor(ref, *chunk).ok());
  ref.summary_count += 1;
  FUZZ_CHECK(!tree::CheckChunkAgainstDescriptor(ref, *chunk).ok());
  return 0;
}

}  // namespace cowtree::fuzz
