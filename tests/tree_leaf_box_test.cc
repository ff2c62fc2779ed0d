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

// A reader that found a box's content evicted and is loading it from its object while the
// checkpointer detaches the box from that object (an inline checkpoint: DetachFromObject, then
// the reclamation frees the object) answers from the content the detach made resident — not
// NotFound, nor the Corruption of a reused slot (found by an adversarial run: readers racing an
// inline checkpoint). The loader below plays the checkpointer in the middle of the load.
TEST(LeafBox, ALoadRacingADetachAnswersFromTheDetachedContent) {
  class DetachingLoader final : public LeafLoader {
   public:
    DetachingLoader(std::shared_ptr<LeafBox>* box, std::shared_ptr<const LeafData> content,
                    Status failure)
        : box_(box), content_(std::move(content)), failure_(std::move(failure)) {}
    Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID) override {
      ++calls;
      LeafBox::DetachFromObject(*box_, content_);
      return failure_;  // the object is gone by the time the read happens
    }
    int calls = 0;

   private:
    std::shared_ptr<LeafBox>* box_;
    std::shared_ptr<const LeafData> content_;
    Status failure_;
  };
  for (const Status& failure :
       {Status::NotFound("no live entry (handle free)"),
        Status::Corruption("slot holds another object, not the expected one")}) {
    MemoryBudget budget(/*budget_bytes=*/0, /*dirty_percent=*/50);
    std::shared_ptr<LeafBox> box = DirtyBox(1000, &budget);
    const std::shared_ptr<const LeafData> content = box->data();
    LeafBox::MarkPersisted(box, NodeID::FromRaw(12345));
    ASSERT_GT(box->EvictClean(), 0u);
    ASSERT_EQ(box->data(), nullptr);
    DetachingLoader loader(&box, content, failure);
    Result<std::shared_ptr<const LeafData>> loaded = LeafBox::Load(box, &loader);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loader.calls, 1);
    EXPECT_EQ((*loaded)->keys, content->keys);
    EXPECT_FALSE(box->persisted());
    EXPECT_EQ(box->EvictClean(), 0u) << "detached: resident for good";
    EXPECT_EQ(budget.stats().clean_bytes, 0);
    EXPECT_GT(budget.stats().dirty_bytes, 0);
    // A load that fails while the box stays persisted still reports the failure.
    std::shared_ptr<LeafBox> other = DirtyBox(5000, &budget);
    LeafBox::MarkPersisted(other, NodeID::FromRaw(23456));
    ASSERT_GT(other->EvictClean(), 0u);
    class FailingLoader final : public LeafLoader {
     public:
      explicit FailingLoader(Status failure) : failure_(std::move(failure)) {}
      Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID) override { return failure_; }

     private:
      Status failure_;
    } failing(failure);
    EXPECT_EQ(LeafBox::Load(other, &failing).status().code(), failure.code());
  }
}

}  // namespace
}  // namespace cowtree::tree
