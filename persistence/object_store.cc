#include "persistence/object_store.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/object_format.h"

namespace cowtree {

Result<std::unique_ptr<ObjectStore>> ObjectStore::Open(Env* env, const std::string& dir,
                                                       const ObjectStoreOptions& options,
                                                       const std::vector<DataFileInfo>& data_files,
                                                       std::unique_ptr<ObjectTable> table) {
  if (table == nullptr) table = std::make_unique<ObjectTable>(options.table);
  if (table->loading()) table->FinishLoad();
  COWTREE_ASSIGN_OR_RETURN(auto allocator,
                           SegmentAllocator::Open(env, dir, options.allocator, data_files));
  std::unique_ptr<ObjectStore> store(new ObjectStore(std::move(table), std::move(allocator)));
  COWTREE_RETURN_IF_ERROR(store->RebuildFreeSpace(options.retire_epoch_max));
  return store;
}

Status ObjectStore::PrepareForWrites() { return allocator_->PrepareForWrites(); }

// The DESIGN pitfall: an allocator that restarts with empty bitmaps overwrites live objects.
// Every slot an OT entry names (retired-but-unreclaimed included) is marked used here, before
// the store accepts its first write.
Status ObjectStore::RebuildFreeSpace(uint64_t retire_epoch_max) {
  Status status;
  NodeID failed;
  ObjectAddress failed_address;
  table_->ForEachLive([&](NodeID id, const OtEntry& entry) {
    if (!status.ok()) return;
    if (entry.retired() && entry.retire_epoch > retire_epoch_max) {
      // (found by an adversarial run: such an entry, referenced by the catalog, was reclaimed
      // after the next checkpoint, and the store never opened again)
      status = Status::Corruption(
          DescribeNodeId(id) + " at " + DescribeAddress(entry.address) + " is retired at epoch " +
          std::to_string(entry.retire_epoch) + ", past the checkpoint epoch " +
          std::to_string(retire_epoch_max) + ": no checkpoint published that retirement");
      return;
    }
    status = allocator_->MarkUsed(entry.address, id);
    if (!status.ok()) {
      failed = id;
      failed_address = entry.address;
      return;
    }
    if (entry.retired()) retired_.emplace(entry.retire_epoch, id);
  });
  if (status.ok() || !status.IsCorruption()) return status;
  // Name the other owner of the slot (a rare path: scan the table once more). Entries are
  // visited in handle order, so the first owner has a smaller handle.
  NodeID other;
  table_->ForEachLive([&](NodeID id, const OtEntry& entry) {
    if (!other.valid() && id.handle() < failed.handle() &&
        entry.address.size_class_bytes == failed_address.size_class_bytes &&
        entry.address.slot() == failed_address.slot()) {
      other = id;
    }
  });
  if (!other.valid()) return status;
  return Status::Corruption("two live objects overlap at " + DescribeAddress(failed_address) +
                            ": " + DescribeNodeId(other) + " and " + DescribeNodeId(failed));
}

Result<NodeID> ObjectStore::WriteObject(ObjectKind kind, uint64_t birth_epoch,
                                        std::string_view body) {
  if (body.size() > kMaxObjectBodyBytes) {
    return Status::InvalidArgument("object body of " + std::to_string(body.size()) +
                                   " bytes: objects larger than 256 KiB (envelope included) "
                                   "are not supported");
  }
  if (static_cast<uint8_t>(kind) == 0) return Status::InvalidArgument("object kind 0");
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSIGN_OR_RETURN(NodeID id, table_->AllocateId());
  Result<ObjectAddress> address =
      allocator_->Allocate(static_cast<uint32_t>(kObjectHeaderBytes + body.size()));
  if (!address.ok()) {
    table_->Free(id);
    return address.status();
  }
  envelope_.clear();  // keeps its capacity: no allocation per object written
  const uint32_t crc = EncodeObject(id, kind, birth_epoch, body, &envelope_);
  if (Status st = allocator_->Write(*address, envelope_); !st.ok()) {
    allocator_->Free(*address);
    table_->Free(id);
    return st.WithContext("writing " + DescribeNodeId(id) + " to " + DescribeAddress(*address));
  }
  const OtEntry entry{*address, kind, birth_epoch, kNotRetired, crc};
  table_->Set(id, entry);
  deltas_.push_back({OtDeltaOp::kUpsert, id, entry, 0});
  return id;
}

Result<std::string> ObjectStore::ReadObject(NodeID id, ObjectKind expected) const {
  return Read(id, expected, /*via_mmap=*/true);
}

Result<std::string> ObjectStore::ReadObjectOnce(NodeID id, ObjectKind expected) const {
  return Read(id, expected, /*via_mmap=*/false);
}

Result<std::string_view> ObjectStore::ReadObjectOnceInto(NodeID id, ObjectKind expected,
                                                         std::string* buffer) const {
  COWTREE_ASSIGN_OR_RETURN(OtEntry entry, EntryOfKind(id, expected));
  Result<std::string_view> bytes = allocator_->ReadInto(entry.address, buffer);
  if (!bytes.ok()) return bytes.status().WithContext("reading " + DescribeNodeId(id));
  return VerifiedBody(id, entry, *bytes);
}

Result<std::string_view> ObjectStore::ReadObjectInto(NodeID id, ObjectKind expected,
                                                     std::string* buffer) const {
  if (!allocator_->reads_via_mmap()) return ReadObjectOnceInto(id, expected, buffer);
  PinnedObject pinned;
  COWTREE_ASSIGN_OR_RETURN(std::string_view body, PinVerified(id, expected, true, &pinned));
  buffer->assign(body);  // keeps the capacity: no allocation once the buffer is large enough
  return std::string_view(*buffer);
}

Result<OtEntry> ObjectStore::EntryOfKind(NodeID id, ObjectKind expected) const {
  if (reads_closed_.load(std::memory_order_acquire)) {
    return Status::IOError("reading " + DescribeNodeId(id) +
                           ": the store was closed (what is not in memory can no longer be read)");
  }
  COWTREE_ASSIGN_OR_RETURN(OtEntry entry, table_->Get(id));
  if (entry.kind != expected) {
    return Status::Corruption(
        DescribeNodeId(id) + " at " + DescribeAddress(entry.address) +
        ": the object table says kind " + std::to_string(static_cast<uint8_t>(entry.kind)) +
        ", the reader expected kind " + std::to_string(static_cast<uint8_t>(expected)));
  }
  return entry;
}

Result<std::string_view> ObjectStore::VerifiedBody(NodeID id, const OtEntry& entry,
                                                   std::string_view stored) {
  const ObjectExpectation expect{id, entry.kind, entry.birth_epoch, entry.address.length_bytes,
                                 entry.payload_crc32c};
  return DecodeObject(stored, expect, DescribeAddress(entry.address));
}

Result<std::string_view> ObjectStore::PinVerified(NodeID id, ObjectKind expected, bool via_mmap,
                                                  PinnedObject* pinned) const {
  COWTREE_ASSIGN_OR_RETURN(OtEntry entry, EntryOfKind(id, expected));
  Result<PinnedObject> pin = allocator_->PinObject(entry.address, via_mmap);
  if (!pin.ok()) return pin.status().WithContext("reading " + DescribeNodeId(id));
  *pinned = std::move(pin).value();
  return VerifiedBody(id, entry, pinned->bytes());
}

Result<std::string> ObjectStore::Read(NodeID id, ObjectKind expected, bool via_mmap) const {
  PinnedObject pinned;
  COWTREE_ASSIGN_OR_RETURN(std::string_view body, PinVerified(id, expected, via_mmap, &pinned));
  return std::string(body);
}

void ObjectStore::Retire(NodeID id, uint64_t retire_epoch, bool record_delta) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<OtEntry> entry = table_->Get(id);
  COWTREE_ASSERT(entry.ok());         // retiring a free or stale NodeID
  COWTREE_ASSERT(!entry->retired());  // retiring twice
  COWTREE_ASSERT(retire_epoch != kNotRetired && retire_epoch >= entry->birth_epoch);
  entry->retire_epoch = retire_epoch;
  table_->Set(id, *entry);
  retired_.emplace(retire_epoch, id);
  if (record_delta) deltas_.push_back({OtDeltaOp::kRetire, id, OtEntry{}, retire_epoch});
}

