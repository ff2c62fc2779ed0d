// ObjectTable (OT): NodeID handle -> OtEntry, the single source of truth for which objects are
// live and where they are. Free-space maps are derived from it at open (SegmentAllocator).
// Record format of checkpoints and deltas: docs/object_table.md.
//
// Structure
// - Handles are spread over `shard_count` shards (a power of two): handle h lives in shard
//   h & (shard_count - 1) at index h >> log2(shard_count). Each shard keeps its slots in
//   fixed-size chunks (kChunkSlots slots) that never move once allocated; a shard's chunk
//   directory grows by doubling and old directories are kept until destruction, so a reader
//   holding any directory pointer still finds the same chunks. Hence lookups take no lock.
// - Each slot is a seqlock: a sequence word (odd while a writer is inside) and the entry packed
//   into five 64-bit atomic words. Get retries until it reads a stable even sequence, so it
//   always returns one whole entry (never half of an old and half of a new address).
// - Writers (AllocateId, Set, Free) take the mutex of the handle's shard. AllocateId starts on
//   shard 0 only and activates more shards (doubling, up to shard_count) when it observes lock
//   contention, so a single-threaded store keeps its handles dense.
//
// Handle lifecycle and tags (ABA guard)
// - AllocateId reuses a freed handle of any shard first (FIFO per shard, to space out reuse of
//   any one handle), with tag = NodeID::NextTag(previous tag) (1..255, wrapping 255 -> 1);
//   otherwise it takes the shard's next fresh handle with tag 1. A NodeID whose tag differs
//   from the handle's current tag is stale: Get returns NotFound for it.
// - States: free -> reserved (AllocateId) -> live (Set) -> free (Free). Get finds only live
//   entries. Set/Free with a NodeID that is not the handle's current allocation is a bug
//   (COWTREE_ASSERT).
//
// Recovery
// - LoadEntry (checkpoint records), ReplayUpsert and ReplayRemove (OT deltas) fill a new table
//   and start its loading phase; FinishLoad() then puts every unused handle below each shard's
//   highest loaded index on the free list (as ranges: a chunk with no loaded entry is never
//   allocated, so a sparse table costs memory in proportion to its entries, not to its highest
//   handle) and ends the phase (a reused handle's tag continues
//   from the last tag the table saw for it, or starts at 1). During loading AllocateId/Set/Free
//   assert; once AllocateId/Set/Free or FinishLoad ran, the load methods assert. A table that
//   is never loaded needs no FinishLoad.
//
// Thread-safety
// - Get, live_count and handle_count are lock-free and may run concurrently with anything,
//   including Set on the same handle (compaction relocating an object).
// - AllocateId/Set/Free are thread-safe (per-shard mutex).
// - ForEachLive visits each slot under its seqlock; with concurrent writers it sees each entry
//   either before or after a change, but not a single point-in-time table (checkpoint writers
//   hold the writer role so that nothing changes meanwhile).
// - The load methods and FinishLoad are single-threaded (recovery).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "persistence/node_id.h"
#include "persistence/ot_entry.h"
#include "persistence/retained_epochs.h"
#include "persistence/status.h"

namespace cowtree {

// The default highest handle: 2^34 - 1, about 1.7e10 objects in use at once (a tree of 10^10
// entries has ~4.2e7). A NodeID could name handles up to 2^56 - 1, but a shard's chunk directory
// is a pointer per kChunkSlots handles up to the highest one, so a damaged or crafted object
// table naming a handle near 2^56 would cost terabytes to load (adversarial round 16: 14.8 GB
// for one record at handle 2^32). At this limit the directory of one shard is at most 8 MiB.
inline constexpr uint64_t kObjectTableHandleLimitDefault = (uint64_t{1} << 34) - 1;

struct ObjectTableOptions {
  // Power of two in [1, 256].
  size_t shard_count = 16;
  // Highest handle AllocateId may return, and LoadEntry/ReplayUpsert accept (tests lower it to
  // exercise exhaustion). At most NodeID::kHandleMax. Default: kObjectTableHandleLimitDefault.
  uint64_t handle_limit = kObjectTableHandleLimitDefault;
};

class ObjectTable {
 public:
  static constexpr size_t kChunkSlots = 1024;

  explicit ObjectTable(ObjectTableOptions options = {});
  ~ObjectTable();
  ObjectTable(const ObjectTable&) = delete;
  ObjectTable& operator=(const ObjectTable&) = delete;

