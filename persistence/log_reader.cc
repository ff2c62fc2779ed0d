#include "persistence/log_reader.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/file_window.h"

namespace cowtree {
namespace {

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

std::string At(uint64_t file_number, uint64_t offset_bytes) {
  return LogFileName(file_number) + " at offset " + std::to_string(offset_bytes);
}

// State of one replay; the per-file loop lives in ReplayFile.
class Replayer {
 public:
  Replayer(Env* env, const std::string& dir, WalRecoveryMode mode, const StoreId& store_id,
           const std::function<Status(const LogRecord&)>& fn, ReplayStats* stats)
      : env_(env), dir_(dir), mode_(mode), store_id_(store_id), fn_(fn), s_(*stats) {}

  Status Run(LogPosition start) {
    if (start.file_number == 0) {
      return Status::InvalidArgument("ReplayLog: start file number 0 (log files start at 1)");
    }
    const uint64_t start_offset = std::max<uint64_t>(start.offset_bytes, kLogFileHeaderSize);
    s_.end = LogPosition{start.file_number, start_offset};
    for (uint64_t number = start.file_number;; ++number) {
      const bool first = number == start.file_number;
      const std::string path = JoinPath(dir_, LogFileName(number));
      if (!first && !env_->FileExists(path)) break;
      Result<std::unique_ptr<File>> file = env_->OpenFile(path, OpenMode::kReadOnly);
      if (!file.ok()) {
        if (file.status().IsNotFound()) {
          return Status::NotFound("ReplayLog: " + path + " does not exist");
        }
        return file.status();
      }
      COWTREE_ASSIGN_OR_RETURN(const uint64_t size, (*file)->Size());
      FileWindow window(file->get(), size);
      s_.last_file_number = number;
      const bool last = !env_->FileExists(JoinPath(dir_, LogFileName(number + 1)));
      bool stop = false;
      Status replayed = ReplayFile(number, first, last, first ? start_offset : 0, window, &stop);
      s_.read_buffer_bytes_max =
          std::max<uint64_t>(s_.read_buffer_bytes_max, window.buffer_bytes_max());
      COWTREE_RETURN_IF_ERROR(replayed);
      if (stop) break;
    }
    Describe(start);
    return Status::OK();
  }

 private:
  // Reads the file through `window`, a frame at a time (a window of 1 MiB or one frame); only
  // a bad region that is not all zero reads the whole file (ScanAfterBadRegion).
  Status ReplayFile(uint64_t number, bool first, bool last, uint64_t start_offset,
                    FileWindow& window, bool* stop) {
    const std::string name = LogFileName(number);
    const uint64_t size = window.size_bytes();
    if (!first) {
      // A crash inside LogWriter::Create leaves a file shorter than its header, or all zero.
      bool zero = false;
      if (size >= kLogFileHeaderSize) {
        COWTREE_ASSIGN_OR_RETURN(const std::string_view header, window.View(0, kLogFileHeaderSize));
        if (AllZero(header)) {
          COWTREE_ASSIGN_OR_RETURN(zero, window.AllZeroFrom(0));
        }
      } else {
        COWTREE_ASSIGN_OR_RETURN(zero, window.AllZeroFrom(0));
      }
      if (size < kLogFileHeaderSize || zero) return TornCreation(number, last, size, zero, stop);
    }
    COWTREE_ASSIGN_OR_RETURN(const std::string_view header, window.View(0, kLogFileHeaderSize));
    COWTREE_RETURN_IF_ERROR(VerifyLogFileHeader(header, number, store_id_, name));
    uint64_t offset = std::max<uint64_t>(start_offset, kLogFileHeaderSize);
    if (offset > size) {
      return Status::Corruption(name + ": replay start offset " + std::to_string(offset) +
                                " is past the end of the file (" + std::to_string(size) +
                                " bytes): log data the checkpoint relies on is missing");
    }
    s_.end = LogPosition{number, offset};
    while (offset < size) {
      // The frame's header, then the whole frame as its length says (DecodeFrame reads no
      // byte past the frame, so the view decodes as the rest of the file would).
      COWTREE_ASSIGN_OR_RETURN(std::string_view rest, window.View(offset, kFrameHeaderSize));
      if (rest.size() == kFrameHeaderSize) {
        const uint32_t length = DecodeFixed32(rest.data() + kFrameLengthOffset);
        if (length <= kLogRecordPayloadMax) {
          COWTREE_ASSIGN_OR_RETURN(rest, window.View(offset, FrameSizeBytes(length)));
        }
      }
      FrameDecodeError error;
      Result<FrameView> frame = DecodeFrame(rest, offset, &error);
      if (!frame.ok()) {
        return BadRegion(number, last, offset, window, error, frame.status(), stop);
      }
      LogRecord record;
      record.type = frame->type;
      record.epoch = frame->epoch;
      record.synced_offset_bytes = frame->synced_offset_bytes;
      record.payload = frame->payload;
      record.start = LogPosition{number, offset};
      offset += frame->frame_size_bytes;
      record.end = LogPosition{number, offset};
      COWTREE_RETURN_IF_ERROR(fn_(record));
      s_.records_read += 1;
      s_.bytes_read += frame->frame_size_bytes;
      s_.end = record.end;
    }
    // Clean end of this file; continue with the next one, if any.
    s_.stop_reason = ReplayStopReason::kCleanEnd;
    *stop = last;
    return Status::OK();
  }

