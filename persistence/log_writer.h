// LogWriter: appends framed records to the delta log (format: log_format.h,
// docs/log_format.md), rotates files by size, and makes records durable with group commit.
//
// Contract
// - Create(env, dir, file_number, options): starts log file `file_number` (>= 1): creates it,
//   writes the 48-byte header (with the store id), fdatasync, SyncDir(dir). Refuses
//   (InvalidArgument) to replace an existing file that has a valid header; a leftover of a crashed
//   Create (shorter than the header or all zero, see IsTornLogFileCreation) is replaced.
// - OpenForAppend(env, dir, end, options): resumes an existing log at `end`, which must be the
//   position ReplayLog reported (ReplayStats::end). Verifies the header, TRUNCATES the file to
//   end.offset_bytes (offset < 48 means just after the header) — dropping the torn or zero
//   tail replay found — and fdatasyncs, so later appends never land after a gap. Deletes a
//   leftover of a crashed Create of file end.file_number + 1 (and SyncDir); refuses
//   (InvalidArgument) if that file exists with a valid header (it would be replayed after a
//   gap). Corruption for a bad header or an end past the file's size.
// - Append(type, epoch, payload) -> position just past the record. Copies the frame into an
//   in-process buffer (no I/O except at rotation) and returns. The frame's
//   synced_offset_bytes (log_format.h) is the writer's synced end in the file the frame goes
//   to, read when the frame is encoded: 0 if that end is in another file, never more than a
//   successful fdatasync covered, and asserted <= the frame's own offset (a stale, smaller
//   value is allowed). The synced end is tracked per file: Create and rotation start it at 48
//   (the header is fdatasync'd), OpenForAppend at the truncated end, and only a successful
//   fdatasync of that file moves it. Replay relies on this to tell bit rot from a torn tail
//   (log_reader.h). payload.size() must be
//   <= kLogRecordPayloadMax (InvalidArgument otherwise). Rotation: if the record would make the
//   current file larger than file_size_max_bytes and the file holds at least one record, the
//   current file is flushed and fdatasync'd, then file_number + 1 is created (header,
//   fdatasync, SyncDir) and the record goes there: a record never spans files; a record larger
//   than the limit gets a file of its own.
// - Flush(upto): hands every buffered byte to the OS with one WriteAt (large sequential
//   appends). Survives a process crash afterwards, not a power loss. With `upto` (a position
//   Append returned), it returns OK as soon as a write (its own or another caller's) handed
//   every byte up to `upto` to the OS, even if the writer was poisoned after that write: the
//   record is written, and its commit must not be reported as failed while a later commit
//   that returned OK makes it visible. Written is not durable: a later failed fdatasync may
//   lose it, as it loses every balanced commit acknowledged since the last good sync.
//   `upto` past end() is InvalidArgument.
// - Sync(upto): returns once every record ending at or before `upto` is durable
//   (fdatasync'd): OK whenever a successful fdatasync covered `upto`, even one that another
//   caller led before the writer was poisoned (the record is durable; reporting it failed
//   would make a retry apply it twice). Pipelined group commit: one caller (the leader) takes ALL
//   buffered bytes and issues File::WriteAtAndSync (pwrite + fdatasync in the POSIX Env) outside
//   the mutex — or, for a lone commit (no follower queued, nothing gathered),
//   File::WriteAtAndSyncLone (a linked io_uring write + fdatasync in the POSIX Env: faster for a
//   lone committer). While that fdatasync is in flight, new committers keep appending to the buffer
//   (the next group fills) and queue as followers, each on its own condition variable. When the
//   leader's I/O returns it wakes, in this order, ONE uncovered follower to lead the next group
//   (which then writes + syncs everything appended meanwhile at once) and every follower its sync
//   covered; the others sleep on (no thundering herd). It signals them after releasing the
//   mutex, so that a woken follower does not block on it at once (a convoy: with 16 strict
//   committers on 2 cores, 0.62 blocking mutex waits per commit when it signalled under the
//   mutex, 0.16 now). A caller finding no I/O in flight leads at once.
//   Gathering: when the previous sync covered k >= 2 committers (they are likely to
//   commit again at once), the next leader holds the I/O slot (arrivals queue behind it) and
//   waits until k more records were appended, or min(group_gather_us_max, half the previous
//   sync's duration) passed, so that one fdatasync covers both pipeline halves (PostgreSQL's
//   commit_delay + commit_siblings, but ended early as soon as the group is complete).
//   `upto` past end() is InvalidArgument.
// - Failure semantics: after ANY failed write, fdatasync, truncate or file creation the writer
//   is POISONED: that call and every later Append/Flush/Sync/Close return the same Status
//   with code kPoisoned (except a Flush or Sync whose `upto` an earlier successful write or
//   fdatasync already covered, above), whose message keeps the original text ("... IOError:
//   fdatasync ...: Input/output error"). So a failed fdatasync fails every Sync of its group, every
//   Sync of the groups queued behind it and every later call: nothing is acknowledged after a
//   failed fdatasync (PostgreSQL's fsync-failure rule). fdatasync is never retried: after a failed
//   fdatasync the kernel may have dropped the dirty pages, so a retry could report success for data
//   that is gone. Only a new writer (after replay) can continue. fallocate and zero-fill
//   failures are ignored (preallocation is a hint; a real ENOSPC surfaces on the write).
// - Preallocation: blocks are reserved with fallocate(FALLOC_FL_KEEP_SIZE) in steps of
//   preallocate_bytes (the visible size does not move).
// - Zero fill (docs/log_format.md "Zero fill"): a Sync leader writing less than
//   zero_fill_bytes / 2 whose data ends within zero_fill_bytes / 2 of the zeros written so
//   far first writes zeros (File::WriteZeros) up to the next multiple of zero_fill_bytes plus
//   one step, capped at file_size_max_bytes, so that the fdatasyncs of later groups only
//   overwrite written blocks inside the file's size and commit no file-system metadata (ext4:
//   ~85 instead of ~130 µs). The visible size of the current file may therefore run ahead of
//   its last frame, with zeros: replay reads them as a zero tail. A failed zero write is
//   ignored (a hint, like fallocate). Rotation and Close truncate the file to its last frame
//   and fdatasync, so a file that is not the last, and a cleanly closed log, never end in
//   zeros.
// - Close(): flush + fdatasync everything appended, cut off the zero fill (truncate +
//   fdatasync); later calls return InvalidArgument (or the poison). The destructor does no
//   I/O: records not yet synced may be lost.
// - Thread-safety: every method may be called from any thread concurrently. One internal
//   mutex (mu_, a leaf lock: no other lock is taken while holding it, and callers may hold
//   their own locks, e.g. Runtime::write_mu_ around Append) guards the buffer, positions and
//   the follower queue; file I/O runs outside it except at rotation and in
//   Create/OpenForAppend/Close. At most one thread does I/O at a time (io_in_progress_).
//   Positions are ordered (file_number, offset_bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/env.h"
#include "persistence/log_format.h"
#include "persistence/status.h"
#include "persistence/thread_annotations.h"

