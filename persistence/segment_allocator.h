// SegmentAllocator: slots for objects in the data files, one file per size class, and reads
// through mmap windows. File layout: docs/data_files.md.
//
// Size classes and files
// - Classes are 1, 2, 4, 8, 16, 32, 64, 128 and 256 KiB; an object of length L gets the smallest
//   class >= L. Objects larger than 256 KiB are NOT supported in this version (Allocate returns
//   InvalidArgument); callers split larger payloads.
// - Class C lives in "data-<C/1024>k.dat" (DataFileName). A file is created on first use,
//   followed by Env::SyncDir of the store directory; created_files() reports it so that the
//   runtime adds it to the manifest. The file grows one segment at a time with
//   File::Allocate(keep_size = false), so its visible size always covers every slot handed out.
//   It shrinks only through compaction (ReleaseTail + TruncateFiles, below).
// - Segment size of class C: segment_size_bytes clamped to [16 * C, 4096 * C] (default 4 MiB:
//   4096 slots of 1 KiB, 1024 of 4 KiB ... 16 of 256 KiB).
//
// Free space
// - Each segment has a bitmap of free slots plus a 64-bit summary (bit w set iff bitmap word w
//   has a free slot), and each class keeps a stack of the segments that have a free slot.
//   Allocate: top of the stack, two count-trailing-zeros, O(1); grows the file by one segment
//   (one fallocate) when no segment has room. Free: set one bit, push the segment if it was
//   full, O(1).
// - Nothing here is persistent: after a restart, free space is rebuilt from the live OT
//   entries with MarkUsed BEFORE the first Allocate (an allocator that started with empty
//   bitmaps would hand out a live object's slot).
//
// Compaction (persistence/compaction.h)
// - AllocateBelow hands out the lowest free slot of a class below an offset (the destination of
//   a relocation: live objects move towards the front of the file).
// - ReleaseTail drops the whole free segments at the end of a class from the in-memory state
//   (size_bytes shrinks, so the manifest written next records the smaller size); TruncateFiles
//   then cuts the files to that size. The caller orders them: ReleaseTail, publish a manifest
//   with the smaller size (superblock), TruncateFiles, SyncDirty. A crash in between leaves a
//   file longer than its manifest size, which open accepts.
//
// Reads and writes
// - Write uses File::WriteAt (never stores into a mapping) and marks the file dirty; SyncDirty
//   fdatasyncs every dirty file and returns the first failure, never retrying (after a failed
//   fdatasync the data may be gone): the error is sticky, and the runtime poisons itself.
// - Early write-back: once writeback_interval_bytes of pages have been dirtied in one data file
//   (each Write counts the 4 KiB pages it touches) since its last hint or SyncDirty, Write asks
//   the kernel to start writing that file's dirty pages back (File::StartWriteback over the
//   whole file; sync_file_range only visits dirty pages) and does not wait. The fdatasync of a
//   checkpoint then waits for the tail of its writes, not for all of them: the device writes
//   while the checkpoint encodes (RocksDB's bytes_per_sync does the same). It changes nothing
//   about durability; a failed hint is ignored (SyncDirty reports a failed write-back).
// - Read/PinObject go through an MmapWindowCache (windows of max(mmap_window_bytes, C) bytes,
//   at most mmap_windows_max mapped, one File per data file), or through File::ReadAt when
//   read_via_mmap is false.
//
// Errors: NoSpace/IOError from the Env (create, fallocate, pwrite, fdatasync, mmap);
// Corruption for addresses that cannot be right (MarkUsed overlap, slot past the end of a file,
// file named by the OT but missing); InvalidArgument for bad options or lengths.
//
// Thread-safety: all methods are thread-safe. Allocation state is under one mutex; Read and
// PinObject take no allocator lock (the window cache has its own), so reads run concurrently
// with allocation, growth and writes. Freeing a slot that a reader may still be reading is the
// caller's problem (the object store defers frees through epochs).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/env.h"
#include "persistence/mmap_window.h"
#include "persistence/node_id.h"
#include "persistence/ot_entry.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

