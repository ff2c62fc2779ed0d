// fsck pass: every log frame (docs/log_format.md).
//
// 1. History: the frames of the replay file before the replay position (already in the
//    checkpoint; recovery skips them). Problems there are warnings.
// 2. Recovery's pass: ReplayLog from the superblock's replay position in the configured
//    WalRecoveryMode, applying OT deltas exactly as recovery::Open does (record epoch in
//    (ot_epoch, C]; later ones belong to a checkpoint whose superblock never landed) and
//    collecting the redo records with epoch > C. A torn/zero tail is a warning (recovery drops
//    it); anything recovery refuses is an error.
// 3. After a bad region, the rest of the log is still scanned (point-in-time mode, resuming at
//    the next frame that verifies) so that every frame is checked and every further bad region
//    is named; those frames are never applied (recovery stops before them).
// Every frame that verifies is decoded: OT-delta payloads with DecodeOtDelta, commit records
// with DecodeCommitRecord (the frame CRC verified, so a decode failure is an error even there).
#include <algorithm>

#include "persistence/commit_record.h"
#include "persistence/file_names.h"
#include "persistence/ot_delta.h"
#include "recovery/fsck_context.h"
#include "recovery/store_reader.h"

namespace cowtree::recovery::fsck {
namespace {

const Status& StopSentinel() {
  static const Status kStop = Status::NotSupported("fsck: replay position reached");
  return kStop;
}

FsckSeverity SeverityFor(FrameRole role) {
  return role == FrameRole::kHistory ? FsckSeverity::kWarning : FsckSeverity::kError;
}

std::string RoleNote(FrameRole role) {
  switch (role) {
    case FrameRole::kHistory:
      return " (before the replay position: recovery does not need it)";
    case FrameRole::kUntrusted:
      return " (after an earlier bad region: recovery never reads it)";
    case FrameRole::kReplayed:
      break;
  }
  return "";
}

// Checks that the payload of a verified frame decodes.
void DecodeFramePayload(Context& ctx, const LogRecord& r, FrameRole role) {
  ++ctx.report.log_frames_checked;
  if (ctx.on_frame) ctx.on_frame(r, role);
  const std::string file = LogFileName(r.start.file_number);
  if (r.type == LogRecordType::kOtDelta) {
    Result<std::vector<OtDeltaOp>> ops = DecodeOtDelta(r.payload);
    if (!ops.ok()) {
      ctx.Add(SeverityFor(role), "log", file, r.start.offset_bytes, 0,
              "OT-delta record (epoch " + std::to_string(r.epoch) +
                  ") does not decode: " + ops.status().message() + RoleNote(role));
    }
  } else if (r.type == LogRecordType::kCommit) {
    Result<CommitRecordView> rec = DecodeCommitRecord(r.payload);
    if (!rec.ok()) {
      ctx.Add(SeverityFor(role), "log", file, r.start.offset_bytes, 0,
              "commit record (epoch " + std::to_string(r.epoch) +
                  ") does not decode: " + rec.status().message() + RoleNote(role));
    }
  }
}

// Recovery's handling of one replayed frame: OT deltas into the table, redo records kept.
void ApplyReplayed(Context& ctx, const LogRecord& r, uint64_t* last_commit_epoch) {
  const SuperblockData& sb = *ctx.sb;
  const std::string file = LogFileName(r.start.file_number);
  if (r.type == LogRecordType::kOtDelta) {
    // Recovery's rule, shared (recovery/store_reader.h).
    switch (ClassifyOtDelta(r.epoch, ctx.ot_epoch, sb.checkpoint_epoch)) {
      case OtDeltaDisposition::kInOtCheckpoint:
        return;
      case OtDeltaDisposition::kUnpublished:
        ++ctx.ot_delta_records_ignored;  // a checkpoint whose superblock never landed
        return;
      case OtDeltaDisposition::kApply:
        break;
    }
    Result<std::vector<OtDeltaOp>> ops = DecodeOtDelta(r.payload);
    if (!ops.ok() || !ctx.table_usable) return;  // reported by DecodeFramePayload
    Status st = ApplyOtDelta(*ctx.table, *ops,
                             ctx.manifest.has_value() ? RetainedEpochsOf(*ctx.manifest)
                                                      : RetainedEpochs());
    if (!st.ok()) {
      ctx.Add(FsckSeverity::kError, "log", file, r.start.offset_bytes, 0,
              "OT delta (epoch " + std::to_string(r.epoch) + ") contradicts the object table: " +
                  st.message() + " (recovery refuses the store)");
      return;
    }
    ++ctx.ot_delta_records_applied;
    return;
  }
  if (r.type != LogRecordType::kCommit || r.epoch <= sb.checkpoint_epoch) return;
  if (r.epoch <= *last_commit_epoch) {
    ctx.Add(FsckSeverity::kError, "log", file, r.start.offset_bytes, 0,
            "commit epoch " + std::to_string(r.epoch) + " is not above the previous epoch " +
                std::to_string(*last_commit_epoch) + " (recovery refuses the store)");
  } else if (r.epoch != *last_commit_epoch + 1) {
    ctx.Add(FsckSeverity::kError, "log", file, r.start.offset_bytes, 0,
            CommitEpochGapMessage(*last_commit_epoch, r.epoch) + " (recovery refuses the store)");
  }
  *last_commit_epoch = std::max(*last_commit_epoch, r.epoch);
  Result<CommitRecordView> rec = DecodeCommitRecord(r.payload);
  if (!rec.ok()) return;  // reported by DecodeFramePayload
  CommitInfo info;
  info.epoch = r.epoch;
  info.start = r.start;
  info.creates = std::move(rec->creates);
  info.drops = std::move(rec->drops);
  for (const CommitOps& s : rec->ops) info.ops.emplace_back(s.tree_id, s.ops.size());
  ctx.commits.push_back(std::move(info));
  ++ctx.report.commits_past_checkpoint;
}

uint64_t FileBytes(Context& ctx, uint64_t number) {
  Result<uint64_t> size = ctx.env->FileSize(JoinPath(ctx.dir, LogFileName(number)));
  return size.ok() ? *size : 0;
}

bool LogExists(Context& ctx, uint64_t number) {
  return ctx.env->FileExists(JoinPath(ctx.dir, LogFileName(number)));
}

// Where a replay that stopped (stats) found its problem, and where scanning may resume.
// Returns false if nothing is left to scan.
bool Locate(Context& ctx, const ReplayStats& st, LogPosition* at, LogPosition* resume) {
  if (st.last_file_number > st.end.file_number) {
    // The file after the last good one: its header (or a torn creation).
    *at = LogPosition{st.last_file_number, 0};
    *resume = LogPosition{st.last_file_number + 1, 0};
    return LogExists(ctx, resume->file_number);
  }
  *at = st.end;
  std::string bytes;
  const std::string path = JoinPath(ctx.dir, LogFileName(st.end.file_number));
  if (ReadWholeFile(ctx.env, path, &bytes).ok() &&
      !VerifyLogFileHeader(bytes, st.end.file_number, ctx.sb->store_id,
                           LogFileName(st.end.file_number))
           .ok()) {
    at->offset_bytes = 0;  // the header itself is bad: nothing in this file can be trusted
    *resume = LogPosition{st.end.file_number + 1, 0};
    return LogExists(ctx, resume->file_number);
  }
  const size_t next = at->offset_bytes < bytes.size()
                          ? FindNextValidFrame(bytes, at->offset_bytes + 1)
                          : std::string_view::npos;
  if (next != std::string_view::npos) {
    *resume = LogPosition{at->file_number, next};
    return true;
  }
  *resume = LogPosition{at->file_number + 1, 0};
  return LogExists(ctx, resume->file_number);
}

// Bytes from `at` to the end of its file.
uint64_t TailBytes(Context& ctx, LogPosition at) {
  const uint64_t size = FileBytes(ctx, at.file_number);
  return size > at.offset_bytes ? size - at.offset_bytes : 0;
}

uint64_t RegionBytes(Context& ctx, LogPosition at, LogPosition resume) {
  if (resume.file_number == at.file_number) return resume.offset_bytes - at.offset_bytes;
  return TailBytes(ctx, at);
}

void AddProblem(Context& ctx, LogProblem p) {
  FsckSeverity severity = SeverityFor(p.role);
  std::string lead;
  if (p.kind == LogProblem::Kind::kTail && p.zero_tail) {
    // The log writes zeros ahead of its end (log_writer.h, zero fill); a crash, or a size update
    // that reached the disk without its data, leaves them. Nothing written is lost with them.
    severity = FsckSeverity::kInfo;
    lead = "zero tail: " + std::to_string(p.bytes) +
           " bytes of zeros after the last frame, dropped by recovery (zeros the log writes "
           "ahead of its end, left by a crash); ";
  } else if (p.kind == LogProblem::Kind::kTail) {
    severity = FsckSeverity::kWarning;
    lead = "torn tail: " + std::to_string(p.bytes) +
           " bytes dropped by recovery (a write cut short by a crash); ";
  } else if (p.role == FrameRole::kReplayed) {
    lead = ctx.options.wal_recovery_mode == WalRecoveryMode::kPointInTimeRecovery
               ? "recovery stops here and drops everything after it: "
               : "recovery refuses the store: ";
  }
  const size_t index = ctx.Add(severity, "log", LogFileName(p.at.file_number), p.at.offset_bytes, 0,
                               lead + p.message + RoleNote(p.role));
  if (p.kind == LogProblem::Kind::kTail && p.role == FrameRole::kReplayed) {
    ctx.log_tail_finding = index;
  }
  ctx.log_problems.push_back(std::move(p));
}

void ScanRest(Context& ctx, LogPosition pos, FrameRole role);

// A torn tail may hold verifying frames after the hole (writes issued after the last
// fdatasync reach the disk in any order): recovery drops them; fsck still decodes them.
void ScanAfterTail(Context& ctx, const ReplayStats& st) {
  if (st.stop_reason != ReplayStopReason::kTornTail) return;
  LogPosition at, resume;
  if (Locate(ctx, st, &at, &resume) && resume.file_number == at.file_number) {
    ScanRest(ctx, resume, FrameRole::kUntrusted);
  }
}

// Scans from `pos` to the end of the log in point-in-time mode, resuming after each bad
// region. Frames get `role`; problems are reported with it.
void ScanRest(Context& ctx, LogPosition pos, FrameRole role) {
  for (int guard = 0; guard < 1 << 20; ++guard) {
    ReplayStats st;
    Status s = ReplayLog(
        ctx.env, ctx.dir, pos, WalRecoveryMode::kPointInTimeRecovery,
        [&](const LogRecord& r) {
          DecodeFramePayload(ctx, r, role);
          return Status::OK();
        },
        &st, ctx.sb->store_id);
    if (s.ok() && st.stop_reason == ReplayStopReason::kCleanEnd) return;
    if (s.ok() && (st.stop_reason == ReplayStopReason::kTornTail ||
                   st.stop_reason == ReplayStopReason::kZeroTail)) {
      LogPosition at =
          st.last_file_number > st.end.file_number ? LogPosition{st.last_file_number, 0} : st.end;
      AddProblem(ctx, LogProblem{LogProblem::Kind::kTail, role, at, st.dropped_bytes,
                                 st.description, st.stop_reason == ReplayStopReason::kZeroTail});
      ScanAfterTail(ctx, st);
      return;
    }
    LogPosition at, resume;
    const bool more = Locate(ctx, st, &at, &resume);
    LogProblem p;
    p.kind = s.ok() ? LogProblem::Kind::kCorruptRegion : LogProblem::Kind::kError;
    p.role = role;
    p.at = at;
    p.bytes = more ? RegionBytes(ctx, at, resume) : TailBytes(ctx, at);
    p.message = s.ok() ? st.description : s.message();
    AddProblem(ctx, std::move(p));
    if (!more || !(pos < resume)) return;
    pos = resume;
  }
}

void ScanHistory(Context& ctx, LogPosition replay_start) {
  if (replay_start.offset_bytes <= kLogFileHeaderSize) return;
  ReplayStats st;
  Status s = ReplayLog(
      ctx.env, ctx.dir, LogPosition{replay_start.file_number, 0},
      WalRecoveryMode::kPointInTimeRecovery,
      [&](const LogRecord& r) {
        if (!(r.start < replay_start)) return StopSentinel();
        DecodeFramePayload(ctx, r, FrameRole::kHistory);
        return Status::OK();
      },
      &st, ctx.sb->store_id);
  if (s.code() == StopSentinel().code() && s.message() == StopSentinel().message()) return;
  if (s.ok() && st.stop_reason == ReplayStopReason::kCleanEnd) return;
  // A problem before the replay position (a bad header is reported by the main pass).
  LogPosition at, resume;
  const bool more = Locate(ctx, st, &at, &resume);
  if (!(at < replay_start) || at.offset_bytes == 0) return;
  LogProblem p;
  p.kind = s.ok() ? LogProblem::Kind::kCorruptRegion : LogProblem::Kind::kError;
  p.role = FrameRole::kHistory;
  p.at = at;
  p.bytes = more && resume < replay_start ? RegionBytes(ctx, at, resume)
                                          : replay_start.offset_bytes - at.offset_bytes;
  p.message = s.ok() ? st.description : s.message();
  AddProblem(ctx, std::move(p));
  // Frames between the bad region and the replay position: still check them.
  if (more && resume < replay_start) {
    ReplayStats rest;
    (void)ReplayLog(
        ctx.env, ctx.dir, resume, WalRecoveryMode::kPointInTimeRecovery,
        [&](const LogRecord& r) {
          if (!(r.start < replay_start)) return StopSentinel();
          DecodeFramePayload(ctx, r, FrameRole::kHistory);
          return Status::OK();
        },
        &rest, ctx.sb->store_id);
  }
}

// Log files that exist after a gap are never replayed.
void CheckGaps(Context& ctx) {
  uint64_t end = ctx.sb->log_replay_file_number;
  while (LogExists(ctx, end)) ++end;
  for (const std::string& name : ctx.names) {
    FileKind kind;
    uint64_t number = 0;
    if (ParseFileName(name, &kind, &number) && kind == FileKind::kLog && number > end) {
      ctx.Add(FsckSeverity::kError, "log", name, 0, 0,
              "never replayed: " + LogFileName(end) +
                  " is missing (a gap in the log), so replay "
                  "stops before this file");
    }
  }
}

}  // namespace

void CheckLog(Context& ctx) {
  const SuperblockData& sb = *ctx.sb;
  const LogPosition start{sb.log_replay_file_number, sb.log_replay_offset_bytes};
  ScanHistory(ctx, start);
  uint64_t last_commit_epoch = sb.checkpoint_epoch;
  ctx.replay_status = ReplayLog(
      ctx.env, ctx.dir, start, ctx.options.wal_recovery_mode,
      [&](const LogRecord& r) {
        DecodeFramePayload(ctx, r, FrameRole::kReplayed);
        ApplyReplayed(ctx, r, &last_commit_epoch);
        return Status::OK();
      },
      &ctx.replay, ctx.sb->store_id);
  CheckGaps(ctx);
  const Status& s = ctx.replay_status;
  if (s.IsNotFound()) {
    ctx.Add(FsckSeverity::kError, "log", LogFileName(start.file_number), start.offset_bytes, 0,
            "missing: the superblock's replay position " + start.ToString() +
                " names it (recovery refuses the store)");
    return;
  }
  if (s.ok() && ctx.replay.stop_reason == ReplayStopReason::kCleanEnd) return;
  if (s.ok() && (ctx.replay.stop_reason == ReplayStopReason::kTornTail ||
                 ctx.replay.stop_reason == ReplayStopReason::kZeroTail)) {
    const LogPosition at = ctx.replay.last_file_number > ctx.replay.end.file_number
                               ? LogPosition{ctx.replay.last_file_number, 0}
                               : ctx.replay.end;
    ctx.report.log_bytes_dropped = ctx.replay.dropped_bytes;
    AddProblem(ctx, LogProblem{LogProblem::Kind::kTail, FrameRole::kReplayed, at,
                               ctx.replay.dropped_bytes, ctx.replay.description,
                               ctx.replay.stop_reason == ReplayStopReason::kZeroTail});
    ScanAfterTail(ctx, ctx.replay);
    return;
  }
  // Recovery stops here (point-in-time mode) or refuses the store: name the spot, then check
  // the rest of the log without applying it.
  LogPosition at, resume;
  const bool more = Locate(ctx, ctx.replay, &at, &resume);
  LogProblem p;
  p.kind = s.ok() ? LogProblem::Kind::kCorruptRegion : LogProblem::Kind::kError;
  p.role = FrameRole::kReplayed;
  p.at = at;
  p.bytes = more ? RegionBytes(ctx, at, resume) : TailBytes(ctx, at);
  p.message = s.ok() ? ctx.replay.description : s.message();
  if (s.ok()) ctx.report.log_bytes_dropped = ctx.replay.dropped_bytes;
  AddProblem(ctx, std::move(p));
  if (more) ScanRest(ctx, resume, FrameRole::kUntrusted);
}

}  // namespace cowtree::recovery::fsck