namespace cowtree {

struct LogWriterOptions {
  // Rotate to the next file when a record would grow the current one past this size.
  uint64_t file_size_max_bytes = 64ull << 20;
  // fallocate(KEEP_SIZE) step; 0 disables preallocation.
  uint64_t preallocate_bytes = 4ull << 20;
  // Zero-fill step: a Sync leader writing less than half of this, within half of this of the
  // zeros' end, writes zeros ahead of its data to the next multiple of this, plus one step, so
  // that the fdatasyncs of later groups overwrite written blocks inside the file's size and
  // commit no file-system metadata. 0 disables. Default: 1 MiB.
  uint64_t zero_fill_bytes = 1ull << 20;
  // The store the log belongs to: written into every new file's header, and required of the
  // file OpenForAppend continues. Must be non-zero.
  StoreId store_id;
  // Group gathering (see Sync in the contract): after a sync that covered >= 2 committers,
  // the next leader waits for them to append again, at most this long and at most half the
  // previous sync's duration, before it writes. 0 disables (pure pipelining).
  uint32_t group_gather_us_max = 200;
};

// Counters for tests and `cowtree stat`; read with LogWriter::stats().
struct LogWriterStats {
  uint64_t records_appended = 0;
  uint64_t writes = 0;         // WriteAt / WriteAtAndSync calls (one per flush or leader)
  uint64_t syncs = 0;          // fdatasyncs issued (WriteAtAndSync counts as one)
  uint64_t sync_requests = 0;  // Sync() calls
  uint64_t files_created = 0;  // by Create and rotation
};

class LogWriter {
 public:
  static Result<std::unique_ptr<LogWriter>> Create(Env* env, std::string dir, uint64_t file_number,
                                                   LogWriterOptions options = {});
  static Result<std::unique_ptr<LogWriter>> OpenForAppend(Env* env, std::string dir,
                                                          LogPosition end,
                                                          LogWriterOptions options = {});
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  Result<LogPosition> Append(LogRecordType type, uint64_t epoch, std::string_view payload)
      COWTREE_EXCLUDES(mu_);
  Status Flush(LogPosition upto = LogPosition{}) COWTREE_EXCLUDES(mu_);
  Status Sync(LogPosition upto) COWTREE_EXCLUDES(mu_);
  Status Close() COWTREE_EXCLUDES(mu_);
  // Flushes and fdatasyncs the current file and starts the next one now (the checkpoint calls
  // it at its freeze point so that the file holding the redo it covers can be deleted once the
  // superblock lands). Failures poison the writer, like every write or sync failure.
  Status Rotate() COWTREE_EXCLUDES(mu_);

