// SegmentAllocator: class choice, file creation and growth, free/reuse, O(1) allocate/free,
// rebuild-at-open (the DESIGN pitfall), overlap detection, manifest checks, sync failures.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "persistence/data_file_format.h"
#include "persistence/file_names.h"
#include "persistence/segment_allocator.h"
#include "tests/segment_test_util.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using testutil::TempDir;

using segment_test::SmallOptions;

using segment_test::Payload;

using segment_test::OpenOrDie;

TEST(SegmentAllocatorTest, SizeClassChoice) {
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(1), 1024u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(1024), 1024u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(1025), 2048u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(2049), 4096u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(4096), 4096u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(4097), 8192u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(100000), 131072u);
  EXPECT_EQ(*SegmentAllocator::SizeClassFor(262144), 262144u);
  EXPECT_TRUE(SegmentAllocator::SizeClassFor(262145).status().IsInvalidArgument());
  EXPECT_TRUE(SegmentAllocator::SizeClassFor(0).status().IsInvalidArgument());
  TempDir dir;
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
  EXPECT_EQ(a->SegmentBytes(4096), 64u * 1024);      // 16 slots
  EXPECT_EQ(a->SegmentBytes(1024), 64u * 1024);      // 64 slots
  EXPECT_EQ(a->SegmentBytes(262144), 4096u * 1024);  // at least 16 slots
  SegmentAllocatorOptions big = SmallOptions();
  big.segment_size_bytes = 1ull << 30;
  auto b = OpenOrDie(Env::Default(), dir.path(), big);
  EXPECT_EQ(b->SegmentBytes(4096), 16u << 20);  // at most 4096 slots
  EXPECT_EQ(b->SegmentBytes(1024), 4u << 20);   // at most 4096 slots
  Result<ObjectAddress> huge = a->Allocate(300 * 1024);
  EXPECT_TRUE(huge.status().IsInvalidArgument());
  EXPECT_NE(huge.status().message().find("larger than 256 KiB"), std::string::npos);
}

TEST(SegmentAllocatorTest, CreatesFilesOnFirstUseAndGrowsBySegments) {
  TempDir dir;
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
  EXPECT_TRUE(a->created_files().empty());
  EXPECT_FALSE(Env::Default()->FileExists(JoinPath(dir.path(), "data-4k.dat")));
  std::set<uint64_t> offsets;
  for (int i = 0; i < 40; ++i) {
    Result<ObjectAddress> addr = a->Allocate(3000);
    ASSERT_TRUE(addr.ok());
    EXPECT_EQ(addr->size_class_bytes, 4096u);
    EXPECT_EQ(addr->length_bytes, 3000u);
    EXPECT_TRUE(offsets.insert(addr->offset_bytes).second);
    ASSERT_TRUE(a->Write(*addr, Payload(i, 3000)).ok());
  }
  EXPECT_EQ(a->created_files(), std::vector<std::string>{"data-4k.dat"});
  EXPECT_EQ(*Env::Default()->FileSize(JoinPath(dir.path(), "data-4k.dat")), 3u * 64 * 1024);
  ASSERT_TRUE(a->Allocate(5000).ok());
  EXPECT_EQ(a->created_files(), (std::vector<std::string>{"data-4k.dat", "data-8k.dat"}));
  SegmentAllocatorStats s = a->stats();
  ASSERT_EQ(s.classes.size(), 2u);
  EXPECT_EQ(s.classes[0].file_name, "data-4k.dat");
  EXPECT_EQ(s.classes[0].segments, 3u);
  EXPECT_EQ(s.classes[0].used_slots, 40u);
  EXPECT_EQ(s.classes[0].free_slots, 8u);
  EXPECT_EQ(s.classes[0].file_bytes, 3u * 64 * 1024);
  EXPECT_EQ(s.classes[1].used_slots, 1u);
  ASSERT_TRUE(a->SyncDirty().ok());
  const std::vector<DataFileInfo> files = a->data_files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].size_class_bytes, 4096u);
  EXPECT_EQ(files[0].size_bytes, 3u * 64 * 1024);
}

