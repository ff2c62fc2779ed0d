// ObjectStore: object table + segment allocator + object envelope. Stores immutable objects
// (leaves, summary chunks, catalog chunks, ...) under NodeIDs and reads them back verified.
// Envelope format: docs/data_files.md; OT record and delta formats: docs/object_table.md.
//
// Lifecycle of an object
//   WriteObject  -> live (OT entry with address, kind, birth epoch, envelope CRC)
//   Retire(e)    -> still live and readable (older snapshots), retire_epoch = e; slot and
//                   handle stay reserved
//   Reclaim(s)   -> for every object retired at an epoch <= s: slot freed, handle freed (the
//                   handle's next NodeID gets the next tag, so the old NodeID reads NotFound)
// Relocate (compaction) moves a live object to a new slot: the OT entry changes atomically for
// readers, the old slot is freed by the first Reclaim (or ReclaimRelocated) whose epoch bound
// >= the relocation epoch. Until PublishRelocations() a relocation can be undone
// (UndoUnpublishedRelocations: an aborted checkpoint puts the entries back).
//
// Durability: nothing here is durable until Sync() (fdatasync of the data files) and the
// runtime has logged TakeDeltas() and published a checkpoint. Every WriteObject, Relocate and
// Retire since the last TakeDeltas() is returned by it, in call order, as OT-delta ops.
// Reclaim(safe_epoch) must only be given an epoch such that (1) no pinned snapshot or retained
// checkpoint can still see the retired versions and (2) the retirements/relocations are covered
// by a published checkpoint (else a crash could resurrect an object whose slot was reused).
//
// Errors: InvalidArgument (body > kMaxObjectBodyBytes, i.e. objects larger than 256 KiB are not
// supported; kind 0); NoSpace/IOError from the Env; NotFound for a free or stale NodeID;
// Corruption when stored bytes or the OT are wrong, naming data file, offset and NodeID.
//
// Thread-safety: ReadObject (and stats/table accessors) may run concurrently with everything.
// Writers — WriteObject, Relocate, Retire, Reclaim, Sync, TakeDeltas — must be serialized by the
// caller (the runtime's checkpoint/compaction role); they are internally locked only so that
// misuse cannot corrupt memory, but delta order is only meaningful under that serialization.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/env.h"
#include "persistence/node_id.h"
#include "persistence/object_table.h"
#include "persistence/ot_delta.h"
#include "persistence/ot_entry.h"
#include "persistence/segment_allocator.h"
#include "persistence/snapshot_intervals.h"
#include "persistence/status.h"

namespace cowtree {

struct ObjectStoreOptions {
  SegmentAllocatorOptions allocator;
  ObjectTableOptions table;  // used only when Open creates an empty table
  // The published checkpoint epoch of the table Open is given (recovery: the superblock's):
  // a checkpoint retires objects at its own epoch and recovery applies no OT delta past it, so
  // an entry retired later is damage (Corruption), not an object to reclaim after the next
  // checkpoint. UINT64_MAX: no check.
  uint64_t retire_epoch_max = UINT64_MAX;
};

struct ObjectStoreStats {
  size_t live_objects = 0;       // OT entries, retired-but-unreclaimed included
  size_t retired_pending = 0;    // retired, waiting for Reclaim
  size_t retained_objects = 0;   // retired, kept for a retained checkpoint
  uint64_t retained_bytes = 0;   // their slot bytes
  size_t snapshot_objects = 0;   // retired, kept for a pinned snapshot (SnapshotIntervals)
  uint64_t snapshot_bytes = 0;   // their slot bytes
  size_t relocated_pending = 0;  // old slots of relocated objects, waiting for Reclaim
  // Heap bytes the OT-delta buffer holds (its capacity, kept by RecycleDeltas between
  // checkpoints; at most kRecycledDeltaBytesMax once recycled).
  uint64_t delta_buffer_bytes = 0;
  SegmentAllocatorStats allocator;
};

class ObjectStore {
 public:
  // Opens the store's objects in dir. data_files: the data files the manifest lists. table: the
  // recovered OT (checkpoint + deltas; FinishLoad is called here if still loading), or nullptr
  // for a new, empty store. Free space is rebuilt from the table's entries before anything is
  // allocated; Corruption if two entries overlap (names both NodeIDs) or an entry points
  // outside its data file.
  static Result<std::unique_ptr<ObjectStore>> Open(Env* env, const std::string& dir,
                                                   const ObjectStoreOptions& options,
                                                   const std::vector<DataFileInfo>& data_files,
                                                   std::unique_ptr<ObjectTable> table);

  // Makes the data files ready for writes (SegmentAllocator::PrepareForWrites): recovery calls
  // it only after it has verified everything it relies on, so a refused open writes nothing.
  Status PrepareForWrites();

