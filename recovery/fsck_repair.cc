// fsck --repair: the few repairs that are safe without guessing (docs/fsck.md "Repair").
//
// 1. Torn or zero log tail: what recovery does first — truncate the last log file to the end
//    of its last good frame (LogWriter::OpenForAppend, which also deletes the leftover of a
//    torn log-file creation) and fdatasync. Only when fsck found no error: a tail dropped as
//    torn that an error elsewhere needs (a damaged OT delta of the published checkpoint) stays.
// 2. Leaked objects: the checkpoint protocol once more, without new data — a new OT checkpoint
//    (the object table minus the leaked entries, as of the published checkpoint epoch C), a new
//    manifest naming it, then a new superblock generation (the commit point; same epoch, replay
//    position and catalog root). Recovery then rebuilds free space without the leaked slots.
//    Only when fsck found no error: everything else must be sound for this to be safe.
// 3. A superblock copy that does not verify while the other one does: rewritten by writing the
//    good copy's contents as the next generation (which goes to the bad copy's slot). Done by 2
//    as a side effect.
// 4. Leftovers of interrupted operations (*.tmp, obsolete or never-published manifests, OT
//    checkpoints, log files before the replay position): deleted, then the directory fsynced.
//    Unknown files (not cowtree names) and data files are never deleted.
// Everything else (damaged objects, corrupt log frames that valid frames follow, a bad OT
// checkpoint or manifest, both superblock copies bad, tree invariant violations, overlapping
// slots, dangling references) is left as an error: repairing it would mean guessing data.
// A failed repair step adds an error finding and leaves its findings unrepaired.
#include <algorithm>