TEST(SegmentAllocatorTest, EveryClassRoundTrips) {
  TempDir dir;
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
  for (int c = 0; c < kSizeClassCount; ++c) {
    const uint32_t cls = SizeClassBytesAt(c);
    for (uint32_t len : {cls / 2 + 1, cls}) {
      ObjectAddress addr = *a->Allocate(len);
      EXPECT_EQ(addr.size_class_bytes, cls);
      ASSERT_TRUE(a->Write(addr, Payload(len, len)).ok());
      std::string back;
      ASSERT_TRUE(a->Read(addr, &back).ok());
      EXPECT_EQ(back, Payload(len, len));
    }
  }
}

TEST(SegmentAllocatorTest, FreeThenReuse) {
  TempDir dir;
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
  std::vector<ObjectAddress> addrs;
  // Two full segments: 32 slots, slot 0 holding the file header.
  for (int i = 0; i < 31; ++i) addrs.push_back(*a->Allocate(4096));
  for (const ObjectAddress& addr : addrs)
    EXPECT_NE(addr.offset_bytes, 0u) << "slot 0 is the header";
  a->Free(addrs[5]);
  EXPECT_FALSE(a->IsUsed(addrs[5]));
  ObjectAddress again = *a->Allocate(3000);
  EXPECT_EQ(again.offset_bytes, addrs[5].offset_bytes);
  EXPECT_EQ(again.length_bytes, 3000u);
  EXPECT_TRUE(a->IsUsed(again));
  EXPECT_EQ(a->stats().classes[0].segments, 2u);  // no growth needed
}

// Slot 0 of every data file holds its header (docs/data_files.md "File header"): written at
// creation, verified at open (another store's file or a damaged header is Corruption naming the
// file), never an object's.
TEST(SegmentAllocatorTest, DataFileHeaderNamesTheStore) {
  TempDir dir;
  {
    auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
    ObjectAddress addr = *a->Allocate(4096);
    EXPECT_EQ(addr.offset_bytes, 4096u);
    ASSERT_TRUE(a->SyncDirty().ok());
  }
  const std::string path = JoinPath(dir.path(), "data-4k.dat");
  EXPECT_EQ(testutil::ReadFileOrEmpty(path).substr(0, kDataFileHeaderBytes),
            EncodeDataFileHeader(4096, ExampleStoreId()));
  EXPECT_NE(OpenOrDie(Env::Default(), dir.path(), SmallOptions(), {{4096, 65536}}), nullptr);
  SegmentAllocatorOptions other = SmallOptions();
  other.store_id = StoreId::Random();
  auto refused = SegmentAllocator::Open(Env::Default(), dir.path(), other, {{4096, 65536}});
  ASSERT_TRUE(refused.status().IsCorruption());
  EXPECT_NE(refused.status().message().find("another store"), std::string::npos);
  EXPECT_NE(refused.status().message().find("data-4k.dat"), std::string::npos);
  // An object claimed at slot 0 overlaps the header.
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), {{4096, 65536}});
  Status st = a->MarkUsed(ObjectAddress{4096, 0, 100}, NodeID::Make(7, 1));
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("header"), std::string::npos) << st.message();
  // Unlisted (adopted) with a torn header: rewritten before the first write, not refused.
  {
    auto f = Env::Default()->OpenFile(path, OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, std::string(32, 'x')).ok());
  }
  auto adopted = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), {});
  EXPECT_TRUE(SegmentAllocator::Open(Env::Default(), dir.path(), SmallOptions(), {{4096, 65536}})
                  .status()
                  .IsCorruption());
  ASSERT_TRUE(adopted->PrepareForWrites().ok());
  EXPECT_EQ(testutil::ReadFileOrEmpty(path).substr(0, kDataFileHeaderBytes),
            EncodeDataFileHeader(4096, ExampleStoreId()));
}

