// ObjectTable: handle allocation and reuse (tags, ABA guard), loading for recovery, and
// lock-free Get under concurrent Set/relocation (run under -fsanitize=thread too).
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "persistence/object_table.h"

namespace cowtree {
namespace {

OtEntry EntryFor(uint64_t k) {
  OtEntry e;
  e.address = {4096, k * 4096, static_cast<uint32_t>(k % 4096) + 1};
  e.kind = ObjectKind::kLeaf;
  e.birth_epoch = k;
  e.payload_crc32c = static_cast<uint32_t>(k * 7 + 1);
  return e;
}

// True iff e is EntryFor(k) for the k its birth epoch names (i.e. not torn).
bool Consistent(const OtEntry& e) { return e == EntryFor(e.birth_epoch); }

TEST(ObjectTableTest, AllocateSetGetFree) {
  ObjectTable t;
  Result<NodeID> id = t.AllocateId();
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->valid());
  EXPECT_EQ(id->tag(), 1);
  EXPECT_TRUE(t.Get(*id).status().IsNotFound());  // reserved, not yet set
  EXPECT_EQ(t.live_count(), 0u);
  t.Set(*id, EntryFor(3));
  EXPECT_EQ(t.live_count(), 1u);
  Result<OtEntry> got = t.Get(*id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, EntryFor(3));
  t.Set(*id, EntryFor(4));  // relocation: same id, new entry
  EXPECT_EQ(*t.Get(*id), EntryFor(4));
  t.Free(*id);
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_TRUE(t.Get(*id).status().IsNotFound());
  EXPECT_TRUE(t.Get(NodeID()).status().IsNotFound());
  EXPECT_TRUE(t.Get(NodeID::Make(999999, 1)).status().IsNotFound());
}

TEST(ObjectTableTest, ReuseBumpsTagAndStaleIdsAreRejected) {
  ObjectTable t({.shard_count = 1});
  NodeID a = *t.AllocateId();
  t.Set(a, EntryFor(1));
  t.Free(a);
  NodeID b = *t.AllocateId();
  EXPECT_EQ(b.handle(), a.handle());  // freed handles are reused first
  EXPECT_EQ(b.tag(), NodeID::NextTag(a.tag()));
  t.Set(b, EntryFor(2));
  Result<OtEntry> stale = t.Get(a);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(stale.status().IsNotFound());
  EXPECT_NE(stale.status().message().find("stale"), std::string::npos);
  EXPECT_EQ(*t.Get(b), EntryFor(2));
}

TEST(ObjectTableTest, TagWrapsFrom255To1) {
  ObjectTable t({.shard_count = 1});
  NodeID id = *t.AllocateId();
  std::vector<uint8_t> tags{id.tag()};
  for (int i = 0; i < 300; ++i) {
    t.Free(id);
    id = *t.AllocateId();
    tags.push_back(id.tag());
  }
  for (size_t i = 1; i < tags.size(); ++i) {
    EXPECT_NE(tags[i], 0);
    EXPECT_EQ(tags[i], tags[i - 1] == 255 ? 1 : tags[i - 1] + 1);
  }
  EXPECT_EQ(tags[254], 255);
  EXPECT_EQ(tags[255], 1);
}

TEST(ObjectTableTest, FreedHandlesAreReusedFifo) {
  ObjectTable t({.shard_count = 1});
  std::vector<NodeID> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*t.AllocateId());
  t.Free(ids[3]);
  t.Free(ids[1]);
  EXPECT_EQ(t.AllocateId()->handle(), ids[3].handle());
  EXPECT_EQ(t.AllocateId()->handle(), ids[1].handle());
  EXPECT_EQ(t.AllocateId()->handle(), 5u);  // then fresh handles
}

TEST(ObjectTableTest, HandleLimitGivesNoSpace) {
  ObjectTable t({.shard_count = 4, .handle_limit = 9});
  std::set<uint64_t> handles;
  for (int i = 0; i < 10; ++i) {
    Result<NodeID> id = t.AllocateId();
    ASSERT_TRUE(id.ok()) << i;
    handles.insert(id->handle());
  }
  EXPECT_EQ(handles.size(), 10u);
  EXPECT_EQ(*handles.rbegin(), 9u);
  Result<NodeID> full = t.AllocateId();
  EXPECT_TRUE(full.status().IsNoSpace()) << full.status().ToString();
  t.Free(NodeID::Make(7, 1));
  Result<NodeID> again = t.AllocateId();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, NodeID::Make(7, 2));
}

