// mmap windows: pin/unpin/recycle with tiny windows over many data files, never mapping past
// EOF, remapping after the file grew, one descriptor per data file.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "persistence/mmap_window.h"
#include "persistence/segment_allocator.h"
#include "tests/segment_test_util.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using testutil::TempDir;

using segment_test::Payload;

std::unique_ptr<File> MakeFile(const std::string& path, const std::string& contents) {
  EXPECT_TRUE(Env::Default()->WriteStringToFileSync(path, contents).ok());
  return std::move(Env::Default()->OpenFile(path, OpenMode::kReadWrite)).value();
}

TEST(MmapWindowCacheTest, PinUnpinAndRecycle) {
  TempDir dir;
  const std::string data = Payload(1, 64 * 1024);
  auto file = MakeFile(JoinPath(dir.path(), "f"), data);
  MmapWindowCache cache(2);
  const uint32_t id = cache.AddFile(file.get(), 16 * 1024);  // 4 windows
  {
    std::vector<MmapWindowCache::Pin> pins;
    for (int w = 0; w < 4; ++w) {
      Result<MmapWindowCache::Pin> pin = cache.PinRange(id, data.size(), w * 16384 + 100, 500);
      ASSERT_TRUE(pin.ok()) << pin.status().ToString();
      EXPECT_EQ(pin->bytes(), std::string_view(data).substr(w * 16384 + 100, 500));
      pins.push_back(std::move(pin).value());
    }
    // Pinned windows are never unmapped: the limit is soft while all are pinned.
    EXPECT_EQ(cache.stats().windows_mapped, 4u);
    EXPECT_EQ(cache.stats().windows_pinned, 4u);
    // A second pin of a mapped window reuses it.
    Result<MmapWindowCache::Pin> again = cache.PinRange(id, data.size(), 3 * 16384, 16384);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(cache.stats().map_calls, 4u);
  }
  MmapWindowStats s = cache.stats();
  EXPECT_EQ(s.windows_pinned, 0u);
  EXPECT_EQ(s.windows_mapped, 2u);  // recycled down to the limit once unpinned
  EXPECT_EQ(s.unmap_calls, 2u);
  EXPECT_EQ(s.bytes_mapped, 2u * 16384);
  // Pin moves and releases explicitly.
  Result<MmapWindowCache::Pin> p = cache.PinRange(id, data.size(), 0, 10);
  ASSERT_TRUE(p.ok());
  MmapWindowCache::Pin moved = std::move(p).value();
  EXPECT_FALSE(moved.empty());
  moved.Release();
  EXPECT_TRUE(moved.empty());
  EXPECT_EQ(cache.stats().windows_pinned, 0u);
}

TEST(MmapWindowCacheTest, RejectsRangesPastEofOrAcrossWindows) {
  TempDir dir;
  auto file = MakeFile(JoinPath(dir.path(), "f"), std::string(20000, 'a'));
  MmapWindowCache cache(4);
  const uint32_t id = cache.AddFile(file.get(), 8192);
  EXPECT_TRUE(cache.PinRange(id, 20000, 19990, 20).status().IsInvalidArgument());
  EXPECT_TRUE(cache.PinRange(id, 20000, 8000, 400).status().IsInvalidArgument());
  // The last window is mapped only up to EOF (20000 - 16384 bytes).
  Result<MmapWindowCache::Pin> tail = cache.PinRange(id, 20000, 19000, 1000);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(cache.stats().bytes_mapped, 20000u - 16384u);
}