  // Allocates a NodeID and a slot, writes the envelope (File::WriteAt), and makes the entry
  // live. On failure nothing stays allocated.
  Result<NodeID> WriteObject(ObjectKind kind, uint64_t birth_epoch, std::string_view body);
  // The verified body of id. NotFound if id is free or stale; Corruption if the OT's kind is not
  // `expected`, or if the stored envelope fails any check (magic, version, kind, NodeID, birth
  // epoch, length, CRC, CRC equal to the OT's) — never returns unverified bytes.
  Result<std::string> ReadObject(NodeID id, ObjectKind expected) const;
  // The same, read with File::ReadAt instead of an mmap window: for objects read once (the
  // catalog chunks at open and on a cold tree's first access), whose pages would otherwise
  // stay mapped and count in the resident set.
  Result<std::string> ReadObjectOnce(NodeID id, ObjectKind expected) const;
  // ReadObjectOnce into a buffer the caller reuses across reads (SegmentAllocator::ReadInto:
  // grown, never shrunk): no allocation, zero fill or copy per object once it is large enough.
  // Returns the verified body, a view into *buffer valid until *buffer changes. Errors as
  // ReadObject's.
  Result<std::string_view> ReadObjectOnceInto(NodeID id, ObjectKind expected,
                                              std::string* buffer) const;
  // ReadObject into a buffer the caller reuses across reads: through the mmap window (one copy
  // of the verified body into *buffer) when the allocator reads via mmap, else
  // ReadObjectOnceInto (File::ReadAt straight into *buffer). Either way no allocation per object
  // once *buffer has grown to the largest body read. For repeated reads of objects decoded at
  // once: the leaf loads of a tree under a memory budget. Returns a view into *buffer valid
  // until *buffer changes. Errors as ReadObject's.
  Result<std::string_view> ReadObjectInto(NodeID id, ObjectKind expected,
                                          std::string* buffer) const;
  // Called by Runtime::Close before it releases the directory lock: every later read is IOError
  // (another process may open the store and reuse the slots; before, such reads through a
  // snapshot that outlived its store met the new objects and answered Corruption, found by an
  // adversarial run). Thread-safe: reads in flight may see either state.
  void CloseReads() { reads_closed_.store(true, std::memory_order_release); }
  // Marks a live, not yet retired object retired at retire_epoch (>= its birth epoch).
  // Asserts on a stale/free id or a second retirement: both are caller bugs. record_delta=false
  // leaves the retirement out of TakeDeltas() (the runtime logs it itself, with the checkpoint
  // that retires it, so that an aborted checkpoint can undo it with Unretire).
  void Retire(NodeID id, uint64_t retire_epoch, bool record_delta = true);
  // Undoes a Retire(record_delta=false) of an aborted checkpoint.
  void Unretire(NodeID id);
  // Frees the slot and handle of an object written by a checkpoint that was aborted before its
  // superblock: nothing durable references it. Its upsert must already have been taken with
  // TakeDeltas() (the caller discards those ops or forces a full OT checkpoint next time).
  void DiscardUnpublished(NodeID id);
  // Frees every object retired at an epoch <= safe_epoch (slot + handle) that neither a
  // retained checkpoint of `retained` nor a pinned snapshot of `snapshots` can read (those are
  // kept, and freed by a later Reclaim once neither sees them: docs/retained_checkpoints.md,
  // persistence/snapshot_intervals.h), and every old slot of a relocation at an epoch <=
  // min(safe_epoch, snapshots.oldest_snapshot_epoch()) (a reader pinned before a relocation may
  // still read the old slot). Returns the number of objects freed (old slots of relocations are
  // not counted). The caller must only drop an epoch from `retained` once no durable state lists
  // its checkpoint (the manifest that deleted it is published), and must list in `snapshots`
  // every pinned epoch below safe_epoch.
  size_t Reclaim(uint64_t safe_epoch, const RetainedEpochs& retained = RetainedEpochs(),
                 const SnapshotIntervals& snapshots = SnapshotIntervals());
  // Moves live object id to a fresh slot (compaction). Reads and verifies the old bytes,
  // writes them to the new slot, switches the OT entry, records an upsert delta, and defers
  // freeing the old slot to Reclaim(>= relocation_epoch). Returns the new address.
  // below_offset_bytes: the new slot is the lowest free slot of the class below that offset
  // (SegmentAllocator::AllocateBelow; NotFound, nothing changed, if there is none); UINT64_MAX =
  // any slot (Allocate). A retired object is refused (InvalidArgument: it is freed anyway).
  Result<ObjectAddress> Relocate(NodeID id, uint64_t relocation_epoch,
                                 uint64_t below_offset_bytes = UINT64_MAX);
  // Frees only the old slots of relocations at an epoch <= bound (compaction's grace period:
  // bound = the smallest pinned epoch, UINT64_MAX when nothing is pinned). Must only be called
  // once the relocations are published by a checkpoint whose freeze came after them. Returns
  // the number of slots freed.
  size_t ReclaimRelocated(uint64_t bound);
  // The relocations since the last PublishRelocations are covered by a published checkpoint:
  // they can no longer be undone.
  void PublishRelocations();
  // Undoes every relocation since the last PublishRelocations (newest first): the OT entry
  // points at the old slot again, the new slot is freed. Returns the NodeIDs put back, so that
  // an aborted checkpoint does not DiscardUnpublished their upserts.
  std::vector<NodeID> UndoUnpublishedRelocations();
  // fdatasync of every data file written since the last Sync. Never retried by this class.
  Status Sync();
  // OT-delta ops recorded since the last call (upserts for writes/relocations, retirements).
  std::vector<OtDeltaOp> TakeDeltas();
  // Hands back a vector TakeDeltas returned, once its ops are logged and no longer needed: its
  // capacity holds the ops recorded next (ops recorded meanwhile are kept, in order). A
  // checkpoint of 10^4..10^5 objects then records into memory it already touched instead of
  // growing a new vector by doubling (each step a fresh mmap and its page faults under the
  // pinned mmap threshold). Keeps the larger of the two capacities; the other is freed. A
  // buffer above kRecycledDeltaBytesMax is freed (a one-off bulk checkpoint does not keep its
  // ops' memory for good: it counts in the RSS constant, docs/memory_budget.md).
  void RecycleDeltas(std::vector<OtDeltaOp> buffer);
  static constexpr size_t kRecycledDeltaBytesMax = size_t{4} << 20;

