#include "persistence/object_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <new>
#include <thread>

#include "persistence/assert.h"

namespace cowtree {
namespace {

enum SlotState : uint8_t { kFree = 0, kReserved = 1, kLive = 2 };

// Lock-free shard choice: a per-thread hash, masked by the number of active shards.
size_t ThreadHint() {
  thread_local const size_t hint = std::hash<std::thread::id>()(std::this_thread::get_id());
  return hint;
}

// AllocateId doubles the active shards after this many contended lock acquisitions.
constexpr uint64_t kContentionToGrow = 64;

}  // namespace

// One handle's entry under a seqlock. The entry is packed into atomics so that a reader racing
// with a writer is well defined (it retries), and TSAN-clean:
//   w[0] = size_class_bytes | length_bytes << 32      w[1] = offset_bytes
//   w[2] = birth_epoch                                 w[3] = retire_epoch
//   w[4] = payload_crc32c | kind << 32 | tag << 40 | state << 48
struct ObjectTable::Slot {
  std::atomic<uint64_t> seq{0};  // odd while a writer is inside
  std::atomic<uint64_t> w[5] = {};
};
static_assert(sizeof(std::atomic<uint64_t>) == 8);

struct ObjectTable::Chunk {
  Slot slots[kChunkSlots];
};

struct ObjectTable::Directory {
  explicit Directory(size_t cap) : capacity(cap), chunks(new std::atomic<Chunk*>[cap]) {
    for (size_t i = 0; i < cap; ++i) chunks[i].store(nullptr, std::memory_order_relaxed);
  }
  const size_t capacity;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks;
};

namespace {

// Memory for a shard's chunks: runs of chunks mapped with their pages populated (one call
// instead of a page fault per 4 KiB: loading a 4 M-entry checkpoint faulted in ~200 MB of
// slots). A shard's runs double from 1 chunk up to kRunChunksMax, so a small table stays small.
std::atomic<uint64_t> g_chunk_run_bytes{0};  // ObjectTable::MappedChunkBytes()

template <typename ChunkT>
class ChunkRun {
 public:
  static constexpr size_t kRunChunksMax = 32;
  explicit ChunkRun(size_t chunks) : capacity_(chunks) {
    void* p = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    memory_ = static_cast<char*>(p);
    g_chunk_run_bytes.fetch_add(bytes(), std::memory_order_relaxed);
  }
  ~ChunkRun() {
    for (size_t i = 0; i < used_; ++i)
      reinterpret_cast<ChunkT*>(memory_ + i * sizeof(ChunkT))->~ChunkT();
    munmap(memory_, bytes());
    g_chunk_run_bytes.fetch_sub(bytes(), std::memory_order_relaxed);
  }
  ChunkRun(const ChunkRun&) = delete;
  ChunkRun& operator=(const ChunkRun&) = delete;
  size_t capacity() const { return capacity_; }
  // A new chunk, or null when the run is full.
  ChunkT* Take() {
    if (used_ == capacity_) return nullptr;
    return new (memory_ + sizeof(ChunkT) * used_++) ChunkT();
  }

 private:
  size_t bytes() const { return capacity_ * sizeof(ChunkT); }
  const size_t capacity_;
  size_t used_ = 0;
  char* memory_ = nullptr;
};

}  // namespace

struct ObjectTable::Shard {
  std::mutex mu;
  std::atomic<Directory*> dir{nullptr};
  std::vector<std::unique_ptr<Directory>> directories;  // every directory ever published
  std::vector<std::unique_ptr<ChunkRun<Chunk>>> runs;   // own the chunks; never move
  std::atomic<uint64_t> next_index{0};                  // first never-used index
  // FIFO of freed indices, as runs of consecutive indices [first, end) (FinishLoad frees whole
  // chunks that no entry loaded in one run; Free appends to the last run when it extends it).
  struct FreeRun {
    uint64_t first;
    uint64_t end;
  };
  std::deque<FreeRun> free_runs;
  std::atomic<uint64_t> free_count{0};  // indices in free_runs, lock-free peek

