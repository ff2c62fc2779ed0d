// Fuzz target: replay of the whole delta log (persistence/log_reader.h ReplayLog) over
// arbitrary file bytes in an in-memory Env, in all three WalRecoveryModes. Written against the
// public API and constants (kLogFileHeaderSize, kFrameHeaderSize, EncodeFrame, ...), so it
// follows format changes with at most signature edits.
//
// Input: flags byte, then the contents of log-000001.log, log-000002.log, ... separated by the
//   8 bytes "CWTSPLIT" (at most 4 files).
//   bit 0: prepend a valid file header (EncodeLogFileHeader) to every file;
//   bit 1: walk the frames of every file and make each one verify: EncodeFrame of its fields if
//          the type is valid and bit 2 is clear, else store the trailer CRC; with bit 7 the
//          re-encoded frame's synced_offset_bytes is reduced modulo (its offset + 1), so it is
//          always legal;
//   bit 3: replay from file 2 instead of 1;
//   bits 4-5: start offset 0, 7 (inside the header), the start file's size (its end), or one
//          byte past its end;
//   bit 6 (with bits 4-5 = 0): also replay once more with a callback that fails midway.
// Properties, for each mode whose replay returns OK:
// - every record passed to the callback is, byte for byte, EncodeFrame(type, epoch,
//   synced_offset_bytes, payload) at [start, end) of its file, with synced_offset_bytes <= its
//   start offset; records are contiguous: the first starts at the start position, each next
//   one where the previous ended, or just after the header of a later file when every file in
//   between ends exactly at a frame boundary (nothing is skipped);
// - stats: records_read and bytes_read match the callback; kCleanEnd means nothing dropped;
//   the bytes of the files add up: file bytes from the start position = headers of the files
//   replayed + bytes_read + dropped_bytes; stats.end is the end of the last record or the
//   start of a file (or the start position) replay reached after it;
// - the stop at a bad region starting at X (= stats.end) agrees with a brute-force model of the
//   rules in log_reader.h: the verifying frames after X (first one found byte by byte, then
//   frame by frame) are counted in frames_dropped_after_hole; the region is corruption
//   (Corruption in the default mode, kCorruptedFrame in point-in-time) iff the file is not the
//   last or one of those frames records synced_offset_bytes > X; otherwise kZeroTail if all
//   zero, else kTornTail;
// - absolute-consistency OK implies tolerate-corrupted-tail OK with identical results, which
//   implies point-in-time OK with identical results; in every mode the records delivered (also
//   before an error) are a prefix of point-in-time's; errors are Corruption or NotFound;
// - a callback error stops replay and is returned unchanged after exactly the records before.
#include <algorithm>
#include <string>
#include <vector>

#include "persistence/commit_record.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/log_reader.h"
#include "persistence/ot_delta.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "testutil/fault_injection_env.h"

