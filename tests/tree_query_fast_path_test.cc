// The read fast paths of Rank / Select (tree/query.cc): leaves read through LeafBox::ReadPin,
// the unit-weight shortcuts (the k-th item is entry k; a key's rank is its index), and the
// leaf search that starts from an interpolated guess. Checked exhaustively against the model
// on trees mixing unit-weight leaves with leaves of larger, negative and mixed weights (e.g.
// {2, -1}: positive sum == entry count but not all ones), with skewed key spacing (bad guesses),
// resident, restored (not resident: the Load path) and evicted again; and ReadPins racing
// EvictClean (run under ThreadSanitizer by .ci/run).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::FakeLeafLoader;
using testing::Model;

// Every rank (each key, its neighbours, 0 and the largest code) and every select (each row in
// both orders, and one past the end) against the model.
void ExpectAllRanksAndSelects(const TreeVersion& v, const Model& m) {
  ASSERT_EQ(PositiveCount(v), m.N());
  std::vector<uint64_t> probes = {0, 1, UINT64_MAX};
  for (const auto& [k, w] : m.entries()) {
    probes.push_back(k);
    if (k > 0) probes.push_back(k - 1);
    if (k < UINT64_MAX) probes.push_back(k + 1);
  }
  for (uint64_t key : probes) ASSERT_EQ(Rank(v, key).value(), m.Rank(key)) << "key " << key;
  for (uint64_t k = 0; k <= m.N(); ++k) {
    for (bool desc : {false, true}) {
      ASSERT_EQ(Select(v, k, desc).value(), m.Select(k, desc)) << "k " << k << " desc " << desc;
    }
  }
}

// Every box's unit_weights() is true only for content of all-1 weights, and is known (true)
// for every resident all-1 leaf.
void ExpectUnitFlags(const TreeVersion& v) {
  for (const LeafSummary& s : Summaries(v)) {
    const std::shared_ptr<const LeafData> data = s.box->data();
    if (data == nullptr) continue;
    bool all_one = true;
    for (size_t i = 0; i < data->keys.size(); ++i) all_one &= data->weight(i) == 1;
    EXPECT_EQ(s.box->unit_weights(), all_one) << "leaf at " << s.first_key;
  }
}

// Keys: clustered runs (consecutive codes), isolated far-apart keys, so that a leaf's keys are
// far from evenly spread over its range. Weights: mostly 1; some leaves get weight 2, -1 and
// mixed {2, -1} pairs.
std::vector<std::vector<KeyWeight>> Batches(std::mt19937_64& rng) {
  std::vector<std::vector<KeyWeight>> batches;
  std::map<uint64_t, int64_t> all;
  for (int b = 0; b < 6; ++b) {
    std::map<uint64_t, int64_t> batch;
    const uint64_t base = rng() >> 2;
    for (uint64_t i = 0; i < 40; ++i) batch[base + i] = 1;  // a dense run
    for (int i = 0; i < 40; ++i) batch[rng()] = 1;          // spread out
    for (int i = 0; i < 6; ++i) batch[(uint64_t{1} << 63) + static_cast<uint64_t>(i)] += 1;
    if (b % 2 == 1) {
      for (int i = 0; i < 8; ++i) batch[base + 100 + static_cast<uint64_t>(i)] = i % 2 ? -1 : 2;
      batch[rng()] = -3;
      batch[rng()] = 5;
    }
    std::vector<KeyWeight> ops;
    for (const auto& [k, w] : batch) {
      if (all[k] + w == 0) continue;  // keep every entry non-zero and the batch valid
      all[k] += w;
      ops.push_back(KeyWeight{k, w});
    }
    batches.push_back(std::move(ops));
  }
  return batches;
}

TEST(QueryFastPath, MixedWeightLeavesMatchTheModelResidentRestoredAndEvicted) {
  for (const TreeShape shape : {TreeShape{8, 4}, TreeShape{64, 8}, kDefaultTreeShape}) {
    std::mt19937_64 rng(shape.leaf_capacity_entries);
    FakeLeafLoader loader(KeyType::kInt64);
    OrderStatTree tree(KeyType::kInt64, shape, &loader);
    Model model;
    uint64_t epoch = 1;
    for (const std::vector<KeyWeight>& ops : Batches(rng)) {
      ASSERT_TRUE(tree.Apply(ops, epoch++).ok());
      ASSERT_TRUE(model.Apply(ops));
      ExpectAllRanksAndSelects(*tree.current(), model);
      ExpectUnitFlags(*tree.current());
      if (HasFatalFailure()) return;
    }
    // Restored: no leaf resident, the flags unknown; the first reads load (the Load path),
    // later reads take the pins; then everything evicted and read again.
    const std::vector<PersistedSummary> summaries = loader.Checkpoint(*tree.current());
    auto restored = BuildFromSummaries(KeyType::kInt64, shape, summaries, epoch, &loader).value();
    for (int pass = 0; pass < 3; ++pass) {
      ExpectAllRanksAndSelects(*restored, model);
      ExpectUnitFlags(*restored);
      if (HasFatalFailure()) return;
      if (pass == 1) {
        for (const LeafSummary& s : Summaries(*restored)) s.box->EvictClean();
      }
    }
  }
}