  LogPosition end() const COWTREE_EXCLUDES(mu_);          // appended (maybe only buffered)
  LogPosition written_end() const COWTREE_EXCLUDES(mu_);  // handed to the OS
  LogPosition synced_end() const COWTREE_EXCLUDES(mu_);   // durable (always in the current file)
  // OK, or the poison (code kPoisoned) once a write or sync failed.
  Status poison() const COWTREE_EXCLUDES(mu_);
  LogWriterStats stats() const COWTREE_EXCLUDES(mu_);

 private:
  LogWriter(Env* env, std::string dir, LogWriterOptions options, std::unique_ptr<File> file,
            uint64_t file_number, uint64_t file_size_bytes);

  // Creates log file `number` with its header, fdatasync, SyncDir.
  static Result<std::unique_ptr<File>> CreateFile(Env* env, const std::string& dir, uint64_t number,
                                                  const StoreId& store_id);
  // Records the first failure and returns the poison status.
  Status Poison(const Status& cause) COWTREE_REQUIRES(mu_);
  Status CheckUsable() const COWTREE_REQUIRES(mu_);
  // Waits until no leader is doing I/O outside the mutex.
  void WaitForIo() COWTREE_REQUIRES(mu_);
  // A Sync caller queued behind the I/O in flight. One per thread (thread_local, reused by
  // every Sync of that thread, whatever the writer): the queue and a deferred wake-up hold it
  // by shared_ptr, so a signal sent after mu_ was released never touches a freed object (at
  // worst it wakes that thread's next wait spuriously, which re-checks `woken`). Every field
  // is read and written only under the mu_ of the writer it is queued in (the analysis cannot
  // name a member of the enclosing object in a nested struct, hence no annotation).
  struct SyncWaiter {
    LogPosition upto;
    CondVar cv;
    bool woken = false;  // set (and the waiter unqueued) by WakeSyncWaitersLocked
    bool lead = false;   // woken to lead the next group
  };
  // Queues `waiter`, blocks until WakeSyncWaitersLocked wakes it; true if woken to lead.
  bool WaitAsFollower(const std::shared_ptr<SyncWaiter>& waiter) COWTREE_REQUIRES(mu_);
  // Wakes and unqueues: every waiter if the writer is poisoned; else, when no I/O is in
  // flight, the first waiter synced_end_ does not cover (to lead the next group), then every
  // waiter synced_end_ covers. Called whenever I/O ends, synced_end_ moves or a woken
  // follower leaves without leading.
  // Returns how many followers it woke as covered. deferred (may be null): instead of
  // signalling the woken waiters under mu_ — each would wake only to block on mu_ again —
  // append them, for the caller to signal (SignalDeferred) once it has released mu_.
  size_t WakeSyncWaitersLocked(std::vector<std::shared_ptr<SyncWaiter>>* deferred = nullptr)
      COWTREE_REQUIRES(mu_);
  static void SignalDeferred(const std::vector<std::shared_ptr<SyncWaiter>>& woken);
  // The leader, holding the I/O slot: waits for the committers the previous sync covered to
  // append again (see "Gathering"), within the deadline. True if it waited.
  bool GatherLocked() COWTREE_REQUIRES(mu_);
  // The synced end's offset if it lies in file `file_number`, else 0 (nothing of that file
  // is known durable). What Append records as a frame's synced_offset_bytes.
  uint64_t SyncedOffsetInLocked(uint64_t file_number) const COWTREE_REQUIRES(mu_);
  // Flushes + fdatasyncs the current file and starts the next one. Runs I/O under mu_.
  Status RotateLocked() COWTREE_REQUIRES(mu_);
  // fallocate(KEEP_SIZE) ahead of [offset, offset + length). Called by the I/O owner only.
  void MaybePreallocate(File* file, uint64_t offset_bytes, uint64_t length_bytes);
  // Writes zeros from max(zero_filled_end_bytes_, offset + length) ahead (zero_fill_bytes).
  // Called by the I/O owner only, before it writes [offset, offset + length): nothing at or
  // after offset + length has been written yet. Failures are ignored (a hint, like fallocate).
  void MaybeZeroFill(File* file, uint64_t offset_bytes, uint64_t length_bytes);
  // If zeros were written past `end_bytes` (the current file's logical end, all of it synced),
  // truncates the file to it and fdatasyncs: a file that is not the last, or a closed log,
  // never keeps a zero tail. Under mu_ with no I/O in flight, or by the I/O owner.
  Status TrimZeroFill(File* file, uint64_t end_bytes);

