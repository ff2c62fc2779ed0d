// A checkpoint whose OT changes span several kOtDelta records (persistence/runtime_checkpoint.cc
// logs at most 4096 ops per record: the upserts of the objects it wrote, then a retire per
// object it superseded, without concatenating them in memory): reopen applies every record,
// the answers are those committed, and fsck finds nothing.
#include <gtest/gtest.h>

#include <cstdint>

#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"

namespace cowtree {
namespace {

using testutil::TempDir;

RuntimeOptions SmallLeaves() {
  RuntimeOptions o;
  o.background_thread = false;
  o.leaf_capacity_entries = 16;  // many objects for few keys
  o.fanout = 8;
  return o;
}

// Adds `weight` to every `stride`-th key of [0, n), in commits of 20 k ops.
void AddEvery(Runtime* rt, TreeId id, int64_t n, int64_t stride, int64_t weight) {
  for (int64_t i = 0; i < n;) {
    RuntimeWriteBatch b(rt);
    for (int j = 0; j < 20000 && i < n; ++j, i += stride) {
      tree::AppendOrderStatOp(b.MutableOps(id), tree::EncodeInt64Key(i), weight);
    }
    ASSERT_TRUE(rt->Commit(b).ok());
  }
}

TEST(OtDeltaRecords, ACheckpointOfManyObjectsLogsSeveralRecordsAndReopens) {
  TempDir dir;
  constexpr int64_t kKeys = 800000;
  constexpr int64_t kStride = 256;  // the update touches every 16th leaf: ~3 k leaves
  TreeId id;
  {
    auto rt = recovery::Open(dir.path(), SmallLeaves());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RuntimeWriteBatch create(rt->get());
    id = create.CreateTree("t", tree::kOrderStatTreeTypeId,
                           tree::OrderStatTreeParams(tree::KeyType::kInt64));
    ASSERT_TRUE((*rt)->Commit(create).ok());
    AddEvery(rt->get(), id, kKeys, 1, 1);
    ASSERT_TRUE((*rt)->Checkpoint().ok());  // large against the live objects: a full OT image
    const uint64_t live = (*rt)->GetStats().live_objects;
    ASSERT_GT(live, 48000u);  // so that the next checkpoint's ops stay under live / 4
    AddEvery(rt->get(), id, kKeys, kStride, 2);
    ASSERT_TRUE((*rt)->Checkpoint().ok());  // ~6 k ops: logged as OT deltas, in 2+ records
    ASSERT_TRUE((*rt)->Close().ok());
  }
  recovery::OpenReport report;
  auto rt = recovery::Open(dir.path(), SmallLeaves(), &report);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_GT(report.ot_delta_ops_applied, 4096u) << "the deltas span more than one record";
  EXPECT_EQ(report.commits_replayed, 0u);
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("t", snap);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto v = tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
  constexpr uint64_t kUpdated = kKeys / kStride;
  EXPECT_EQ(v->positive_count, kKeys + 2 * kUpdated);
  // Every leaf is read back: each key's weight is what was committed.
  for (int64_t k = 0; k < kKeys; k += 7) {
    auto w = tree::WeightOf(*v, tree::EncodeInt64Key(k));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_EQ(*w, k % kStride == 0 ? 3 : 1) << k;
  }
  snap = RuntimeSnapshot();
  ASSERT_TRUE((*rt)->Close().ok());
  rt->reset();
  recovery::FsckOptions fo;
  auto fsck = recovery::Fsck(dir.path(), fo);
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  EXPECT_EQ(fsck->errors(), 0u);
  EXPECT_EQ(fsck->warnings(), 0u);
}

}  // namespace
}  // namespace cowtree