  const ObjectTable& table() const { return *table_; }
  const SegmentAllocator& allocator() const { return *allocator_; }
  // For compaction (ReleaseTail, TruncateFiles): same serialization rule as the writers above.
  SegmentAllocator* mutable_allocator() { return allocator_.get(); }
  // Data files created or adopted since Open (to add to the manifest) and all files + sizes.
  std::vector<std::string> created_files() const { return allocator_->created_files(); }
  std::vector<DataFileInfo> data_files() const { return allocator_->data_files(); }
  ObjectStoreStats stats() const;

 private:
  Result<std::string> Read(NodeID id, ObjectKind expected, bool via_mmap) const;
  // The body of `stored` (entry's slot bytes, as read) once every envelope check against the
  // OT entry passed (DecodeObject): a view into `stored`, or Corruption naming file and offset.
  static Result<std::string_view> VerifiedBody(NodeID id, const OtEntry& entry,
                                               std::string_view stored);
  // id's entry of kind `expected`, pinned into *pinned and verified: the body as a view into
  // *pinned (valid while it lives).
  Result<std::string_view> PinVerified(NodeID id, ObjectKind expected, bool via_mmap,
                                       PinnedObject* pinned) const;
  // The OT entry of id, checked to be of kind `expected`.
  Result<OtEntry> EntryOfKind(NodeID id, ObjectKind expected) const;
  ObjectStore(std::unique_ptr<ObjectTable> table, std::unique_ptr<SegmentAllocator> allocator)
      : table_(std::move(table)), allocator_(std::move(allocator)) {}
  Status RebuildFreeSpace(uint64_t retire_epoch_max);

  std::unique_ptr<ObjectTable> table_;
  std::unique_ptr<SegmentAllocator> allocator_;
  std::atomic<bool> reads_closed_{false};    // CloseReads
  mutable std::mutex mu_;                    // guards the members below
  std::multimap<uint64_t, NodeID> retired_;  // retire epoch -> object
  std::vector<NodeID> retained_;   // retired <= a past safe epoch, kept for retained checkpoints
  uint64_t retained_version_ = 0;  // RetainedEpochs::version() retained_ was last checked at
  uint64_t retained_bytes_ = 0;    // slot bytes of retained_ (stats() is O(1))
  // Retired <= a past safe epoch, kept for a pinned snapshot and for no retained checkpoint.
  std::vector<NodeID> snapshot_kept_;
  uint64_t snapshot_version_ = 0;  // SnapshotIntervals::version() snapshot_kept_ was checked at
  uint64_t snapshot_bytes_ = 0;    // slot bytes of snapshot_kept_
  // Where a retired object goes once its retire epoch is <= the safe epoch: kept for a retained
  // checkpoint, kept for a snapshot, or freed (counted in *freed). Under mu_.
  void KeepOrFree(NodeID id, const RetainedEpochs& retained, const SnapshotIntervals& snapshots,
                  size_t* freed);
  // Frees object id (retired): slot and handle.
  void FreeRetired(NodeID id);
  std::multimap<uint64_t, ObjectAddress> relocated_slots_;  // relocation epoch -> old slot
  struct Relocation {
    NodeID id;
    ObjectAddress old_address;
    ObjectAddress new_address;
    uint64_t epoch = 0;
  };
  std::vector<Relocation> unpublished_relocations_;  // since the last PublishRelocations
  std::vector<OtDeltaOp> deltas_;
  // WriteObject's envelope (header + body), reused: its capacity grows to the largest object
  // written (at most the largest size class, 256 KiB) and stays.
  std::string envelope_;
};

}  // namespace cowtree