// The DESIGN pitfall: after a restart the allocator must be rebuilt from the live OT entries
// before the first write. Write, reopen, write more, reopen, verify everything.
TEST(SegmentAllocatorTest, ReopenRebuildsFreeSpaceFromLiveEntries) {
  TempDir dir;
  std::map<uint64_t, std::pair<ObjectAddress, std::string>> live;  // fake OT: handle -> object
  uint64_t next_handle = 0;
  std::vector<DataFileInfo> manifest;
  auto write_some = [&](SegmentAllocator& a, int n) {
    for (int i = 0; i < n; ++i) {
      const uint32_t len = 100 + static_cast<uint32_t>((next_handle * 7919) % 20000);
      ObjectAddress addr = *a.Allocate(len);
      for (const auto& [h, obj] : live) {
        ASSERT_FALSE(obj.first.size_class_bytes == addr.size_class_bytes &&
                     obj.first.offset_bytes == addr.offset_bytes)
            << "allocated the slot of live object " << h;
      }
      std::string bytes = Payload(next_handle, len);
      ASSERT_TRUE(a.Write(addr, bytes).ok());
      live[next_handle++] = {addr, bytes};
    }
    // Free a few (as reclamation would).
    for (auto it = live.begin(); it != live.end();) {
      if (it->first % 5 == 0) {
        a.Free(it->second.first);
        it = live.erase(it);
      } else {
        ++it;
      }
    }
  };
  auto verify = [&](SegmentAllocator& a) {
    for (const auto& [h, obj] : live) {
      std::string back;
      ASSERT_TRUE(a.Read(obj.first, &back).ok());
      ASSERT_EQ(back, obj.second) << "object " << h;
    }
  };
  auto reopen = [&]() {
    auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), manifest);
    for (const auto& [h, obj] : live) {
      Status st = a->MarkUsed(obj.first, NodeID::Make(h, 1));
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    return a;
  };
  {
    auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
    write_some(*a, 60);
    ASSERT_TRUE(a->SyncDirty().ok());
    manifest = a->data_files();
  }
  for (int round = 0; round < 3; ++round) {
    auto a = reopen();
    verify(*a);
    write_some(*a, 60);
    verify(*a);
    ASSERT_TRUE(a->SyncDirty().ok());
    manifest = a->data_files();
  }
  auto a = reopen();
  verify(*a);
  // Without the rebuild the very first allocation lands on a live object: the test above
  // would catch an allocator that forgot it.
  auto naive = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), manifest);
  bool collides = false;
  for (int i = 0; i < 16; ++i) {  // the first segment
    ObjectAddress got = *naive->Allocate(4096);
    for (const auto& [h, obj] : live) {
      collides |= obj.first.size_class_bytes == 4096 && obj.first.offset_bytes == got.offset_bytes;
    }
  }
  EXPECT_TRUE(collides);
}

TEST(SegmentAllocatorTest, MarkUsedDetectsOverlapAndBadAddresses) {
  TempDir dir;
  std::vector<DataFileInfo> manifest;
  {
    auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
    ASSERT_TRUE(a->Allocate(4096).ok());
    manifest = a->data_files();
  }
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), manifest);
  const ObjectAddress addr{4096, 8192, 100};
  ASSERT_TRUE(a->MarkUsed(addr, NodeID::Make(1, 1)).ok());
  Status overlap = a->MarkUsed({4096, 8192, 4096}, NodeID::Make(2, 1));
  EXPECT_TRUE(overlap.IsCorruption());
  EXPECT_NE(overlap.message().find("overlap"), std::string::npos) << overlap.message();
  EXPECT_NE(overlap.message().find("handle=2"), std::string::npos) << overlap.message();
  EXPECT_NE(overlap.message().find("data-4k.dat offset 8192"), std::string::npos);
  Status past = a->MarkUsed({4096, 64 * 1024, 100}, NodeID::Make(3, 1));
  EXPECT_TRUE(past.IsCorruption());
  EXPECT_NE(past.message().find("past the end"), std::string::npos) << past.message();
  Status no_file = a->MarkUsed({8192, 0, 100}, NodeID::Make(4, 1));
  EXPECT_TRUE(no_file.IsCorruption());
  EXPECT_NE(no_file.message().find("data-8k.dat"), std::string::npos) << no_file.message();
  EXPECT_TRUE(a->MarkUsed({4096, 100, 100}, NodeID::Make(5, 1)).IsCorruption());
  // The next allocation skips the used slot.
  ObjectAddress fresh = *a->Allocate(4096);
  EXPECT_NE(fresh.offset_bytes, 8192u);
}

