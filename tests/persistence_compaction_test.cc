// Compaction building blocks below the runtime: SegmentAllocator::AllocateBelow / ReleaseTail /
// TruncateFiles, ObjectStore::Relocate below an offset, UndoUnpublishedRelocations and
// ReclaimRelocated, and the planner (persistence/compaction.h). The runtime round, the crash
// sweep and the I/O-error loop are in tests/recovery_compaction_test.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "persistence/compaction.h"
#include "persistence/file_names.h"
#include "persistence/object_store.h"

namespace cowtree {
namespace {

constexpr uint64_t kSegment = 64 * 1024;  // 16 slots of 4 KiB

class CompactionPartsTest : public ::testing::Test {
 protected:
  CompactionPartsTest() {
    dir_ = ::testing::TempDir() + "cowtree_compact_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.allocator.store_id = ExampleStoreId();
    options_.allocator.segment_size_bytes = kSegment;
    options_.allocator.mmap_window_bytes = kSegment;
    options_.allocator.mmap_windows_max = 4;
  }
  ~CompactionPartsTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ObjectStore> Open() {
    auto r = ObjectStore::Open(Env::Default(), dir_, options_, {}, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  uint64_t FileSize4k() { return std::filesystem::file_size(JoinPath(dir_, DataFileName(4096))); }

  std::string dir_;
  ObjectStoreOptions options_;
};

std::string Body(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(CompactionPartsTest, AllocateBelowTakesTheLowestFreeSlotAndNeverGrows) {
  auto store = Open();
  std::vector<NodeID> ids;
  for (int i = 0; i < 40; ++i)
    ids.push_back(*store->WriteObject(ObjectKind::kLeaf, 1, Body(i, 2100)));
  ASSERT_EQ(FileSize4k(), 3 * kSegment);  // slot 0 is the header: 41 slots, 3 segments
  SegmentAllocator* a = store->mutable_allocator();
  // Free slots 5 and 20 (objects 4 and 19).
  store->Retire(ids[4], 2);
  store->Retire(ids[19], 2);
  store->Reclaim(2);
  Result<ObjectAddress> low = a->AllocateBelow(2100, 16 * 4096);
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low->offset_bytes, 5u * 4096);
  EXPECT_TRUE(a->AllocateBelow(2100, 16 * 4096).status().IsNotFound());  // slot 20 is above
  Result<ObjectAddress> next = a->AllocateBelow(2100, 21 * 4096);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->offset_bytes, 20u * 4096);
  // Slots 41..47 are the last free ones: after them AllocateBelow fails, never grows the file.
  for (uint64_t slot = 41; slot < 48; ++slot) {
    Result<ObjectAddress> got = a->AllocateBelow(2100, UINT64_MAX / 2);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->offset_bytes, slot * 4096);
  }
  EXPECT_TRUE(a->AllocateBelow(2100, UINT64_MAX / 2).status().IsNotFound());
  EXPECT_EQ(FileSize4k(), 3 * kSegment);
}

TEST_F(CompactionPartsTest, RelocateBelowReleaseTailTruncate) {
  auto store = Open();
  std::vector<NodeID> ids;
  for (int i = 0; i < 47; ++i)
    ids.push_back(*store->WriteObject(ObjectKind::kLeaf, 1, Body(i, 2200 + i)));
  // 48 slots with the header: exactly 3 segments, all used. Free most of the first two.
  for (int i = 0; i < 30; ++i) store->Retire(ids[i], 2);
  store->Reclaim(2);
  (void)store->TakeDeltas();
  auto plans = PlanCompaction(store->allocator().stats(), 0.0);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].keep_segments, 2u);  // 18 used slots fit in 2 segments of 16
  EXPECT_TRUE(PlanCompaction(store->allocator().stats(), 0.9).empty());
  // Move the 16 objects of the last segment below it.
  for (int i = 31; i < 47; ++i) {
    Result<ObjectAddress> moved = store->Relocate(ids[i], 5, 2 * kSegment);
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    EXPECT_LT(moved->offset_bytes, 2 * kSegment);
  }
  EXPECT_EQ(store->TakeDeltas().size(), 16u);
  // Not published: nothing can be released yet (the old slots are still used).
  EXPECT_EQ(store->mutable_allocator()->ReleaseTail(4096), 0u);
  store->PublishRelocations();
  EXPECT_EQ(store->ReclaimRelocated(4), 0u);  // a reader pinned at epoch 4 may hold them
  EXPECT_EQ(store->ReclaimRelocated(UINT64_MAX), 16u);
  EXPECT_EQ(store->mutable_allocator()->ReleaseTail(4096), kSegment);
  EXPECT_EQ(store->data_files()[0].size_bytes, 2 * kSegment);
  EXPECT_EQ(FileSize4k(), 3 * kSegment);  // the file is cut only by TruncateFiles
  Result<uint64_t> cut = store->mutable_allocator()->TruncateFiles();
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(*cut, kSegment);
  ASSERT_TRUE(store->Sync().ok());
  EXPECT_EQ(FileSize4k(), 2 * kSegment);
  for (int i = 30; i < 47; ++i) {
    Result<std::string> got = store->ReadObject(ids[i], ObjectKind::kLeaf);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, Body(i, 2200 + i));
  }
  // The file grows again from its new end.
  NodeID more = *store->WriteObject(ObjectKind::kLeaf, 6, Body(99, 2300));
  for (int i = 0; i < 20; ++i) (void)*store->WriteObject(ObjectKind::kLeaf, 6, Body(i, 2050));
  EXPECT_EQ(*store->ReadObject(more, ObjectKind::kLeaf), Body(99, 2300));
  EXPECT_EQ(FileSize4k(), 3 * kSegment);
}