  Env* const env_;
  const std::string dir_;
  const LogWriterOptions options_;

  mutable Mutex mu_;
  CondVar io_done_;
  // The current file. Replaced only by RotateLocked, which first waits until no leader is using
  // it outside the mutex (io_in_progress_ == false).
  std::unique_ptr<File> file_ COWTREE_GUARDED_BY(mu_);
  uint64_t file_number_ COWTREE_GUARDED_BY(mu_);
  // Bytes appended but not yet handed to the OS; they belong at buffer_offset_ of file_.
  std::string buffer_ COWTREE_GUARDED_BY(mu_);
  uint64_t buffer_offset_ COWTREE_GUARDED_BY(mu_);
  bool io_in_progress_ COWTREE_GUARDED_BY(mu_) = false;
  // Followers, in arrival order. Invariant: if it is not empty and no I/O is in
  // flight, a follower was woken to lead (next_leader_pending_) and is on its way: it leads,
  // queues again behind I/O someone else started, or wakes the next one before it returns.
  std::vector<std::shared_ptr<SyncWaiter>> sync_waiters_ COWTREE_GUARDED_BY(mu_);
  bool next_leader_pending_ COWTREE_GUARDED_BY(mu_) = false;
  // Gathering: the leader waits on gather_cv_ until stats_.records_appended reaches
  // gather_target_records_ (0: no gathering) or its deadline; Append signals it.
  CondVar gather_cv_;
  bool gathering_ COWTREE_GUARDED_BY(mu_) = false;
  uint64_t gather_target_records_ COWTREE_GUARDED_BY(mu_) = 0;
  uint64_t last_sync_us_ COWTREE_GUARDED_BY(mu_) = 0;
  LogPosition written_end_ COWTREE_GUARDED_BY(mu_);
  LogPosition synced_end_ COWTREE_GUARDED_BY(mu_);
  // Only the thread that owns the I/O (io_in_progress_ set by it, or mu_ held during rotation)
  // touches allocated_end_bytes_, so it needs no lock of its own.
  uint64_t allocated_end_bytes_ = 0;
  // The end of the zeros written ahead in the current file (<= its logical end if none). Owned
  // like allocated_end_bytes_.
  uint64_t zero_filled_end_bytes_ = 0;
  Status poison_ COWTREE_GUARDED_BY(mu_);
  bool closed_ COWTREE_GUARDED_BY(mu_) = false;
  LogWriterStats stats_ COWTREE_GUARDED_BY(mu_);
};

}  // namespace cowtree
