// LiveObjects(env, dir): the object-table entries of a closed store as recovery rebuilds them
// (fsck's own passes: superblock, manifest, OT checkpoint, log deltas), in handle order,
// retired ones included. Header-only: only tests linking the recovery layer include it. Test code
// only.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "persistence/ot_entry.h"
#include "recovery/fsck.h"
#include "recovery/fsck_context.h"

namespace cowtree::testutil {

inline std::vector<OtRecord> LiveObjects(Env* env, const std::string& dir) {
  recovery::fsck::Context ctx(env, dir, recovery::FsckOptions{env});
  EXPECT_TRUE(recovery::fsck::ListFiles(ctx).ok());
  recovery::fsck::CheckSuperblock(ctx);
  recovery::fsck::CheckManifest(ctx);
  recovery::fsck::LoadOtCheckpoint(ctx);
  recovery::fsck::CheckLog(ctx);
  std::vector<OtRecord> live;
  if (ctx.table == nullptr) return live;
  ctx.table->ForEachLive([&](NodeID id, const OtEntry& e) { live.push_back(OtRecord{id, e}); });
  return live;
}

}  // namespace cowtree::testutil