void ObjectStore::Unretire(NodeID id) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<OtEntry> entry = table_->Get(id);
  COWTREE_ASSERT(entry.ok() && entry->retired());
  auto range = retired_.equal_range(entry->retire_epoch);
  bool found = false;
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == id) {
      retired_.erase(it);
      found = true;
      break;
    }
  }
  COWTREE_ASSERT(found);
  entry->retire_epoch = kNotRetired;
  table_->Set(id, *entry);
}

void ObjectStore::DiscardUnpublished(NodeID id) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<OtEntry> entry = table_->Get(id);
  COWTREE_ASSERT(entry.ok() && !entry->retired());
  allocator_->Free(entry->address);
  table_->Free(id);
}

void ObjectStore::FreeRetired(NodeID id) {
  Result<OtEntry> entry = table_->Get(id);
  COWTREE_ASSERT(entry.ok() && entry->retired());
  allocator_->Free(entry->address);
  table_->Free(id);
}

void ObjectStore::KeepOrFree(NodeID id, const RetainedEpochs& retained,
                             const SnapshotIntervals& snapshots, size_t* freed) {
  Result<OtEntry> entry = table_->Get(id);
  COWTREE_ASSERT(entry.ok() && entry->retired());
  if (retained.Sees(entry->birth_epoch, entry->retire_epoch)) {
    retained_.push_back(id);
    retained_bytes_ += entry->address.size_class_bytes;
  } else if (snapshots.Sees(entry->birth_epoch, entry->retire_epoch)) {
    snapshot_kept_.push_back(id);
    snapshot_bytes_ += entry->address.size_class_bytes;
  } else {
    FreeRetired(id);
    ++*freed;
  }
}