  // Appends [first, end) to the FIFO. Caller holds mu (or the table is loading).
  void PushFree(uint64_t first, uint64_t end) {
    COWTREE_DASSERT(first < end);
    if (!free_runs.empty() && free_runs.back().end == first) {
      free_runs.back().end = end;
    } else {
      free_runs.push_back(FreeRun{first, end});
    }
    free_count.fetch_add(end - first, std::memory_order_relaxed);
  }
  // Takes the oldest free index. Caller holds mu; free_runs is not empty.
  uint64_t PopFree() {
    FreeRun& run = free_runs.front();
    COWTREE_DASSERT(run.first < run.end);
    const uint64_t index = run.first++;
    if (run.first == run.end) free_runs.pop_front();
    free_count.fetch_sub(1, std::memory_order_relaxed);
    return index;
  }
};

struct ObjectTable::SlotCopy {
  OtEntry entry;
  uint8_t tag = 0;
  uint8_t state = kFree;
};

namespace {

template <typename SlotT, typename SlotCopyT>
SlotCopyT ReadSlot(const SlotT& slot) {
  uint64_t w[5];
  for (int spins = 0;; ++spins) {
    const uint64_t s1 = slot.seq.load(std::memory_order_acquire);
    if ((s1 & 1) == 0) {
      for (int i = 0; i < 5; ++i) w[i] = slot.w[i].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (slot.seq.load(std::memory_order_relaxed) == s1) break;
    }
    if (spins > 16) std::this_thread::yield();
  }
  SlotCopyT s;
  s.entry.address.size_class_bytes = static_cast<uint32_t>(w[0]);
  s.entry.address.length_bytes = static_cast<uint32_t>(w[0] >> 32);
  s.entry.address.offset_bytes = w[1];
  s.entry.birth_epoch = w[2];
  s.entry.retire_epoch = w[3];
  s.entry.payload_crc32c = static_cast<uint32_t>(w[4]);
  s.entry.kind = static_cast<ObjectKind>(static_cast<uint8_t>(w[4] >> 32));
  s.tag = static_cast<uint8_t>(w[4] >> 40);
  s.state = static_cast<uint8_t>(w[4] >> 48);
  return s;
}

// Caller holds the shard's mutex (writers never overlap on one slot).
template <typename SlotT>
void WriteSlot(SlotT& slot, const OtEntry& e, uint8_t tag, uint8_t state) {
  const uint64_t seq = slot.seq.load(std::memory_order_relaxed);
  COWTREE_DASSERT((seq & 1) == 0);
  slot.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slot.w[0].store(e.address.size_class_bytes | (uint64_t{e.address.length_bytes} << 32),
                  std::memory_order_relaxed);
  slot.w[1].store(e.address.offset_bytes, std::memory_order_relaxed);
  slot.w[2].store(e.birth_epoch, std::memory_order_relaxed);
  slot.w[3].store(e.retire_epoch, std::memory_order_relaxed);
  slot.w[4].store(e.payload_crc32c | (uint64_t{static_cast<uint8_t>(e.kind)} << 32) |
                      (uint64_t{tag} << 40) | (uint64_t{state} << 48),
                  std::memory_order_relaxed);
  slot.seq.store(seq + 2, std::memory_order_release);
}

}  // namespace

ObjectTable::ObjectTable(ObjectTableOptions options) : options_(options) {
  COWTREE_ASSERT(options_.shard_count >= 1 && options_.shard_count <= 256 &&
                 std::has_single_bit(options_.shard_count));
  COWTREE_ASSERT(options_.handle_limit <= NodeID::kHandleMax);
  shard_bits_ = std::countr_zero(options_.shard_count);
  shards_.reset(new Shard[options_.shard_count]);
}

ObjectTable::~ObjectTable() = default;

uint64_t ObjectTable::MappedChunkBytes() {
  return g_chunk_run_bytes.load(std::memory_order_relaxed);
}

void ObjectTable::EnterLoading() {
  Phase p = phase_.load(std::memory_order_relaxed);
  COWTREE_ASSERT(p != Phase::kReady);  // load methods only before the table is in use
  if (p == Phase::kFresh) phase_.store(Phase::kLoading, std::memory_order_relaxed);
}

void ObjectTable::EnterReady() {
  Phase p = phase_.load(std::memory_order_relaxed);
  COWTREE_ASSERT(p != Phase::kLoading);  // FinishLoad() must run before use
  if (p == Phase::kFresh) phase_.store(Phase::kReady, std::memory_order_relaxed);
}

ObjectTable::Shard& ObjectTable::ShardOf(uint64_t handle) const {
  return shards_[handle & (options_.shard_count - 1)];
}

ObjectTable::Chunk* ObjectTable::FindChunk(const Shard& shard, uint64_t chunk_index) {
  Directory* dir = shard.dir.load(std::memory_order_acquire);
  if (dir == nullptr || chunk_index >= dir->capacity) return nullptr;
  return dir->chunks[chunk_index].load(std::memory_order_acquire);
}

ObjectTable::Slot* ObjectTable::FindSlot(uint64_t handle) const {
  const uint64_t index = IndexOf(handle);
  Chunk* chunk = FindChunk(ShardOf(handle), index / kChunkSlots);
  if (chunk == nullptr) return nullptr;
  return &chunk->slots[index % kChunkSlots];
}

ObjectTable::Slot* ObjectTable::EnsureSlot(Shard& shard, uint64_t index) {
  const uint64_t chunk_index = index / kChunkSlots;
  Directory* dir = shard.dir.load(std::memory_order_relaxed);
  if (dir == nullptr || chunk_index >= dir->capacity) {
    size_t capacity = dir == nullptr ? 16 : dir->capacity * 2;
    capacity = std::max<size_t>(capacity, chunk_index + 1);
    auto grown = std::make_unique<Directory>(capacity);
    if (dir != nullptr) {
      for (size_t i = 0; i < dir->capacity; ++i) {
        grown->chunks[i].store(dir->chunks[i].load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
      }
    }
    dir = grown.get();
    shard.directories.push_back(std::move(grown));  // old ones stay valid for readers
    shard.dir.store(dir, std::memory_order_release);
  }
  Chunk* chunk = dir->chunks[chunk_index].load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = shard.runs.empty() ? nullptr : shard.runs.back()->Take();
    if (chunk == nullptr) {
      const size_t chunks = shard.runs.empty() ? 1
                                               : std::min(2 * shard.runs.back()->capacity(),
                                                          ChunkRun<Chunk>::kRunChunksMax);
      shard.runs.push_back(std::make_unique<ChunkRun<Chunk>>(chunks));
      chunk = shard.runs.back()->Take();
    }
    dir->chunks[chunk_index].store(chunk, std::memory_order_release);
  }
  return &chunk->slots[index % kChunkSlots];
}

Result<NodeID> ObjectTable::AllocateFromShard(Shard& shard, size_t shard_index,
                                              bool fresh_allowed) {
  uint64_t index;
  if (!shard.free_runs.empty()) {
    index = shard.PopFree();
  } else {
    index = shard.next_index.load(std::memory_order_relaxed);
    if (!fresh_allowed || HandleOf(shard_index, index) > options_.handle_limit) {
      return Status::NoSpace("object table shard " + std::to_string(shard_index) +
                             " has no handle left (limit " + std::to_string(options_.handle_limit) +
                             ")");
    }
    shard.next_index.store(index + 1, std::memory_order_relaxed);
  }
  Slot* slot = EnsureSlot(shard, index);
  const auto old = ReadSlot<Slot, SlotCopy>(*slot);
  COWTREE_ASSERT(old.state == kFree);
  const uint8_t tag = NodeID::NextTag(old.tag);
  WriteSlot(*slot, OtEntry{}, tag, kReserved);
  return NodeID::Make(HandleOf(shard_index, index), tag);
}

Result<NodeID> ObjectTable::AllocateId() {
  EnterReady();
  size_t active = active_shards_.load(std::memory_order_acquire);
  const size_t start = ThreadHint();
  // Pass 0 reuses a freed handle of any shard (keeps the handle space dense); pass 1 takes a
  // fresh handle. Each pass visits the active shards first, from this thread's preferred one,
  // then the inactive ones (only reached when the active ones are exhausted).
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < options_.shard_count; ++k) {
      const size_t shard_index = k < active ? (start + k) & (active - 1) : k;
      Shard& shard = shards_[shard_index];
      if (pass == 0 && shard.free_count.load(std::memory_order_relaxed) == 0) continue;
      std::unique_lock<std::mutex> lock(shard.mu, std::try_to_lock);
      if (!lock.owns_lock()) {
        if (contention_.fetch_add(1, std::memory_order_relaxed) + 1 >= kContentionToGrow &&
            active < options_.shard_count) {
          if (active_shards_.compare_exchange_strong(active, active * 2)) {
            contention_.store(0, std::memory_order_relaxed);
          }
        }
        lock.lock();
      }
      Result<NodeID> id = AllocateFromShard(shard, shard_index, /*fresh_allowed=*/pass == 1);
      if (id.ok() || !id.status().IsNoSpace()) return id;
    }
  }
  return Status::NoSpace("object table full: every handle up to " +
                         std::to_string(options_.handle_limit) + " is in use");
}