TEST(MmapWindowCacheTest, RemapsWhenTheFileGrew) {
  TempDir dir;
  auto file = MakeFile(JoinPath(dir.path(), "f"), std::string(4096, 'a'));
  MmapWindowCache cache(4);
  const uint32_t id = cache.AddFile(file.get(), 1 << 20);  // one window covers everything
  Result<MmapWindowCache::Pin> old_pin = cache.PinRange(id, 4096, 0, 4096);
  ASSERT_TRUE(old_pin.ok());
  EXPECT_EQ(cache.stats().bytes_mapped, 4096u);
  ASSERT_TRUE(file->WriteAt(4096, std::string(8192, 'b')).ok());
  Result<MmapWindowCache::Pin> new_pin = cache.PinRange(id, 12288, 8192, 4096);
  ASSERT_TRUE(new_pin.ok());
  EXPECT_EQ(new_pin->bytes(), std::string(4096, 'b'));
  EXPECT_EQ(old_pin->bytes(), std::string(4096, 'a'));  // the replaced mapping stays valid
  EXPECT_EQ(cache.stats().windows_mapped, 2u);
  old_pin = Status::NotFound("drop");  // releases the old pin: the replaced window goes
  EXPECT_EQ(cache.stats().windows_mapped, 1u);
  EXPECT_EQ(cache.stats().bytes_mapped, 12288u);
}

// Through the allocator: tiny windows, many data files, growth between reads, concurrent reads.
TEST(SegmentWindowsTest, ManyFilesTinyWindowsGrowthAndRecycling) {
  TempDir dir;
  SegmentAllocatorOptions o;
  o.store_id = ExampleStoreId();
  o.segment_size_bytes = 64 * 1024;
  o.mmap_window_bytes = 64 * 1024;
  o.mmap_windows_max = 3;
  auto a = std::move(SegmentAllocator::Open(Env::Default(), dir.path(), o, {})).value();
  std::vector<std::pair<ObjectAddress, std::string>> objects;
  for (int round = 0; round < 4; ++round) {
    // Each round grows every file by at least one segment, then reads everything back,
    // including objects in windows that were mapped while their file was shorter.
    for (int c = 0; c < kSizeClassCount; ++c) {
      const uint32_t cls = SizeClassBytesAt(c);
      const int per_round = c < 4 ? 20 : 17;
      for (int i = 0; i < per_round; ++i) {
        const uint32_t len = cls / 2 + static_cast<uint32_t>(objects.size() % (cls / 2));
        ObjectAddress addr = *a->Allocate(len);
        std::string bytes = Payload(objects.size(), len);
        ASSERT_TRUE(a->Write(addr, bytes).ok());
        objects.emplace_back(addr, std::move(bytes));
      }
    }
    for (const auto& [addr, bytes] : objects) {
      std::string back;
      Status st = a->Read(addr, &back);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(back, bytes);
    }
    const SegmentAllocatorStats s = a->stats();
    EXPECT_EQ(s.classes.size(), static_cast<size_t>(kSizeClassCount));
    EXPECT_LE(s.windows.windows_mapped, 3u);
    EXPECT_EQ(s.windows.windows_pinned, 0u);
  }
  EXPECT_GT(a->stats().windows.map_calls, 20u);  // windows were recycled and remapped
  // One descriptor per data file: 7 files, however many windows were mapped.
  size_t fds_for_data = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().find(dir.path()) == 0) ++fds_for_data;
  }
  EXPECT_EQ(fds_for_data, static_cast<size_t>(kSizeClassCount));
  // Concurrent readers while the allocator keeps growing the 4 KiB file.
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      size_t i = r;
      while (!stop.load()) {
        const auto& [addr, bytes] = objects[i % objects.size()];
        Result<PinnedObject> pinned = a->PinObject(addr);
        if (!pinned.ok() || pinned->bytes() != bytes) bad.fetch_add(1);
        i += 7;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    ObjectAddress addr = *a->Allocate(4096);
    ASSERT_TRUE(a->Write(addr, Payload(i, 4096)).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(SegmentWindowsTest, PreadModeReadsTheSameBytes) {
  TempDir dir;
  SegmentAllocatorOptions o;
  o.store_id = ExampleStoreId();
  o.segment_size_bytes = 64 * 1024;
  o.read_via_mmap = false;
  auto a = std::move(SegmentAllocator::Open(Env::Default(), dir.path(), o, {})).value();
  ObjectAddress addr = *a->Allocate(3000);
  ASSERT_TRUE(a->Write(addr, Payload(9, 3000)).ok());
  std::string back;
  ASSERT_TRUE(a->Read(addr, &back).ok());
  EXPECT_EQ(back, Payload(9, 3000));
  EXPECT_EQ(a->stats().windows.map_calls, 0u);
}

}  // namespace
}  // namespace cowtree
