#include "persistence/log_writer.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "persistence/assert.h"
#include "persistence/file_names.h"
#include "persistence/log_reader.h"

namespace cowtree {
namespace {

// The most capacity Append's per-thread frame scratch keeps between calls.
constexpr size_t kScratchBytesKept = size_t{16} << 20;

}  // namespace

// Why there is no reservation to roll back: Append copies the frame into buffer_ under mu_,
// and bytes leave buffer_ only as a whole prefix taken by one I/O owner. A failed write or
// sync therefore never has to "un-reserve" space (the fetch_sub-after-others-appended bug of
// lock-free reservation designs cannot happen here); it poisons the writer instead, and the
// file's logical end is re-established by replay + OpenForAppend.

LogWriter::LogWriter(Env* env, std::string dir, LogWriterOptions options,
                     std::unique_ptr<File> file, uint64_t file_number, uint64_t file_size_bytes)
    : env_(env), dir_(std::move(dir)), options_(options) {
  MutexLock lock(&mu_);
  file_ = std::move(file);
  file_number_ = file_number;
  buffer_offset_ = file_size_bytes;
  written_end_ = LogPosition{file_number, file_size_bytes};
  synced_end_ = written_end_;
  allocated_end_bytes_ = file_size_bytes;
  zero_filled_end_bytes_ = file_size_bytes;
}

LogWriter::~LogWriter() = default;

Result<std::unique_ptr<File>> LogWriter::CreateFile(Env* env, const std::string& dir,
                                                    uint64_t number, const StoreId& store_id) {
  const std::string path = JoinPath(dir, LogFileName(number));
  if (env->FileExists(path)) {
    std::string existing;
    COWTREE_RETURN_IF_ERROR(ReadWholeFile(env, path, &existing));
    if (!IsTornLogFileCreation(existing)) {
      return Status::InvalidArgument("LogWriter: " + path + " already exists (" +
                                     std::to_string(existing.size()) +
                                     " bytes) and is not the leftover of a crashed creation; "
                                     "refusing to overwrite it");
    }
  }
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kCreate));
  COWTREE_RETURN_IF_ERROR(file->Truncate(0));
  COWTREE_RETURN_IF_ERROR(file->WriteAt(0, EncodeLogFileHeader(number, store_id)));
  COWTREE_RETURN_IF_ERROR(file->Sync());
  COWTREE_RETURN_IF_ERROR(env->SyncDir(dir));
  return file;
}

Result<std::unique_ptr<LogWriter>> LogWriter::Create(Env* env, std::string dir,
                                                     uint64_t file_number,
                                                     LogWriterOptions options) {
  if (file_number == 0) return Status::InvalidArgument("LogWriter::Create: file number 0");
  if (options.store_id.is_zero()) return Status::InvalidArgument("LogWriter: store id is zero");
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                           CreateFile(env, dir, file_number, options.store_id));
  std::unique_ptr<LogWriter> writer(new LogWriter(env, std::move(dir), options, std::move(file),
                                                  file_number, kLogFileHeaderSize));
  {
    MutexLock lock(&writer->mu_);
    writer->stats_.files_created = 1;
  }
  return writer;
}

Result<std::unique_ptr<LogWriter>> LogWriter::OpenForAppend(Env* env, std::string dir,
                                                            LogPosition end,
                                                            LogWriterOptions options) {
  if (end.file_number == 0) {
    return Status::InvalidArgument("LogWriter::OpenForAppend: file number 0");
  }
  if (options.store_id.is_zero()) return Status::InvalidArgument("LogWriter: store id is zero");
  const std::string name = LogFileName(end.file_number);
  const std::string path = JoinPath(dir, name);
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kReadWrite));
  std::string header(kLogFileHeaderSize, '\0');
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(file->ReadAt(0, header.size(), header.data(), &got));
  header.resize(got);
  COWTREE_RETURN_IF_ERROR(VerifyLogFileHeader(header, end.file_number, options.store_id, path));
  const uint64_t offset = std::max<uint64_t>(end.offset_bytes, kLogFileHeaderSize);
  COWTREE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (offset > size) {
    return Status::Corruption(path + ": append position " + std::to_string(offset) +
                              " is past the end of the file (" + std::to_string(size) +
                              " bytes); expected the end reported by ReplayLog");
  }
  // A leftover of a crashed rotation (file end+1 without a header) would make a torn tail of
  // this file look like corruption at the next replay: remove it. A real file there means
  // `end` is not where replay stopped.
  const std::string next = JoinPath(dir, LogFileName(end.file_number + 1));
  if (env->FileExists(next)) {
    std::string bytes;
    COWTREE_RETURN_IF_ERROR(ReadWholeFile(env, next, &bytes));
    if (!IsTornLogFileCreation(bytes)) {
      return Status::InvalidArgument("LogWriter::OpenForAppend at " + end.ToString() + ": " + next +
                                     " exists with data; appending to " + name +
                                     " would leave records after a gap (delete later log files "
                                     "first, e.g. after point-in-time recovery)");
    }
    COWTREE_RETURN_IF_ERROR(env->DeleteFile(next));
    COWTREE_RETURN_IF_ERROR(env->SyncDir(dir));
  }
  // Drop the tail replay did not accept, and make the new logical end durable before any
  // append lands after it.
  COWTREE_RETURN_IF_ERROR(file->Truncate(offset));
  COWTREE_RETURN_IF_ERROR(file->Sync());
  return std::unique_ptr<LogWriter>(
      new LogWriter(env, std::move(dir), options, std::move(file), end.file_number, offset));
}

