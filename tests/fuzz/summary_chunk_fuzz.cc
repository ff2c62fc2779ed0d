// Fuzz target: the summary chunk body (tree/summary_format.h DecodeSummaryChunk,
// docs/summary_chunk.md).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeSummaryChunk either fails with Corruption or returns >= 1 summaries with strictly
//   increasing first keys, entry counts in 1..kLeafCapacityMax and valid leaf ids;
//   EncodeSummaryChunk reproduces the body exactly; ReadSummaryIndex (tree/summary_index.h)
//   accepts the chunk under a one-level descriptor whose ref is made from it, and rejects it
//   under a ref with another leaf count.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "tree/summary_format.h"
#include "tree/summary_index.h"

namespace cowtree::fuzz {

int FuzzSummaryChunk(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<std::vector<tree::PersistedSummary>> chunk =
      tree::DecodeSummaryChunk(ExactBytes(in.bytes).view());
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
  FUZZ_CHECK(encoded == in.bytes,
             "re-encoded chunk differs: " + Hex(encoded) + " vs " + Hex(in.bytes));
  tree::TreeDescriptor d;
  d.leaf_capacity_entries = tree::kDefaultTreeShape.leaf_capacity_entries;
  d.fanout = tree::kDefaultTreeShape.fanout;
  tree::IndexRef ref{NodeID::Make(1, 1), chunk->front().first_key, chunk->size(), 0, 0};
  unsigned __int128 pos = 0;
  for (const tree::PersistedSummary& s : *chunk) {
    ref.entry_count += s.entry_count;
    pos += s.pos_sum;
  }
  if (pos <= UINT64_MAX) {
    ref.pos_sum = static_cast<uint64_t>(pos);
    d.refs = {ref};
    tree::SummaryIndexReader r;
    r.read = [&](NodeID, ObjectKind) -> Result<std::string> { return in.bytes; };
    r.on_summary_chunk = [&](NodeID, std::vector<tree::PersistedSummary> got) {
      FUZZ_CHECK(got == *chunk);
    };
    FUZZ_CHECK(tree::ReadSummaryIndex(d, r).ok());
    d.refs[0].leaf_count += 1;
    FUZZ_CHECK(tree::ReadSummaryIndex(d, r).IsCorruption());
  }
  return 0;
}

}  // namespace cowtree::fuzz
