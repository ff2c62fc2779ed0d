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

TEST(ColdTreeIndex, BuildFindsEveryTreeAndReportsEqualHashes) {
  std::vector<ColdTreeIndex::Tree> trees;
  for (uint64_t id = 1; id <= 20000; ++id) {
    // Ids 1..100 share hash 5 with each other; the rest have their names' hashes.
    trees.push_back({id, id <= 100 ? 5u : ColdTreeIndex::NameHash("t" + std::to_string(id))});
  }
  ColdTreeIndex index;
  index.Insert(999999, 1);  // replaced by Build
  std::vector<std::pair<uint64_t, uint64_t>> same;
  index.Build(trees, &same);
  EXPECT_EQ(index.size(), trees.size());
  EXPECT_FALSE(index.Contains(999999, 1));
  EXPECT_LE(index.memory_bytes(), 4 * 16 * trees.size());
  for (const auto& t : trees) EXPECT_TRUE(index.Contains(t.id, t.hash)) << t.id;
  // Every pair among ids 1..100 (4950), plus whatever the real hash made collide.
  size_t low_pairs = 0;
  for (const auto& [a, b] : same) {
    EXPECT_NE(a, b);
    const auto hash_of = [&](uint64_t id) { return trees[id - 1].hash; };
    EXPECT_EQ(hash_of(a), hash_of(b));
    if (a <= 100 && b <= 100) ++low_pairs;
  }
  EXPECT_EQ(low_pairs, 4950u);
  std::vector<uint64_t> c;
  index.Candidates(5, &c);
  EXPECT_EQ(c.size(), 100u);
  EXPECT_TRUE(index.Remove(50, 5));
  c.clear();
  index.Candidates(5, &c);
  EXPECT_EQ(c.size(), 99u);
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