size_t ObjectStore::Reclaim(uint64_t safe_epoch, const RetainedEpochs& retained,
                            const SnapshotIntervals& snapshots) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t freed = 0;
  // Objects kept earlier: when either set changed, each goes where the current sets say.
  const bool retained_changed = retained.version() != retained_version_;
  const bool snapshots_changed = snapshots.version() != snapshot_version_;
  std::vector<NodeID> again;
  if (retained_changed && !retained_.empty()) {
    again.swap(retained_);
    retained_bytes_ = 0;
  }
  if ((retained_changed || snapshots_changed) && !snapshot_kept_.empty()) {
    again.insert(again.end(), snapshot_kept_.begin(), snapshot_kept_.end());
    snapshot_kept_.clear();
    snapshot_bytes_ = 0;
  }
  for (NodeID id : again) KeepOrFree(id, retained, snapshots, &freed);
  retained_version_ = retained.version();
  snapshot_version_ = snapshots.version();
  COWTREE_ASSERT(!retained_.empty() || retained_bytes_ == 0);
  COWTREE_ASSERT(!snapshot_kept_.empty() || snapshot_bytes_ == 0);
  while (!retired_.empty() && retired_.begin()->first <= safe_epoch) {
    const NodeID id = retired_.begin()->second;
    retired_.erase(retired_.begin());
    KeepOrFree(id, retained, snapshots, &freed);
  }
  const uint64_t relocation_bound = std::min(safe_epoch, snapshots.oldest_snapshot_epoch());
  while (!relocated_slots_.empty() && relocated_slots_.begin()->first <= relocation_bound) {
    allocator_->Free(relocated_slots_.begin()->second);
    relocated_slots_.erase(relocated_slots_.begin());
  }
  return freed;
}