// A tree of unit-weight leaves only: Select(k) is the k-th key, Rank the index, for every key.
TEST(QueryFastPath, AllUnitWeightsSelectIsTheKthKey) {
  std::mt19937_64 rng(5);
  OrderStatTree tree(KeyType::kInt64, TreeShape{16, 4}, nullptr);
  std::set<uint64_t> keys;
  while (keys.size() < 3000) keys.insert(rng() % 100000 * 1000 + (rng() % 2 ? 0 : 999));
  std::vector<KeyWeight> ops;
  for (uint64_t k : keys) ops.push_back(KeyWeight{k, 1});
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  const auto v = tree.current();
  size_t i = 0;
  for (uint64_t k : keys) {
    ASSERT_EQ(Select(*v, i, false).value(), std::optional<uint64_t>(k));
    ASSERT_EQ(Rank(*v, k).value(), i);
    ASSERT_EQ(Rank(*v, k + 1).value(), i + 1);
    ++i;
  }
  for (const LeafSummary& s : Summaries(*v)) EXPECT_TRUE(s.box->unit_weights());
}

// Readers (pins, or loads when evicted) racing an evictor that drops every leaf again and
// again: every answer stays right, and no content is freed under a reader (ThreadSanitizer,
// ASan). A fixed number of rounds, no timing.
TEST(QueryFastPath, ReadPinsRacingEvictCleanStayCorrect) {
  std::mt19937_64 rng(11);
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, TreeShape{16, 4}, &loader);
  Model model;
  std::vector<KeyWeight> ops;
  std::set<uint64_t> keys;
  while (keys.size() < 2000) keys.insert(rng());
  int i = 0;
  for (uint64_t k : keys) ops.push_back(KeyWeight{k, ++i % 7 == 0 ? 2 : 1});
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  ASSERT_TRUE(model.Apply(ops));
  const std::vector<PersistedSummary> summaries = loader.Checkpoint(*tree.current());
  auto v = BuildFromSummaries(KeyType::kInt64, TreeShape{16, 4}, summaries, 2, &loader).value();
  const std::vector<uint64_t> sorted(keys.begin(), keys.end());
  std::vector<uint64_t> expected_rank;
  for (uint64_t k : sorted) expected_rank.push_back(model.Rank(k));
  const uint64_t n = model.N();
  std::vector<uint64_t> items;  // the items in ascending order (key repeated per weight)
  for (const auto& [k, w] : model.entries()) items.insert(items.end(), static_cast<size_t>(w), k);
  ASSERT_EQ(items.size(), n);

  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 r(100 + t);
      for (int q = 0; q < 20000; ++q) {
        const size_t j = r() % sorted.size();
        if (Rank(*v, sorted[j]).value() != expected_rank[j]) wrong.fetch_add(1);
        const uint64_t k = r() % n;
        const std::optional<uint64_t> got = Select(*v, k, false).value();
        if (got != std::optional<uint64_t>(items[k])) wrong.fetch_add(1);
      }
    });
  }
  std::thread evictor([&] {
    const std::vector<LeafSummary> leaves = Summaries(*v);
    while (!done.load(std::memory_order_acquire)) {
      for (const LeafSummary& s : leaves) s.box->EvictClean();
    }
  });
  for (std::thread& t : readers) t.join();
  done.store(true, std::memory_order_release);
  evictor.join();
  EXPECT_EQ(wrong.load(), 0);
  ExpectAllRanksAndSelects(*v, model);
}

// The writer reads each leaf it changes through a ReadPin when resident, else loads it
// (tree/apply.cc ApplyToLeaf), while an evictor drops every persisted leaf of the current
// version again and again: every version matches the model, mixed weights included (the
// implicit unit weights of the decoded leaves turn into held weights when a batch writes
// another one). ThreadSanitizer in .ci/run; a fixed number of batches, no timing.
TEST(QueryFastPath, WriterPinsRacingEvictCleanStayCorrect) {
  std::mt19937_64 rng(13);
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, TreeShape{16, 4}, &loader);
  Model model;
  std::atomic<bool> done{false};
  std::thread evictor([&] {
    while (!done.load(std::memory_order_acquire)) {
      for (const LeafSummary& s : Summaries(*tree.current())) s.box->EvictClean();
    }
  });
  for (uint64_t epoch = 1; epoch <= 60; ++epoch) {
    std::map<uint64_t, int64_t> batch;
    for (int i = 0; i < 150; ++i) batch[rng() % 4000] = 1;
    for (int i = 0; i < 10; ++i) {
      const uint64_t k = rng() % 4000;
      batch[k] = i % 3 == 0 ? 3 : -1;
    }
    std::vector<KeyWeight> ops;
    for (const auto& [k, w] : batch) ops.push_back(KeyWeight{k, w});  // deletes to 0 included
    ASSERT_TRUE(model.Apply(ops));
    if (epoch % 4 == 0) {  // the Load path for certain, whatever the evictor's timing
      for (const LeafSummary& s : Summaries(*tree.current())) s.box->EvictClean();
    }
    ASSERT_TRUE(tree.Apply(ops, epoch).ok());
    loader.Checkpoint(*tree.current());  // persisted: the evictor may drop them
  }
  done.store(true, std::memory_order_release);
  evictor.join();
  EXPECT_GT(loader.loads(), 0u);
  ExpectAllRanksAndSelects(*tree.current(), model);
  ExpectUnitFlags(*tree.current());
}

}  // namespace
}  // namespace cowtree::tree