TEST(ObjectTableTest, ForEachLiveIsInHandleOrderAcrossShardsAndChunks) {
  ObjectTable t({.shard_count = 8});
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&t] {
      for (int i = 0; i < 3000; ++i) t.Set(*t.AllocateId(), EntryFor(i));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.live_count(), 12000u);
  uint64_t n = 0;
  uint64_t last = 0;
  t.ForEachLive([&](NodeID id, const OtEntry& e) {
    if (n > 0) {
      EXPECT_GT(id.handle(), last);
    }
    last = id.handle();
    ++n;
    EXPECT_TRUE(Consistent(e));
  });
  EXPECT_EQ(n, 12000u);
}

TEST(ObjectTableTest, LoadThenFinishLoadBuildsFreeList) {
  ObjectTable t({.shard_count = 2});
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(0, 4), EntryFor(1)).ok());
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(5, 9), EntryFor(2)).ok());
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(2, 255), EntryFor(3)).ok());
  Status dup = t.LoadEntry(NodeID::Make(5, 3), EntryFor(4));
  EXPECT_TRUE(dup.IsCorruption()) << dup.ToString();
  EXPECT_NE(dup.message().find("duplicate"), std::string::npos);
  OtEntry bad = EntryFor(5);
  bad.address.offset_bytes += 1;
  EXPECT_TRUE(t.LoadEntry(NodeID::Make(8, 1), bad).IsCorruption());
  EXPECT_TRUE(t.loading());
  t.FinishLoad();
  EXPECT_FALSE(t.loading());
  EXPECT_EQ(t.live_count(), 3u);
  EXPECT_EQ(*t.Get(NodeID::Make(5, 9)), EntryFor(2));
  EXPECT_TRUE(t.Get(NodeID::Make(5, 8)).status().IsNotFound());
  // Shard 0 loaded handles 0, 2 (indices 0, 1); shard 1 loaded 5 (index 2): holes 1, 3.
  std::set<uint64_t> got;
  for (int i = 0; i < 2; ++i) {
    NodeID id = *t.AllocateId();
    EXPECT_EQ(id.tag(), 1);
    got.insert(id.handle());
  }
  EXPECT_EQ(got, (std::set<uint64_t>{1, 3}));
  for (int i = 0; i < 3; ++i) {
    const uint64_t h = t.AllocateId()->handle();
    EXPECT_TRUE(h == 4 || h >= 6) << h;  // fresh handles, never a loaded one
  }
}

// A table whose highest handle is far above its entries (a store after mass deletions, or a
// damaged object table): loading it allocates chunks only for the entries, the handles between
// them are free runs, and reuse hands them out in increasing order (adversarial round 16: one
// entry at handle 2^32 made Open allocate 14.8 GB, a slot per handle below it).
TEST(ObjectTableTest, ASparseTableCostsItsEntriesNotItsHighestHandle) {
  const uint64_t before = ObjectTable::MappedChunkBytes();
  ObjectTable t;                                             // 16 shards
  const uint64_t far = kObjectTableHandleLimitDefault - 15;  // shard 0, index 2^30 - 1
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(0, 3), EntryFor(1)).ok());
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(far, 7), EntryFor(2)).ok());
  t.FinishLoad();
  // Two chunks (48 KiB each; a shard's second run holds two): not 2^30 slots of 48 bytes.
  EXPECT_LE(ObjectTable::MappedChunkBytes() - before, 3 * 48 * ObjectTable::kChunkSlots);
  EXPECT_EQ(t.live_count(), 2u);
  EXPECT_EQ(t.handle_count(), (far >> 4) + 1);
  std::vector<uint64_t> visited;
  t.ForEachLive([&](NodeID id, const OtEntry&) { visited.push_back(id.raw()); });
  EXPECT_EQ(visited, (std::vector<uint64_t>{NodeID::Make(0, 3).raw(), NodeID::Make(far, 7).raw()}));
  // Shard 0's free handles, in order, across the chunk that exists and the ones that do not.
  for (uint64_t index = 1; index < 3000; ++index) {
    const NodeID id = t.AllocateId().value();
    ASSERT_EQ(id.handle(), index << 4);
    ASSERT_EQ(id.tag(), 1);
    t.Set(id, EntryFor(index));
  }
  EXPECT_EQ(*t.Get(NodeID::Make(2999 << 4, 1)), EntryFor(2999));
  EXPECT_EQ(*t.Get(NodeID::Make(far, 7)), EntryFor(2));
  // A freed handle goes to the back of the FIFO, after every handle below `far`.
  t.Free(NodeID::Make(16, 1));
  EXPECT_EQ(t.AllocateId()->handle(), 3000u << 4);
}

