// Fuzz target: the OT checkpoint file (persistence/ot_checkpoint.h ReadOtCheckpoint,
// docs/ot_checkpoint.md), written into the in-memory FaultInjectionEnv and read back (mapped).
//
// Input: flags byte, then the bytes of ot-000001.otc (read as checkpoint id 1).
//   bit 0: store checkpoint id 1 at header offset 16 and recompute the header CRC;
//   bit 1: if the header's entry_count matches the size, recompute the entries CRC and the
//          footer CRC.
// Properties
// - ReadOtCheckpoint either fails with Corruption or returns contents whose id is 1, whose
//   entry_count matches the file size, and whose records all decode (record(i)), have strictly
//   increasing handles and re-encode (EncodeOtRecord) to exactly their 48 bytes in the file.
// - Round trip through the library's writer: LoadInto an ObjectTable (handle limit 4096; it
//   fails with Corruption iff some handle is above the limit), WriteOtCheckpoint(id 2, same
//   epoch, the example store id), ReadOtCheckpoint(id 2): same epoch, and the same records
//   except those retired at or before the checkpoint epoch (the writer leaves them out: they are
//   not part of the OT state as of that epoch).
#include <vector>

#include "persistence/file_names.h"
#include "persistence/object_table.h"
#include "persistence/ot_checkpoint.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "testutil/fault_injection_env.h"

namespace cowtree::fuzz {
namespace {

constexpr char kDir[] = "/db";
// docs/ot_checkpoint.md: header fields used by the fix-ups.
constexpr size_t kIdOffset = 16;
constexpr size_t kCountOffset = 32;
constexpr size_t kFooterEntriesCrcOffset = 8;
constexpr uint64_t kHandleLimit = 4096;

bool SameRecord(const OtRecord& a, const OtRecord& b) { return a.id == b.id && a.entry == b.entry; }

std::vector<OtRecord> Records(const OtCheckpointContents& c) {
  std::vector<OtRecord> out;
  for (uint64_t i = 0; i < c.entry_count(); ++i) {
    Result<OtRecord> r = c.record(i);
    FUZZ_CHECK(r.ok(), "record(" + std::to_string(i) +
                           ") of a verified checkpoint: " + r.status().ToString());
    out.push_back(*r);
  }
  return out;
}

}  // namespace

int FuzzOtCheckpoint(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  std::string& file = in.bytes;
  if (in.flag(0) && file.size() >= kOtCheckpointHeaderBytes) {
    EncodeFixed64(file.data() + kIdOffset, 1);
    FixCrc(&file, kOtCheckpointHeaderCrcOffset, 0, kOtCheckpointHeaderCrcOffset);
  }
  if (in.flag(1) && file.size() >= kOtCheckpointHeaderBytes + kOtCheckpointFooterBytes) {
    const uint64_t count = DecodeFixed64(file.data() + kCountOffset);
    if (count <= (file.size() - kOtCheckpointHeaderBytes) / kOtRecordBytes &&
        OtCheckpointFileBytes(count) == file.size()) {
      const size_t records_end = kOtCheckpointHeaderBytes + count * kOtRecordBytes;
      FixCrc(&file, records_end + kFooterEntriesCrcOffset, kOtCheckpointHeaderBytes, records_end);
      FixCrc(&file, records_end + kOtCheckpointFooterCrcOffset, records_end,
             records_end + kOtCheckpointFooterCrcOffset);
    }
  }

  testutil::FaultInjectionEnv env;
  FUZZ_CHECK(env.CreateDir(kDir).ok());
  FUZZ_CHECK(env.WriteStringToFileSync(JoinPath(kDir, OtCheckpointFileName(1)), file).ok());
  Result<OtCheckpointContents> read = ReadOtCheckpoint(&env, kDir, 1);
  if (!read.ok()) {
    FUZZ_CHECK_CORRUPTION(read.status());
    return 0;
  }
  FUZZ_CHECK(read->checkpoint_id() == 1);
  FUZZ_CHECK(OtCheckpointFileBytes(read->entry_count()) == file.size());
  const std::vector<OtRecord> records = Records(*read);
  uint64_t max_handle = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0) FUZZ_CHECK(records[i].id.handle() > records[i - 1].id.handle(), "handle order");
    max_handle = std::max(max_handle, records[i].id.handle());
    char encoded[kOtRecordBytes];
    EncodeOtRecord(records[i].id, records[i].entry, encoded);
    FUZZ_CHECK(file.compare(kOtCheckpointHeaderBytes + i * kOtRecordBytes, kOtRecordBytes, encoded,
                            kOtRecordBytes) == 0,
               "record " + std::to_string(i) + " does not re-encode to its bytes");
  }

  ObjectTableOptions options;
  options.shard_count = 1;
  options.handle_limit = kHandleLimit;
  ObjectTable table(options);
  const Status loaded = read->LoadInto(table);
  if (max_handle > kHandleLimit) {
    FUZZ_CHECK(!loaded.ok());
    FUZZ_CHECK_CORRUPTION(loaded);
    return 0;
  }
  FUZZ_CHECK(loaded.ok(), "LoadInto of a verified checkpoint: " + loaded.ToString());
  FUZZ_CHECK(table.live_count() == records.size());
  const Status written = WriteOtCheckpoint(&env, kDir, 2, read->epoch(), table, ExampleStoreId());
  FUZZ_CHECK(written.ok(), written.ToString());
  Result<OtCheckpointContents> again = ReadOtCheckpoint(&env, kDir, 2);
  FUZZ_CHECK(again.ok(),
             "the writer's own checkpoint does not read back: " + again.status().ToString());
  FUZZ_CHECK(again->epoch() == read->epoch());
  std::vector<OtRecord> expected;
  for (const OtRecord& r : records) {
    if (!(r.entry.retired() && r.entry.retire_epoch <= read->epoch())) expected.push_back(r);
  }
  const std::vector<OtRecord> rewritten = Records(*again);
  FUZZ_CHECK(rewritten.size() == expected.size(), std::to_string(rewritten.size()) +
                                                      " records after the round trip, expected " +
                                                      std::to_string(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    FUZZ_CHECK(SameRecord(rewritten[i], expected[i]), "record " + std::to_string(i));
  }
  return 0;
}

}  // namespace cowtree::fuzz
