// Fuzz target: the 48-byte OT record (persistence/ot_entry.h DecodeOtRecord,
// docs/object_table.md), the unit of OT checkpoints and OT-delta upserts.
//
// Input: flags byte (unused), then at least 48 bytes (only the first 48 are the record; shorter
// inputs are skipped: the callers always hand over 48 bytes).
// Properties
// - DecodeOtRecord either fails with Corruption or returns a record that ValidateOtRecord and
//   ValidateObjectAddress accept, and EncodeOtRecord reproduces the 48 bytes exactly.
// - The helpers used on decoded records work on it: the slot is offset / size class,
//   SizeClassIndex maps the class into [0, kSizeClassCount), DescribeAddress and
//   DescribeNodeId do not fail.
#include "persistence/ot_entry.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzOtRecord(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in) || in.bytes.size() < kOtRecordBytes) return 0;
  Result<OtRecord> r = DecodeOtRecord(ExactBytes(std::string_view(in.bytes).substr(0, kOtRecordBytes)).data(),
                                     "fuzz record");
  if (!r.ok()) {
    FUZZ_CHECK_CORRUPTION(r.status());
    return 0;
  }
  FUZZ_CHECK(ValidateOtRecord(r->id, r->entry).ok());
  FUZZ_CHECK(ValidateObjectAddress(r->entry.address).ok());
  const ObjectAddress& a = r->entry.address;
  FUZZ_CHECK(a.slot() * a.size_class_bytes == a.offset_bytes);
  const int index = SizeClassIndex(a.size_class_bytes);
  FUZZ_CHECK(index >= 0 && index < kSizeClassCount && SizeClassBytesAt(index) == a.size_class_bytes);
  FUZZ_CHECK(!DescribeAddress(a).empty() && !DescribeNodeId(r->id).empty());
  char encoded[kOtRecordBytes];
  EncodeOtRecord(r->id, r->entry, encoded);
  FUZZ_CHECK(in.bytes.compare(0, kOtRecordBytes, encoded, kOtRecordBytes) == 0,
             "re-encoded record differs: " + Hex(std::string_view(encoded, kOtRecordBytes)) +
                 " vs " + Hex(in.bytes.substr(0, kOtRecordBytes)));
  return 0;
}

}  // namespace cowtree::fuzz