TEST(ObjectTableTest, AHandleAboveTheLimitIsCorruptionNotAnAllocation) {
  ObjectTable t;
  const NodeID above = NodeID::Make(kObjectTableHandleLimitDefault + 1, 1);
  Status st = t.LoadEntry(above, EntryFor(1));
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("above the limit"), std::string::npos) << st.ToString();
  st = t.ReplayUpsert(NodeID::Make(NodeID::kHandleMax, 1), EntryFor(2));
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(t.LoadEntry(NodeID::Make(kObjectTableHandleLimitDefault, 1), EntryFor(3)).ok());
  t.FinishLoad();
  EXPECT_EQ(t.live_count(), 1u);
}

TEST(ObjectTableTest, LoadEntriesInThreadsEqualsLoadEntryOneByOne) {
  // Sparse handles over several chunks of every shard; every 5th record skipped.
  std::vector<OtRecord> records;
  for (uint64_t h = 1; records.size() < 40000; h += 1 + h % 3) {
    records.push_back(OtRecord{NodeID::Make(h, static_cast<uint8_t>(h % 255 + 1)), EntryFor(h)});
  }
  auto handle_of = [&](uint64_t i) { return records[i].id.handle(); };
  auto record = [&](uint64_t i, OtRecord* r) {
    if (i % 5 != 4) *r = records[i];
    return Status::OK();
  };
  for (size_t threads : {1, 2, 3, 4, 64}) {
    SCOPED_TRACE(threads);
    ObjectTable one;  // the reference, loaded one by one
    for (uint64_t i = 0; i < records.size(); ++i) {
      if (i % 5 != 4) ASSERT_TRUE(one.LoadEntry(records[i].id, records[i].entry).ok());
    }
    one.FinishLoad();
    ObjectTable t;
    ASSERT_TRUE(t.LoadEntries(records.size(), handle_of, record, threads).ok());
    EXPECT_TRUE(t.loading());
    t.FinishLoad();
    EXPECT_EQ(t.live_count(), one.live_count());
    EXPECT_EQ(t.handle_count(), one.handle_count());
    std::vector<std::pair<NodeID, OtEntry>> a, b;
    one.ForEachLive([&](NodeID id, const OtEntry& e) { a.emplace_back(id, e); });
    t.ForEachLive([&](NodeID id, const OtEntry& e) { b.emplace_back(id, e); });
    EXPECT_EQ(a, b);
    // The same free handles, in the same order.
    for (int k = 0; k < 20; ++k) EXPECT_EQ(t.AllocateId().value(), one.AllocateId().value());
  }
}

TEST(ObjectTableTest, LoadEntriesReportsTheLowestFailingRecord) {
  // Record 3 duplicates record 1's handle (a shard of one thread), record 6 is invalid (tag 0,
  // another thread's shard) and record 5's decode fails: "record 3" whatever the threads.
  std::vector<OtRecord> records;
  for (uint64_t h = 1; h <= 8; ++h) records.push_back(OtRecord{NodeID::Make(h, 1), EntryFor(h)});
  records[3].id = NodeID::Make(2, 1);
  records[6].id = NodeID::Make(7, 0);  // tag 0: invalid
  for (size_t threads : {1, 2, 4}) {
    ObjectTable t;
    Status st = t.LoadEntries(
        records.size(), [&](uint64_t i) { return records[i].id.handle(); },
        [&](uint64_t i, OtRecord* r) {
          if (i == 5) return Status::Corruption("bad record 5");
          *r = records[i];
          return Status::OK();
        },
        threads);
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("record 3: duplicate OT entry for handle 2"), std::string::npos)
        << threads << ": " << st.ToString();
  }
}