  // The frame at `offset` of file `number` does not verify: torn tail, zero tail, a hole in
  // the unsynced tail, or corruption (the rules: log_reader.h).
  // A file after the start file that a crash inside LogWriter::Create left without a header
  // (shorter than one, or all `zero`): dropped if it is the last file (the header never reached
  // the disk), else Corruption.
  Status TornCreation(uint64_t number, bool last, uint64_t size, bool zero, bool* stop) {
    const std::string name = LogFileName(number);
    if (!last || mode_ == WalRecoveryMode::kAbsoluteConsistency) {
      return Status::Corruption(
          name + ": log file header at offset 0: " +
          (size == 0 ? std::string("empty file")
                     : std::to_string(size) + " bytes without a header") +
          (last ? " (absolute-consistency mode)" : "; later log files exist"));
    }
    s_.dropped_bytes += size;
    s_.stop_reason = zero ? ReplayStopReason::kZeroTail : ReplayStopReason::kTornTail;
    stop_detail_ = name + " holds " + std::to_string(size) +
                   " bytes and no valid header (torn log file creation); ignored";
    *stop = true;
    return Status::OK();
  }

  // A region that is all zero (a preallocated tail) is checked a window at a time; any other
  // is scanned for frames after it in the whole file, read then (a rare path).
  Status BadRegion(uint64_t number, bool last, uint64_t offset, FileWindow& window,
                   FrameDecodeError error, const Status& why, bool* stop) {
    const std::string where = At(number, offset);
    const uint64_t region_bytes = window.size_bytes() - offset;
    if (error == FrameDecodeError::kBadReserved || error == FrameDecodeError::kUnknownType ||
        error == FrameDecodeError::kSyncedOffsetAhead) {
      return Status::Corruption(where + ": " + why.message() +
                                " (the frame's CRC verifies: it was written like this)");
    }
    if (mode_ == WalRecoveryMode::kAbsoluteConsistency) {
      return Status::Corruption(where + ": " + why.message() + "; " + std::to_string(region_bytes) +
                                " bytes to the end of the file (absolute-consistency mode)");
    }
    COWTREE_ASSIGN_OR_RETURN(const bool zero, window.AllZeroFrom(offset));
    BadRegionScan scan;
    if (!zero) {
      std::string bytes;
      COWTREE_RETURN_IF_ERROR(ReadWholeFile(env_, JoinPath(dir_, LogFileName(number)), &bytes));
      if (bytes.size() != window.size_bytes()) {
        return Status::IOError(LogFileName(number) + " changed size while it was replayed (" +
                               std::to_string(window.size_bytes()) + " then " +
                               std::to_string(bytes.size()) + " bytes)");
      }
      s_.read_buffer_bytes_max = std::max<uint64_t>(s_.read_buffer_bytes_max, bytes.size());
      scan = ScanAfterBadRegion(bytes, offset);
    }
    std::string detail = where + ": " + (zero ? std::string("zero tail") : why.message());
    bool corrupt = false;
    if (!last) {
      corrupt = true;
      detail += "; " + LogFileName(number + 1) +
                " exists, so this is not the tail of the log (rotation fdatasyncs a file before "
                "creating the next)";
    } else if (scan.proof_offset != std::string_view::npos) {
      corrupt = true;
      detail += "; the valid frame at offset " + std::to_string(scan.proof_offset) +
                " records synced_offset_bytes " + std::to_string(scan.proof_synced_offset_bytes) +
                " > " + std::to_string(offset) + ", so offset " + std::to_string(offset) +
                " was durable before that frame was written";
    } else if (scan.valid_frames > 0) {
      detail +=
          "; " + std::to_string(scan.valid_frames) + " valid frame(s) follow (first at offset " +
          std::to_string(scan.first_valid_offset) + "), none records synced_offset_bytes > " +
          std::to_string(offset) + ": a hole in the unsynced tail (writes reordered by a crash)";
    }
    if (mode_ == WalRecoveryMode::kTolerateCorruptedTailRecords && corrupt) {
      return Status::Corruption(detail + " (bit rot, not a torn write)");
    }
    s_.dropped_bytes += region_bytes;
    s_.frames_dropped_after_hole += scan.valid_frames;
    s_.stop_reason = corrupt ? ReplayStopReason::kCorruptedFrame
                     : zero  ? ReplayStopReason::kZeroTail
                             : ReplayStopReason::kTornTail;
    stop_detail_ = detail + "; dropped " + std::to_string(region_bytes) + " bytes";
    if (scan.valid_frames > 0) {
      stop_detail_ += " (" + std::to_string(scan.valid_frames) + " valid frame(s) among them)";
    }
    if (!last) {  // kPointInTimeRecovery: later files are not replayed
      for (uint64_t later = number + 1;; ++later) {
        Result<uint64_t> size = env_->FileSize(JoinPath(dir_, LogFileName(later)));
        if (!size.ok()) break;
        s_.dropped_bytes += *size;
        stop_detail_ +=
            "; not replayed: " + LogFileName(later) + " (" + std::to_string(*size) + " bytes)";
      }
    }
    *stop = true;
    return Status::OK();
  }

