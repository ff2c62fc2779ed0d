// MemoryBudget (persistence/memory_budget.h) with fake entries: CLOCK order and second chance,
// eviction stops once under the budget, destroyed entries drop out of the ring, dirty bytes
// are never evicted, and the dirty callback fires once per crossing of the dirty share.
#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "persistence/memory_budget.h"

namespace cowtree {
namespace {

// A fake leaf: `bytes` resident and clean until evicted.
class FakeEntry final : public Evictable {
 public:
  FakeEntry(MemoryBudget* budget, uint64_t bytes) : budget_(budget), bytes_(bytes) {
    budget_->Charge(bytes_, /*dirty=*/false);
  }
  ~FakeEntry() override {
    if (resident_) budget_->Uncharge(bytes_, false);
  }
  uint64_t EvictForBudget() override {
    if (!resident_) return 0;
    resident_ = false;
    budget_->Uncharge(bytes_, false);
    return bytes_;
  }
  bool TakeReferenced() override { return std::exchange(referenced_, false); }
  void MarkReferenced() { referenced_ = true; }
  bool resident() const { return resident_; }

 private:
  MemoryBudget* budget_;
  uint64_t bytes_;
  bool resident_ = true;
  bool referenced_ = false;  // the tests run on one thread
};

std::shared_ptr<FakeEntry> Add(MemoryBudget* b, uint64_t bytes) {
  auto e = std::make_shared<FakeEntry>(b, bytes);
  b->AddClean(e);
  return e;
}

TEST(MemoryBudgetUnit, EvictsInClockOrderDownToTheBudget) {
  MemoryBudget b(10000, 25);
  std::vector<std::shared_ptr<FakeEntry>> e;
  for (int i = 0; i < 10; ++i) e.push_back(Add(&b, 1000));  // exactly at the budget
  EXPECT_EQ(b.resident_bytes(), 10000);
  for (const auto& x : e) EXPECT_TRUE(x->resident());
  e.push_back(Add(&b, 1000));  // one over: the oldest unreferenced entry goes
  EXPECT_FALSE(e[0]->resident());
  for (size_t i = 1; i < e.size(); ++i) EXPECT_TRUE(e[i]->resident()) << i;
  EXPECT_EQ(b.resident_bytes(), 10000);
  EXPECT_EQ(b.stats().evictions, 1u);
}

TEST(MemoryBudgetUnit, ReferencedEntriesGetASecondChance) {
  MemoryBudget b(4000, 25);
  auto a = Add(&b, 1000), c = Add(&b, 1000), d = Add(&b, 1000), f = Add(&b, 1000);
  a->MarkReferenced();
  auto g = Add(&b, 1000);  // a is skipped (bit cleared), c goes
  EXPECT_TRUE(a->resident());
  EXPECT_FALSE(c->resident());
  EXPECT_TRUE(g->resident());
}

TEST(MemoryBudgetUnit, FixedAndDirtyBytesAreCountedButNeverEvicted) {
  MemoryBudget b(5000, 50);
  b.ChargeFixed(2000);
  b.Charge(2000, /*dirty=*/true);
  auto a = Add(&b, 1000);
  EXPECT_TRUE(a->resident());
  b.Charge(1500, /*dirty=*/true);  // over: the only clean entry goes
  EXPECT_FALSE(a->resident());
  EXPECT_EQ(b.resident_bytes(), 5500);  // the rest cannot be evicted
  b.MoveDirtyToClean(1500);
  EXPECT_EQ(b.stats().dirty_bytes, 2000);
  EXPECT_EQ(b.stats().clean_bytes, 1500);
}

TEST(MemoryBudgetUnit, DestroyedEntriesLeaveTheRing) {
  MemoryBudget b(3000, 25);
  { auto gone = Add(&b, 1000); }
  EXPECT_EQ(b.resident_bytes(), 0);
  auto a = Add(&b, 1000), c = Add(&b, 1000), d = Add(&b, 1000);
  auto f = Add(&b, 1000);  // evicts one live entry; the expired one just drops out
  EXPECT_EQ(b.resident_bytes(), 3000);
  EXPECT_LE(b.stats().ring_entries, 4u);
}

TEST(MemoryBudgetUnit, DirtyCallbackOncePerCrossing) {
  MemoryBudget b(1000, 25);  // share 250; nothing fixed: the trigger is the share
  int calls = 0;
  b.SetDirtyCallback([&] { ++calls; });
  b.Charge(200, true);
  b.EnforceBudget();
  EXPECT_EQ(calls, 0);
  b.Charge(100, true);
  b.EnforceBudget();
  b.EnforceBudget();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(b.DirtyOverTrigger());
  b.MoveDirtyToClean(300);  // a checkpoint wrote them
  b.Charge(300, true);
  b.EnforceBudget();
  EXPECT_EQ(calls, 2);
}

// Charges dirty bytes up to `trigger`, then one more, then up to `stall`, then one more,
// checking DirtyOverTrigger / DirtyOverStallLimit at each edge; uncharges them all.
void ExpectTriggerAndStallAt(MemoryBudget* b, int64_t trigger, int64_t stall) {
  ASSERT_LT(trigger, stall);
  b->Charge(static_cast<uint64_t>(trigger), true);
  EXPECT_FALSE(b->DirtyOverTrigger()) << trigger;
  b->Charge(1, true);
  EXPECT_TRUE(b->DirtyOverTrigger()) << trigger;
  b->Charge(static_cast<uint64_t>(stall - trigger - 1), true);
  EXPECT_FALSE(b->DirtyOverStallLimit()) << stall;
  b->Charge(1, true);
  EXPECT_TRUE(b->DirtyOverStallLimit()) << stall;
  b->Uncharge(static_cast<uint64_t>(stall + 1), true);
}

// The checkpoint trigger and the write stall follow the room eviction cannot make: budget -
// dirty share - fixed - node bytes (docs/memory_budget.md "Dirty leaves").
TEST(MemoryBudgetUnit, TriggerAndStallLimitShrinkWithTheUnevictableBytes) {
  MemoryBudget b(100000, 25);  // share 25 000
  int calls = 0;
  b.SetDirtyCallback([&] { ++calls; });
  // Nothing fixed: the share triggers, twice the share stalls.
  EXPECT_EQ(b.DirtyRoomBytes(), 75000);
  EXPECT_EQ(b.DirtyTriggerBytes(), 25000);
  ExpectTriggerAndStallAt(&b, 25000, 50000);
  // Fixed and node bytes take 40 000: room 35 000, the trigger at half of it, the stall at it
  // although under twice the share.
  b.ChargeFixed(30000);
  b.node_counter()->fetch_add(10000);
  EXPECT_EQ(b.DirtyRoomBytes(), 35000);
  EXPECT_EQ(b.DirtyTriggerBytes(), 17500);
  ExpectTriggerAndStallAt(&b, 17500, 35000);
  // The callback follows the trigger.
  b.Charge(17500, true);
  b.EnforceBudget();
  EXPECT_EQ(calls, 0);
  b.Charge(1, true);
  b.EnforceBudget();
  EXPECT_EQ(calls, 1);
  b.Uncharge(17501, true);
  // Fixed and node bytes leave 5 000 of room: the floors (share / 8, share / 4) hold.
  b.ChargeFixed(30000);
  EXPECT_EQ(b.DirtyRoomBytes(), 5000);
  EXPECT_EQ(b.DirtyTriggerBytes(), 3125);
  ExpectTriggerAndStallAt(&b, 3125, 6250);
  b.node_counter()->fetch_sub(10000);
  // Unlimited: neither ever holds.
  MemoryBudget unlimited(0, 25);
  unlimited.Charge(1 << 30, true);
  EXPECT_FALSE(unlimited.DirtyOverTrigger());
  EXPECT_FALSE(unlimited.DirtyOverStallLimit());
}

TEST(MemoryBudgetUnit, UnlimitedCountsAndNeverEvicts) {
  MemoryBudget b(0, 25);
  std::vector<std::shared_ptr<FakeEntry>> e;
  for (int i = 0; i < 100; ++i) e.push_back(Add(&b, 1 << 20));
  for (const auto& x : e) EXPECT_TRUE(x->resident());
  EXPECT_EQ(b.resident_bytes(), int64_t{100} << 20);
  EXPECT_EQ(b.stats().ring_entries, 0u);
}

// Freed memory is returned (malloc_trim) each time TrimIntervalBytes() were freed since the
// last return (budget / 8, at least 2 MiB), and the returns are timed (trim_ns). The fake clock
// advances 1000 ns per read, so each trim "takes" 1000 ns.
TEST(MemoryBudgetUnit, TrimsAreDueByBytesFreedAndTimed) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  MemoryBudget b(64 * kMiB, 50);
  ASSERT_EQ(b.TrimIntervalBytes(), 8 * kMiB);  // budget / 8
  uint64_t now_ns = 1000000;
  b.SetClockForTesting([&] { return now_ns += 1000; });
  b.Charge(32 * kMiB, false);
  b.Uncharge(8 * kMiB - 1, false);  // under the interval: not due
  b.EnforceBudget();
  EXPECT_EQ(b.stats().trims, 0u);
  b.Uncharge(1, false);  // 8 MiB freed: due
  b.EnforceBudget();
  b.EnforceBudget();  // nothing freed since: not due again
  MemoryBudgetStats s = b.stats();
  EXPECT_EQ(s.trims, 1u);
  EXPECT_EQ(s.trim_ns, 1000u);
  b.Uncharge(5 * kMiB, false);
  b.EnforceBudget();
  EXPECT_EQ(b.stats().trims, 1u);
  b.Uncharge(3 * kMiB, false);
  b.EnforceBudget();
  s = b.stats();
  EXPECT_EQ(s.trims, 2u);
  EXPECT_EQ(s.trim_ns, 2000u);
  // A small budget trims per 2 MiB freed, not per budget / 8.
  MemoryBudget small(4 * kMiB, 50);
  ASSERT_EQ(small.TrimIntervalBytes(), MemoryBudget::kTrimIntervalMinBytes);
  small.Charge(4 * kMiB, false);
  small.Uncharge(kMiB, false);  // budget / 4 freed: not due yet
  small.EnforceBudget();
  EXPECT_EQ(small.stats().trims, 0u);
  small.Uncharge(kMiB, false);
  small.EnforceBudget();
  EXPECT_EQ(small.stats().trims, 1u);
  // An unlimited budget never trims.
  MemoryBudget unlimited(0, 50);
  unlimited.Charge(64 * kMiB, false);
  unlimited.Uncharge(64 * kMiB, false);
  unlimited.EnforceBudget();
  EXPECT_EQ(unlimited.stats().trims, 0u);
}

}  // namespace
}  // namespace cowtree