TEST(ObjectTableTest, ReplayUpsertAndRemove) {
  ObjectTable t;
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(3, 2), EntryFor(1)).ok());
  ASSERT_TRUE(t.ReplayUpsert(NodeID::Make(3, 2), EntryFor(9)).ok());  // relocation
  EXPECT_TRUE(t.ReplayUpsert(NodeID::Make(3, 3), EntryFor(9)).IsCorruption());
  ASSERT_TRUE(t.ReplayRemove(NodeID::Make(3, 2)).ok());
  EXPECT_TRUE(t.ReplayRemove(NodeID::Make(3, 2)).IsCorruption());      // already gone
  ASSERT_TRUE(t.ReplayUpsert(NodeID::Make(3, 3), EntryFor(10)).ok());  // reused handle
  EXPECT_TRUE(t.ReplayRemove(NodeID::Make(77, 1)).IsCorruption());
  EXPECT_TRUE(t.ReplayRemove(NodeID::Make(3, 2)).IsCorruption());  // stale tag
  t.FinishLoad();
  EXPECT_EQ(*t.Get(NodeID::Make(3, 3)), EntryFor(10));
  EXPECT_EQ(t.live_count(), 1u);
}

TEST(ObjectTableTest, RemovedHandleContinuesTagsAfterLoad) {
  ObjectTable t({.shard_count = 1});
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(0, 7), EntryFor(1)).ok());
  ASSERT_TRUE(t.LoadEntry(NodeID::Make(1, 1), EntryFor(1)).ok());
  ASSERT_TRUE(t.ReplayRemove(NodeID::Make(0, 7)).ok());
  t.FinishLoad();
  EXPECT_EQ(*t.AllocateId(), NodeID::Make(0, 8));
}

TEST(ObjectTableDeathTest, MisuseAsserts) {
  EXPECT_DEATH(
      {
        ObjectTable t;
        NodeID id = *t.AllocateId();
        t.Set(NodeID::Make(id.handle(), 9), EntryFor(1));
      },
      "assertion failed");
  EXPECT_DEATH(
      {
        ObjectTable t;
        NodeID id = *t.AllocateId();
        t.Free(id);
        t.Free(id);
      },
      "assertion failed");
  EXPECT_DEATH(
      {
        ObjectTable t;
        (void)t.LoadEntry(NodeID::Make(1, 1), EntryFor(1));
        (void)t.AllocateId();  // before FinishLoad
      },
      "assertion failed");
  EXPECT_DEATH(
      {
        ObjectTable t;
        (void)t.AllocateId();
        (void)t.LoadEntry(NodeID::Make(1, 1), EntryFor(1));  // after use
      },
      "assertion failed");
}

// Readers Get a handle that a writer keeps relocating (Set with a new entry) while other
// threads allocate, set and free other handles (growing directories and chunks). Every read
// must be a whole entry: never a mix of two.
TEST(ObjectTableTest, ConcurrentGetUnderSetAndRelocation) {
  ObjectTable t({.shard_count = 4});
  std::vector<NodeID> hot;
  for (int i = 0; i < 8; ++i) {
    hot.push_back(*t.AllocateId());
    t.Set(hot.back(), EntryFor(i));
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (NodeID id : hot) {
          Result<OtEntry> e = t.Get(id);
          if (!e.ok() || !Consistent(*e)) bad.fetch_add(1);
          ++n;
        }
      }
      reads.fetch_add(n);
    });
  }
  threads.emplace_back([&] {  // relocations of the hot handles
    for (uint64_t k = 100; !stop.load(std::memory_order_relaxed); ++k) {
      t.Set(hot[k % hot.size()], EntryFor(k));
    }
  });
  threads.emplace_back([&] {  // churn on other handles
    std::vector<NodeID> mine;
    for (uint64_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
      NodeID id = *t.AllocateId();
      t.Set(id, EntryFor(k));
      mine.push_back(id);
      if (mine.size() > 5000) {
        for (size_t i = 0; i < mine.size(); i += 2) t.Free(mine[i]);
        mine.clear();
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 1000u);
}

}  // namespace
}  // namespace cowtree
