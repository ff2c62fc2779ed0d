// fsck pass: the OT checkpoint the superblock names (docs/ot_checkpoint.md), loaded into a new
// object table exactly as recovery::Open does; CheckLog then applies the OT deltas.
#include "persistence/file_names.h"
#include "persistence/ot_checkpoint.h"
#include "recovery/fsck_context.h"

namespace cowtree::recovery::fsck {

void LoadOtCheckpoint(Context& ctx) {
  const SuperblockData& sb = *ctx.sb;
  ctx.table = std::make_unique<ObjectTable>();
  ctx.table_usable = false;
  if (sb.ot_checkpoint_id == 0) {
    ctx.ot_epoch = 0;
    ctx.table_usable = true;  // an empty table, then the deltas
    return;
  }
  const std::string name = OtCheckpointFileName(sb.ot_checkpoint_id);
  Result<OtCheckpointContents> otc =
      ReadOtCheckpoint(ctx.env, ctx.dir, sb.ot_checkpoint_id, sb.store_id);
  if (!otc.ok()) {
    ctx.Add(FsckSeverity::kError, "ot-checkpoint", name, OffsetInMessage(otc.status().message()), 0,
            otc.status().IsNotFound() ? "missing: the superblock (generation " +
                                            std::to_string(sb.generation) + ") names it"
                                      : otc.status().message());
    return;
  }
  if (otc->epoch() > sb.checkpoint_epoch) {
    ctx.Add(FsckSeverity::kError, "ot-checkpoint", name, 24, 0,
            "epoch " + std::to_string(otc->epoch()) +
                " is past the superblock's checkpoint epoch " +
                std::to_string(sb.checkpoint_epoch) + " (recovery refuses the store)");
    return;
  }
  if (ctx.manifest.has_value()) {
    for (const ManifestOtCheckpoint& c : ctx.manifest->ot_checkpoints) {
      if (c.id == sb.ot_checkpoint_id && c.epoch != otc->epoch()) {
        ctx.Add(FsckSeverity::kError, "manifest", ManifestFileName(ctx.manifest->generation), 0, 0,
                "records epoch " + std::to_string(c.epoch) + " for " + name +
                    ", whose header says epoch " + std::to_string(otc->epoch()));
      }
    }
  }
  Status loaded = otc->LoadInto(
      *ctx.table, ctx.manifest.has_value() ? RetainedEpochsOf(*ctx.manifest) : RetainedEpochs());
  if (!loaded.ok()) {
    ctx.Add(FsckSeverity::kError, "ot-checkpoint", name, OffsetInMessage(loaded.message()), 0,
            loaded.message());
    return;
  }
  ctx.ot_epoch = otc->epoch();
  ctx.ot_checkpoint_entries = otc->entry_count();
  ctx.table_usable = true;
}

}  // namespace cowtree::recovery::fsck
