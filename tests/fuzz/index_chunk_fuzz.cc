// Fuzz target: the summary index chunk body (tree/index_format.h DecodeIndexChunk,
// docs/summary_chunk.md "Summary index chunk"), and its check against a parent ref
// (tree/summary_index.h ReadSummaryIndex).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeIndexChunk either fails with Corruption or returns a chunk within the documented
//   limits (key type valid, level 1..kIndexHeightMax - 1, >= 1 ref, ids valid, first keys
//   strictly increasing, leaf_count >= 1, leaf_count <= entry_count <= leaf_count *
//   kLeafCapacityMax, pos_sum <= entry_count * (2^63 - 1)); EncodeIndexChunk reproduces the
//   body exactly and decoding that gives the same chunk.
// - Under a descriptor of index_height level + 1 whose one ref carries the chunk's totals,
//   ReadSummaryIndex accepts the chunk and goes on to its first child (whose read fails with
//   NotFound, returned as is); with a leaf count off by one it reports Corruption.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "tree/index_format.h"
#include "tree/summary_index.h"

namespace cowtree::fuzz {

int FuzzIndexChunk(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<tree::IndexChunk> c = tree::DecodeIndexChunk(ExactBytes(in.bytes).view());
  if (!c.ok()) {
    FUZZ_CHECK_CORRUPTION(c.status());
    return 0;
  }
  FUZZ_CHECK(tree::IsValidKeyType(static_cast<uint8_t>(c->key_type)));
  FUZZ_CHECK(c->level >= 1 && c->level < tree::kIndexHeightMax);
  FUZZ_CHECK(!c->refs.empty());
  unsigned __int128 leaves = 0, entries = 0, pos = 0;
  for (size_t j = 0; j < c->refs.size(); ++j) {
    const tree::IndexRef& r = c->refs[j];
    FUZZ_CHECK(r.child_id.valid() && r.leaf_count >= 1);
    FUZZ_CHECK(j == 0 || r.first_key > c->refs[j - 1].first_key);
    FUZZ_CHECK(r.entry_count >= r.leaf_count);
    FUZZ_CHECK(static_cast<unsigned __int128>(r.entry_count) <=
               static_cast<unsigned __int128>(r.leaf_count) * tree::kLeafCapacityMax);
    FUZZ_CHECK(static_cast<unsigned __int128>(r.pos_sum) <=
               static_cast<unsigned __int128>(r.entry_count) * INT64_MAX);
    leaves += r.leaf_count;
    entries += r.entry_count;
    pos += r.pos_sum;
  }
  const std::string encoded = tree::EncodeIndexChunk(*c);
  FUZZ_CHECK(encoded == in.bytes,
             "re-encoded index chunk differs: " + Hex(encoded) + " vs " + Hex(in.bytes));
  Result<tree::IndexChunk> again = tree::DecodeIndexChunk(encoded);
  FUZZ_CHECK(again.ok() && *again == *c);
  if (leaves > UINT64_MAX || entries > UINT64_MAX || pos > UINT64_MAX) return 0;
  if (entries > static_cast<unsigned __int128>(leaves) * tree::kLeafCapacityMax) return 0;
  tree::TreeDescriptor d;
  d.key_type = c->key_type;
  d.index_height = c->level + 1;
  d.leaf_capacity_entries = tree::kDefaultTreeShape.leaf_capacity_entries;
  d.fanout = tree::kDefaultTreeShape.fanout;
  const NodeID self = NodeID::Make(UINT32_MAX, 1);
  d.refs = {{self, c->refs.front().first_key, static_cast<uint64_t>(leaves),
             static_cast<uint64_t>(entries), static_cast<uint64_t>(pos)}};
  tree::SummaryIndexReader r;
  r.read = [&](NodeID id, ObjectKind kind) -> Result<std::string> {
    if (id == self && kind == ObjectKind::kSummaryIndexChunk) return in.bytes;
    return Status::NotFound("child");
  };
  r.on_summary_chunk = [](NodeID, std::vector<tree::PersistedSummary>) {};
  FUZZ_CHECK(tree::ReadSummaryIndex(d, r).IsNotFound());
  d.refs[0].leaf_count += 1;
  if (d.refs[0].leaf_count != 0) FUZZ_CHECK(tree::ReadSummaryIndex(d, r).IsCorruption());
  return 0;
}

}  // namespace cowtree::fuzz
