// ObjectStore: round trip for every class, corruption on disk is detected (never returned as
// data), Retire/Reclaim respects epochs, deltas, relocation, and reopen through an OT
// checkpoint + deltas (write, reopen, write more, reopen, verify everything).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "persistence/file_names.h"
#include "persistence/object_format.h"
#include "persistence/object_store.h"
#include "persistence/ot_checkpoint.h"

namespace cowtree {
namespace {

class ObjectStoreTest : public ::testing::Test {
 protected:
  ObjectStoreTest() {
    dir_ = ::testing::TempDir() + "cowtree_os_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.allocator.store_id = ExampleStoreId();
    options_.allocator.segment_size_bytes = 64 * 1024;
    options_.allocator.mmap_window_bytes = 64 * 1024;
    options_.allocator.mmap_windows_max = 4;
  }
  ~ObjectStoreTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ObjectStore> Open(const std::vector<DataFileInfo>& files = {},
                                    std::unique_ptr<ObjectTable> table = nullptr) {
    auto r = ObjectStore::Open(Env::Default(), dir_, options_, files, std::move(table));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Overwrites bytes of a data file through a separate descriptor (bit rot, torn write).
  void Scribble(const ObjectAddress& a, uint64_t at, std::string_view bytes) {
    auto f = Env::Default()->OpenFile(JoinPath(dir_, DataFileName(a.size_class_bytes)),
                                      OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(a.offset_bytes + at, bytes).ok());
  }

  std::string dir_;
  ObjectStoreOptions options_;
};

std::string Body(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(ObjectStoreTest, RoundTripEveryClass) {
  auto store = Open();
  std::map<NodeID, std::string> written;
  for (int c = 0; c < kSizeClassCount; ++c) {
    const size_t cls = SizeClassBytesAt(c);
    for (size_t n : {cls / 2 - 32 + 1, cls - kObjectHeaderBytes}) {
      Result<NodeID> id = store->WriteObject(ObjectKind::kLeaf, 3, Body(n, n));
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      EXPECT_EQ(store->table().Get(*id)->address.size_class_bytes, cls);
      written[*id] = Body(n, n);
    }
  }
  ASSERT_TRUE(store->WriteObject(ObjectKind::kCatalogRoot, 3, "").ok());  // empty body
  for (const auto& [id, body] : written) {
    Result<std::string> got = store->ReadObject(id, ObjectKind::kLeaf);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, body);
  }
  // One buffer reused by every read, largest objects first: it keeps its largest size and each
  // read returns exactly its own body.
  std::string buffer;
  for (auto it = written.rbegin(); it != written.rend(); ++it) {
    Result<std::string_view> got = store->ReadObjectOnceInto(it->first, ObjectKind::kLeaf, &buffer);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, it->second);
    EXPECT_GE(buffer.size(), store->table().Get(it->first)->address.length_bytes);
  }
  ASSERT_TRUE(store->Sync().ok());
  EXPECT_EQ(store->created_files().size(), static_cast<size_t>(kSizeClassCount));
  EXPECT_EQ(store->stats().live_objects, written.size() + 1);
}

// ReadObjectInto through the mmap window and through File::ReadAt: one buffer reused by reads of
// every class returns each body exactly, and damage is the same Corruption as ReadObject's.
TEST_F(ObjectStoreTest, ReadObjectIntoReusesBufferInBothReadModes) {
  for (bool via_mmap : {true, false}) {
    SCOPED_TRACE(via_mmap ? "mmap" : "pread");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.allocator.read_via_mmap = via_mmap;
    auto store = Open();
    EXPECT_EQ(store->allocator().reads_via_mmap(), via_mmap);
    std::vector<std::pair<NodeID, std::string>> written;
    for (int c = kSizeClassCount - 1; c >= 0; --c) {  // largest first: the buffer only shrinks
      const size_t n = SizeClassBytesAt(c) - kObjectHeaderBytes - 7 * c;
      written.emplace_back(*store->WriteObject(ObjectKind::kLeaf, 3, Body(n + 1, n)),
                           Body(n + 1, n));
    }
    std::string buffer;
    for (int round = 0; round < 2; ++round) {
      for (const auto& [id, body] : written) {
        Result<std::string_view> got = store->ReadObjectInto(id, ObjectKind::kLeaf, &buffer);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        EXPECT_EQ(*got, body);
        // A view into the caller's buffer (past the envelope's header when read whole).
        EXPECT_GE(got->data(), buffer.data());
        EXPECT_LE(got->data() + got->size(), buffer.data() + buffer.size());
      }
    }
    const auto& [victim, body] = written.back();
    const ObjectAddress a = store->table().Get(victim)->address;
    std::string original;
    ASSERT_TRUE(store->allocator().Read(a, &original).ok());
    Scribble(a, 40, std::string(1, static_cast<char>(original[40] ^ 0x10)));
    Result<std::string> plain = store->ReadObject(victim, ObjectKind::kLeaf);
    ASSERT_TRUE(plain.status().IsCorruption());
    Result<std::string_view> into = store->ReadObjectInto(victim, ObjectKind::kLeaf, &buffer);
    ASSERT_TRUE(into.status().IsCorruption());
    EXPECT_EQ(into.status().message(), plain.status().message());
    EXPECT_TRUE(store->ReadObjectInto(written.front().first, ObjectKind::kCatalogChunk, &buffer)
                    .status()
                    .IsCorruption());
  }
}

TEST_F(ObjectStoreTest, RejectsOversizedObjectsAndKindZero) {
  auto store = Open();
  Result<NodeID> big = store->WriteObject(ObjectKind::kLeaf, 1, Body(1, kMaxObjectBodyBytes + 1));
  EXPECT_TRUE(big.status().IsInvalidArgument());
  EXPECT_NE(big.status().message().find("larger than 256 KiB"), std::string::npos);
  EXPECT_TRUE(store->WriteObject(static_cast<ObjectKind>(0), 1, "x").status().IsInvalidArgument());
  EXPECT_TRUE(store->WriteObject(static_cast<ObjectKind>(200), 1, "host kind").ok());
  EXPECT_EQ(store->table().live_count(), 1u);
  EXPECT_EQ(store->TakeDeltas().size(), 1u);
}

TEST_F(ObjectStoreTest, CorruptionOnDiskIsDetectedNeverReturned) {
  auto store = Open();
  const std::string body = Body(5, 6000);  // 8 KiB class
  // Flip one byte at a spread of positions in header and body.
  for (uint64_t at : {0, 4, 6, 7, 8, 12, 20, 28, 32, 33, 3000, 6031}) {
    NodeID id = *store->WriteObject(ObjectKind::kSummaryChunk, 4, body);
    const ObjectAddress a = store->table().Get(id)->address;
    std::string original;
    ASSERT_TRUE(store->allocator().Read(a, &original).ok());
    Scribble(a, at, std::string(1, static_cast<char>(original[at] ^ 0x01)));
    Result<std::string> got = store->ReadObject(id, ObjectKind::kSummaryChunk);
    ASSERT_FALSE(got.ok()) << "flip at " << at;
    EXPECT_TRUE(got.status().IsCorruption()) << got.status().ToString();
    const std::string& m = got.status().message();
    EXPECT_NE(m.find("data-8k.dat offset " + std::to_string(a.offset_bytes)), std::string::npos)
        << m;
    EXPECT_NE(m.find(DescribeNodeId(id)), std::string::npos) << m;
    std::string buffer;  // the reused-buffer read verifies the same way
    Result<std::string_view> into =
        store->ReadObjectOnceInto(id, ObjectKind::kSummaryChunk, &buffer);
    ASSERT_TRUE(into.status().IsCorruption()) << "flip at " << at;
    EXPECT_EQ(into.status().message(), m);
  }
  // A zeroed slot (lost write) and a slot holding another object (misdirected write).
  NodeID x = *store->WriteObject(ObjectKind::kLeaf, 4, body);
  NodeID y = *store->WriteObject(ObjectKind::kLeaf, 4, body);
  const ObjectAddress ax = store->table().Get(x)->address;
  const ObjectAddress ay = store->table().Get(y)->address;
  std::string y_bytes;
  ASSERT_TRUE(store->allocator().Read(ay, &y_bytes).ok());
  Scribble(ax, 0, y_bytes);
  Result<std::string> got = store->ReadObject(x, ObjectKind::kLeaf);
  EXPECT_TRUE(got.status().IsCorruption());
  EXPECT_NE(got.status().message().find("slot holds"), std::string::npos);
  Scribble(ay, 0, std::string(ay.length_bytes, '\0'));
  EXPECT_TRUE(store->ReadObject(y, ObjectKind::kLeaf).status().IsCorruption());
  // Kind mismatch between caller and OT.
  NodeID z = *store->WriteObject(ObjectKind::kLeaf, 4, "z");
  EXPECT_TRUE(store->ReadObject(z, ObjectKind::kCatalogChunk).status().IsCorruption());
  std::string buffer;
  EXPECT_TRUE(
      store->ReadObjectOnceInto(z, ObjectKind::kCatalogChunk, &buffer).status().IsCorruption());
}

// Objects a pinned snapshot can read (born at or before C(S), retired after S) are kept past
// the safe epoch, the others are freed; when the intervals change (the snapshot is released, or
// a retained checkpoint takes over an object) the kept ones go where the new sets say.
TEST_F(ObjectStoreTest, ReclaimKeepsWhatAPinnedSnapshotCanRead) {
  auto store = Open();
  // Snapshot S = 10, C(S) = 12: it reads objects born <= 12 and retired after 10.
  NodeID old_leaf = *store->WriteObject(ObjectKind::kLeaf, 8, "old");       // read by S
  NodeID at_c = *store->WriteObject(ObjectKind::kLeaf, 12, "at_c");         // written by C(S)
  NodeID after_c = *store->WriteObject(ObjectKind::kLeaf, 14, "after_c");   // made after S
  NodeID before_s = *store->WriteObject(ObjectKind::kLeaf, 4, "before_s");  // retired before S
  store->Retire(old_leaf, 14);
  store->Retire(at_c, 16);
  store->Retire(after_c, 16);
  store->Retire(before_s, 10);
  const SnapshotIntervals held({{10, 12}}, 1);
  EXPECT_EQ(store->Reclaim(20, RetainedEpochs(), held), 2u);
  EXPECT_EQ(*store->ReadObject(old_leaf, ObjectKind::kLeaf), "old");
  EXPECT_EQ(*store->ReadObject(at_c, ObjectKind::kLeaf), "at_c");
  EXPECT_TRUE(store->ReadObject(after_c, ObjectKind::kLeaf).status().IsNotFound());
  EXPECT_TRUE(store->ReadObject(before_s, ObjectKind::kLeaf).status().IsNotFound());
  EXPECT_EQ(store->stats().snapshot_objects, 2u);
  EXPECT_GT(store->stats().snapshot_bytes, 0u);
  // Unchanged intervals: nothing is re-examined, nothing freed.
  EXPECT_EQ(store->Reclaim(20, RetainedEpochs(), held), 0u);
  // The snapshot is released and a retained checkpoint at 15 now reads at_c (born 12 <= 15 <
  // retired 16), not old_leaf (retired at 14): old_leaf is freed, at_c moves to the retained.
  const RetainedEpochs retained({15}, 1);
  EXPECT_EQ(store->Reclaim(20, retained, SnapshotIntervals({}, 2)), 1u);
  EXPECT_TRUE(store->ReadObject(old_leaf, ObjectKind::kLeaf).status().IsNotFound());
  EXPECT_EQ(*store->ReadObject(at_c, ObjectKind::kLeaf), "at_c");
  EXPECT_EQ(store->stats().snapshot_objects, 0u);
  EXPECT_EQ(store->stats().snapshot_bytes, 0u);
  EXPECT_EQ(store->stats().retained_objects, 1u);
  EXPECT_EQ(store->Reclaim(20, RetainedEpochs({}, 2), SnapshotIntervals({}, 2)), 1u);
  EXPECT_EQ(store->table().live_count(), 0u);
}

// The old slot of a relocation stays until every pinned snapshot is past the relocation.
TEST_F(ObjectStoreTest, RelocatedSlotsWaitForTheOldestPinnedSnapshot) {
  auto store = Open();
  NodeID a = *store->WriteObject(ObjectKind::kLeaf, 1, "a");
  ASSERT_TRUE(store->Relocate(a, 5).ok());
  store->PublishRelocations();
  EXPECT_EQ(store->stats().relocated_pending, 1u);
  store->Reclaim(20, RetainedEpochs(), SnapshotIntervals({{4, 6}}, 1));
  EXPECT_EQ(store->stats().relocated_pending, 1u);
  store->Reclaim(20, RetainedEpochs(), SnapshotIntervals({{5, 6}}, 2));
  EXPECT_EQ(store->stats().relocated_pending, 0u);
}

TEST_F(ObjectStoreTest, RetireAndReclaimRespectEpochs) {
  auto store = Open();
  NodeID a = *store->WriteObject(ObjectKind::kLeaf, 1, "a");
  NodeID b = *store->WriteObject(ObjectKind::kLeaf, 2, "b");
  NodeID c = *store->WriteObject(ObjectKind::kLeaf, 3, "c");
  const ObjectAddress addr_a = store->table().Get(a)->address;
  store->Retire(a, 5);
  store->Retire(b, 7);
  // Retired objects stay readable (older snapshots) and keep their slots.
  EXPECT_EQ(*store->ReadObject(a, ObjectKind::kLeaf), "a");
  EXPECT_EQ(store->table().Get(a)->retire_epoch, 5u);
  EXPECT_EQ(store->Reclaim(4), 0u);
  EXPECT_EQ(*store->ReadObject(a, ObjectKind::kLeaf), "a");
  EXPECT_EQ(store->Reclaim(5), 1u);
  EXPECT_TRUE(store->ReadObject(a, ObjectKind::kLeaf).status().IsNotFound());
  EXPECT_EQ(*store->ReadObject(b, ObjectKind::kLeaf), "b");
  EXPECT_EQ(store->stats().retired_pending, 1u);
  EXPECT_EQ(store->Reclaim(100), 1u);
  EXPECT_EQ(*store->ReadObject(c, ObjectKind::kLeaf), "c");
  EXPECT_EQ(store->table().live_count(), 1u);
  // The freed handle and slot are reused; the old NodeID stays dead (tag bumped).
  NodeID d = *store->WriteObject(ObjectKind::kLeaf, 9, "d");
  EXPECT_EQ(d.handle(), a.handle());
  EXPECT_NE(d.tag(), a.tag());
  EXPECT_EQ(store->table().Get(d)->address.offset_bytes, addr_a.offset_bytes);
  EXPECT_TRUE(store->ReadObject(a, ObjectKind::kLeaf).status().IsNotFound());
  // Deltas: 3 upserts, 2 retirements, 1 upsert — in call order.
  std::vector<OtDeltaOp> deltas = store->TakeDeltas();
  ASSERT_EQ(deltas.size(), 6u);
  EXPECT_EQ(deltas[3].type, OtDeltaOp::kRetire);
  EXPECT_EQ(deltas[3].id, a);
  EXPECT_EQ(deltas[3].retire_epoch, 5u);
  EXPECT_EQ(deltas[5].id, d);
  EXPECT_TRUE(store->TakeDeltas().empty());
}

TEST_F(ObjectStoreTest, RecycledDeltaBufferKeepsNewerOpsInOrderAndItsCapacity) {
  auto store = Open();
  std::vector<NodeID> first;
  for (int i = 0; i < 100; ++i) first.push_back(*store->WriteObject(ObjectKind::kLeaf, 1, "x"));
  std::vector<OtDeltaOp> taken = store->TakeDeltas();
  ASSERT_EQ(taken.size(), 100u);
  const size_t capacity = taken.capacity();
  const OtDeltaOp* buffer = taken.data();
  // Ops recorded between TakeDeltas and RecycleDeltas stay, in call order, in front of later ones.
  const NodeID a = *store->WriteObject(ObjectKind::kLeaf, 2, "a");
  store->Retire(first[0], 3);
  store->RecycleDeltas(std::move(taken));
  const NodeID b = *store->WriteObject(ObjectKind::kLeaf, 4, "b");
  std::vector<OtDeltaOp> next = store->TakeDeltas();
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].type, OtDeltaOp::kUpsert);
  EXPECT_EQ(next[0].id, a);
  EXPECT_EQ(next[1].type, OtDeltaOp::kRetire);
  EXPECT_EQ(next[1].id, first[0]);
  EXPECT_EQ(next[1].retire_epoch, 3u);
  EXPECT_EQ(next[2].id, b);
  EXPECT_EQ(next.data(), buffer);  // the recycled memory, not a new vector
  EXPECT_EQ(next.capacity(), capacity);
  // A smaller buffer does not replace a larger one; a buffer above the cap is not kept.
  store->RecycleDeltas(std::move(next));
  store->RecycleDeltas(std::vector<OtDeltaOp>(1));
  EXPECT_EQ(store->stats().delta_buffer_bytes, capacity * sizeof(OtDeltaOp));
  EXPECT_EQ(store->TakeDeltas().capacity(), capacity);
  std::vector<OtDeltaOp> huge;
  huge.reserve(ObjectStore::kRecycledDeltaBytesMax / sizeof(OtDeltaOp) + 1);
  store->RecycleDeltas(std::move(huge));
  EXPECT_EQ(store->TakeDeltas().capacity(), 0u);
  EXPECT_EQ(store->stats().delta_buffer_bytes, 0u);
}

