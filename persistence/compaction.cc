// Compaction: the planner and Runtime::Compact, one round (docs/compaction.md).
//
// A round, under checkpoint_mu_ (so no checkpoint allocates or takes OT deltas meanwhile):
//   0. publish what is committed (an ordinary checkpoint; a no-op if nothing is new), so that
//      retired objects are reclaimed and do not count as used; free the old slots of earlier
//      rounds whose readers are gone;
//   1. plan: the classes whose dead ratio passes the threshold and whose used slots fit in
//      fewer segments than the file has;
//   2. relocate the live objects at offsets >= keep_segments * segment_bytes, end of the file
//      first, into the lowest free slots below that offset (ObjectStore::Relocate: verified
//      copy, OT entry switched, old slot kept), within the byte budget;
//   3. checkpoint A (forced, full OT checkpoint): the superblock is the commit point of the
//      new addresses; before it, recovery sees the old OT, whose slots are untouched;
//   4. free the old slots if no reader can still hold them (no snapshot pinned at or before
//      the visible epoch of the relocation; commits, which read without a pin, are excluded by
//      the write lock);
//   5. drop the free segments at the end of each file from the allocator, checkpoint B (forced)
//      writes a manifest with the smaller sizes; only after its superblock are the files cut
//      (ftruncate + fdatasync). A crash before leaves a file longer than its manifest size,
//      which open accepts;
//   6. punch holes over runs of free slots inside the files (their blocks are released; the
//      slots are free in the published state and no reader can hold them).
#include "persistence/compaction.h"

#include <algorithm>
#include <map>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {

double DeadRatio(const SizeClassStats& c) {
  if (c.file_bytes == 0) return 0.0;
  return static_cast<double>(c.free_slots * c.size_class_bytes) / static_cast<double>(c.file_bytes);
}

std::vector<CompactionClassPlan> PlanCompaction(const SegmentAllocatorStats& stats,
                                                double dead_ratio) {
  std::vector<CompactionClassPlan> plans;
  for (const SizeClassStats& c : stats.classes) {
    if (c.segment_bytes == 0 || c.segments <= 1) continue;
    const uint64_t slots_per_segment = c.segment_bytes / c.size_class_bytes;
    const uint64_t keep =
        std::max<uint64_t>(1, (c.used_slots + slots_per_segment - 1) / slots_per_segment);
    const double ratio = DeadRatio(c);
    if (keep >= c.segments || ratio < dead_ratio) continue;
    plans.push_back({c.size_class_bytes, c.segment_bytes, keep, ratio});
  }
  return plans;
}

namespace {

uint64_t DataFileBytes(const ObjectStore& store) {
  uint64_t total = 0;
  for (const DataFileInfo& f : store.data_files()) total += f.size_bytes;
  return total;
}

// Live, not retired objects of the planned classes past their kept segments, end first.
std::vector<std::pair<ObjectAddress, NodeID>> Candidates(
    const ObjectTable& table, const std::vector<CompactionClassPlan>& plans) {
  std::map<uint32_t, uint64_t> limit;  // class -> first offset that must be emptied
  for (const CompactionClassPlan& p : plans) {
    limit[p.size_class_bytes] = p.keep_segments * p.segment_bytes;
  }
  std::vector<std::pair<ObjectAddress, NodeID>> out;
  table.ForEachLive([&](NodeID id, const OtEntry& entry) {
    auto it = limit.find(entry.address.size_class_bytes);
    if (it == limit.end() || entry.retired() || entry.address.offset_bytes < it->second) return;
    out.emplace_back(entry.address, id);
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first.offset_bytes > b.first.offset_bytes;
  });
  return out;
}

}  // namespace

Status Runtime::Compact(const CompactionOptions& options, CompactionReport* report) {
  // NaN compares false with everything: it would pass a range check written as two `<`.
  if (!(options.dead_ratio >= 0.0 && options.dead_ratio < 1.0)) {
    return Status::InvalidArgument("CompactionOptions::dead_ratio must be in [0, 1), got " +
                                   std::to_string(options.dead_ratio));
  }
  WriteGuard guard(this);
  COWTREE_RETURN_IF_ERROR(guard.status());
  COWTREE_RETURN_IF_ERROR(CheckWritable());
  CompactionReport r;
  Status st = CompactLocked(options, &r);
  if (report != nullptr) *report = r;
  return st;
}

// Frees the old slots of published relocations once no reader can hold their address.
uint64_t Runtime::ReclaimRelocatedSlots() {
  MutexLock w(&write_mu_);  // commits read objects without a pin: none is in flight now
  store_->ReclaimRelocated(pins_->MinPinned());
  return store_->stats().relocated_pending;
}

