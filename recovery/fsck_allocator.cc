// fsck pass: the object table against the data files, i.e. what SegmentAllocator::MarkUsed
// checks when recovery rebuilds free space (docs/data_files.md "At open") — but every problem
// is reported, not just the first: each live slot lies inside an existing data file that the
// manifest lists, and no two live objects own one slot (both NodeIDs named).
#include <algorithm>
#include <map>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {

namespace {

// Handles are dense (freed ones are reused), so the largest live handle is near the number of
// live objects; past this many handles per live object (damage, or a table emptied by churn)
// fsck's NodeID sets hash instead of spending a byte per handle.
constexpr uint64_t kDenseHandlesPerObjectMax = 8;
constexpr uint64_t kDenseHandlesMin = uint64_t{1} << 20;

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

// Objects whose slot an earlier one owns: their first owners are found by a second pass over
// ctx.live (rare: recovery refuses such a store).
void ReportOverlaps(Context& ctx, const std::vector<const OtRecord*>& second_owners) {
  if (second_owners.empty()) return;
  std::map<std::pair<uint32_t, uint64_t>, NodeID> first;  // (class, slot) -> first owner
  for (const OtRecord* r : second_owners) {
    first.emplace(std::pair(r->entry.address.size_class_bytes, r->entry.address.slot()), NodeID());
  }
  for (const OtRecord& r : ctx.live) {
    auto it = first.find(std::pair(r.entry.address.size_class_bytes, r.entry.address.slot()));
    if (it != first.end() && !it->second.valid()) it->second = r.id;
  }
  for (const OtRecord* r : second_owners) {
    const ObjectAddress& a = r->entry.address;
    const NodeID owner = first.at(std::pair(a.size_class_bytes, a.slot()));
    COWTREE_ASSERT(owner.valid() && owner != r->id);
    ctx.Add(FsckSeverity::kError, "allocator", DataFileOf(r->entry), a.offset_bytes, r->id.raw(),
            "two live objects overlap: " + DescribeNodeId(owner) + " and " + DescribeNodeId(r->id) +
                " both own slot " + std::to_string(a.slot()) + " (recovery refuses the store)");
  }
}

}  // namespace

void CheckAllocator(Context& ctx) {
  ctx.live.clear();
  uint64_t handle_max = 0;
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) {
    ctx.live.push_back(OtRecord{id, e});
    handle_max = std::max(handle_max, id.handle());
  });
  ctx.report.ot_entries = ctx.live.size();
  if (handle_max < std::max(kDenseHandlesMin, kDenseHandlesPerObjectMax * ctx.live.size())) {
    ctx.handle_limit = handle_max + 1;
    ctx.referenced.Reserve(ctx.handle_limit);
    ctx.retained_referenced.Reserve(ctx.handle_limit);
    ctx.checked.Reserve(ctx.handle_limit);
  }
  SlotOwners owners(ctx.data_file_bytes);
  std::vector<const OtRecord*> second_owners;
  for (const OtRecord& r : ctx.live) {
    const ObjectAddress& a = r.entry.address;
    const std::string file = DataFileOf(r.entry);
    auto it = ctx.data_file_bytes.find(a.size_class_bytes);
    if (it == ctx.data_file_bytes.end()) {
      ctx.bad_address.insert(r.id.raw());
      ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, r.id.raw(),
              "live object in data file " + file + ", which does not exist");
      continue;
    }
    if (ctx.manifest.has_value() &&
        std::none_of(
            ctx.manifest->data_files.begin(), ctx.manifest->data_files.end(),
            [&](const ManifestDataFile& f) { return f.size_class_bytes == a.size_class_bytes; })) {
      ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, r.id.raw(),
              "live object in " + file +
                  ", which the manifest does not list (a checkpoint "
                  "always lists the data files its objects live in)");
    }
    if (a.offset_bytes + a.size_class_bytes > it->second) {
      ctx.bad_address.insert(r.id.raw());
      ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, r.id.raw(),
              "slot " + std::to_string(a.slot()) + " [" + std::to_string(a.offset_bytes) + ", " +
                  std::to_string(a.offset_bytes + a.size_class_bytes) +
                  ") is past the end of the file (" + std::to_string(it->second) + " bytes)");
      continue;
    }
    if (a.slot() == 0) {
      ctx.bad_address.insert(r.id.raw());
      ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, r.id.raw(),
              "live object in slot 0, which holds the data file header (recovery refuses the "
              "store)");
      continue;
    }
    if (!owners.Take(a.size_class_bytes, a.slot())) second_owners.push_back(&r);
  }
  ReportOverlaps(ctx, second_owners);
}

}  // namespace cowtree::recovery::fsck