  void Describe(LogPosition start) {
    s_.description = "replayed " + std::to_string(s_.records_read) + " records (" +
                     std::to_string(s_.bytes_read) + " bytes) from " + start.ToString() + " to " +
                     s_.end.ToString() + " in mode " + WalRecoveryModeName(mode_) +
                     "; stop: " + ReplayStopReasonName(s_.stop_reason);
    if (!stop_detail_.empty()) s_.description += ": " + stop_detail_;
  }

  Env* env_;
  const std::string& dir_;
  WalRecoveryMode mode_;
  StoreId store_id_;  // zero: any store
  const std::function<Status(const LogRecord&)>& fn_;
  ReplayStats& s_;
  std::string stop_detail_;
};

}  // namespace

const char* WalRecoveryModeName(WalRecoveryMode mode) {
  switch (mode) {
    case WalRecoveryMode::kTolerateCorruptedTailRecords:
      return "tolerate-corrupted-tail-records";
    case WalRecoveryMode::kAbsoluteConsistency:
      return "absolute-consistency";
    case WalRecoveryMode::kPointInTimeRecovery:
      return "point-in-time-recovery";
  }
  return "unknown";
}

const char* ReplayStopReasonName(ReplayStopReason reason) {
  switch (reason) {
    case ReplayStopReason::kCleanEnd:
      return "clean end";
    case ReplayStopReason::kTornTail:
      return "torn tail";
    case ReplayStopReason::kZeroTail:
      return "zero tail";
    case ReplayStopReason::kCorruptedFrame:
      return "corrupted frame";
  }
  return "unknown";
}

bool IsTornLogFileCreation(std::string_view file_bytes) {
  return file_bytes.size() < kLogFileHeaderSize || AllZero(file_bytes);
}

Status ReadWholeFile(Env* env, const std::string& path, std::string* out) {
  out->clear();
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, OpenMode::kReadOnly));
  COWTREE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  COWTREE_RETURN_IF_ERROR(ResizeForWholeFile(path, size, out));
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(file->ReadAt(0, size, out->data(), &got));
  out->resize(got);
  return Status::OK();
}

size_t FindNextValidFrame(std::string_view bytes, size_t from) {
  // Cheap plausibility checks first (reserved bytes zero, known type, length fits, synced
  // offset not past the candidate), so the CRC runs only on candidates; random bytes pass them
  // with probability well under 2^-60.
  for (size_t q = from; q < bytes.size() && bytes.size() - q >= kFrameOverheadBytes; ++q) {
    const char* p = bytes.data() + q;
    if (p[kFrameReservedOffset] != 0 || p[kFrameReservedOffset + 1] != 0 ||
        p[kFrameReservedOffset + 2] != 0) {
      continue;
    }
    if (!IsValidLogRecordType(static_cast<uint8_t>(p[kFrameTypeOffset]))) continue;
    const uint32_t length = DecodeFixed32(p + kFrameLengthOffset);
    if (length > kLogRecordPayloadMax || FrameSizeBytes(length) > bytes.size() - q) continue;
    if (DecodeFixed64(p + kFrameSyncedOffsetOffset) > q) continue;
    if (DecodeFrame(bytes.substr(q), q).ok()) return q;
  }
  return std::string_view::npos;
}

BadRegionScan ScanAfterBadRegion(std::string_view file_bytes, size_t bad_offset) {
  BadRegionScan scan;
  size_t q = FindNextValidFrame(file_bytes, bad_offset + 1);
  while (q != std::string_view::npos) {
    Result<FrameView> frame = DecodeFrame(file_bytes.substr(q), q);
    COWTREE_ASSERT(frame.ok());  // FindNextValidFrame returned it
    if (scan.valid_frames == 0) scan.first_valid_offset = q;
    scan.valid_frames += 1;
    if (frame->synced_offset_bytes > bad_offset && scan.proof_offset == std::string_view::npos) {
      scan.proof_offset = q;
      scan.proof_synced_offset_bytes = frame->synced_offset_bytes;
    }
    // Jump over the frame: a frame embedded in a verified payload is payload, not a frame.
    q = FindNextValidFrame(file_bytes, q + frame->frame_size_bytes);
  }
  return scan;
}

Status ReplayLog(Env* env, const std::string& dir, LogPosition start, WalRecoveryMode mode,
                 const std::function<Status(const LogRecord&)>& fn, ReplayStats* stats,
                 const StoreId& store_id) {
  ReplayStats local;
  ReplayStats* s = stats != nullptr ? stats : &local;
  *s = ReplayStats();
  Replayer replayer(env, dir, mode, store_id, fn, s);
  return replayer.Run(start);
}

}  // namespace cowtree