void ObjectTable::Set(NodeID id, const OtEntry& entry) {
  EnterReady();
  COWTREE_ASSERT(ValidateOtRecord(id, entry).ok());
  Shard& shard = ShardOf(id.handle());
  std::lock_guard<std::mutex> lock(shard.mu);
  Slot* slot = FindSlot(id.handle());
  COWTREE_ASSERT(slot != nullptr);
  const auto old = ReadSlot<Slot, SlotCopy>(*slot);
  COWTREE_ASSERT(old.state != kFree && old.tag == id.tag());
  if (old.state == kReserved) live_count_.fetch_add(1, std::memory_order_relaxed);
  WriteSlot(*slot, entry, id.tag(), kLive);
}

Result<OtEntry> ObjectTable::Get(NodeID id) const {
  if (!id.valid()) return Status::NotFound("invalid NodeID (tag 0)");
  const Slot* slot = FindSlot(id.handle());
  if (slot == nullptr) {
    return Status::NotFound(DescribeNodeId(id) + ": handle was never allocated");
  }
  const auto snap = ReadSlot<Slot, SlotCopy>(*slot);
  if (snap.tag != id.tag() && snap.state != kFree) {
    return Status::NotFound(DescribeNodeId(id) + " is stale: the handle now has tag " +
                            std::to_string(snap.tag));
  }
  if (snap.state != kLive) {
    return Status::NotFound(DescribeNodeId(id) + ": no live entry (handle " +
                            (snap.state == kFree ? "free)" : "reserved, not yet set)"));
  }
  return snap.entry;
}