TEST(SegmentAllocatorTest, ManifestChecksAndAdoption) {
  TempDir dir;
  // Listed but missing.
  auto missing =
      SegmentAllocator::Open(Env::Default(), dir.path(), SmallOptions(), {{4096, 65536}});
  EXPECT_TRUE(missing.status().IsCorruption()) << missing.status().ToString();
  // Shorter than the manifest says.
  {
    auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions());
    ObjectAddress addr = *a->Allocate(4096);
    ASSERT_TRUE(a->Write(addr, Payload(1, 4096)).ok());
    ASSERT_TRUE(a->SyncDirty().ok());
  }
  auto shorter =
      SegmentAllocator::Open(Env::Default(), dir.path(), SmallOptions(), {{4096, 1 << 20}});
  EXPECT_TRUE(shorter.status().IsCorruption());
  EXPECT_NE(shorter.status().message().find("manifest recorded"), std::string::npos);
  auto dup =
      SegmentAllocator::Open(Env::Default(), dir.path(), SmallOptions(), {{4096, 0}, {4096, 0}});
  EXPECT_TRUE(dup.status().IsCorruption());
  auto bad_class = SegmentAllocator::Open(Env::Default(), dir.path(), SmallOptions(), {{5000, 0}});
  EXPECT_TRUE(bad_class.status().IsCorruption());
  // Not listed (crash before the manifest named it): adopted, never truncated.
  auto a = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), {});
  EXPECT_EQ(a->created_files(), std::vector<std::string>{"data-4k.dat"});
  std::string back;
  ASSERT_TRUE(a->Read({4096, 4096, 4096}, &back).ok());  // slot 1: slot 0 is the header
  EXPECT_EQ(back, Payload(1, 4096));
  // An unaligned size (other segment size before) is extended to a whole segment, not when
  // opening (which writes nothing) but before the first write.
  std::string image = EncodeDataFileHeader(8192, ExampleStoreId());
  image.resize(8192, '\0');
  image += std::string(10000 - 8192, 'x');
  ASSERT_TRUE(
      Env::Default()->WriteStringToFileSync(JoinPath(dir.path(), "data-8k.dat"), image).ok());
  auto b = OpenOrDie(Env::Default(), dir.path(), SmallOptions(), {{4096, 65536}, {8192, 10000}});
  EXPECT_EQ(*Env::Default()->FileSize(JoinPath(dir.path(), "data-8k.dat")), 10000u);
  ASSERT_TRUE(b->Read({8192, 0, 8192}, &back).ok());
  EXPECT_EQ(back.substr(0, kDataFileHeaderBytes), EncodeDataFileHeader(8192, ExampleStoreId()));
  EXPECT_TRUE(b->Read({8192, 8192, 8192}, &back).IsCorruption());  // past the real end
  ASSERT_TRUE(b->PrepareForWrites().ok());
  EXPECT_EQ(*Env::Default()->FileSize(JoinPath(dir.path(), "data-8k.dat")), 128u * 1024);
}

}  // namespace
}  // namespace cowtree