Result<ObjectAddress> ObjectStore::Relocate(NodeID id, uint64_t relocation_epoch,
                                            uint64_t below_offset_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSIGN_OR_RETURN(OtEntry entry, table_->Get(id));
  if (entry.retired()) {
    return Status::InvalidArgument("relocating " + DescribeNodeId(id) +
                                   ": retired objects are not relocated");
  }
  std::string stored;
  {
    Result<PinnedObject> pinned = allocator_->PinObject(entry.address);
    if (!pinned.ok()) return pinned.status().WithContext("relocating " + DescribeNodeId(id));
    // Never copy bytes that fail verification: relocation would launder a corruption.
    COWTREE_RETURN_IF_ERROR(VerifiedBody(id, entry, pinned->bytes()).status());
    stored.assign(pinned->bytes());
  }
  Result<ObjectAddress> allocated =
      below_offset_bytes == UINT64_MAX
          ? allocator_->Allocate(entry.address.length_bytes)
          : allocator_->AllocateBelow(entry.address.length_bytes, below_offset_bytes);
  if (!allocated.ok()) return allocated.status();
  const ObjectAddress fresh = *allocated;
  if (Status st = allocator_->Write(fresh, stored); !st.ok()) {
    allocator_->Free(fresh);
    return st.WithContext("relocating " + DescribeNodeId(id) + " to " + DescribeAddress(fresh));
  }
  const ObjectAddress old = entry.address;
  entry.address = fresh;
  table_->Set(id, entry);  // atomic for concurrent readers
  relocated_slots_.emplace(relocation_epoch, old);
  unpublished_relocations_.push_back({id, old, fresh, relocation_epoch});
  deltas_.push_back({OtDeltaOp::kUpsert, id, entry, 0});
  return fresh;
}

size_t ObjectStore::ReclaimRelocated(uint64_t bound) {
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_ASSERT(unpublished_relocations_.empty());  // only published relocations are freed
  size_t freed = 0;
  while (!relocated_slots_.empty() && relocated_slots_.begin()->first <= bound) {
    allocator_->Free(relocated_slots_.begin()->second);
    relocated_slots_.erase(relocated_slots_.begin());
    ++freed;
  }
  return freed;
}

void ObjectStore::PublishRelocations() {
  std::lock_guard<std::mutex> lock(mu_);
  unpublished_relocations_.clear();
}

std::vector<NodeID> ObjectStore::UndoUnpublishedRelocations() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<NodeID> undone;
  for (auto r = unpublished_relocations_.rbegin(); r != unpublished_relocations_.rend(); ++r) {
    Result<OtEntry> entry = table_->Get(r->id);
    COWTREE_ASSERT(entry.ok() && entry->address == r->new_address);
    entry->address = r->old_address;
    table_->Set(r->id, *entry);
    allocator_->Free(r->new_address);
    auto range = relocated_slots_.equal_range(r->epoch);
    bool found = false;
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == r->old_address) {
        relocated_slots_.erase(it);
        found = true;
        break;
      }
    }
    COWTREE_ASSERT(found);
    // An upsert not yet taken must not reach a checkpoint: it names the freed slot.
    std::erase_if(deltas_, [&](const OtDeltaOp& op) {
      return op.type == OtDeltaOp::kUpsert && op.id == r->id && op.entry.address == r->new_address;
    });
    undone.push_back(r->id);
  }
  unpublished_relocations_.clear();
  return undone;
}

Status ObjectStore::Sync() { return allocator_->SyncDirty(); }

std::vector<OtDeltaOp> ObjectStore::TakeDeltas() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OtDeltaOp> out;
  out.swap(deltas_);
  return out;
}

void ObjectStore::RecycleDeltas(std::vector<OtDeltaOp> buffer) {
  if (buffer.capacity() * sizeof(OtDeltaOp) > kRecycledDeltaBytesMax) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (buffer.capacity() <= deltas_.capacity()) return;
  buffer.assign(deltas_.begin(), deltas_.end());  // the ops recorded since TakeDeltas, in order
  deltas_.swap(buffer);
}

ObjectStoreStats ObjectStore::stats() const {
  ObjectStoreStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.retired_pending = retired_.size();
    s.relocated_pending = relocated_slots_.size();
    s.retained_objects = retained_.size();
    s.retained_bytes = retained_bytes_;
    s.snapshot_objects = snapshot_kept_.size();
    s.snapshot_bytes = snapshot_bytes_;
    s.delta_buffer_bytes = deltas_.capacity() * sizeof(OtDeltaOp);
  }
  s.live_objects = table_->live_count();
  s.allocator = allocator_->stats();
  return s;
}

}  // namespace cowtree
