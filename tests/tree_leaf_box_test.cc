// LeafBox (tree/leaf.h) against a memory budget: the checkpointer's MarkPersisted racing an
// eviction walk (Runtime::EvictClean during a checkpoint). Found by the SIGKILL soak in CI:
// MarkPersisted published the id before reading the content, so a concurrent EvictClean could
// drop it first (assertion `data != nullptr`) and uncharge bytes still counted as dirty.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "persistence/memory_budget.h"
#include "tree/leaf.h"

namespace cowtree::tree {
namespace {

std::shared_ptr<LeafBox> DirtyBox(uint64_t first_key, MemoryBudget* budget) {
  auto data = std::make_shared<LeafData>();
  for (uint64_t k = 0; k < 16; ++k) {
    data->keys.push_back(first_key + k);
    data->weights.push_back(1);
  }
  return std::make_shared<LeafBox>(std::move(data), /*pos_sum=*/16, /*epoch=*/1, budget);
}

TEST(LeafBox, MarkPersistedRacingEvictCleanKeepsTheBudgetExact) {
  for (int round = 0; round < 20; ++round) {
    // Unlimited: the accounting is kept but nothing is evicted by the budget itself, so every
    // eviction below is the racing walk's.
    MemoryBudget budget(/*budget_bytes=*/0, /*dirty_percent=*/50);
    std::vector<std::shared_ptr<LeafBox>> boxes;
    for (uint64_t i = 0; i < 2000; ++i) boxes.push_back(DirtyBox(i * 100, &budget));
    const int64_t dirty_before = budget.stats().dirty_bytes;
    ASSERT_GT(dirty_before, 0);
    ASSERT_EQ(budget.stats().clean_bytes, 0);

    // The walk spins on the box being persisted (the race window is a few instructions wide),
    // and every 64th box it skips, so that some stay resident.
    std::atomic<bool> done{false};
    std::atomic<size_t> cursor{0};
    std::atomic<uint64_t> evicted_bytes{0};
    std::thread evictor([&] {
      while (!done.load(std::memory_order_acquire)) {
        const size_t i = cursor.load(std::memory_order_acquire);
        if (i % 64 != 0) evicted_bytes.fetch_add(boxes[i]->EvictClean());
      }
    });
    for (size_t i = 0; i < boxes.size(); ++i) {
      cursor.store(i, std::memory_order_release);
      for (int spin = 0; spin < 200; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
      LeafBox::MarkPersisted(boxes[i], NodeID::Make(1000 + i, 1));
    }
    done.store(true, std::memory_order_release);
    evictor.join();

    // Every byte moved from dirty to clean exactly once; what the walk evicted left clean.
    const MemoryBudgetStats s = budget.stats();
    EXPECT_EQ(s.dirty_bytes, 0) << "round " << round;
    uint64_t resident = 0;
    for (const auto& b : boxes) {
      EXPECT_TRUE(b->persisted());
      if (const auto d = b->data(); d != nullptr) resident += d->size_bytes();
    }
    EXPECT_EQ(s.clean_bytes, static_cast<int64_t>(resident)) << "round " << round;
    EXPECT_EQ(static_cast<int64_t>(resident + evicted_bytes.load()), dirty_before);
    // A second call with the same id is a no-op, also for an evicted box.
    for (size_t i = 0; i < boxes.size(); ++i) {
      LeafBox::MarkPersisted(boxes[i], NodeID::Make(1000 + i, 1));
    }
    EXPECT_EQ(budget.stats().clean_bytes, static_cast<int64_t>(resident));
  }
}

}  // namespace
}  // namespace cowtree::tree