  // A new NodeID in the reserved state (Get: NotFound until Set). NoSpace when every handle up
  // to handle_limit is in use.
  Result<NodeID> AllocateId();
  // Makes `entry` the entry of id (reserved or live, same tag). Atomic for readers.
  void Set(NodeID id, const OtEntry& entry);
  // The live entry of id; NotFound if the handle is free, reserved, or has another tag.
  Result<OtEntry> Get(NodeID id) const;
  // Removes the entry (reserved or live) and puts the handle on the free list.
  void Free(NodeID id);
  // Calls fn(id, entry) for every live entry in increasing handle order.
  void ForEachLive(const std::function<void(NodeID, const OtEntry&)>& fn) const;
  // Number of live entries (reserved handles are not counted).
  size_t live_count() const { return live_count_.load(std::memory_order_relaxed); }
  // Number of handles ever allocated or loaded (live + reserved + free-listed).
  uint64_t handle_count() const;
  // Bytes of slot memory mapped by every table of the process (slots live in mmapped runs of
  // chunks, outside malloc's counts; for heap accounting in tests).
  static uint64_t MappedChunkBytes();

  // ---- Loading phase (recovery) ----
  // Inserts a live entry for id's handle with id's tag. Corruption if the handle is already
  // loaded (duplicate), if the handle exceeds handle_limit, or if the record is invalid.
  Status LoadEntry(NodeID id, const OtEntry& entry);
  // Bulk LoadEntry for a checkpoint's records: the same outcome as LoadEntry(r.id, r.entry)
  // for each record r in index order. handle_of(i) is record i's handle as stored (not yet
  // validated; it only picks the thread); record(i, &r) decodes record i into r, or leaves r.id
  // invalid (0) to skip it, or returns an error. Both must be safe to call concurrently.
  // Records are loaded by `threads` threads (1..shard_count; more are clamped), each owning
  // the shards s with s % threads == thread (no lock contention, one live-count update per
  // thread). Errors: record()'s, LoadEntry's, and Corruption if a decoded handle's shard
  // differs from handle_of's; when several records fail, the lowest index wins, returned with
  // "record i" as context.
  Status LoadEntries(uint64_t count, const std::function<uint64_t(uint64_t i)>& handle_of,
                     const std::function<Status(uint64_t i, OtRecord* r)>& record, size_t threads);
  // OT-delta upsert: sets the entry if the handle is unloaded or live with id's tag; Corruption
  // if it is live under another tag (the older object was never removed).
  Status ReplayUpsert(NodeID id, const OtEntry& entry);
  // OT-delta retirement: removes the live entry of id. Corruption if it is not live with
  // that tag.
  Status ReplayRemove(NodeID id);
  // OT-delta retirement with retained checkpoints (docs/retained_checkpoints.md): keeps the
  // entry with retire_epoch set when `retained` sees it (a retained checkpoint references the
  // object), else removes it as ReplayRemove. Corruption if id is not live with that tag, if it
  // is already retired, or if retire_epoch is below its birth epoch.
  Status ReplayRetire(NodeID id, uint64_t retire_epoch, const RetainedEpochs& retained);
  // Ends the loading phase: builds the free lists and fresh-handle counters.
  void FinishLoad();
  bool loading() const { return phase_ == Phase::kLoading; }

 private:
  struct Slot;
  struct Chunk;
  // The slot of live `id` (tag included) for an OT-delta retirement, or Corruption naming it.
  // The caller holds the slot's shard mutex.
  Result<Slot*> LiveSlotToRetire(NodeID id);
  struct Directory;
  struct Shard;
  struct SlotCopy;

  Shard& ShardOf(uint64_t handle) const;
  uint64_t IndexOf(uint64_t handle) const { return handle >> shard_bits_; }
  uint64_t HandleOf(size_t shard, uint64_t index) const { return (index << shard_bits_) | shard; }
  // nullptr if the slot's chunk does not exist (never allocated).
  Slot* FindSlot(uint64_t handle) const;
  // The shard's chunk chunk_index, or nullptr if it does not exist.
  static Chunk* FindChunk(const Shard& shard, uint64_t chunk_index);
  // Allocates the slot's chunk if needed. Caller holds the shard's mutex.
  Slot* EnsureSlot(Shard& shard, uint64_t index);
  Result<NodeID> AllocateFromShard(Shard& shard, size_t shard_index, bool fresh_allowed);
  Status CheckLoadable(NodeID id, const OtEntry& entry) const;
  // LoadEntry without the phase change and the live-count update (the caller adds *loaded).
  Status LoadEntryLocked(Shard& shard, NodeID id, const OtEntry& entry, size_t* loaded);
  // One thread of LoadEntries: the shards s with s % parts == part.
  Status LoadEntriesPart(uint64_t count, const std::function<uint64_t(uint64_t)>& handle_of,
                         const std::function<Status(uint64_t, OtRecord*)>& record, size_t part,
                         size_t parts, uint64_t* failed_index);

  ObjectTableOptions options_;
  int shard_bits_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<size_t> active_shards_{1};
  std::atomic<uint64_t> contention_{0};
  std::atomic<size_t> live_count_{0};
  enum class Phase : uint8_t { kFresh, kLoading, kReady };
  void EnterLoading();
  void EnterReady();
  std::atomic<Phase> phase_{Phase::kFresh};
};

}  // namespace cowtree
