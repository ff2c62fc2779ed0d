// RuntimeSnapshot isolation: old versions keep answering for their own state while later batches
// are applied, including from concurrent reader threads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::ExpectMatchesModel;
using testing::Model;

TEST(TreeSnapshotTest, OldVersionsAnswerTheirOwnState) {
  std::mt19937_64 rng(11);
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  Model model;
  std::vector<std::pair<std::shared_ptr<const TreeVersion>, Model>> held;
  for (uint64_t epoch = 1; epoch <= 120; ++epoch) {
    std::map<uint64_t, int64_t> batch;
    for (int i = 0; i < 40; ++i) {
      if (rng() % 3 == 0 && !model.entries().empty()) {
        auto it = model.entries().begin();
        std::advance(it, rng() % model.entries().size());
        batch[it->first] = -it->second;  // delete
      } else {
        batch[EncodeInt64Key(static_cast<int64_t>(rng() % 2000))] += rng() % 2 ? 2 : -1;
      }
    }
    std::vector<KeyWeight> ops;
    for (auto [k, w] : batch) {
      if (w != 0) ops.push_back({k, w});
    }
    ASSERT_TRUE(model.Apply(ops));
    ASSERT_TRUE(tree.Apply(ops, epoch).ok());
    if (epoch % 10 == 0) held.emplace_back(tree.current(), model);
  }
  ASSERT_GE(tree.current()->height, 5u);
  for (auto& [v, m] : held) {
    SCOPED_TRACE("epoch " + std::to_string(v->epoch));
    ExpectMatchesModel(*v, m, rng, 20);
    if (HasFatalFailure()) return;
  }
}

TEST(TreeSnapshotTest, FailedApplyPublishesNothing) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  std::vector<KeyWeight> ops;
  for (int i = 0; i < 100; ++i) ops.push_back({EncodeInt64Key(i), 1});
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  auto before = tree.current();
  // Key 50 overflows int64; keys before it were already merged into copies: all discarded.
  std::vector<KeyWeight> bad;
  for (int i = 0; i < 100; ++i) bad.push_back({EncodeInt64Key(i), i == 50 ? INT64_MAX : -1});
  EXPECT_TRUE(tree.Apply(bad, 2).IsInvalidArgument());
  EXPECT_EQ(tree.current(), before);
  EXPECT_EQ(PositiveCount(*before), 100u);
  EXPECT_TRUE(CheckInvariants(*before, true).ok());
  // The same epoch may be retried.
  bad[50].weight = -1;
  ASSERT_TRUE(tree.Apply(bad, 2).ok());
  EXPECT_EQ(tree.current()->root, nullptr);
  EXPECT_EQ(PositiveCount(*before), 100u);
}

// Each epoch e adds keys so that N(e) = e * (e + 1) / 2 * 10 and removes nothing; readers check
// that every version they see is internally consistent and matches its epoch exactly.
TEST(TreeSnapshotTest, ConcurrentReadersNeverSeePartialBatches) {
  OrderStatTree tree(KeyType::kInt64, {8, 4}, nullptr);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> checks{0};
  std::atomic<int> failures{0};
  std::atomic<int> started{0};
  auto reader = [&]() {
    std::mt19937_64 rng(std::hash<std::thread::id>()(std::this_thread::get_id()));
    started++;
    do {
      std::shared_ptr<const TreeVersion> v = tree.current();
      const uint64_t e = v->epoch;
      const uint64_t n = e * (e + 1) / 2 * 10;
      if (PositiveCount(*v) != n) failures++;
      if (n > 0) {
        const uint64_t k = rng() % n;
        auto key = Select(*v, k, false).value();
        // rank(key) <= k < rank(key) + weight(key)
        const uint64_t r = Rank(*v, *key).value();
        const int64_t w = WeightOf(*v, *key).value();
        if (!(r <= k && k < r + static_cast<uint64_t>(w))) failures++;
        if (rng() % 64 == 0 && !CheckInvariants(*v, false).ok()) failures++;
      }
      checks++;
    } while (!done.load());
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  while (started.load() < 3) std::this_thread::yield();  // overlap readers with the writer
  for (uint64_t e = 1; e <= 300; ++e) {
    std::vector<KeyWeight> ops;
    for (int j = 0; j < 10; ++j) {
      ops.push_back(
          {EncodeInt64Key(static_cast<int64_t>(j * 100000 + e)), static_cast<int64_t>(e)});
    }
    std::sort(ops.begin(), ops.end(), [](auto a, auto b) { return a.key < b.key; });
    ASSERT_TRUE(tree.Apply(ops, e).ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(checks.load(), 0u);
}

// Readers load leaves lazily while another thread keeps evicting them; every answer stays
// exact and each reader sees consistent leaves.
TEST(TreeSnapshotTest, ConcurrentLazyLoadsAndEvictions) {
  testing::FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, {8, 4}, &loader);
  std::vector<KeyWeight> ops;
  for (int i = 0; i < 4000; ++i) ops.push_back({EncodeInt64Key(i), 1 + i % 3});
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  const std::vector<PersistedSummary> persisted = loader.Checkpoint(*tree.current());
  auto v = BuildFromSummaries(KeyType::kInt64, {8, 4}, persisted, 1, &loader).value();
  Model model;
  ASSERT_TRUE(model.Apply(ops));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 3000; ++i) {
      const uint64_t k = rng() % PositiveCount(*v);
      auto got = Select(*v, k, rng() % 2 == 0);
      if (!got.ok() || !got.value().has_value()) failures++;
      const uint64_t key = EncodeInt64Key(static_cast<int64_t>(rng() % 4000));
      auto r = Rank(*v, key);
      if (!r.ok() || r.value() != model.Rank(key)) failures++;
    }
  };
  std::thread evictor([&] {
    while (!done.load()) {
      for (const LeafSummary& s : Summaries(*v)) s.box->EvictClean();
    }
  });
  std::vector<std::thread> readers;
  for (uint64_t i = 0; i < 3; ++i) readers.emplace_back(reader, i + 1);
  for (auto& t : readers) t.join();
  done = true;
  evictor.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(loader.loads(), 0u);
}

}  // namespace
}  // namespace cowtree::tree