struct SegmentAllocatorOptions {
  uint64_t segment_size_bytes = 4ull << 20;  // power of two; clamped per class (see above)
  uint64_t mmap_window_bytes = 1ull << 30;   // power of two >= 4096
  size_t mmap_windows_max = 64;              // >= 1
  bool read_via_mmap = true;                 // false: File::ReadAt (Envs whose Map copies)
  bool read_only = false;  // open data files read-only; Allocate/Write/PrepareForWrites refused
  // Early write-back (see above): bytes of pages dirtied in one file between two hints; 0: none.
  // Default: 1 MiB.
  uint64_t writeback_interval_bytes = 1ull << 20;
  // The store the data files belong to: written into a new file's header (slot 0), required
  // of every listed file's header at Open (Corruption naming the file). Must be non-zero.
  StoreId store_id;
};

// A data file the store already has (from the manifest).
struct DataFileInfo {
  uint32_t size_class_bytes = 0;
  uint64_t size_bytes = 0;  // size the manifest recorded; the file may be larger, never smaller
};

struct SizeClassStats {
  uint32_t size_class_bytes = 0;
  std::string file_name;
  uint64_t file_bytes = 0;
  uint64_t segment_bytes = 0;
  uint64_t segments = 0;
  uint64_t used_slots = 0;
  uint64_t free_slots = 0;
};

struct SegmentAllocatorStats {
  std::vector<SizeClassStats> classes;  // classes whose data file exists, smallest first
  MmapWindowStats windows;
  uint64_t writebacks_started = 0;  // early write-back hints given since Open (see above)
};

// The bytes of one stored object: a pinned mmap range, or a private copy (read_via_mmap off).
class PinnedObject {
 public:
  std::string_view bytes() const { return pin_.empty() ? std::string_view(copy_) : pin_.bytes(); }

 private:
  friend class SegmentAllocator;
  MmapWindowCache::Pin pin_;
  std::string copy_;
};

class SegmentAllocator {
 public:
  // Opens the allocator over dir. existing lists the data files the manifest names; each must
  // exist and be at least as large as recorded (else Corruption). A data file on disk that is
  // not listed (created before a crash, before the manifest named it) is adopted, never
  // truncated, and reported by created_files(). Every slot starts free: call MarkUsed for each
  // live OT entry before the first Allocate.
  static Result<std::unique_ptr<SegmentAllocator>> Open(Env* env, const std::string& dir,
                                                        const SegmentAllocatorOptions& options,
                                                        const std::vector<DataFileInfo>& existing);
  ~SegmentAllocator();

  // Opening writes nothing. Before the first Allocate (which calls it if nobody did),
  // PrepareForWrites extends a data file whose size is not a whole number of segments (grown with
  // another segment size, or cut inside a segment) to the next segment boundary. Until then such a
  // file's tail past its size is unreadable (Corruption if an object lies there).
  // InvalidArgument if the allocator is read-only.
  Status PrepareForWrites();

  // Smallest class >= length_bytes; InvalidArgument for 0 or > 256 KiB.
  static Result<uint32_t> SizeClassFor(uint32_t length_bytes);
  uint64_t SegmentBytes(uint32_t size_class_bytes) const;

  // A free slot of the smallest fitting class, now used; address.length_bytes = length_bytes.
  Result<ObjectAddress> Allocate(uint32_t length_bytes);
  // The lowest free slot of the class fitting length_bytes whose offset is below
  // limit_offset_bytes, now used; NotFound (nothing changed) if there is none. Never grows the
  // file. For compaction: relocated objects move towards the front of their file.
  Result<ObjectAddress> AllocateBelow(uint32_t length_bytes, uint64_t limit_offset_bytes);
  // Drops the free segments at the end of the class's file from the in-memory state: afterwards
  // size_bytes (and data_files()) is the end of the last segment holding a used slot (at least
  // one segment: slot 0 is the header). Writes nothing. Returns the bytes dropped (0 if the last
  // segment is used or the class has no file). Readers must no longer use addresses past the new
  // end (the caller's grace period).
  uint64_t ReleaseTail(uint32_t size_class_bytes);
  // ftruncate of every data file longer than its in-memory size (after ReleaseTail, once a
  // manifest recording the smaller size is durable), marking it dirty so that the next SyncDirty
  // makes the new size durable. Returns the bytes cut. IOError from the Env (the file then stays
  // longer, which is harmless).
  Result<uint64_t> TruncateFiles();
  // fallocate(PUNCH_HOLE) over every run of free slots of at least min_run_bytes (rounded to
  // whole slots) in every data file, so that free space inside the kept segments stops using
  // disk blocks (the visible size does not change; a later write allocates the blocks again).
  // Only for slots that nothing published references and no reader can hold (compaction calls
  // it under the checkpoint lock, after its grace period). Returns the bytes punched;
  // NotSupported from the file system is not an error (nothing punched); IOError/NoSpace from
  // the Env are returned.
  Result<uint64_t> PunchFreeRuns(uint64_t min_run_bytes);
  // Used slots of each segment of the class (slot 0 counted), for the compaction planner.
  std::vector<uint32_t> SegmentUsage(uint32_t size_class_bytes) const;
  // Returns a used slot to the free space. Freeing a free slot is a bug (asserts).
  void Free(const ObjectAddress& address);
  // Rebuild at open: marks the slot of a live object `owner` as used. Corruption if the address
  // is malformed, past the end of its file, in a file the store does not have, or if the slot is
  // already used ("two live objects overlap").
  Status MarkUsed(const ObjectAddress& address, NodeID owner);
  bool IsUsed(const ObjectAddress& address) const;

