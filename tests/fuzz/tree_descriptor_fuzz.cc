// Fuzz target: the tree descriptor body (tree/summary_format.h DecodeTreeDescriptor,
// docs/summary_chunk.md).
//
// Input: flags byte (bit 0: recompute the trailing CRC32C), then the body.
// Properties
// - DecodeTreeDescriptor either fails with Corruption or returns a descriptor within the
//   documented limits (valid key type and shape, index height 1..kIndexHeightMax, ref_count
//   == 0 iff leaf_count == 0, ref ids valid, leaf counts >= 1 summing to leaf_count, first
//   keys strictly increasing, leaf_count <= entry_count <= leaf_count * kLeafCapacityMax, and
//   for version 2 the refs' entry counts and positive sums adding up to the header's);
//   version 2: EncodeTreeDescriptor reproduces the body exactly, and decoding that gives the
//   same descriptor. Version 1 (read only) re-encodes as version 2 only with totals, so it is
//   not round-tripped.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "tree/summary_format.h"
#include "tree/tree_shape.h"

namespace cowtree::fuzz {

int FuzzTreeDescriptor(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  Result<tree::TreeDescriptor> d = tree::DecodeTreeDescriptor(ExactBytes(in.bytes).view());
  if (!d.ok()) {
    FUZZ_CHECK_CORRUPTION(d.status());
    return 0;
  }
  FUZZ_CHECK(tree::IsValidKeyType(static_cast<uint8_t>(d->key_type)));
  FUZZ_CHECK((tree::TreeShape{d->leaf_capacity_entries, d->fanout}.Validate().ok()));
  FUZZ_CHECK((d->leaf_count == 0) == d->refs.empty());
  FUZZ_CHECK(d->index_height >= 1 && d->index_height <= tree::kIndexHeightMax);
  FUZZ_CHECK(d->leaf_count <= d->entry_count);
  FUZZ_CHECK(static_cast<unsigned __int128>(d->entry_count) <=
             static_cast<unsigned __int128>(d->leaf_count) * tree::kLeafCapacityMax);
  unsigned __int128 leaves = 0, entries = 0, pos = 0;
  for (size_t j = 0; j < d->refs.size(); ++j) {
    const tree::IndexRef& c = d->refs[j];
    FUZZ_CHECK(c.child_id.valid() && c.leaf_count >= 1);
    FUZZ_CHECK(j == 0 || c.first_key > d->refs[j - 1].first_key);
    leaves += c.leaf_count;
    entries += c.entry_count;
    pos += c.pos_sum;
  }
  FUZZ_CHECK(leaves == d->leaf_count);
  if (!d->ref_totals_known()) return 0;
  FUZZ_CHECK(entries == d->entry_count && pos == d->positive_count);
  const std::string encoded = tree::EncodeTreeDescriptor(*d);
  FUZZ_CHECK(encoded == in.bytes,
             "re-encoded descriptor differs: " + Hex(encoded) + " vs " + Hex(in.bytes));
  Result<tree::TreeDescriptor> again = tree::DecodeTreeDescriptor(encoded);
  FUZZ_CHECK(again.ok() && *again == *d);
  return 0;
}

}  // namespace cowtree::fuzz
