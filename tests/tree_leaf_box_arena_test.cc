// LeafBoxArena (tree/leaf_box_arena.h): boxes carved from shared blocks behave like
// make_shared boxes whatever the order in which they, their weak_ptrs and the arena go, and
// through loads and evictions under a small budget (the CLOCK ring keeps weak_ptrs to them).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "persistence/memory_budget.h"
#include "tree/leaf.h"
#include "tree/leaf_box_arena.h"

namespace cowtree::tree {
namespace {

// Leaf i holds keys 100 i .. 100 i + 15, weight 1 each; counts loads.
class CountingLoader : public LeafLoader {
 public:
  explicit CountingLoader(MemoryBudget* budget) : budget_(budget) {}
  Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID id) override {
    ++loads;
    auto data = std::make_shared<LeafData>();
    const uint64_t first = (id.handle() - 1) * 100;
    for (uint64_t k = 0; k < 16; ++k) {
      data->keys.push_back(first + k);
      data->weights.push_back(1);
    }
    return std::shared_ptr<const LeafData>(std::move(data));
  }
  MemoryBudget* memory_budget() const override { return budget_; }
  int loads = 0;

 private:
  MemoryBudget* budget_;
};

std::vector<std::shared_ptr<LeafBox>> MakeBoxes(LeafBoxArena* arena, size_t n,
                                                MemoryBudget* budget) {
  std::vector<std::shared_ptr<LeafBox>> boxes;
  for (size_t i = 0; i < n; ++i) {
    boxes.push_back(arena->Make(uint64_t{i} * 100, /*pos_sum=*/16, /*entry_count=*/16u,
                                NodeID::Make(i + 1, 1), /*epoch=*/7, budget));
  }
  return boxes;
}

TEST(LeafBoxArena, BoxesOutliveTheArenaAndDieInAnyOrder) {
  // Several blocks: the arena moves on when one is full.
  constexpr size_t kBoxes = 60000;
  std::vector<std::shared_ptr<LeafBox>> boxes;
  std::vector<std::weak_ptr<LeafBox>> weak;
  size_t blocks = 0;
  {
    LeafBoxArena arena(kBoxes);
    boxes = MakeBoxes(&arena, kBoxes, nullptr);
    blocks = arena.blocks_allocated();
  }
  EXPECT_GE(blocks, 2u);
  EXPECT_LE(blocks, kBoxes * 96 / LeafBoxArena::kBlockBytes + 2);
  for (size_t i = 0; i < kBoxes; ++i) {
    ASSERT_EQ(boxes[i]->first_key(), i * 100);
    ASSERT_EQ(boxes[i]->persisted_id(), NodeID::Make(i + 1, 1));
    ASSERT_EQ(boxes[i]->epoch(), 7u);
    ASSERT_EQ(boxes[i]->data(), nullptr);
  }
  // Distinct, non-overlapping storage.
  std::vector<const LeafBox*> addresses;
  for (const auto& b : boxes) addresses.push_back(b.get());
  std::sort(addresses.begin(), addresses.end());
  for (size_t i = 1; i < addresses.size(); ++i) {
    ASSERT_GE(
        reinterpret_cast<uintptr_t>(addresses[i]) - reinterpret_cast<uintptr_t>(addresses[i - 1]),
        sizeof(LeafBox));
  }
  // Weak pointers to some, then the boxes released in random order, half from another thread;
  // a weak_ptr outliving its box keeps the block (ASan / valgrind see a use after free if not).
  for (size_t i = 0; i < kBoxes; i += 97) weak.push_back(boxes[i]);
  std::shuffle(boxes.begin(), boxes.end(), std::mt19937(42));
  std::vector<std::shared_ptr<LeafBox>> other(boxes.begin() + kBoxes / 2, boxes.end());
  boxes.resize(kBoxes / 2);
  std::thread t([&] { other.clear(); });
  boxes.clear();
  t.join();
  for (const auto& w : weak) EXPECT_TRUE(w.expired());
  weak.clear();
}

TEST(LeafBoxArena, BoxesReleasedBeforeTheArena) {
  // Early frees (an error path of a restore) must not free the block the arena still fills.
  LeafBoxArena arena(4000);
  for (int round = 0; round < 3; ++round) {
    auto boxes = MakeBoxes(&arena, 1000, nullptr);
    boxes.clear();
  }
  auto kept = MakeBoxes(&arena, 10, nullptr);
  EXPECT_EQ(kept[9]->first_key(), 900u);
  EXPECT_EQ(arena.blocks_allocated(), 1u);
}

TEST(LeafBoxArena, BlocksAreSizedToTheBoxesExpected) {
  const uint64_t before = LeafBoxArena::MappedBytes();
  {
    // A small tree: make_shared boxes, no block.
    LeafBoxArena small(LeafBoxArena::kArenaBoxesMin - 1);
    auto boxes = MakeBoxes(&small, 100, nullptr);
    EXPECT_EQ(small.blocks_allocated(), 0u);
    EXPECT_EQ(LeafBoxArena::MappedBytes(), before);
  }
  std::vector<std::shared_ptr<LeafBox>> boxes;
  {
    // 5000 boxes: one block of about 5000 slots (whole pages), not 2 MiB.
    LeafBoxArena arena(5000);
    boxes = MakeBoxes(&arena, 5000, nullptr);
    EXPECT_EQ(arena.blocks_allocated(), 1u);
    const uint64_t mapped = LeafBoxArena::MappedBytes() - before;
    EXPECT_GE(mapped, 5000 * LeafBoxArena::SlotBytes());
    EXPECT_LE(mapped, 5000 * LeafBoxArena::SlotBytes() + 2 * 4096);
    // More boxes than expected: further blocks as needed.
    auto extra = MakeBoxes(&arena, 200, nullptr);  // beyond the page rounding
    EXPECT_GE(arena.blocks_allocated(), 2u);       // a page each once past the expected count
  }
  EXPECT_GT(LeafBoxArena::MappedBytes(), before);  // the boxes keep their block
  boxes.clear();
  EXPECT_EQ(LeafBoxArena::MappedBytes(), before);  // the last box unmapped it
}

TEST(LeafBoxArena, LoadEvictReloadUnderABudget) {
  // A budget of a few leaves: loading them in turn evicts the earlier ones through the ring's
  // weak_ptrs; boxes are then dropped while the ring still names them.
  MemoryBudget budget(/*budget_bytes=*/4096, /*dirty_percent=*/50);
  CountingLoader loader(&budget);
  std::vector<std::shared_ptr<LeafBox>> boxes;
  {
    LeafBoxArena arena(3000);
    boxes = MakeBoxes(&arena, 3000, &budget);
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < boxes.size(); ++i) {
      auto data = LeafBox::Load(boxes[i], &loader);
      ASSERT_TRUE(data.ok()) << data.status().ToString();
      ASSERT_EQ((*data)->keys.front(), i * 100);
    }
  }
  EXPECT_EQ(loader.loads, 6000);  // evicted by the budget, then loaded again
  EXPECT_LE(budget.stats().clean_bytes, 4096);
  size_t evicted = 0;
  for (const auto& b : boxes) evicted += b->EvictClean() > 0 ? 1 : 0;
  EXPECT_EQ(budget.stats().clean_bytes, 0);
  EXPECT_LE(evicted, 3000u);
  boxes.erase(boxes.begin(), boxes.begin() + 1500);
  auto again = LeafBox::Load(boxes.back(), &loader);
  ASSERT_TRUE(again.ok());
  boxes.clear();
  EXPECT_EQ(budget.stats().clean_bytes, 0);
}

}  // namespace
}  // namespace cowtree::tree