  // Writes bytes (exactly address.length_bytes) at the slot, which must be allocated (asserts).
  Status Write(const ObjectAddress& address, std::string_view bytes);
  // fdatasync of every data file written or grown since the last call. After a failure the
  // allocator never syncs again: this and every later call return that error (sticky).
  Status SyncDirty();

  // The stored bytes [offset, offset + length) of address. Corruption if the address is not
  // inside its data file.
  // via_mmap false: always a private copy read with File::ReadAt (a one-off read that should
  // not leave the file's pages mapped: they would count in the resident set).
  Result<PinnedObject> PinObject(const ObjectAddress& address, bool via_mmap = true) const;
  Status Read(const ObjectAddress& address, std::string* out) const;
  // The stored bytes of address read with File::ReadAt into *buffer, which is reused: it grows
  // (zero-filled once) when shorter than the object and never shrinks, so that a caller reading
  // many objects one after another allocates and faults in its buffer once. Returns a view of
  // the first address.length_bytes bytes of *buffer, valid until *buffer changes. Errors as
  // PinObject's.
  Result<std::string_view> ReadInto(const ObjectAddress& address, std::string* buffer) const;
  // Whether PinObject(address) (via_mmap left true) maps instead of copying: the options'
  // read_via_mmap.
  bool reads_via_mmap() const { return options_.read_via_mmap; }

  // Names of data files this allocator created or adopted (not in `existing` at Open).
  std::vector<std::string> created_files() const;
  // Every data file and its current size (for the manifest).
  std::vector<DataFileInfo> data_files() const;
  SegmentAllocatorStats stats() const;

 private:
  struct ClassState;
  SegmentAllocator(Env* env, std::string dir, const SegmentAllocatorOptions& options);
  Status OpenExisting(ClassState& c, uint64_t min_size_bytes, bool adopted);
  Status CreateFile(ClassState& c);
  Status PrepareLocked();                 // requires mu_
  void ReserveHeaderSlot(ClassState& c);  // requires mu_
  Status WriteHeader(ClassState& c);      // requires mu_
  Status Grow(ClassState& c);
  void RebuildStackIfNeeded(ClassState& c);
  Status CheckInFile(const ObjectAddress& address, const ClassState& c) const;
  // Counts the pages a Write of [offset, offset + length) dirtied and gives the early
  // write-back hint when the file's count passes writeback_interval_bytes (see above).
  void StartWritebackIfDue(ClassState& c, File& file, uint64_t offset_bytes, size_t length_bytes);
  static constexpr uint64_t kWritebackPageBytes = 4096;
  // File::ReadAt of address (checked by the caller) into *buffer (grown, never shrunk).
  Result<std::string_view> ReadFromFile(const ObjectAddress& address, const ClassState& c,
                                        std::string* buffer) const;

  Env* const env_;
  const std::string dir_;
  const SegmentAllocatorOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<ClassState> classes_[kSizeClassCount];
  std::vector<std::string> created_files_;
  bool prepared_ = false;  // under mu_: PrepareForWrites ran (Allocate runs it first if not)
  std::mutex sync_mu_;
  Status sync_error_;  // first fdatasync failure, returned forever (under sync_mu_)
  std::unique_ptr<MmapWindowCache> windows_;
  std::atomic<uint64_t> writebacks_started_{0};
};

}  // namespace cowtree