void ObjectTable::Free(NodeID id) {
  EnterReady();
  Shard& shard = ShardOf(id.handle());
  std::lock_guard<std::mutex> lock(shard.mu);
  Slot* slot = FindSlot(id.handle());
  COWTREE_ASSERT(slot != nullptr);
  const auto old = ReadSlot<Slot, SlotCopy>(*slot);
  COWTREE_ASSERT(old.state != kFree && old.tag == id.tag());
  if (old.state == kLive) live_count_.fetch_sub(1, std::memory_order_relaxed);
  WriteSlot(*slot, OtEntry{}, id.tag(), kFree);
  const uint64_t index = IndexOf(id.handle());
  shard.PushFree(index, index + 1);
}

void ObjectTable::ForEachLive(const std::function<void(NodeID, const OtEntry&)>& fn) const {
  uint64_t max_index = 0;
  for (size_t s = 0; s < options_.shard_count; ++s) {
    max_index = std::max(max_index, shards_[s].next_index.load(std::memory_order_acquire));
  }
  // handle = index << shard_bits | shard, so index-major order is handle order. The chunks
  // of one chunk index are looked up once per shard, not once per handle.
  // Blocks where no shard has a chunk (a sparse table) are skipped whole.
  const Chunk* chunks[256];
  for (uint64_t first = 0; first < max_index; first += kChunkSlots) {
    bool any = false;
    for (size_t s = 0; s < options_.shard_count; ++s) {
      chunks[s] = FindChunk(shards_[s], first / kChunkSlots);
      any = any || chunks[s] != nullptr;
    }
    if (!any) continue;
    const uint64_t end = std::min(max_index, first + kChunkSlots);
    for (uint64_t index = first; index < end; ++index) {
      for (size_t s = 0; s < options_.shard_count; ++s) {
        if (chunks[s] == nullptr) continue;
        const auto snap = ReadSlot<Slot, SlotCopy>(chunks[s]->slots[index - first]);
        if (snap.state == kLive) fn(NodeID::Make(HandleOf(s, index), snap.tag), snap.entry);
      }
    }
  }
}

uint64_t ObjectTable::handle_count() const {
  uint64_t n = 0;
  for (size_t s = 0; s < options_.shard_count; ++s) {
    n += shards_[s].next_index.load(std::memory_order_relaxed);
  }
  return n;
}

Status ObjectTable::CheckLoadable(NodeID id, const OtEntry& entry) const {
  COWTREE_RETURN_IF_ERROR(ValidateOtRecord(id, entry));
  if (id.handle() > options_.handle_limit) {
    return Status::Corruption(DescribeNodeId(id) + ": handle above the limit " +
                              std::to_string(options_.handle_limit));
  }
  return Status::OK();
}

