// Replay of the delta log: reads frames from a start position through consecutive log files
// and decides, at the first frame that does not verify, whether it is a torn write at the tail
// (a crash artifact: dropped and reported) or corruption (an error). Format: log_format.h and
// docs/log_format.md (which also has these rules with examples).
//
// Contract
// - ReplayLog(env, dir, start, mode, fn, stats)
//   * start: first file and offset. offset_bytes < 48 (kLogFileHeaderSize) means "just after the
//     header". An offset past the file's end is Corruption (the log the caller relied on is
//     gone). Files start.file_number, start.file_number + 1, ... are read while they exist.
//   * Each frame that verifies is passed to fn in log order. LogRecord::payload points into a
//     buffer that lives only during that call: copy what you keep. If fn returns an error,
//     replay stops and returns it unchanged.
//   * Errors: NotFound if the start file is missing; Corruption naming the file, the offset
//     and the reason for a bad file header (every mode) or as the mode below says; IOError
//     from the Env. *stats (optional) is filled in on success and, as far as replay got, on
//     error.
//   * Memory: a log file is read through a window of 1 MiB (FileWindow), or of one frame if
//     larger, not whole; only a bad region that is not all zero (bit rot, or a torn write that
//     is not a zero tail) reads its whole file (bounded by the writer's rotation size plus one
//     record) to look for frames after it. stats->read_buffer_bytes_max reports what was held.
// - Definitions. The "bad region" starts at the first offset X of a file where no verifying
//   frame starts (bad CRC, short frame, length over limit) and ends at the file's end. It is a
//   "zero tail" if all its bytes are zero (a preallocated region, or a size update that reached
//   the disk without the data). A file is the "last" one if the next number does not exist.
//   The frames "after the hole" are the verifying frames found inside the bad region
//   (ScanAfterBadRegion: searched byte by byte from X + 1, cheap header checks before the CRC,
//   then frame by frame). The bad region is "proven durable" if one of them records
//   synced_offset_bytes > X: the writer had fdatasync'd past X before it wrote that frame, so
//   the bytes at X were on disk and changed afterwards (bit rot), whereas a crash can only
//   lose or tear writes issued after the last fdatasync. (synced_offset_bytes is always a frame
//   boundary, so "> X" means the whole frame that started at X was durable.)
// - WalRecoveryMode (RocksDB's names):
//   * kTolerateCorruptedTailRecords (default):
//       - bad region in a file that is not the last one: Corruption (rotation fdatasyncs a
//         file before it creates the next, so nothing in it can be an unsynced tail);
//       - bad region in the last file, proven durable: Corruption naming the file, X and the
//         offset of the proving frame (bit rot must not be cut off silently);
//       - bad region in the last file, not proven durable: a torn write in the unsynced tail
//         (the fault model lets writes between two fdatasyncs reach the disk in any order, so
//         a lost or torn frame may be FOLLOWED by frames that did reach the disk): replay
//         stops at X and drops everything after it, OK; stop_reason kZeroTail if the region
//         is all zero, else kTornTail; dropped_bytes counts the region and
//         frames_dropped_after_hole the verifying frames inside it.
//     Limit: bit rot in a synced frame that no surviving later frame proves durable (e.g. the
//     frames covered by the last fdatasync when nothing was encoded after that fdatasync
//     returned) cannot be told from a torn write and is dropped like one.
//   * kAbsoluteConsistency: every file must end exactly at a frame boundary; any bad region
//     (zero tail included) is Corruption. For stores closed cleanly.
//   * kPointInTimeRecovery: stop at the first bad region whatever follows, report it, no error.
//     stop_reason as the default mode would classify it: kCorruptedFrame where the default
//     returns Corruption, else kZeroTail / kTornTail. Later log files are not read; their
//     bytes count as dropped and the caller must delete them before appending
//     (LogWriter::OpenForAppend refuses to leave a later valid file behind).
//   In every mode a frame whose CRC verifies but whose reserved bytes are not zero, whose type
//   is unknown, or whose synced_offset_bytes is past its own offset is Corruption (it was
//   written that way: not a torn write).
// - Torn log creation: a file after the start file that is shorter than its header or
//   entirely zero (a crash inside LogWriter::Create) and is the last one is dropped like a torn
//   tail (kTornTail / kZeroTail) except in kAbsoluteConsistency; stats->end stays in the
//   previous file and stats->last_file_number names the leftover.
// - stats->end is where a writer must resume (LogWriter::OpenForAppend(stats->end)).
// - Thread-safety: ReplayLog is reentrant; it must not run while a LogWriter appends to the
//   same files.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "persistence/env.h"
#include "persistence/log_format.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