namespace cowtree::fuzz {
namespace {

constexpr char kDir[] = "/db";
constexpr std::string_view kSeparator = "CWTSPLIT";
constexpr size_t kMaxFiles = 4;

struct Replayed {
  struct Rec {
    LogRecordType type;
    uint64_t epoch;
    uint64_t synced_offset_bytes;
    std::string payload;
    LogPosition start, end;
    friend bool operator==(const Rec&, const Rec&) = default;
  };
  Status status;
  ReplayStats stats;
  std::vector<Rec> records;
};

// Makes every frame of `file` (from offset `from`) verify, as far as their lengths allow.
void FixFrames(std::string* file, size_t from, bool raw_crc, bool legal_synced) {
  size_t offset = from;
  while (offset + kFrameHeaderSize <= file->size()) {
    const char* p = file->data() + offset;
    const uint32_t length = DecodeFixed32(p + kFrameLengthOffset);
    if (length > kLogRecordPayloadMax || FrameSizeBytes(length) > file->size() - offset) return;
    const auto type = static_cast<uint8_t>(p[kFrameTypeOffset]);
    if (!raw_crc && IsValidLogRecordType(type)) {
      uint64_t synced = DecodeFixed64(p + kFrameSyncedOffsetOffset);
      if (legal_synced) synced %= offset + 1;
      std::string frame;
      EncodeFrame(static_cast<LogRecordType>(type), DecodeFixed64(p + kFrameEpochOffset), synced,
                  std::string_view(p + kFrameHeaderSize, length), &frame);
      file->replace(offset, FrameSizeBytes(length), frame);
      offset += frame.size();
    } else {
      const size_t crc_offset = offset + kFrameHeaderSize + length;
      if (crc_offset + 4 > file->size()) return;
      FixCrc(file, crc_offset, offset, crc_offset);
      offset = crc_offset + 4;
    }
  }
}

Replayed Replay(Env* env, LogPosition start, WalRecoveryMode mode, int64_t fail_at = -1) {
  Replayed r;
  r.status = ReplayLog(
      env, kDir, start, mode,
      [&](const LogRecord& rec) -> Status {
        r.records.push_back({rec.type, rec.epoch, rec.synced_offset_bytes, std::string(rec.payload),
                             rec.start, rec.end});
        if (static_cast<int64_t>(r.records.size()) - 1 == fail_at) {
          return Status::Busy("fuzz callback stops here");
        }
        if (mode == WalRecoveryMode::kPointInTimeRecovery) {
          // Exercise the payload decoders on whatever verified (their own targets check them).
          if (rec.type == LogRecordType::kCommit) (void)DecodeCommitRecord(rec.payload);
          if (rec.type == LogRecordType::kOtDelta) (void)DecodeOtDelta(rec.payload);
        }
        return Status::OK();
      },
      &r.stats);
  return r;
}

bool SameOutcome(const Replayed& a, const Replayed& b) {
  return a.status.ok() == b.status.ok() && a.records == b.records &&
         a.stats.records_read == b.stats.records_read && a.stats.bytes_read == b.stats.bytes_read &&
         a.stats.dropped_bytes == b.stats.dropped_bytes && a.stats.end == b.stats.end &&
         a.stats.frames_dropped_after_hole == b.stats.frames_dropped_after_hole &&
         a.stats.stop_reason == b.stats.stop_reason &&
         a.stats.last_file_number == b.stats.last_file_number;
}

bool IsPrefix(const std::vector<Replayed::Rec>& a, const std::vector<Replayed::Rec>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Brute-force model of ScanAfterBadRegion: verifying frames after a bad region at x.
struct HoleModel {
  uint64_t frames = 0;
  bool proven_durable = false;  // one of them records synced_offset_bytes > x
};
HoleModel ModelHole(std::string_view file, size_t x) {
  HoleModel m;
  size_t q = x + 1;
  while (q < file.size()) {
    // Offsets where the length field says the frame cannot fit fail DecodeFrame (kShortHeader,
    // kLengthOverLimit, kShortFrame): skipped without building its error message.
    const bool fits =
        file.size() - q >= kFrameHeaderSize &&
        kFrameOverheadBytes + uint64_t{DecodeFixed32(file.data() + q + kFrameLengthOffset)} <=
            file.size() - q;
    if (!fits) {
      ++q;
      continue;
    }
    Result<FrameView> f = DecodeFrame(file.substr(q), q);
    if (!f.ok()) {
      ++q;
      continue;
    }
    ++m.frames;
    m.proven_durable = m.proven_durable || f->synced_offset_bytes > x;
    q += f->frame_size_bytes;
  }
  return m;
}

// The stop of a replay that returned OK, against the rules (see the file comment).
void CheckStop(const std::string& m, const Replayed& r, const std::vector<std::string>& files,
               WalRecoveryMode mode) {
  const ReplayStats& s = r.stats;
  if (s.stop_reason == ReplayStopReason::kCleanEnd) {
    FUZZ_CHECK(s.frames_dropped_after_hole == 0, m);
    return;
  }
  if (s.end.file_number < s.last_file_number) {  // torn creation of the last file
    FUZZ_CHECK(s.last_file_number == files.size(), m + "torn creation of a file that is not last");
    FUZZ_CHECK(IsTornLogFileCreation(files[s.last_file_number - 1]), m);
    FUZZ_CHECK(s.frames_dropped_after_hole == 0, m);
    return;
  }
  const std::string& file = files[s.end.file_number - 1];
  const size_t x = s.end.offset_bytes;
  FUZZ_CHECK(x < file.size(), m + "stopped at the end of a file but not a clean end");
  const std::string_view region = std::string_view(file).substr(x);
  const bool zero = std::all_of(region.begin(), region.end(), [](char c) { return c == 0; });
  const HoleModel hole = zero ? HoleModel{} : ModelHole(file, x);
  const bool last = s.end.file_number == files.size();
  const bool corrupt = !last || hole.proven_durable;
  FUZZ_CHECK(mode == WalRecoveryMode::kPointInTimeRecovery || !corrupt,
             m + "a durable bad region was dropped: " + s.description);
  const ReplayStopReason expected = corrupt ? ReplayStopReason::kCorruptedFrame
                                    : zero  ? ReplayStopReason::kZeroTail
                                            : ReplayStopReason::kTornTail;
  FUZZ_CHECK(s.stop_reason == expected, m + "stop reason " + ReplayStopReasonName(s.stop_reason) +
                                            ", model says " + ReplayStopReasonName(expected) +
                                            ": " + s.description);
  FUZZ_CHECK(s.frames_dropped_after_hole == hole.frames,
             m + "frames_dropped_after_hole " + std::to_string(s.frames_dropped_after_hole) +
                 ", model " + std::to_string(hole.frames));
}

void CheckOk(const char* mode, const Replayed& r, const std::vector<std::string>& files,
             uint64_t first, uint64_t start_offset) {
  const std::string m = std::string(mode) + ": ";
  const uint64_t last = files.size();  // files 1..last exist
  const uint64_t effective = std::max<uint64_t>(start_offset, kLogFileHeaderSize);
  uint64_t bytes_read = 0;
  LogPosition prev{first, effective};
  for (size_t i = 0; i < r.records.size(); ++i) {
    const Replayed::Rec& rec = r.records[i];
    const std::string at = m + "record " + std::to_string(i) + " " + rec.start.ToString();
    FUZZ_CHECK(rec.start.file_number >= first && rec.start.file_number <= last, at);
    FUZZ_CHECK(rec.end.file_number == rec.start.file_number, at);
    const std::string& file = files[rec.start.file_number - 1];
    FUZZ_CHECK(rec.end.offset_bytes <= file.size(), at);
    FUZZ_CHECK(rec.end.offset_bytes - rec.start.offset_bytes == FrameSizeBytes(rec.payload.size()),
               at);
    FUZZ_CHECK(rec.synced_offset_bytes <= rec.start.offset_bytes, at + ": synced offset ahead");
    std::string frame;
    EncodeFrame(rec.type, rec.epoch, rec.synced_offset_bytes, rec.payload, &frame);
    FUZZ_CHECK(file.compare(rec.start.offset_bytes, frame.size(), frame) == 0,
               at + ": not the bytes of the file");
    if (rec.start.file_number == prev.file_number) {
      FUZZ_CHECK(rec.start == prev,
                 at + ": does not start where the previous one ended (" + prev.ToString() + ")");
    } else {
      FUZZ_CHECK(rec.start.file_number > prev.file_number, at);
      FUZZ_CHECK(files[prev.file_number - 1].size() == prev.offset_bytes,
                 at + ": moved on although " + prev.ToString() + " is not the end of its file");
      for (uint64_t n = prev.file_number + 1; n < rec.start.file_number; ++n) {
        FUZZ_CHECK(files[n - 1].size() == kLogFileHeaderSize, at + ": skipped a file with frames");
      }
      FUZZ_CHECK(rec.start.offset_bytes == kLogFileHeaderSize, at);
    }
    prev = rec.end;
    bytes_read += FrameSizeBytes(rec.payload.size());
  }
  const ReplayStats& s = r.stats;
  FUZZ_CHECK(s.records_read == r.records.size(), m + "records_read");
  FUZZ_CHECK(s.bytes_read == bytes_read, m + "bytes_read");
  if (s.stop_reason == ReplayStopReason::kCleanEnd) FUZZ_CHECK(s.dropped_bytes == 0, m);
  FUZZ_CHECK(s.last_file_number >= first && s.last_file_number <= last, m + "last_file_number");

  CheckStop(m, r, files,
            std::string(mode) == "point-in-time" ? WalRecoveryMode::kPointInTimeRecovery
                                                 : WalRecoveryMode::kTolerateCorruptedTailRecords);

  // Every byte from the start position is a header, a replayed frame or dropped.
  const bool torn_creation =
      s.last_file_number > first && IsTornLogFileCreation(files[s.last_file_number - 1]);
  uint64_t total = 0;
  for (uint64_t n = first; n <= last; ++n) total += files[n - 1].size();
  total -= effective - kLogFileHeaderSize;
  const uint64_t headers =
      (s.last_file_number - first + 1 - (torn_creation ? 1 : 0)) * kLogFileHeaderSize;
  FUZZ_CHECK(total == headers + s.bytes_read + s.dropped_bytes,
             m + "bytes do not add up: files " + std::to_string(total) + ", headers " +
                 std::to_string(headers) + " + read " + std::to_string(s.bytes_read) +
                 " + dropped " + std::to_string(s.dropped_bytes) + "; " + s.description);

  // Where a writer resumes.
  FUZZ_CHECK(s.end >= prev, m + "stats.end " + s.end.ToString() + " before " + prev.ToString());
  FUZZ_CHECK(s.end.file_number <= s.last_file_number, m + "stats.end past the files read");
  FUZZ_CHECK(s.end.offset_bytes <= files[s.end.file_number - 1].size(), m + "stats.end");
  if (s.end != prev) {
    FUZZ_CHECK(s.end.file_number > prev.file_number && s.end.offset_bytes == kLogFileHeaderSize,
               m + "stats.end " + s.end.ToString() + " after last record end " + prev.ToString());
  }
}

}  // namespace

int FuzzLogReplay(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  std::vector<std::string> files;
  {
    std::string_view rest = in.bytes;
    while (files.size() + 1 < kMaxFiles) {
      const size_t cut = rest.find(kSeparator);
      if (cut == std::string_view::npos) break;
      files.emplace_back(rest.substr(0, cut));
      rest.remove_prefix(cut + kSeparator.size());
    }
    files.emplace_back(rest);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (in.flag(0)) files[i] = EncodeLogFileHeader(i + 1, ExampleStoreId()) + files[i];
    if (in.flag(1)) FixFrames(&files[i], kLogFileHeaderSize, in.flag(2), in.flag(7));
  }

  testutil::FaultInjectionEnv env;
  FUZZ_CHECK(env.CreateDir(kDir).ok());
  for (size_t i = 0; i < files.size(); ++i) {
    FUZZ_CHECK(env.WriteStringToFileSync(JoinPath(kDir, LogFileName(i + 1)), files[i]).ok());
  }
  const uint64_t first = in.flag(3) ? 2 : 1;
  uint64_t start_offset = 0;
  switch ((in.flags >> 4) & 3) {
    case 0:
      start_offset = 0;
      break;
    case 1:
      start_offset = 7;
      break;
    case 2:
      start_offset = first <= files.size() ? files[first - 1].size() : 0;
      break;
    case 3:
      start_offset = (first <= files.size() ? files[first - 1].size() : 0) + 1;
      break;
  }
  const LogPosition start{first, start_offset};

  const Replayed absolute = Replay(&env, start, WalRecoveryMode::kAbsoluteConsistency);
  const Replayed tolerate = Replay(&env, start, WalRecoveryMode::kTolerateCorruptedTailRecords);
  const Replayed pit = Replay(&env, start, WalRecoveryMode::kPointInTimeRecovery);

  if (first > files.size()) {
    for (const Replayed* r : {&absolute, &tolerate, &pit}) {
      FUZZ_CHECK(r->status.IsNotFound(), "missing start file: " + r->status.ToString());
    }
    return 0;
  }
  for (const Replayed* r : {&absolute, &tolerate, &pit}) {
    if (!r->status.ok()) FUZZ_CHECK_CORRUPTION(r->status);
  }
  if (absolute.status.ok()) {
    CheckOk("absolute-consistency", absolute, files, first, start_offset);
    FUZZ_CHECK(absolute.stats.stop_reason == ReplayStopReason::kCleanEnd);
    FUZZ_CHECK(SameOutcome(absolute, tolerate),
               "absolute OK but tolerate differs: " + tolerate.status.ToString() + "; " +
                   tolerate.stats.description);
  }
  if (tolerate.status.ok()) {
    CheckOk("tolerate-corrupted-tail", tolerate, files, first, start_offset);
    FUZZ_CHECK(tolerate.stats.stop_reason != ReplayStopReason::kCorruptedFrame);
    FUZZ_CHECK(SameOutcome(tolerate, pit),
               "tolerate OK but point-in-time differs: " + pit.status.ToString() + "; " +
                   tolerate.stats.description + " vs " + pit.stats.description);
  }
  if (pit.status.ok()) CheckOk("point-in-time", pit, files, first, start_offset);
  FUZZ_CHECK(IsPrefix(absolute.records, tolerate.records));
  FUZZ_CHECK(IsPrefix(tolerate.records, pit.records));

  if (in.flag(6) && ((in.flags >> 4) & 3) == 0 && !pit.records.empty()) {
    const int64_t fail_at = static_cast<int64_t>(pit.records.size() / 2);
    const Replayed stopped = Replay(&env, start, WalRecoveryMode::kPointInTimeRecovery, fail_at);
    FUZZ_CHECK(stopped.status.IsBusy() && stopped.status.message() == "fuzz callback stops here",
               "callback error not returned unchanged: " + stopped.status.ToString());
    FUZZ_CHECK(stopped.records.size() == static_cast<size_t>(fail_at) + 1);
    FUZZ_CHECK(IsPrefix(stopped.records, pit.records));
    FUZZ_CHECK(stopped.stats.records_read == static_cast<uint64_t>(fail_at));
  }
  return 0;
}

}  // namespace cowtree::fuzz