TEST_F(ObjectStoreTest, RelocateMovesAtomicallyAndDefersTheOldSlot) {
  auto store = Open();
  NodeID id = *store->WriteObject(ObjectKind::kLeaf, 1, Body(1, 3000));
  const ObjectAddress old = store->table().Get(id)->address;
  (void)store->TakeDeltas();
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      Result<std::string> got = store->ReadObject(id, ObjectKind::kLeaf);
      if (!got.ok() || *got != Body(1, 3000)) bad.fetch_add(1);
    }
  });
  std::vector<ObjectAddress> olds{old};
  for (uint64_t epoch = 2; epoch < 60; ++epoch) {
    Result<ObjectAddress> fresh = store->Relocate(id, epoch);
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    olds.push_back(*fresh);
    store->Reclaim(epoch - 1);  // slots of relocations older than the previous one
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(store->TakeDeltas().size(), 58u);
  EXPECT_EQ(store->stats().relocated_pending, 1u);
  EXPECT_TRUE(store->allocator().IsUsed(olds[olds.size() - 2]));
  store->Reclaim(1000);
  EXPECT_FALSE(store->allocator().IsUsed(olds[olds.size() - 2]));
  EXPECT_EQ(*store->ReadObject(id, ObjectKind::kLeaf), Body(1, 3000));
  // A corrupt object is never relocated (that would launder the corruption).
  Scribble(store->table().Get(id)->address, 40, "XX");
  EXPECT_TRUE(store->Relocate(id, 2000).status().IsCorruption());
}