enum class WalRecoveryMode : uint8_t {
  kTolerateCorruptedTailRecords = 0,  // default
  kAbsoluteConsistency = 1,
  kPointInTimeRecovery = 2,
};
const char* WalRecoveryModeName(WalRecoveryMode mode);

struct LogRecord {
  LogRecordType type = LogRecordType::kCommit;
  uint64_t epoch = 0;
  uint64_t synced_offset_bytes = 0;  // the writer's synced end in this file when it wrote it
  std::string_view payload;          // valid only during the callback
  LogPosition start;                 // where the frame starts
  LogPosition end;                   // just past the frame
};

enum class ReplayStopReason : uint8_t {
  kCleanEnd = 0,        // the last file ends exactly at a frame boundary
  kTornTail = 1,        // a bad region (not all zero) at the tail of the last file, dropped
  kZeroTail = 2,        // an all-zero region at the tail of the last file, dropped
  kCorruptedFrame = 3,  // kPointInTimeRecovery only: stopped at a bad region that is not a
                        // tail (proven durable, or in a file that is not the last)
};
const char* ReplayStopReasonName(ReplayStopReason reason);

struct ReplayStats {
  uint64_t records_read = 0;   // frames passed to fn
  uint64_t bytes_read = 0;     // their frame bytes (headers and CRCs included)
  uint64_t dropped_bytes = 0;  // bytes of the bad region (+ later files in PIT mode)
  // Verifying frames inside the dropped bad region (after the hole); their records are NOT
  // passed to fn. Nonzero only for a hole in the unsynced tail (or in PIT mode).
  uint64_t frames_dropped_after_hole = 0;
  LogPosition end;  // just past the last good frame: where a writer resumes
  ReplayStopReason stop_reason = ReplayStopReason::kCleanEnd;
  uint64_t last_file_number = 0;  // the highest-numbered file replay opened
  // The largest buffer replay read a log file into: 1 MiB, or one frame if larger, or a whole
  // file where a bad region that is not all zero is scanned for the frames after it.
  uint64_t read_buffer_bytes_max = 0;
  std::string description;        // one paragraph for dump/fsck/logs
};

// store_id: every file's header must name this store (Corruption naming the file otherwise);
// zero accepts any store (tests and tools reading a lone log). Recovery and fsck pass the
// superblock's id.
Status ReplayLog(Env* env, const std::string& dir, LogPosition start, WalRecoveryMode mode,
                 const std::function<Status(const LogRecord&)>& fn, ReplayStats* stats,
                 const StoreId& store_id = StoreId());

// True if file_bytes (a log file's whole content) is what a crash inside LogWriter::Create
// can leave: shorter than the 48-byte header, or all zero bytes.
bool IsTornLogFileCreation(std::string_view file_bytes);

// Reads the whole file at path into *out via env (helper shared by the reader and the writer).
Status ReadWholeFile(Env* env, const std::string& path, std::string* out);

// Offset of the first frame at or after `from` in bytes (a whole log file: offsets in bytes are
// file offsets) that DecodeFrame accepts, or std::string_view::npos. Exposed for fsck and dump.
size_t FindNextValidFrame(std::string_view bytes, size_t from);

// What follows a bad region that starts at bad_offset of file_bytes (a whole log file).
struct BadRegionScan {
  uint64_t valid_frames = 0;                           // verifying frames after bad_offset
  size_t first_valid_offset = std::string_view::npos;  // the first of them
  size_t proof_offset = std::string_view::npos;        // first with synced_offset > bad_offset
  uint64_t proof_synced_offset_bytes = 0;              // its synced_offset_bytes
};
// Scans from bad_offset + 1 byte by byte for a verifying frame, then continues frame by frame
// (a frame found inside a verified frame's payload is payload, not a frame). The replay rule
// of the default mode is: proof_offset != npos → Corruption, else a torn tail. Exposed for
// fsck and dump.
BadRegionScan ScanAfterBadRegion(std::string_view file_bytes, size_t bad_offset);

}  // namespace cowtree
