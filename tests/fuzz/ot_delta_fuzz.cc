// Fuzz target: the OT-delta payload (persistence/ot_delta.h DecodeOtDelta, ApplyOtDelta;
// docs/object_table.md "OT-delta payload"). The log frame's CRC protects it on disk, so the
// decoder itself sees any bytes a bug could produce: no fix-ups are needed.
//
// Input: flags byte (bit 0: apply the ops), then the payload.
// Properties
// - DecodeOtDelta either fails with Corruption or returns ops that EncodeOtDelta turns back
//   into exactly the input bytes (the format has no slack: reserved bytes are checked).
// - ApplyOtDelta on an empty loading table (handle limit 4096) agrees with a model of its
//   contract: upsert sets the entry if the handle is not live or live with the same tag, and
//   is Corruption if it is live under another tag or above the handle limit; retire removes
//   the entry live with that exact tag and is Corruption otherwise. On success the table's
//   live entries equal the model's.
#include <map>
#include <utility>

#include "persistence/object_table.h"
#include "persistence/ot_delta.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {
namespace {

constexpr uint64_t kHandleLimit = 4096;

// Model of the table's live entries: handle -> (tag, entry). false = Corruption expected.
bool ApplyToModel(const std::vector<OtDeltaOp>& ops,
                  std::map<uint64_t, std::pair<uint8_t, OtEntry>>* live) {
  for (const OtDeltaOp& op : ops) {
    const uint64_t handle = op.id.handle();
    auto it = live->find(handle);
    if (op.type == OtDeltaOp::kUpsert) {
      if (handle > kHandleLimit) return false;
      if (it != live->end() && it->second.first != op.id.tag()) return false;
      (*live)[handle] = {op.id.tag(), op.entry};
    } else {
      if (it == live->end() || it->second.first != op.id.tag()) return false;
      live->erase(it);
    }
  }
  return true;
}

}  // namespace

int FuzzOtDelta(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  Result<std::vector<OtDeltaOp>> ops = DecodeOtDelta(ExactBytes(in.bytes).view());
  if (!ops.ok()) {
    FUZZ_CHECK_CORRUPTION(ops.status());
    return 0;
  }
  for (const OtDeltaOp& op : *ops) {
    FUZZ_CHECK(op.id.valid());
    if (op.type == OtDeltaOp::kUpsert) {
      FUZZ_CHECK(ValidateOtRecord(op.id, op.entry).ok());
    } else {
      FUZZ_CHECK(op.type == OtDeltaOp::kRetire && op.retire_epoch != kNotRetired);
    }
  }
  const std::string encoded = EncodeOtDelta(*ops);
  FUZZ_CHECK(encoded == in.bytes, "re-encoded payload differs: " + Hex(encoded) + " vs " +
                                      Hex(in.bytes));

  if (in.flag(0)) {
    ObjectTableOptions options;
    options.shard_count = 1;
    options.handle_limit = kHandleLimit;
    ObjectTable table(options);
    std::map<uint64_t, std::pair<uint8_t, OtEntry>> model;
    const bool model_ok = ApplyToModel(*ops, &model);
    const Status st = ApplyOtDelta(table, *ops);
    FUZZ_CHECK(st.ok() == model_ok, "ApplyOtDelta " + st.ToString() + ", model says " +
                                        (model_ok ? "OK" : "Corruption"));
    if (!st.ok()) {
      FUZZ_CHECK_CORRUPTION(st);
      return 0;
    }
    FUZZ_CHECK(table.live_count() == model.size());
    auto it = model.begin();
    table.ForEachLive([&](NodeID id, const OtEntry& entry) {
      FUZZ_CHECK(it != model.end() && it->first == id.handle() && it->second.first == id.tag() &&
                     it->second.second == entry,
                 "table differs from the model at " + DescribeNodeId(id));
      ++it;
    });
    FUZZ_CHECK(it == model.end());
  }
  return 0;
}

}  // namespace cowtree::fuzz
