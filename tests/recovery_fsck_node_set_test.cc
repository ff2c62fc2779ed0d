// fsck's NodeIdSet (recovery/fsck_node_set.h) against std::set<uint64_t> as the model: random
// ids dense and sparse, second tags at one handle, invalid ids (tag 0, as a damaged object may
// hold), a Reserve after inserts, InsertAll; and its size for a one-shard object table.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "recovery/fsck_node_set.h"

namespace cowtree::recovery::fsck {
namespace {

// Lanes that hold handles [0, handle_limit) densely.
HandleLanes Lanes(uint64_t handle_limit) {
  HandleLanes lanes{};
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) {
    lanes[i] = handle_limit / kNodeIdSetLanes + (i < handle_limit % kNodeIdSetLanes ? 1 : 0);
  }
  return lanes;
}

NodeID RandomId(std::mt19937_64* rng, uint64_t handle_limit) {
  const uint64_t pick = (*rng)() % 16;
  // Mostly dense handles with a few tags, so that repeats and second tags happen often.
  uint64_t handle = (*rng)() % (handle_limit + 8);
  if (pick == 0) handle = (*rng)() >> 8;  // far past the limit
  const uint8_t tag = pick == 1 ? 0 : static_cast<uint8_t>(1 + (*rng)() % 3);
  return NodeID::Make(handle, tag);
}

void ExpectSame(const NodeIdSet& set, const std::set<uint64_t>& model, std::mt19937_64* rng,
                uint64_t handle_limit) {
  EXPECT_EQ(set.size(), model.size());
  for (uint64_t raw : model) EXPECT_TRUE(set.Contains(NodeID::FromRaw(raw))) << raw;
  for (int i = 0; i < 2000; ++i) {
    const NodeID id = RandomId(rng, handle_limit);
    EXPECT_EQ(set.Contains(id), model.count(id.raw()) != 0) << id.raw();
  }
}

TEST(FsckNodeIdSet, MatchesASetOfIdsWhateverTheirHandlesAndTags) {
  std::mt19937_64 rng(7);
  for (uint64_t limit : {uint64_t{0}, uint64_t{1}, uint64_t{64}, uint64_t{1000}}) {
    NodeIdSet set;
    std::set<uint64_t> model;
    set.Reserve(Lanes(limit));
    for (int i = 0; i < 5000; ++i) {
      const NodeID id = RandomId(&rng, limit);
      EXPECT_EQ(set.Insert(id), model.insert(id.raw()).second) << id.raw();
    }
    ExpectSame(set, model, &rng, limit);
  }
}

TEST(FsckNodeIdSet, MembersInsertedBeforeAReserveStayMembers) {
  std::mt19937_64 rng(11);
  NodeIdSet set;
  std::set<uint64_t> model;
  for (int i = 0; i < 3000; ++i) {
    const NodeID id = RandomId(&rng, 500);
    EXPECT_EQ(set.Insert(id), model.insert(id.raw()).second);
  }
  set.Reserve(Lanes(200));
  ExpectSame(set, model, &rng, 500);
  set.Reserve(Lanes(600));  // larger: members move into the dense part
  ExpectSame(set, model, &rng, 500);
  set.Reserve(Lanes(100));  // smaller than the dense part: nothing changes
  ExpectSame(set, model, &rng, 500);
  for (int i = 0; i < 3000; ++i) {
    const NodeID id = RandomId(&rng, 500);
    EXPECT_EQ(set.Insert(id), model.insert(id.raw()).second);
  }
  ExpectSame(set, model, &rng, 500);
}

TEST(FsckNodeIdSet, InsertAllIsTheUnion) {
  std::mt19937_64 rng(13);
  NodeIdSet a, b;
  std::set<uint64_t> model;
  a.Reserve(Lanes(300));
  b.Reserve(Lanes(700));
  for (int i = 0; i < 2000; ++i) {
    const NodeID x = RandomId(&rng, 300), y = RandomId(&rng, 700);
    a.Insert(x);
    b.Insert(y);
    model.insert(x.raw());
    model.insert(y.raw());
  }
  a.InsertAll(b);
  ExpectSame(a, model, &rng, 700);
}

TEST(FsckNodeIdSet, ASetOverAOneShardTableTakesAByteAnObject) {
  // A single-threaded store uses shard 0 of 16: its i-th handle is 16 * i.
  constexpr uint64_t kObjects = 1 << 20;
  HandleLanes lanes{};
  lanes[0] = kObjects;
  NodeIdSet set;
  set.Reserve(lanes);
  for (uint64_t i = 0; i < kObjects; ++i) {
    ASSERT_TRUE(set.Insert(NodeID::Make(i * kNodeIdSetLanes, 1 + i % 255)));
  }
  EXPECT_EQ(set.size(), kObjects);
  EXPECT_LE(set.memory_bytes(), kObjects + 4096);
  EXPECT_TRUE(set.Contains(NodeID::Make(5 * kNodeIdSetLanes, 6)));
  EXPECT_FALSE(set.Contains(NodeID::Make(5 * kNodeIdSetLanes, 7)));
  EXPECT_FALSE(set.Contains(NodeID::Make(5 * kNodeIdSetLanes + 1, 6)));
}

}  // namespace
}  // namespace cowtree::recovery::fsck