// The full recovery path this module owns: OT checkpoint + OT deltas -> table -> allocator
// rebuilt from live entries -> more writes never overwrite a live object.
TEST_F(ObjectStoreTest, WriteReopenWriteMoreReopenVerify) {
  std::map<NodeID, std::string> live;
  std::vector<DataFileInfo> manifest;
  uint64_t checkpoint_id = 0;
  std::vector<std::string> delta_payloads;  // the "log" since the last OT checkpoint
  uint64_t epoch = 1;

  auto work = [&](ObjectStore& s, int n) {
    for (int i = 0; i < n; ++i, ++epoch) {
      const size_t size = 10 + (epoch * 7919) % 70000;
      NodeID id = *s.WriteObject(ObjectKind::kLeaf, epoch, Body(epoch, size));
      live[id] = Body(epoch, size);
      if (epoch % 3 == 0) {  // supersede an older object
        auto victim = live.begin();
        s.Retire(victim->first, epoch);
        live.erase(victim);
      }
    }
    s.Reclaim(epoch - 5);  // some retired objects are still pending at "crash" time
    ASSERT_TRUE(s.Sync().ok());
    delta_payloads.push_back(EncodeOtDelta(s.TakeDeltas()));
    manifest = s.data_files();
  };
  auto reopen = [&]() {
    auto table = std::make_unique<ObjectTable>();
    if (checkpoint_id > 0) {
      auto c = ReadOtCheckpoint(Env::Default(), dir_, checkpoint_id);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_TRUE(c->LoadInto(*table).ok());
    }
    for (const std::string& p : delta_payloads) {
      auto ops = DecodeOtDelta(p);
      EXPECT_TRUE(ops.ok());
      Status st = ApplyOtDelta(*table, *ops);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    return Open(manifest, std::move(table));
  };
  auto verify = [&](ObjectStore& s) {
    // Retired-but-unreclaimed objects are still in the table until Reclaim.
    EXPECT_EQ(s.table().live_count() - s.stats().retired_pending, live.size());
    for (const auto& [id, body] : live) {
      Result<std::string> got = s.ReadObject(id, ObjectKind::kLeaf);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(*got, body);
    }
  };

  {
    auto s = Open();
    work(*s, 80);
  }
  for (int round = 0; round < 3; ++round) {
    auto s = reopen();
    ASSERT_NE(s, nullptr);
    verify(*s);
    work(*s, 80);
    verify(*s);
    if (round == 1) {  // an OT checkpoint truncates the delta log
      ASSERT_TRUE(WriteOtCheckpoint(Env::Default(), dir_, ++checkpoint_id, epoch, s->table(),
                                    ExampleStoreId())
                      .ok());
      delta_payloads.clear();
    }
  }
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  verify(*s);
}

TEST_F(ObjectStoreTest, OpenNamesBothOwnersOfAnOverlappingSlot) {
  std::vector<DataFileInfo> manifest;
  OtEntry entry;
  {
    auto s = Open();
    NodeID id = *s->WriteObject(ObjectKind::kLeaf, 1, "x");
    entry = *s->table().Get(id);
    manifest = s->data_files();
  }
  auto table = std::make_unique<ObjectTable>();
  ASSERT_TRUE(table->LoadEntry(NodeID::Make(3, 1), entry).ok());
  ASSERT_TRUE(table->LoadEntry(NodeID::Make(9, 2), entry).ok());
  auto r = ObjectStore::Open(Env::Default(), dir_, options_, manifest, std::move(table));
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("overlap"), std::string::npos);
  EXPECT_NE(r.status().message().find("NodeID(handle=3, tag=1)"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("NodeID(handle=9, tag=2)"), std::string::npos);
}

}  // namespace
}  // namespace cowtree
