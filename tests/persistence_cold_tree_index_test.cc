// ColdTreeIndex (persistence/cold_tree_index.h): ids by name hash, candidates, removal with
// tombstones, growth, and the collision test hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "persistence/cold_tree_index.h"

namespace cowtree {
namespace {

std::vector<uint64_t> Sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ColdTreeIndex, InsertFindRemoveAndGrow) {
  ColdTreeIndex index;
  std::vector<uint32_t> hashes;
  for (uint64_t id = 1; id <= 5000; ++id) {  // no Reserve: grows from empty
    hashes.push_back(ColdTreeIndex::NameHash("t" + std::to_string(id)));
    index.Insert(id, hashes.back());
  }
  EXPECT_EQ(index.size(), 5000u);
  EXPECT_LE(index.memory_bytes(), 5000u * 64);
  for (uint64_t id = 1; id <= 5000; ++id) {
    std::vector<uint64_t> c;
    index.Candidates(hashes[id - 1], &c);
    EXPECT_NE(std::find(c.begin(), c.end(), id), c.end()) << id;
    EXPECT_TRUE(index.Contains(id, hashes[id - 1]));
    EXPECT_FALSE(index.Contains(id + 5000, hashes[id - 1]));
  }
  for (uint64_t id = 2; id <= 5000; id += 2) EXPECT_TRUE(index.Remove(id, hashes[id - 1]));
  EXPECT_FALSE(index.Remove(2, hashes[1]));
  EXPECT_EQ(index.size(), 2500u);
  for (uint64_t id = 1; id <= 5000; ++id) {
    EXPECT_EQ(index.Contains(id, hashes[id - 1]), id % 2 == 1) << id;
  }
  std::vector<uint64_t> none;
  index.Candidates(ColdTreeIndex::NameHash("absent"), &none);
  for (uint64_t id : none)
    EXPECT_NE(ColdTreeIndex::NameHash("t" + std::to_string(id)), ColdTreeIndex::NameHash("absent"));
}

TEST(ColdTreeIndex, CollisionsYieldEveryCandidate) {
  ColdTreeIndex index;
  index.Reserve(100);
  const size_t reserved = index.memory_bytes();
  for (uint64_t id = 1; id <= 100; ++id) index.Insert(id, id % 3 == 0 ? 7 : 9);
  EXPECT_EQ(index.memory_bytes(), reserved) << "Reserve sized the table";
  std::vector<uint64_t> sevens, nines, others;
  index.Candidates(7, &sevens);
  index.Candidates(9, &nines);
  index.Candidates(8, &others);
  EXPECT_EQ(sevens.size(), 33u);
  EXPECT_EQ(nines.size(), 67u);
  EXPECT_TRUE(others.empty());
  for (uint64_t id : sevens) EXPECT_EQ(id % 3, 0u);
  // Removing from the middle of a probe run keeps the rest reachable.
  for (uint64_t id = 3; id <= 99; id += 6) EXPECT_TRUE(index.Remove(id, 7));
  sevens.clear();
  index.Candidates(7, &sevens);
  std::vector<uint64_t> want;
  for (uint64_t id = 6; id <= 99; id += 6) want.push_back(id);
  EXPECT_EQ(Sorted(sevens), want);
}

// Open's path: the table sized once, then one batch per catalog chunk; equal hashes are
// reported across batches and past tombstones, and nothing already present is lost.
TEST(ColdTreeIndex, InsertBatchPerChunkFindsEveryTreeAndReportsEqualHashes) {
  ColdTreeIndex index;
  index.Reserve(3000);
  const size_t reserved = index.memory_bytes();
  index.Insert(100000, 5);
  index.Insert(100001, 5);
  EXPECT_TRUE(index.Remove(100001, 5));  // a tombstone in hash 5's probe run
  std::vector<std::pair<uint64_t, uint64_t>> same;
  std::vector<ColdTreeIndex::Tree> chunk;
  for (uint64_t id = 1; id <= 3000; ++id) {
    // Ids divisible by 1000 share hash 5 (with 100000 too); the rest have their names' hashes.
    chunk.push_back({id, id % 1000 == 0 ? 5u : ColdTreeIndex::NameHash("t" + std::to_string(id))});
    if (chunk.size() == 300 || id == 3000) {  // chunk-sized batches
      index.InsertBatch(chunk, &same);
      chunk.clear();
    }
  }
  EXPECT_EQ(index.memory_bytes(), reserved) << "Reserve sized the table";
  EXPECT_EQ(index.size(), 3001u);
  EXPECT_TRUE(index.Contains(100000, 5));
  EXPECT_FALSE(index.Contains(100001, 5));
  for (uint64_t id = 1; id <= 3000; ++id) {
    const uint32_t h = id % 1000 == 0 ? 5u : ColdTreeIndex::NameHash("t" + std::to_string(id));
    EXPECT_TRUE(index.Contains(id, h)) << id;
  }
  // 1000, 2000, 3000 and 100000 pairwise: 6 pairs, the removed 100001 in none.
  size_t fives = 0;
  for (const auto& [a, b] : same) {
    EXPECT_NE(a, 100001u);
    EXPECT_NE(b, 100001u);
    if ((a % 1000 == 0) && (b % 1000 == 0)) ++fives;
  }
  EXPECT_EQ(fives, 6u);
  // A batch larger than what was reserved grows the table first.
  std::vector<ColdTreeIndex::Tree> more;
  for (uint64_t id = 200000; id < 210000; ++id) more.push_back({id, static_cast<uint32_t>(id)});
  index.InsertBatch(more, &same);
  EXPECT_EQ(index.size(), 13001u);
  for (const auto& t : more) EXPECT_TRUE(index.Contains(t.id, t.hash)) << t.id;
  EXPECT_TRUE(index.Contains(2000, 5));
}

uint32_t ConstantHash(std::string_view) { return 42; }

TEST(ColdTreeIndex, TestHookReplacesTheHash) {
  const uint32_t a = ColdTreeIndex::NameHash("a");
  ColdTreeIndex::SetNameHashForTesting(&ConstantHash);
  EXPECT_EQ(ColdTreeIndex::NameHash("a"), 42u);
  EXPECT_EQ(ColdTreeIndex::NameHash("b"), 42u);
  ColdTreeIndex::SetNameHashForTesting(nullptr);
  EXPECT_EQ(ColdTreeIndex::NameHash("a"), a);
  EXPECT_NE(ColdTreeIndex::NameHash("a"), ColdTreeIndex::NameHash("b"));
}

}  // namespace
}  // namespace cowtree