Status LogWriter::Poison(const Status& cause) {
  if (poison_.ok()) {
    poison_ = Status::Poisoned(
        "log writer poisoned (no write or fdatasync is retried; replay the log and reopen): " +
        cause.ToString());
  }
  WakeSyncWaitersLocked();  // every follower returns the poison
  io_done_.SignalAll();
  return poison_;
}

Status LogWriter::CheckUsable() const {
  if (!poison_.ok()) return poison_;
  if (closed_) return Status::InvalidArgument("log writer for " + dir_ + " is closed");
  return Status::OK();
}

void LogWriter::WaitForIo() {
  while (io_in_progress_) io_done_.Wait(&mu_);
}

bool LogWriter::WaitAsFollower(const std::shared_ptr<SyncWaiter>& waiter) {
  waiter->woken = false;
  waiter->lead = false;
  sync_waiters_.push_back(waiter);
  while (!waiter->woken) waiter->cv.Wait(&mu_);
  if (waiter->lead) {
    COWTREE_ASSERT(next_leader_pending_);
    next_leader_pending_ = false;
  }
  return waiter->lead;
}

void LogWriter::SignalDeferred(const std::vector<std::shared_ptr<SyncWaiter>>& woken) {
  for (const auto& w : woken) w->cv.Signal();
}