Status ObjectTable::LoadEntry(NodeID id, const OtEntry& entry) {
  EnterLoading();
  Shard& shard = ShardOf(id.handle());
  std::lock_guard<std::mutex> lock(shard.mu);
  size_t loaded = 0;
  Status st = LoadEntryLocked(shard, id, entry, &loaded);
  live_count_.fetch_add(loaded, std::memory_order_relaxed);
  return st;
}

Status ObjectTable::LoadEntryLocked(Shard& shard, NodeID id, const OtEntry& entry, size_t* loaded) {
  COWTREE_RETURN_IF_ERROR(CheckLoadable(id, entry));
  COWTREE_DASSERT(&shard == &ShardOf(id.handle()));
  const uint64_t index = IndexOf(id.handle());
  Slot* slot = EnsureSlot(shard, index);
  const auto old = ReadSlot<Slot, SlotCopy>(*slot);
  if (old.state == kLive) {
    return Status::Corruption("duplicate OT entry for handle " + std::to_string(id.handle()) +
                              ": already loaded with tag " + std::to_string(old.tag) +
                              ", again as " + DescribeNodeId(id));
  }
  WriteSlot(*slot, entry, id.tag(), kLive);
  ++*loaded;
  if (index >= shard.next_index.load(std::memory_order_relaxed)) {
    shard.next_index.store(index + 1, std::memory_order_relaxed);
  }
  return Status::OK();
}

Status ObjectTable::LoadEntries(uint64_t count, const std::function<uint64_t(uint64_t)>& handle_of,
                                const std::function<Status(uint64_t, OtRecord*)>& record,
                                size_t threads) {
  EnterLoading();
  COWTREE_ASSERT(threads >= 1);
  threads = std::min(threads, options_.shard_count);
  std::vector<Status> status(threads);
  std::vector<uint64_t> failed(threads, UINT64_MAX);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) {
    helpers.emplace_back(
        [&, t] { status[t] = LoadEntriesPart(count, handle_of, record, t, threads, &failed[t]); });
  }
  status[0] = LoadEntriesPart(count, handle_of, record, 0, threads, &failed[0]);
  for (std::thread& h : helpers) h.join();
  size_t first = 0;
  for (size_t t = 1; t < threads; ++t) {
    if (failed[t] < failed[first]) first = t;
  }
  if (status[first].ok()) return Status::OK();
  return status[first].WithContext("record " + std::to_string(failed[first]));
}

Status ObjectTable::LoadEntriesPart(uint64_t count,
                                    const std::function<uint64_t(uint64_t)>& handle_of,
                                    const std::function<Status(uint64_t, OtRecord*)>& record,
                                    size_t part, size_t parts, uint64_t* failed_index) {
  // This thread's shards, locked for the whole load (no other thread takes them).
  std::vector<std::unique_lock<std::mutex>> locks;
  for (size_t s = part; s < options_.shard_count; s += parts) locks.emplace_back(shards_[s].mu);
  const uint64_t mask = options_.shard_count - 1;
  size_t loaded = 0;
  Status st;
  for (uint64_t i = 0; i < count && st.ok(); ++i) {
    const size_t s = handle_of(i) & mask;
    if (s % parts != part) continue;
    OtRecord r;
    st = record(i, &r);
    if (st.ok() && r.id.raw() != 0) {
      if ((r.id.handle() & mask) != s) {
        st = Status::Corruption(DescribeNodeId(r.id) + ": handle changed while loading");
      } else {
        st = LoadEntryLocked(shards_[s], r.id, r.entry, &loaded);
      }
    }
    if (!st.ok()) *failed_index = i;
  }
  live_count_.fetch_add(loaded, std::memory_order_relaxed);
  return st;
}

