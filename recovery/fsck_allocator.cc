// fsck pass: the object table against the data files, i.e. what SegmentAllocator::MarkUsed
// checks when recovery rebuilds free space (docs/data_files.md "At open") — but every problem
// is reported, not just the first: each live slot lies inside an existing data file that the
// manifest lists, and no two live objects own one slot (both NodeIDs named).
#include <algorithm>
#include <bit>
#include <map>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {

namespace {

// Handles are dense per shard (freed ones are reused), so the lanes of fsck's NodeID sets
// (recovery/fsck_node_set.h) take about a byte per live object; past this many bytes per live
// object (damage, or a table emptied by churn) the sets hash instead.
constexpr uint64_t kDenseBytesPerObjectMax = 8;
constexpr uint64_t kDenseBytesMin = uint64_t{1} << 20;

// One bit per slot of each data file, by size class: whether a live object owns it.
class SlotOwners {
 public:
  explicit SlotOwners(const std::map<uint32_t, uint64_t>& data_file_bytes) {
    for (const auto& [size_class, bytes] : data_file_bytes) {
      bits_[size_class].assign(bytes / size_class / 64 + 1, 0);
    }
  }
  // Marks the slot owned; false if it was already (the caller checked it lies in the file).
  bool Take(uint32_t size_class, uint64_t slot) {
    std::vector<uint64_t>& words = bits_.at(size_class);
    COWTREE_ASSERT(slot / 64 < words.size());
    const uint64_t bit = uint64_t{1} << (slot % 64);
    const bool taken = (words[slot / 64] & bit) != 0;
    words[slot / 64] |= bit;
    return !taken;
  }

 private:
  std::map<uint32_t, std::vector<uint64_t>> bits_;
};

// The checks of one live entry's slot against the data files; true if the slot lies inside its
// file (past its header), so that it can be claimed in SlotOwners.
bool CheckSlot(Context& ctx, NodeID id, const OtEntry& e) {
  const ObjectAddress& a = e.address;
  const std::string file = DataFileOf(e);
  // A checkpoint retires at its own epoch, and no OT delta past the published one is applied
  // (recovery refuses such an entry; before, it was reclaimed after the next checkpoint, and a
  // catalog object so marked left a store that never opened again).
  if (e.retired() && ctx.sb.has_value() && e.retire_epoch > ctx.sb->checkpoint_epoch) {
    ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, id.raw(),
            "object retired at epoch " + std::to_string(e.retire_epoch) +
                ", past the checkpoint epoch " + std::to_string(ctx.sb->checkpoint_epoch) +
                ": no checkpoint published that retirement (recovery refuses the store)");
  }
  auto it = ctx.data_file_bytes.find(a.size_class_bytes);
  if (it == ctx.data_file_bytes.end()) {
    ctx.bad_address.insert(id.raw());
    ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, id.raw(),
            "live object in data file " + file + ", which does not exist");
    return false;
  }
  if (ctx.manifest.has_value() &&
      std::none_of(
          ctx.manifest->data_files.begin(), ctx.manifest->data_files.end(),
          [&](const ManifestDataFile& f) { return f.size_class_bytes == a.size_class_bytes; })) {
    ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, id.raw(),
            "live object in " + file +
                ", which the manifest does not list (a checkpoint "
                "always lists the data files its objects live in)");
  }
  // Cannot wrap (an offset near 2^64 passed `offset + class > size` and reached SlotOwners).
  if (a.size_class_bytes > it->second || a.offset_bytes > it->second - a.size_class_bytes) {
    ctx.bad_address.insert(id.raw());
    ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, id.raw(),
            "slot " + std::to_string(a.slot()) + " [" + std::to_string(a.offset_bytes) + ", " +
                std::to_string(a.offset_bytes + a.size_class_bytes) +
                ") is past the end of the file (" + std::to_string(it->second) + " bytes)");
    return false;
  }
  if (a.slot() == 0) {
    ctx.bad_address.insert(id.raw());
    ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, id.raw(),
            "live object in slot 0, which holds the data file header (recovery refuses the "
            "store)");
    return false;
  }
  return true;
}

// Objects whose slot an object earlier in handle order owns: their first owners are found by a
// second pass over the table (rare: recovery refuses such a store).
void ReportOverlaps(Context& ctx, const std::vector<OtRecord>& second_owners) {
  if (second_owners.empty()) return;
  std::map<std::pair<uint32_t, uint64_t>, NodeID> first;  // (class, slot) -> first owner
  for (const OtRecord& r : second_owners) {
    first.emplace(std::pair(r.entry.address.size_class_bytes, r.entry.address.slot()), NodeID());
  }
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) {
    auto it = first.find(std::pair(e.address.size_class_bytes, e.address.slot()));
    if (it != first.end() && !it->second.valid()) it->second = id;
  });
  for (const OtRecord& r : second_owners) {
    const ObjectAddress& a = r.entry.address;
    const NodeID owner = first.at(std::pair(a.size_class_bytes, a.slot()));
    COWTREE_ASSERT(owner.valid() && owner != r.id);
    ctx.Add(FsckSeverity::kError, "allocator", DataFileOf(r.entry), a.offset_bytes, r.id.raw(),
            "two live objects overlap: " + DescribeNodeId(owner) + " and " + DescribeNodeId(r.id) +
                " both own slot " + std::to_string(a.slot()) + " (recovery refuses the store)");
  }
}

}  // namespace

void CheckAllocator(Context& ctx) {
  ctx.live.clear();
  ctx.live.reserve(ctx.table->live_count());
  HandleLanes lanes{};
  SlotOwners owners(ctx.data_file_bytes);
  std::vector<OtRecord> second_owners;
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) {
    const ObjectAddress& a = e.address;
    ctx.live.push_back(Context::LiveObject{
        (uint64_t{static_cast<uint32_t>(std::countr_zero(a.size_class_bytes))} << 56) | a.slot(),
        id});
    uint64_t& lane = lanes[id.handle() % kNodeIdSetLanes];
    lane = std::max(lane, id.handle() / kNodeIdSetLanes + 1);
    if (CheckSlot(ctx, id, e) && !owners.Take(a.size_class_bytes, a.slot())) {
      second_owners.push_back(OtRecord{id, e});
    }
  });
  ctx.report.ot_entries = ctx.live.size();
  uint64_t dense_bytes = 0;
  for (uint64_t lane : lanes) dense_bytes += lane;
  if (dense_bytes <= std::max(kDenseBytesMin, kDenseBytesPerObjectMax * ctx.live.size())) {
    ctx.handle_lanes = lanes;
    ctx.referenced.Reserve(lanes);
    ctx.retained_referenced.Reserve(lanes);
    ctx.checked.Reserve(lanes);
  }
  ReportOverlaps(ctx, second_owners);
}

}  // namespace cowtree::recovery::fsck
