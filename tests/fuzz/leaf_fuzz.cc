// Fuzz target: the leaf body (tree/node_format.h DecodeLeaf, docs/node_format.md).
//
// Input: flags byte, then the body.
//   bit 0: recompute the trailing CRC32C; bit 1: expect key type double (else int64).
// Properties
// - DecodeLeaf either fails with Corruption or returns 1..kLeafCapacityMax entries with
//   strictly increasing canonical keys of the expected type, non-zero weights and a positive
//   sum that fits in 64 bits (ValidateLeafData accepts it), and the encoder of the body's
//   format_version (EncodeLeaf for 3, EncodeLeafV2 for 2, EncodeLeafV1 for 1) reproduces the
//   body exactly (varints must be minimal and version 3's unit weights flag is set exactly
//   when every weight is 1, so each leaf has one encoding per version); for version 3
//   EncodedLeafBytes agrees.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "tree/node_format.h"

namespace cowtree::fuzz {

int FuzzLeaf(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  if (in.flag(0)) FixTrailingCrc(&in.bytes);
  const tree::KeyType key_type = in.flag(1) ? tree::KeyType::kDouble : tree::KeyType::kInt64;
  Result<std::shared_ptr<const tree::LeafData>> leaf =
      tree::DecodeLeaf(ExactBytes(in.bytes).view(), key_type);
  if (!leaf.ok()) {
    FUZZ_CHECK_CORRUPTION(leaf.status());
    return 0;
  }
  const tree::LeafData& d = **leaf;
  // Weights are held, one per key, or implicit (every weight 1).
  FUZZ_CHECK(d.implicit_unit_weights() || d.keys.size() == d.weights.size());
  FUZZ_CHECK(!d.keys.empty() && d.keys.size() <= tree::kLeafCapacityMax);
  FUZZ_CHECK(tree::ValidateLeafData(d).ok(), tree::ValidateLeafData(d).ToString());
  for (size_t i = 0; i < d.keys.size(); ++i) {
    FUZZ_CHECK(tree::IsCanonicalKey(key_type, d.keys[i]));
    FUZZ_CHECK(i == 0 || d.keys[i - 1] < d.keys[i]);
    FUZZ_CHECK(d.weight(i) != 0);
  }
  const uint16_t version = DecodeFixed16(in.bytes.data() + tree::kLeafVersionOffset);
  const std::string encoded =
      version == tree::kLeafFormatVersionFixedWidth ? tree::EncodeLeafV1(key_type, d)
      : version == tree::kLeafFormatVersionV2       ? tree::EncodeLeafV2(key_type, d)
                                                    : tree::EncodeLeaf(key_type, d);
  FUZZ_CHECK(version != tree::kLeafFormatVersion || encoded.size() == tree::EncodedLeafBytes(d));
  FUZZ_CHECK(encoded == in.bytes,
             "re-encoded leaf differs: " + Hex(encoded) + " vs " + Hex(in.bytes));
  return 0;
}

}  // namespace cowtree::fuzz