// Disk blocks of a file (st_blocks), to see punched holes.
uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

TEST_F(CompactionPartsTest, PunchFreeRunsReleasesBlocksOfFreeSlotsOnly) {
  auto store = Open();
  std::vector<NodeID> ids;
  for (int i = 0; i < 47; ++i) {
    ids.push_back(*store->WriteObject(ObjectKind::kLeaf, 1, Body(i, 4000)));
  }
  for (int i = 8; i < 40; ++i) store->Retire(ids[i], 2);  // slots 9..40 free: 32 slots
  store->Reclaim(2);
  ASSERT_TRUE(store->Sync().ok());
  const std::string path = JoinPath(dir_, DataFileName(4096));
  const uint64_t blocks_before = AllocatedBytes(path);
  Result<uint64_t> punched = store->mutable_allocator()->PunchFreeRuns(64 * 1024);
  ASSERT_TRUE(punched.ok()) << punched.status().ToString();
  EXPECT_EQ(*punched, 32u * 4096);
  EXPECT_EQ(FileSize4k(), 3 * kSegment);  // the size stays
  // st_blocks counts file-system metadata too: splitting an extent may allocate an extent-tree
  // block (ext4 keeps only 4 extents in the inode; seen once in CI: 31 of the 32 blocks came
  // back). So at least 28 of the 32 punched blocks must be released.
  if (*punched > 0) EXPECT_LE(AllocatedBytes(path) + 28 * 4096, blocks_before);
  for (int i : {0, 7, 40, 46}) {
    EXPECT_EQ(*store->ReadObject(ids[i], ObjectKind::kLeaf), Body(i, 4000));
  }
  // A run shorter than the minimum is left alone; punched slots are written again normally.
  EXPECT_EQ(*store->mutable_allocator()->PunchFreeRuns(33 * 4096), 0u);
  NodeID again = *store->WriteObject(ObjectKind::kLeaf, 3, Body(77, 4000));
  EXPECT_EQ(*store->ReadObject(again, ObjectKind::kLeaf), Body(77, 4000));
}

TEST_F(CompactionPartsTest, UndoUnpublishedRelocationsPutsEveryObjectBack) {
  auto store = Open();
  std::vector<NodeID> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(*store->WriteObject(ObjectKind::kLeaf, 1, Body(i, 2500)));
  for (int i = 0; i < 10; ++i) store->Retire(ids[i], 2);
  store->Reclaim(2);
  (void)store->TakeDeltas();
  std::vector<ObjectAddress> before;
  for (int i = 10; i < 20; ++i) before.push_back(store->table().Get(ids[i])->address);
  for (int i = 15; i < 20; ++i) ASSERT_TRUE(store->Relocate(ids[i], 3, kSegment).ok());
  const uint64_t used = store->allocator().stats().classes[0].used_slots;
  std::vector<NodeID> undone = store->UndoUnpublishedRelocations();
  EXPECT_EQ(undone.size(), 5u);
  EXPECT_TRUE(store->TakeDeltas().empty());  // the upserts naming the freed slots are gone
  EXPECT_EQ(store->allocator().stats().classes[0].used_slots, used - 5);
  EXPECT_EQ(store->stats().relocated_pending, 0u);
  for (int i = 10; i < 20; ++i) {
    EXPECT_EQ(store->table().Get(ids[i])->address, before[i - 10]);
    EXPECT_EQ(*store->ReadObject(ids[i], ObjectKind::kLeaf), Body(i, 2500));
  }
  // A retired object is never relocated.
  store->Retire(ids[10], 4);
  EXPECT_TRUE(store->Relocate(ids[10], 5).status().IsInvalidArgument());
}

TEST(CompactionPlan, DeadRatioAndKeepSegments) {
  SegmentAllocatorStats stats;
  // 4 KiB class, segments of 16 slots: 10 segments, 30 slots used -> keep 2, dead 130/160.
  stats.classes.push_back({4096, "data-4k.dat", 10 * kSegment, kSegment, 10, 30, 130});
  // 8 KiB class: 2 segments of 16 slots (128 KiB each) fully used: nothing to do.
  stats.classes.push_back({8192, "data-8k.dat", 2 * 16 * 8192, 16 * 8192, 2, 32, 0});
  // 16 KiB class: one segment only: never compacted.
  stats.classes.push_back({16384, "data-16k.dat", 16 * 16384, 16 * 16384, 1, 1, 15});
  auto plans = PlanCompaction(stats, 0.25);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].size_class_bytes, 4096u);
  EXPECT_EQ(plans[0].keep_segments, 2u);
  EXPECT_DOUBLE_EQ(plans[0].dead_ratio, 130.0 / 160.0);
  EXPECT_TRUE(PlanCompaction(stats, 0.9).empty());
  EXPECT_DOUBLE_EQ(DeadRatio(stats.classes[1]), 0.0);
}

}  // namespace
}  // namespace cowtree
