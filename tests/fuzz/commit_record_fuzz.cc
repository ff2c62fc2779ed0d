// Fuzz target: the commit (redo) record, the payload of kCommit log frames
// (persistence/commit_record.h DecodeCommitRecord, docs/commit_record.md). The frame's CRC
// protects it on disk; the decoder still validates every length, count and reserved byte.
//
// Input: flags byte (unused), then the payload.
// Properties
// - DecodeCommitRecord either fails with Corruption or returns a record whose fields satisfy
//   the encoder's preconditions (non-zero ids and types, name 1..1024 bytes, params <= 4096),
//   whose op views lie inside the payload, and which EncodeCommitRecord turns back into
//   exactly the payload bytes.
#include "persistence/commit_record.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {

int FuzzCommitRecord(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  const std::string& payload = in.bytes;
  const ExactBytes exact(payload);  // the decoder's views point into this copy
  Result<CommitRecordView> record = DecodeCommitRecord(exact.view());
  if (!record.ok()) {
    FUZZ_CHECK_CORRUPTION(record.status());
    return 0;
  }
  for (const CommitCreate& c : record->creates) {
    FUZZ_CHECK(c.tree_id != 0 && c.type_id != 0);
    FUZZ_CHECK(!c.name.empty() && c.name.size() <= kTreeNameBytesMax);
    FUZZ_CHECK(c.params.size() <= kTreeParamsBytesMax);
  }
  for (TreeId id : record->drops) FUZZ_CHECK(id != 0);
  for (const CommitOps& s : record->ops) {
    FUZZ_CHECK(s.tree_id != 0);
    FUZZ_CHECK(s.ops.data() >= exact.data() &&
                   s.ops.data() + s.ops.size() <= exact.data() + exact.size(),
               "op view outside the payload");
  }
  std::string encoded;
  EncodeCommitRecord(*record, &encoded);
  FUZZ_CHECK(encoded == payload, "re-encoded record differs: " + Hex(encoded) + " vs " +
                                     Hex(payload));
  return 0;
}

}  // namespace cowtree::fuzz
