// fsck pass: the object table against the data files, i.e. what SegmentAllocator::MarkUsed
// checks when recovery rebuilds free space (docs/data_files.md "At open") — but every problem
// is reported, not just the first: each live slot lies inside an existing data file that the
// manifest lists, and no two live objects own one slot (both NodeIDs named).
#include <algorithm>
#include <map>

#include "persistence/file_names.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {

void CheckAllocator(Context& ctx) {
  ctx.live.clear();
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) { ctx.live.push_back(OtRecord{id, e}); });
  ctx.report.ot_entries = ctx.live.size();
  std::map<std::pair<uint32_t, uint64_t>, NodeID> owners;  // (class, slot) -> first owner
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
    auto [pos, inserted] = owners.emplace(std::pair(a.size_class_bytes, a.slot()), r.id);
    if (!inserted) {
      ctx.Add(FsckSeverity::kError, "allocator", file, a.offset_bytes, r.id.raw(),
              "two live objects overlap: " + DescribeNodeId(pos->second) + " and " +
                  DescribeNodeId(r.id) + " both own slot " + std::to_string(a.slot()) +
                  " (recovery refuses the store)");
    }
  }
}

}  // namespace cowtree::recovery::fsck