Status ObjectTable::ReplayUpsert(NodeID id, const OtEntry& entry) {
  EnterLoading();
  COWTREE_RETURN_IF_ERROR(CheckLoadable(id, entry));
  Shard& shard = ShardOf(id.handle());
  std::lock_guard<std::mutex> lock(shard.mu);
  const uint64_t index = IndexOf(id.handle());
  Slot* slot = EnsureSlot(shard, index);
  const auto old = ReadSlot<Slot, SlotCopy>(*slot);
  if (old.state == kLive && old.tag != id.tag()) {
    return Status::Corruption("OT delta upsert of " + DescribeNodeId(id) +
                              " but the handle is live with tag " + std::to_string(old.tag) +
                              " (its retirement is missing)");
  }
  if (old.state != kLive) live_count_.fetch_add(1, std::memory_order_relaxed);
  WriteSlot(*slot, entry, id.tag(), kLive);
  if (index >= shard.next_index.load(std::memory_order_relaxed)) {
    shard.next_index.store(index + 1, std::memory_order_relaxed);
  }
  return Status::OK();
}

Result<ObjectTable::Slot*> ObjectTable::LiveSlotToRetire(NodeID id) {
  if (!id.valid()) return Status::Corruption("OT delta retirement of an invalid NodeID (tag 0)");
  Slot* slot = FindSlot(id.handle());
  const auto old = slot == nullptr ? SlotCopy{} : ReadSlot<Slot, SlotCopy>(*slot);
  if (old.state != kLive || old.tag != id.tag()) {
    return Status::Corruption(
        "OT delta retirement of " + DescribeNodeId(id) + " which is not in the table" +
        (old.state == kLive ? " (handle is live with tag " + std::to_string(old.tag) + ")" : ""));
  }
  return slot;
}

Status ObjectTable::ReplayRemove(NodeID id) {
  EnterLoading();
  Shard& shard = ShardOf(id.handle());
  std::lock_guard<std::mutex> lock(shard.mu);
  COWTREE_ASSIGN_OR_RETURN(Slot * slot, LiveSlotToRetire(id));
  WriteSlot(*slot, OtEntry{}, id.tag(), kFree);  // keeps the tag: reuse continues after it
  live_count_.fetch_sub(1, std::memory_order_relaxed);
  return Status::OK();
}

Status ObjectTable::ReplayRetire(NodeID id, uint64_t retire_epoch, const RetainedEpochs& retained) {
  EnterLoading();
  OtEntry entry;
  {
    Shard& shard = ShardOf(id.handle());
    std::lock_guard<std::mutex> lock(shard.mu);
    COWTREE_ASSIGN_OR_RETURN(Slot * slot, LiveSlotToRetire(id));
    entry = ReadSlot<Slot, SlotCopy>(*slot).entry;
    if (entry.retired()) {
      return Status::Corruption("OT delta retirement of " + DescribeNodeId(id) +
                                " which was already retired at epoch " +
                                std::to_string(entry.retire_epoch));
    }
    if (retire_epoch < entry.birth_epoch) {
      return Status::Corruption("OT delta retirement of " + DescribeNodeId(id) + " at epoch " +
                                std::to_string(retire_epoch) + ", before its birth epoch " +
                                std::to_string(entry.birth_epoch));
    }
    if (retained.Sees(entry.birth_epoch, retire_epoch)) {
      entry.retire_epoch = retire_epoch;
      WriteSlot(*slot, entry, id.tag(), kLive);
      return Status::OK();
    }
  }
  return ReplayRemove(id);
}

void ObjectTable::FinishLoad() {
  Phase p = phase_.load(std::memory_order_relaxed);
  COWTREE_ASSERT(p != Phase::kReady);  // once, before use
  for (size_t s = 0; s < options_.shard_count; ++s) {
    Shard& shard = shards_[s];
    std::lock_guard<std::mutex> lock(shard.mu);
    shard.free_runs.clear();
    shard.free_count.store(0, std::memory_order_relaxed);
    const uint64_t end = shard.next_index.load(std::memory_order_relaxed);
    // A chunk that no entry was loaded into is never allocated: its indices are one free run
    // (a damaged table naming one handle near the limit costs its directory, not its slots).
    for (uint64_t first = 0; first < end; first += kChunkSlots) {
      const uint64_t chunk_end = std::min(end, first + kChunkSlots);
      const Chunk* chunk = FindChunk(shard, first / kChunkSlots);
      if (chunk == nullptr) {
        shard.PushFree(first, chunk_end);
        continue;
      }
      for (uint64_t index = first; index < chunk_end; ++index) {
        if (ReadSlot<Slot, SlotCopy>(chunk->slots[index - first]).state != kLive) {
          shard.PushFree(index, index + 1);
        }
      }
    }
  }
  phase_.store(Phase::kReady, std::memory_order_relaxed);
}

}  // namespace cowtree