size_t LogWriter::WakeSyncWaitersLocked(std::vector<std::shared_ptr<SyncWaiter>>* deferred) {
  if (sync_waiters_.empty()) return 0;
  const auto wake = [deferred](const std::shared_ptr<SyncWaiter>& w) {
    w->woken = true;
    if (deferred != nullptr) {
      deferred->push_back(w);
    } else {
      w->cv.Signal();
    }
  };
  size_t covered = 0;
  const bool poisoned = !poison_.ok();
  // The next leader first, so that the disk idles as briefly as possible.
  if (!poisoned && !io_in_progress_ && !next_leader_pending_) {
    for (const auto& w : sync_waiters_) {
      if (synced_end_ < w->upto) {
        w->lead = true;
        next_leader_pending_ = true;
        wake(w);
        break;
      }
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < sync_waiters_.size(); ++i) {
    std::shared_ptr<SyncWaiter>& w = sync_waiters_[i];
    if (w->woken) continue;  // the leader just woken
    if (poisoned || w->upto <= synced_end_) {
      wake(w);
      ++covered;
    } else {
      if (kept != i) sync_waiters_[kept] = std::move(w);
      ++kept;
    }
  }
  sync_waiters_.resize(kept);
  COWTREE_ASSERT(sync_waiters_.empty() || io_in_progress_ || next_leader_pending_);
  return covered;
}

bool LogWriter::GatherLocked() {
  COWTREE_ASSERT(io_in_progress_);
  const uint64_t target = gather_target_records_;
  gather_target_records_ = 0;
  if (target <= stats_.records_appended) return false;
  const uint64_t wait_us = std::min<uint64_t>(options_.group_gather_us_max, last_sync_us_ / 2);
  if (wait_us == 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(wait_us);
  gathering_ = true;
  gather_target_records_ = target;
  while (stats_.records_appended < target) {
    if (!gather_cv_.WaitUntil(&mu_, deadline)) break;
  }
  gathering_ = false;
  gather_target_records_ = 0;
  return true;
}

void LogWriter::MaybePreallocate(File* file, uint64_t offset_bytes, uint64_t length_bytes) {
  const uint64_t step = options_.preallocate_bytes;
  const uint64_t need = offset_bytes + length_bytes;
  if (step == 0 || need <= allocated_end_bytes_) return;
  const uint64_t new_end = (need + step - 1) / step * step;
  // KEEP_SIZE: blocks are reserved but the visible size (the logical end) does not move.
  // A failure is ignored: preallocation is a hint, and a real ENOSPC shows up on the write.
  (void)file->Allocate(allocated_end_bytes_, new_end - allocated_end_bytes_, /*keep_size=*/true);
  allocated_end_bytes_ = new_end;
}

void LogWriter::MaybeZeroFill(File* file, uint64_t offset_bytes, uint64_t length_bytes) {
  const uint64_t step = options_.zero_fill_bytes;
  const uint64_t data_end = offset_bytes + length_bytes;
  // Only for small groups, whose fdatasync latency the metadata commit dominates (a sync of
  // half a step or more — the background sync of a bulk load — would double its bytes for
  // little); and only once the data comes within half a step of the zeros' end.
  if (step == 0 || length_bytes >= step / 2 || data_end + step / 2 <= zero_filled_end_bytes_) {
    return;
  }
  const uint64_t from = std::max(zero_filled_end_bytes_, data_end);
  // Never past the rotation size: the zeros of a file that rotates are cut off anyway.
  const uint64_t to =
      std::min((data_end + step - 1) / step * step + step, options_.file_size_max_bytes);
  if (to <= from) return;
  COWTREE_ASSERT(from >= data_end && offset_bytes >= kLogFileHeaderSize);
  // A failure is ignored, like fallocate's: the zeros are a hint, the data write that follows
  // reports a real ENOSPC or EIO. Either way the next refill starts past `to`.
  (void)file->WriteZeros(from, to - from);
  zero_filled_end_bytes_ = to;
}

Status LogWriter::TrimZeroFill(File* file, uint64_t end_bytes) {
  COWTREE_ASSERT(end_bytes >= kLogFileHeaderSize);
  if (zero_filled_end_bytes_ <= end_bytes) return Status::OK();
  COWTREE_RETURN_IF_ERROR(file->Truncate(end_bytes));
  COWTREE_RETURN_IF_ERROR(file->Sync());
  zero_filled_end_bytes_ = end_bytes;
  return Status::OK();
}

Result<LogPosition> LogWriter::Append(LogRecordType type, uint64_t epoch,
                                      std::string_view payload) {
  if (payload.size() > kLogRecordPayloadMax) {
    return Status::InvalidArgument("LogWriter::Append: payload of " +
                                   std::to_string(payload.size()) + " bytes exceeds the limit " +
                                   std::to_string(kLogRecordPayloadMax));
  }
  if (!IsValidLogRecordType(static_cast<uint8_t>(type))) {
    return Status::InvalidArgument("LogWriter::Append: unknown record type " +
                                   std::to_string(static_cast<unsigned>(type)));
  }
  // The frame records how much of its file is durable (synced_offset_bytes, log_format.h).
  // Read the synced end first, then encode (copy + CRC) outside the mutex, so only the append
  // to the buffer is serialized. The synced end only grows within a file, so by the time the
  // frame lands it may be stale (smaller): that is allowed. A value from ANOTHER file is not: if
  // a rotation intervened, the frame is re-encoded under the mutex below (rare).
  uint64_t encoded_for_file = 0;
  uint64_t synced_offset = 0;
  {
    MutexLock lock(&mu_);
    encoded_for_file = file_number_;
    synced_offset = SyncedOffsetInLocked(file_number_);
  }
  // Per-thread scratch reused across appends (a commit of 10 000 ops is a ~160 KB frame; a
  // fresh string per commit costs a large malloc/free, and glibc consolidates its free lists on
  // every free of a chunk >= 64 KiB). Capacity above kScratchBytesKept is released after use.
  thread_local std::string frame;
  struct ScratchTrim {
    ~ScratchTrim() {
      if (frame.capacity() > kScratchBytesKept) std::string().swap(frame);
    }
  } trim;
  frame.clear();
  frame.reserve(FrameSizeBytes(payload.size()));
  EncodeFrame(type, epoch, synced_offset, payload, &frame);

  MutexLock lock(&mu_);
  while (true) {
    COWTREE_RETURN_IF_ERROR(CheckUsable());
    const uint64_t end_offset = buffer_offset_ + buffer_.size();
    const bool file_has_records = end_offset > kLogFileHeaderSize;
    if (!file_has_records || end_offset + frame.size() <= options_.file_size_max_bytes) break;
    if (io_in_progress_) {
      io_done_.Wait(&mu_);
      continue;  // re-check: others may have appended or rotated meanwhile
    }
    COWTREE_RETURN_IF_ERROR(RotateLocked());
  }
  if (file_number_ != encoded_for_file) {
    // Rotated since the synced end was read: re-encode with this file's synced end. The frame
    // size does not change, so the rotation decision above still holds.
    synced_offset = SyncedOffsetInLocked(file_number_);
    frame.clear();
    EncodeFrame(type, epoch, synced_offset, payload, &frame);
  }
  // A frame must never claim bytes at or after its own start are durable.
  COWTREE_ASSERT(synced_offset <= buffer_offset_ + buffer_.size());
  buffer_.append(frame);
  stats_.records_appended += 1;
  if (gathering_ && stats_.records_appended >= gather_target_records_) gather_cv_.Signal();
  return LogPosition{file_number_, buffer_offset_ + buffer_.size()};
}

uint64_t LogWriter::SyncedOffsetInLocked(uint64_t file_number) const {
  return synced_end_.file_number == file_number ? synced_end_.offset_bytes : 0;
}

Status LogWriter::RotateLocked() {
  COWTREE_ASSERT(!io_in_progress_);
  Status st;
  if (!buffer_.empty()) {
    MaybePreallocate(file_.get(), buffer_offset_, buffer_.size());
    st = file_->WriteAtAndSync(buffer_offset_, buffer_);
    stats_.writes += 1;
    stats_.syncs += 1;
  } else if (synced_end_ < written_end_) {
    st = file_->Sync();
    stats_.syncs += 1;
  }
  if (!st.ok()) return Poison(st);
  buffer_offset_ += buffer_.size();
  buffer_.clear();
  written_end_ = LogPosition{file_number_, buffer_offset_};
  synced_end_ = written_end_;
  st = TrimZeroFill(file_.get(), buffer_offset_);
  if (!st.ok()) return Poison(st);

  const uint64_t next = file_number_ + 1;
  Result<std::unique_ptr<File>> file = CreateFile(env_, dir_, next, options_.store_id);
  if (!file.ok()) return Poison(file.status());
  file_ = std::move(file).value();
  file_number_ = next;
  buffer_offset_ = kLogFileHeaderSize;
  written_end_ = LogPosition{next, kLogFileHeaderSize};
  synced_end_ = written_end_;
  allocated_end_bytes_ = kLogFileHeaderSize;
  zero_filled_end_bytes_ = kLogFileHeaderSize;
  stats_.files_created += 1;
  WakeSyncWaitersLocked();  // the old file is durable: its followers are covered
  return Status::OK();
}

Status LogWriter::Rotate() {
  MutexLock lock(&mu_);
  COWTREE_RETURN_IF_ERROR(CheckUsable());
  WaitForIo();
  COWTREE_RETURN_IF_ERROR(CheckUsable());
  return RotateLocked();
}

Status LogWriter::Flush(LogPosition upto) {
  std::string data;
  uint64_t offset = 0;
  uint64_t number = 0;
  File* file = nullptr;
  {
    MutexLock lock(&mu_);
    while (true) {
      // Written already (maybe by another caller before a later write failed): OK.
      if (upto != LogPosition{} && upto <= written_end_) return Status::OK();
      COWTREE_RETURN_IF_ERROR(CheckUsable());
      if (const LogPosition end{file_number_, buffer_offset_ + buffer_.size()}; end < upto) {
        return Status::InvalidArgument("LogWriter::Flush: position " + upto.ToString() +
                                       " is past the appended end " + end.ToString());
      }
      if (!io_in_progress_) break;
      io_done_.Wait(&mu_);
    }
    if (buffer_.empty()) return Status::OK();
    data.swap(buffer_);
    offset = buffer_offset_;
    buffer_offset_ += data.size();
    number = file_number_;
    file = file_.get();
    io_in_progress_ = true;
  }
  MaybePreallocate(file, offset, data.size());
  const Status st = file->WriteAt(offset, data);
  MutexLock lock(&mu_);
  io_in_progress_ = false;
  stats_.writes += 1;
  if (!st.ok()) return Poison(st);
  written_end_ = LogPosition{number, offset + data.size()};
  WakeSyncWaitersLocked();  // followers queued behind this write need a leader
  io_done_.SignalAll();
  return Status::OK();
}

Status LogWriter::Sync(LogPosition upto) {
  std::string data;
  uint64_t offset = 0;
  LogPosition target;
  File* file = nullptr;
  bool lone = false;
  {
    MutexLock lock(&mu_);
    stats_.sync_requests += 1;
    bool chosen = false;  // woken to lead: must lead, queue again, or pass that on
    while (true) {
      // Covered by a successful fdatasync (maybe another caller's, before a later write or
      // sync failed and poisoned the writer): durable, so OK.
      Status usable = upto <= synced_end_ ? Status::OK() : CheckUsable();
      if (!usable.ok() || upto <= synced_end_) {
        if (chosen) WakeSyncWaitersLocked();  // a leader's sync covered us; pass the lead on
        return usable;
      }
      const LogPosition end{file_number_, buffer_offset_ + buffer_.size()};
      if (end < upto) {
        if (chosen) WakeSyncWaitersLocked();
        return Status::InvalidArgument("LogWriter::Sync: position " + upto.ToString() +
                                       " is past the appended end " + end.ToString());
      }
      if (!io_in_progress_) break;
      // Follower: the group in flight may cover us; else we may be woken to lead the next.
      thread_local const std::shared_ptr<SyncWaiter> waiter = std::make_shared<SyncWaiter>();
      waiter->upto = upto;
      chosen = WaitAsFollower(waiter);
    }
    // Leader: hold the I/O slot, gather, then take everything appended so far, so that one
    // fdatasync covers every follower.
    io_in_progress_ = true;
    lone = !GatherLocked() && sync_waiters_.empty();
    data.swap(buffer_);
    offset = buffer_offset_;
    buffer_offset_ += data.size();
    target = LogPosition{file_number_, buffer_offset_};
    file = file_.get();
  }
  const auto io_start = std::chrono::steady_clock::now();
  Status st;
  if (data.empty()) {
    st = file->Sync();  // bytes already written by Flush; only the fdatasync is missing
  } else {
    MaybePreallocate(file, offset, data.size());
    MaybeZeroFill(file, offset, data.size());
    // A lone commit (nobody queued, nothing gathered) may take the io_uring path (env.h).
    st = lone ? file->WriteAtAndSyncLone(offset, data) : file->WriteAtAndSync(offset, data);
  }
  const auto io_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::steady_clock::now() - io_start)
                         .count();
  thread_local std::vector<std::shared_ptr<SyncWaiter>> woken;  // scratch, kept for reuse
  {
    MutexLock lock(&mu_);
    io_in_progress_ = false;
    stats_.syncs += 1;
    if (!data.empty()) stats_.writes += 1;
    if (!st.ok()) return Poison(st);  // never retried (see the header); wakes every follower
    written_end_ = target;
    synced_end_ = target;
    last_sync_us_ = static_cast<uint64_t>(io_us);
    // The next group's leader, then the followers this sync covered: signalled below, once mu_
    // is free, so that none of them wakes only to block on it.
    const size_t covered = WakeSyncWaitersLocked(&woken);
    // They and this caller are likely to commit again at once: the next leader gathers them.
    gather_target_records_ = covered >= 1 ? stats_.records_appended + covered + 1 : 0;
    io_done_.SignalAll();
  }
  SignalDeferred(woken);
  woken.clear();
  return Status::OK();
}

Status LogWriter::Close() {
  LogPosition upto;
  {
    MutexLock lock(&mu_);
    if (!poison_.ok()) return poison_;
    if (closed_) return Status::OK();
    upto = LogPosition{file_number_, buffer_offset_ + buffer_.size()};
  }
  COWTREE_RETURN_IF_ERROR(Sync(upto));
  MutexLock lock(&mu_);
  WaitForIo();
  if (!poison_.ok()) return poison_;
  if (buffer_.empty() && synced_end_ == LogPosition{file_number_, buffer_offset_}) {
    const Status st = TrimZeroFill(file_.get(), buffer_offset_);
    if (!st.ok()) return Poison(st);
    closed_ = true;
    file_.reset();
    return Status::OK();
  }
  // Someone appended while we were closing: their records are not durable.
  return Status::InvalidArgument("LogWriter::Close: records appended concurrently with Close");
}

LogPosition LogWriter::end() const {
  MutexLock lock(&mu_);
  return LogPosition{file_number_, buffer_offset_ + buffer_.size()};
}

LogPosition LogWriter::written_end() const {
  MutexLock lock(&mu_);
  return written_end_;
}

LogPosition LogWriter::synced_end() const {
  MutexLock lock(&mu_);
  return synced_end_;
}

Status LogWriter::poison() const {
  MutexLock lock(&mu_);
  return poison_;
}

LogWriterStats LogWriter::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace cowtree
