// MemInode: one in-memory file's contents with durability tracking, the unit the fault-injecting
// Env is built from.
//
// Contract
// - Two images: current() is what reads see (the page cache); durable() is what a power loss
//   keeps. Every change to the contents (Write, SetSize, GrowTo, ZeroRange) is applied to the
//   current image at once and appended, with its bytes, to a list of unsynced operations, so
//   that a crash can keep any subset of them or tear one. Invariant: current() equals durable()
//   with the unsynced operations applied in order.
// - Sync() (fdatasync) applies the unsynced operations to durable(), in order, and clears them:
//   O(unsynced bytes), not O(file size). DropUnsynced() forgets them and reverts current() to
//   durable() (what a failed fdatasync leaves: the dirty pages are gone).
// - Crash*() turn the inode into its post-crash state (durable() as the model says, then
//   current() = durable(), nothing unsynced).
// - Mappings (AddMapping) behave like MAP_SHARED, read-only: the mapped bytes follow every later
//   change of current(); bytes past the end of the file read as zeros.
// - Sizes and offsets are in bytes. Reserve() (fallocate KEEP_SIZE) only raises
//   stored_bytes(); it never changes contents and is not durable (space accounting only).
// - Thread-safety: none; the owner (FaultInjectionEnv) serialises every call with its mutex.
//   A mapping's bytes may be read without the lock (writers only touch changed bytes, as with
//   a real shared mapping).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "testutil/deterministic_rng.h"

namespace cowtree::testutil {

// One unsynced change to a file's contents.
struct PendingFileOp {
  enum class Kind : uint8_t {
    kWrite,      // data at offset_bytes (extends the file if needed)
    kSetSize,    // truncate/extend to offset_bytes (ftruncate)
    kGrowTo,     // extend to at least offset_bytes with zeros (fallocate without KEEP_SIZE)
    kZeroRange,  // zero [offset_bytes, offset_bytes + length_bytes) inside the file (punch hole)
  };
  Kind kind = Kind::kWrite;
  uint64_t offset_bytes = 0;
  uint64_t length_bytes = 0;
  std::string data;  // kWrite only
};

// The bytes of one live read-only mapping of [offset_bytes, offset_bytes + bytes.size()).
struct MapBuffer {
  uint64_t offset_bytes = 0;
  std::vector<char> bytes;
};

// What a crash did to one inode (added to a CrashReport by the caller).
struct InodeCrashResult {
  uint64_t ops_kept = 0;
  uint64_t ops_dropped = 0;
  bool torn = false;
  uint64_t torn_offset_bytes = 0;
  uint64_t torn_length_bytes = 0;
  uint64_t torn_kept_bytes = 0;
};

class MemInode {
 public:
  explicit MemInode(uint64_t id) : id_(id) {}
  MemInode(const MemInode&) = delete;
  MemInode& operator=(const MemInode&) = delete;

  uint64_t id() const { return id_; }
  uint64_t size_bytes() const { return current_.size(); }
  const std::string& current() const { return current_; }
  const std::string& durable() const { return durable_; }
  size_t unsynced_op_count() const { return unsynced_.size(); }
  bool has_unsynced_write() const;
  // Bytes this file occupies: max(size, end of the last KEEP_SIZE reservation).
  uint64_t stored_bytes() const;
  // How much stored_bytes() would grow if the file reached size_bytes / reserved up to end.
  uint64_t GrowthToSize(uint64_t size_bytes) const;
  uint64_t GrowthToReserve(uint64_t end_bytes) const;

  // Copies up to length_bytes at offset_bytes into out; returns how many (short at EOF).
  size_t Read(uint64_t offset_bytes, size_t length_bytes, char* out) const;

  void Write(uint64_t offset_bytes, std::string_view data);
  void SetSize(uint64_t size_bytes);
  void GrowTo(uint64_t size_bytes);
  void ZeroRange(uint64_t offset_bytes, uint64_t length_bytes);
  void Reserve(uint64_t end_bytes);

  void Sync();
  void DropUnsynced();

  // Post-crash states.
  InodeCrashResult CrashKeepAll();
  InodeCrashResult CrashDropUnsynced();
  InodeCrashResult CrashKeepRandomSubset(DeterministicRng* rng);
  // Keeps the unsynced operations before the last write, tears the last write at a sector
  // boundary chosen by rng (at least its last sector is lost), drops the operations after it.
  // The lost tail of the written range becomes random bytes (tail_is_garbage) or, as sectors
  // that were never written, keeps the old durable bytes and reads as zeros past the old end.
  // Requires has_unsynced_write().
  InodeCrashResult CrashTearLastWrite(DeterministicRng* rng, bool tail_is_garbage);

  // Bit rot: applies f to the byte at offset_bytes in durable(), current() and every unsynced
  // write that covers it, so that reads, Sync and every crash model see the damaged byte.
  // Returns false if offset_bytes is past the end of both images.
  template <typename F>
  bool DamageByte(uint64_t offset_bytes, F f);

  // A live mapping; the inode keeps only a weak reference, so dropping the returned pointer
  // unmaps (no lock needed).
  std::shared_ptr<MapBuffer> AddMapping(uint64_t offset_bytes, size_t length_bytes);

 private:
  static void Apply(const PendingFileOp& op, std::string* image);
  void ApplyToCurrent(const PendingFileOp& op);
  void ResetCurrentToDurable();
  // Refreshes the mapped bytes that overlap [begin, end) from current().
  void RefreshMappings(uint64_t begin_bytes, uint64_t end_bytes);

  const uint64_t id_;
  std::string current_;
  std::string durable_;
  std::vector<PendingFileOp> unsynced_;
  uint64_t reserved_end_bytes_ = 0;
  std::vector<std::weak_ptr<MapBuffer>> mappings_;
};

template <typename F>
bool MemInode::DamageByte(uint64_t offset_bytes, F f) {
  bool hit = false;
  if (offset_bytes < durable_.size()) {
    durable_[offset_bytes] = f(durable_[offset_bytes]);
    hit = true;
  }
  if (offset_bytes < current_.size()) {
    current_[offset_bytes] = f(current_[offset_bytes]);
    RefreshMappings(offset_bytes, offset_bytes + 1);
    hit = true;
  }
  for (PendingFileOp& op : unsynced_) {
    if (op.kind == PendingFileOp::Kind::kWrite && offset_bytes >= op.offset_bytes &&
        offset_bytes < op.offset_bytes + op.data.size()) {
      char& c = op.data[offset_bytes - op.offset_bytes];
      c = f(c);
    }
  }
  return hit;
}

}  // namespace cowtree::testutil