#include "persistence/file_names.h"
#include "persistence/log_writer.h"
#include "persistence/ot_checkpoint.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {
namespace {

void MarkRepaired(Context& ctx, size_t index, const std::string& how) {
  FsckFinding& f = ctx.report.findings[index];
  f.repaired = true;
  f.message += "; repair: " + how;
}

// An operational error, not damage: the store's findings stay as they were (unrepaired), this
// one is a warning, and the exit code gets bit 8 (FsckReport::repair_failed).
void RepairFailed(Context& ctx, const std::string& what, const Status& st) {
  ctx.report.repair_failed = true;
  ctx.Add(FsckSeverity::kWarning, "repair", "", 0, 0, what + " failed: " + st.ToString());
}

// Repairs run only on a store in which fsck found no error: with one, what fsck takes for the
// published state may be wrong (e.g. both copies of the newest superblock pair damaged, so that
// an older generation looks published and the newest manifest a leftover), and a repair would
// destroy what a person could still recover by hand (found by an adversarial run: the newest
// manifest, the only record of a retained checkpoint, deleted as a leftover).
bool SkipForErrors(Context& ctx, size_t finding, const std::string& what) {
  if (ctx.report.errors() == 0) return false;
  ctx.report.findings[finding].message += "; not repaired: fsck found errors, and " + what;
  return true;
}

LogWriterOptions RepairLogOptions(const Context& ctx) {
  LogWriterOptions o;
  o.store_id = ctx.sb->store_id;
  return o;
}

void RepairLogTail(Context& ctx) {
  if (!ctx.log_tail_finding.has_value() || !ctx.replay_status.ok()) return;
  // With an error anywhere else the dropped tail may hold what that error misses (e.g. the OT
  // delta of the published checkpoint, damaged after it was synced): keep its bytes.
  if (ctx.report.errors() > 0) {
    ctx.report.findings[*ctx.log_tail_finding].message +=
        "; not repaired: fsck found errors, and the tail may hold what they miss";
    return;
  }
  Result<std::unique_ptr<LogWriter>> writer =
      LogWriter::OpenForAppend(ctx.env, ctx.dir, ctx.replay.end, RepairLogOptions(ctx));
  Status st = writer.ok() ? (*writer)->Close() : writer.status();
  if (!st.ok()) {
    RepairFailed(ctx, "truncating the log tail at " + ctx.replay.end.ToString(), st);
    return;
  }
  MarkRepaired(ctx, *ctx.log_tail_finding,
               "log truncated to " + ctx.replay.end.ToString() + " and fdatasync'd");
}

uint64_t LargestNumber(const Context& ctx, FileKind wanted) {
  uint64_t largest = 0;
  for (const std::string& name : ctx.names) {
    FileKind kind;
    uint64_t number = 0;
    if (ParseFileName(name, &kind, &number) && kind == wanted) largest = std::max(largest, number);
  }
  return largest;
}

// The manifest of the repaired checkpoint: the current one with the new OT checkpoint and the
// log files that exist from the replay position on.
Manifest RepairedManifest(Context& ctx, uint64_t ot_id) {
  const SuperblockData& sb = *ctx.sb;
  Manifest m = *ctx.manifest;
  m.generation = std::max(sb.manifest_generation, LargestNumber(ctx, FileKind::kManifest)) + 1;
  m.ot_checkpoints = {
      ManifestOtCheckpoint{OtCheckpointFileName(ot_id), ot_id, sb.checkpoint_epoch}};
  std::vector<ManifestLogFile> logs;
  for (uint64_t n = sb.log_replay_file_number;
       ctx.env->FileExists(JoinPath(ctx.dir, LogFileName(n))); ++n) {
    ManifestLogFile l{LogFileName(n), n, 0, 0};
    for (const ManifestLogFile& old : ctx.manifest->log_files) {
      if (old.number == n) l = old;
    }
    logs.push_back(l);
  }
  m.log_files = std::move(logs);
  return m;
}

// Writes the next superblock generation with `next`'s contents (generation set here).
// Two generations are written, so that both pairs — every copy — hold the same state again.
Status WriteNextSuperblock(Context& ctx, SuperblockData next) {
  for (int i = 0; i < 2; ++i) {
    next.generation = ctx.sb->generation + 1;
    COWTREE_RETURN_IF_ERROR(WriteSuperblock(ctx.env, ctx.dir, next));
    ctx.sb = next;
  }
  for (size_t index : ctx.superblock_copy_findings) {
    MarkRepaired(ctx, index,
                 "the copy was rewritten as generation " + std::to_string(next.generation));
  }
  ctx.superblock_copy_findings.clear();
  return Status::OK();
}

void RepairLeaks(Context& ctx) {
  if (ctx.leak_findings.empty()) return;
  if (ctx.report.errors() > 0 || !ctx.manifest.has_value() || !ctx.reachability_ok) {
    for (size_t index : ctx.leak_findings) {
      ctx.report.findings[index].message +=
          "; not repaired: fsck found errors, and leaked slots are reclaimed only in a store "
          "that is otherwise sound";
    }
    return;
  }
  const SuperblockData old_sb = *ctx.sb;
  ObjectTable table;
  std::vector<uint64_t> leaked;
  for (NodeID id : ctx.leaked) leaked.push_back(id.raw());
  std::sort(leaked.begin(), leaked.end());
  Status loaded;
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) {
    if (!loaded.ok() || std::binary_search(leaked.begin(), leaked.end(), id.raw())) return;
    loaded = table.LoadEntry(id, e);
  });
  if (!loaded.ok()) return RepairFailed(ctx, "rebuilding the object table", loaded);
  table.FinishLoad();
  const uint64_t ot_id =
      std::max(old_sb.ot_checkpoint_id, LargestNumber(ctx, FileKind::kOtCheckpoint)) + 1;
  Status st =
      WriteOtCheckpoint(ctx.env, ctx.dir, ot_id, old_sb.checkpoint_epoch, table, old_sb.store_id,
                        RetainedEpochsOf(*ctx.manifest));
  if (!st.ok()) return RepairFailed(ctx, "writing " + OtCheckpointFileName(ot_id), st);
  const Manifest m = RepairedManifest(ctx, ot_id);
  st = WriteManifest(ctx.env, ctx.dir, m);
  if (!st.ok()) return RepairFailed(ctx, "writing " + ManifestFileName(m.generation), st);
  SuperblockData next = old_sb;
  next.manifest_generation = m.generation;
  next.ot_checkpoint_id = ot_id;
  // The table holds the OT deltas of the log too: their handles may be past the old count.
  next.ot_handle_count = std::max(old_sb.ot_handle_count, table.handle_count());
  st = WriteNextSuperblock(ctx, next);
  if (!st.ok()) return RepairFailed(ctx, "writing the superblock", st);
  // The commit point is durable: the superseded files are obsolete.
  if (old_sb.ot_checkpoint_id != 0) {
    (void)ctx.env->DeleteFile(JoinPath(ctx.dir, OtCheckpointFileName(old_sb.ot_checkpoint_id)));
  }
  (void)ctx.env->DeleteFile(JoinPath(ctx.dir, ManifestFileName(old_sb.manifest_generation)));
  (void)ctx.env->SyncDir(ctx.dir);
  ctx.manifest = m;
  for (size_t index : ctx.leak_findings) {
    MarkRepaired(ctx, index,
                 "dropped from the object table by " + OtCheckpointFileName(ot_id) +
                     " (superblock generation " + std::to_string(ctx.sb->generation) + ")");
  }
}

void RepairSuperblockCopy(Context& ctx) {
  if (ctx.superblock_copy_findings.empty()) return;
  bool skipped = false;
  for (size_t f : ctx.superblock_copy_findings) {
    skipped |= SkipForErrors(ctx, f, "rewriting the copies could destroy what they hold");
  }
  if (skipped) return;
  Status st = WriteNextSuperblock(ctx, *ctx.sb);
  if (!st.ok()) RepairFailed(ctx, "rewriting the superblock", st);
}

void DeleteLeftovers(Context& ctx) {
  bool deleted = false;
  for (const auto& [index, name] : ctx.leftover_findings) {
    if (SkipForErrors(ctx, index, "the file may be what they miss")) continue;
    Status st = ctx.env->DeleteFile(JoinPath(ctx.dir, name));
    if (st.ok() || st.IsNotFound()) {
      MarkRepaired(ctx, index, "deleted");
      deleted = true;
    } else {
      RepairFailed(ctx, "deleting " + name, st);
    }
  }
  if (deleted) {
    Status st = ctx.env->SyncDir(ctx.dir);
    if (!st.ok()) RepairFailed(ctx, "fsync of the store directory", st);
  }
}

}  // namespace

void Repair(Context& ctx) {
  if (!ctx.sb.has_value()) return;  // no usable superblock: nothing can be repaired safely
  RepairLogTail(ctx);
  RepairLeaks(ctx);
  RepairSuperblockCopy(ctx);
  DeleteLeftovers(ctx);
}

}  // namespace cowtree::recovery::fsck