// A forced checkpoint; a failure that is not recoverable poisons the runtime.
Status Runtime::CompactionCheckpoint(CompactionReport* r) {
  bool recoverable = false;
  force_ot_checkpoint_ = true;  // the new addresses go into a full OT checkpoint
  Status st = CheckpointLocked(&recoverable, /*force=*/true);
  if (!st.ok()) {
    if (!recoverable) Poison(st);
    return st.WithContext("compaction");
  }
  ++r->checkpoints;
  return Status::OK();
}

Status Runtime::CompactLocked(const CompactionOptions& options, CompactionReport* r) {
  MutexLock ck(&checkpoint_mu_);
  if (poisoned_.load(std::memory_order_acquire)) return poison_status();
  // ---- 0. Publish what is committed, free what earlier rounds left for their readers. ----
  bool recoverable = false;
  if (Status st = CheckpointLocked(&recoverable); !st.ok()) {
    if (!recoverable) Poison(st);
    return st.WithContext("compaction: checkpoint before compacting");
  }
  // Objects retired by published checkpoints that no snapshot sees any more (a snapshot
  // released since the last checkpoint): every retirement here is published (checkpoint_mu_).
  ReclaimUnreferenced();
  ReclaimRelocatedSlots();
  r->data_bytes_before = DataFileBytes(*store_);

  // ---- 1. + 2. Plan, relocate. ----
  const std::vector<CompactionClassPlan> plans =
      PlanCompaction(store_->allocator().stats(), options.dead_ratio);
  std::map<uint32_t, uint64_t> limit;
  for (const CompactionClassPlan& p : plans) {
    limit[p.size_class_bytes] = p.keep_segments * p.segment_bytes;
  }
  // Readers pinned at or before the visible epoch may hold an old address: the old slots are
  // freed only once every pin is later than that (ReclaimRelocated(MinPinned())).
  const uint64_t relocation_epoch = visible_epoch_.load(std::memory_order_acquire) + 1;
  uint64_t budget = options.max_relocated_bytes;
  for (const auto& [address, id] : Candidates(store_->table(), plans)) {
    if (budget < address.size_class_bytes) continue;
    const uint64_t below = limit[address.size_class_bytes];
    if (below == 0) continue;  // this class has no room left below its limit
    Result<ObjectAddress> moved = store_->Relocate(id, relocation_epoch, below);
    if (moved.status().IsNotFound()) {  // no free slot left below the limit
      limit[address.size_class_bytes] = 0;
      continue;
    }
    if (!moved.ok()) {
      // Nothing durable changed: put every object of this round back, free the new slots.
      store_->UndoUnpublishedRelocations();
      return moved.status().WithContext("compaction");
    }
    ++r->objects_relocated;
    r->relocated_bytes += address.size_class_bytes;
    budget -= address.size_class_bytes;
  }

  // ---- 3. + 4. Publish the new addresses, free the old slots. ----
  if (r->objects_relocated > 0) COWTREE_RETURN_IF_ERROR(CompactionCheckpoint(r));
  r->slots_awaiting_readers = ReclaimRelocatedSlots();

  // ---- 5. Shorter files: manifest first, then ftruncate. ----
  uint64_t released = 0;
  for (const SizeClassStats& c : store_->allocator().stats().classes) {
    released += store_->mutable_allocator()->ReleaseTail(c.size_class_bytes);
  }
  if (released > 0) {
    COWTREE_RETURN_IF_ERROR(CompactionCheckpoint(r));
    Result<uint64_t> cut = store_->mutable_allocator()->TruncateFiles();
    if (!cut.ok()) return cut.status().WithContext("compaction");  // the files stay longer
    r->truncated_bytes = *cut;
    if (Status st = store_->Sync(); !st.ok()) {
      Poison(st);  // a failed fdatasync is never retried
      return st.WithContext("compaction");
    }
  }
  // ---- 6. Release the blocks of the free runs left inside the files. ----
  if (options.punch_min_run_bytes != 0 &&
      (r->objects_relocated > 0 || released > 0 || options.max_relocated_bytes == UINT64_MAX)) {
    Result<uint64_t> punched =
        store_->mutable_allocator()->PunchFreeRuns(options.punch_min_run_bytes);
    if (!punched.ok()) return punched.status().WithContext("compaction");  // nothing lost
    r->punched_bytes = *punched;
  }
  r->data_bytes_after = DataFileBytes(*store_);
  return Status::OK();
}

}  // namespace cowtree
