// LeafBoxArena: bulk storage for the leaf boxes a restore creates (tree/summaries.h
// BuildFromSummaries), so that restoring a tree of millions of leaves does not call malloc
// once per leaf.
//
// Why. Restoring a tree makes one persisted, non-resident LeafBox per leaf (4.2 M for 10^9
// entries). With make_shared each is a separate malloc of 96 bytes that also faults in a
// fresh 4 KiB page every 42 boxes; in a profile of the first query after reopening a 10^9-entry
// store, that was ~15 % of the CPU time. The arena carves boxes (with their shared_ptr control
// blocks) out of blocks of up to 2 MiB, mapped and populated in one call (MAP_POPULATE: no
// fault per page; transparent huge pages were tried and dropped: page faults stalled on the
// kernel's compaction), and a block is unmapped when its last box dies.
//
// Contract
// - Make(args...) constructs a LeafBox(args...) in the current block (a new block when it is
//   full) and returns the shared_ptr owning it: an ordinary shared_ptr<LeafBox> (weak_ptr,
//   aliasing, CLOCK ring registration all work as for make_shared). Only the thread owning the
//   arena calls Make.
// - Lifetime: a block stays allocated while any box carved from it is alive (including boxes
//   whose weak_ptrs outlive them: the control block stays until the last weak_ptr goes) or the
//   arena still has it as its current block. Destroying the arena releases its hold on the
//   current block; boxes already made stay valid, each keeping its block. Boxes may be
//   destroyed by any thread, in any order, before or after the arena.
// - Memory: blocks of up to kBlockBytes (about 21 k boxes of 96 bytes), sized to the boxes
//   still expected; a tree of fewer than kArenaBoxesMin leaves gets make_shared boxes instead. A
//   block whose boxes are replaced one by one (copy-on-write after restore) is freed only with its
//   last box, so a tree rewritten after its restore keeps up to one block per 21 k of its restored
//   boxes that are still referenced. Blocks are mmapped, populated (whole 2 MiB resident at once).
// Thread-safety: Make from one thread at a time; freeing boxes from any thread (one atomic
// decrement per box, on the block's count).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "persistence/assert.h"
#include "tree/leaf.h"

namespace cowtree::tree {

namespace arena_internal {

// One block: a header and the storage boxes are carved from.
class Block {
 public:
  static constexpr size_t kHeaderBytes = 64;
  // A block of `bytes` (a multiple of the page size, <= LeafBoxArena::kBlockBytes) with room
  // for bytes - header; the caller holds one reference.
  static Block* New(size_t bytes);
  // Whether Take(bytes) would succeed.
  bool Fits(size_t bytes) const { return ((used_ + 15) & ~size_t{15}) + bytes <= capacity_; }
  // `bytes` from the block (16-byte aligned), or null when it is full. The owning thread only.
  void* Take(size_t bytes) {
    const size_t at = (used_ + 15) & ~size_t{15};
    if (at + bytes > capacity_) return nullptr;
    used_ = at + bytes;
    ++handed_out_;
    return data() + at;
  }
  // The owning thread gives up its hold: from now on the block lives as long as its boxes.
  void ReleaseOwner();
  // One box's storage comes back (any thread).
  void ReleaseOne() {
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) Free();
  }
  size_t handed_out() const { return handed_out_; }

 private:
  Block() = default;
  char* data() { return reinterpret_cast<char*>(this) + kHeaderBytes; }
  void Free();

  // References: boxes handed out and not yet freed, plus kOwnerHold while the owning thread
  // may still hand out more (so that early frees cannot reach 0 before ReleaseOwner).
  static constexpr int64_t kOwnerHold = int64_t{1} << 40;
  std::atomic<int64_t> live_{kOwnerHold};
  size_t used_ = 0;
  size_t capacity_ = 0;
  size_t handed_out_ = 0;
  size_t mapped_bytes_ = 0;
};

// The allocator allocate_shared uses: storage from one block, returned to it.
template <typename T>
class BlockAllocator {
 public:
  using value_type = T;
  explicit BlockAllocator(Block* block) : block_(block) {}
  template <typename U>
  BlockAllocator(const BlockAllocator<U>& other) : block_(other.block()) {}  // NOLINT

  T* allocate(size_t n) {
    COWTREE_ASSERT(n == 1);
    void* p = block_->Take(sizeof(T));
    COWTREE_ASSERT(p != nullptr);  // LeafBoxArena::Make checked the room first
    return static_cast<T*>(p);
  }
  void deallocate(T*, size_t) { block_->ReleaseOne(); }
  Block* block() const { return block_; }
  template <typename U>
  bool operator==(const BlockAllocator<U>& other) const {
    return block_ == other.block();
  }

 private:
  Block* block_;
};

}  // namespace arena_internal

class LeafBoxArena {
 public:
  static constexpr size_t kBlockBytes = size_t{2} << 20;
  // Below this many expected boxes Make uses make_shared: a small tree (a million trees of a
  // few leaves each) must not map a block per tree.
  static constexpr size_t kArenaBoxesMin = 2048;

  // An arena for about `expected_boxes` boxes: blocks are sized to what is still expected
  // (at most kBlockBytes, whole pages), so the last one is not mostly empty.
  explicit LeafBoxArena(size_t expected_boxes) : expected_(expected_boxes) {}
  ~LeafBoxArena() {
    if (block_ != nullptr) block_->ReleaseOwner();
  }
  LeafBoxArena(const LeafBoxArena&) = delete;
  LeafBoxArena& operator=(const LeafBoxArena&) = delete;

  template <typename... Args>
  std::shared_ptr<LeafBox> Make(Args&&... args) {
    ++made_;
    if (expected_ < kArenaBoxesMin) return std::make_shared<LeafBox>(std::forward<Args>(args)...);
    if (block_ == nullptr || !block_->Fits(SlotBytes())) NextBlock();
    return std::allocate_shared<LeafBox>(arena_internal::BlockAllocator<LeafBox>(block_),
                                         std::forward<Args>(args)...);
  }
  // Blocks this arena has mapped (a statistic for tests).
  size_t blocks_allocated() const { return blocks_allocated_; }
  // Bytes of every arena's blocks mapped now, process-wide (for heap accounting in tests).
  static uint64_t MappedBytes();
  // Bytes allocate_shared takes per box (control block + LeafBox), measured once.
  static size_t SlotBytes();

 private:
  void NextBlock();
  const size_t expected_;
  size_t made_ = 0;
  arena_internal::Block* block_ = nullptr;
  size_t blocks_allocated_ = 0;
};

}  // namespace cowtree::tree
