// fsck --repair of a store whose SUPERBLOCK is gone (docs/fsck.md "Rebuilding a lost
// SUPERBLOCK").
//
// The superblock is the only place that names the catalog root, the OT checkpoint and the
// replay position. It can be rebuilt without guessing only when the remaining files determine
// all three: the store never published a checkpoint that wrote objects, i.e.
//   - no data file and no OT checkpoint exists (so the catalog was never written: root 0,
//     empty object table, checkpoint epoch 0), and
//   - log-000001.log exists with a valid header (so no log file was ever deleted: replay from
//     its first frame sees every commit ever made).
// Then the new SUPERBLOCK is generation 1, checkpoint epoch 0, replay from log 1 just after its
// header, with the store id that log-000001.log's header carries, naming a new manifest that lists
// every log file present (written first: tmp + fsync
// + rename + dir fsync). Recovery then replays every acknowledged commit. Anything else is left
// as an error naming what is missing, since rebuilding it would mean guessing.
#include <algorithm>

#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/manifest.h"
#include "persistence/superblock.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {
namespace {

// Why the SUPERBLOCK cannot be rebuilt from what is left; "" if it can.
std::string WhyNotRebuildable(Context& ctx, std::vector<uint64_t>* log_numbers,
                              uint64_t* manifest_generation, StoreId* store_id) {
  *manifest_generation = 0;
  for (const std::string& name : ctx.names) {
    FileKind kind;
    uint64_t number = 0;
    if (!ParseFileName(name, &kind, &number)) continue;
    if (kind == FileKind::kData || kind == FileKind::kOtCheckpoint) {
      return name +
             " exists: a checkpoint wrote objects, and only the lost SUPERBLOCK named "
             "its catalog root and OT checkpoint";
    }
    if (kind == FileKind::kLog) log_numbers->push_back(number);
    if (kind == FileKind::kManifest) *manifest_generation = std::max(*manifest_generation, number);
  }
  std::sort(log_numbers->begin(), log_numbers->end());
  if (log_numbers->empty() || log_numbers->front() != 1) {
    return "log-000001.log is gone: commits before the first remaining log file are lost";
  }
  for (size_t i = 1; i < log_numbers->size(); ++i) {
    if ((*log_numbers)[i] != (*log_numbers)[i - 1] + 1) {
      return "log files are not contiguous (" + LogFileName((*log_numbers)[i - 1] + 1) +
             " is missing)";
    }
  }
  std::string header;
  Status read = ctx.env->ReadFileToString(JoinPath(ctx.dir, LogFileName(1)), &header);
  if (!read.ok()) return "cannot read log-000001.log: " + read.ToString();
  Status valid = VerifyLogFileHeader(header, 1, StoreId(), LogFileName(1));
  if (!valid.ok()) return valid.ToString();
  *store_id = LogFileHeaderStoreId(header);  // the store's identity survives in every log header
  return "";
}

}  // namespace

void RebuildLostSuperblock(Context& ctx) {
  std::vector<uint64_t> logs;
  uint64_t manifest_generation = 0;
  StoreId store_id;
  const std::string why = WhyNotRebuildable(ctx, &logs, &manifest_generation, &store_id);
  if (!why.empty()) {
    ctx.Add(FsckSeverity::kError, "repair", kSuperblockFileName, 0, 0,
            "cannot rebuild SUPERBLOCK: " + why);
    return;
  }
  Manifest m;
  m.generation = manifest_generation + 1;
  m.store_id = store_id;
  for (uint64_t n : logs) m.log_files.push_back(ManifestLogFile{LogFileName(n), n, 0, 0});
  Status st = WriteManifest(ctx.env, ctx.dir, m);
  SuperblockData sb;
  sb.generation = 1;
  sb.manifest_generation = m.generation;
  sb.log_replay_file_number = 1;
  sb.log_replay_offset_bytes = kLogFileHeaderSize;
  sb.store_id = store_id;
  if (st.ok()) st = WriteNewSuperblock(ctx.env, ctx.dir, sb);
  if (!st.ok()) {
    ctx.report.repair_failed = true;  // exit bit 8 beside the lost SUPERBLOCK's error
    ctx.Add(FsckSeverity::kWarning, "repair", kSuperblockFileName, 0, 0,
            "rebuilding SUPERBLOCK failed: " + st.ToString());
    return;
  }
  auto it = std::find_if(ctx.report.findings.rbegin(), ctx.report.findings.rend(),
                         [](const FsckFinding& x) { return x.structure == "superblock"; });
  if (it == ctx.report.findings.rend()) return;
  FsckFinding& f = *it;
  f.repaired = true;
  f.message += "; repair: SUPERBLOCK rebuilt (generation 1, checkpoint epoch 0, replay from " +
               LogFileName(1) + ", " + ManifestFileName(m.generation) + " listing " +
               std::to_string(logs.size()) +
               " log file(s)); every commit in the "
               "log is replayed at the next open";
}

}  // namespace cowtree::recovery::fsck
