// PercentileOperator::Step's old rows (include/cowtree/percentile_operator.h): each emitted -1
// row is the group's row on the state before the Step and each +1 row its row after, whether
// the old row was read or taken from the previous Step (only while the group's tree is the
// same version: a write to the tree by another writer in between is seen), and whether the
// group's tree was cold (reopened store: the Step promotes the trees it touches by catalog
// chunk). Checked against Answers() on the state before and after each Step.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "api/internal.h"
#include "cowtree/cowtree.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using Group = std::optional<std::string>;
using Row = OutputRow<int64_t>;

OperatorSpec Spec() {
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending},
                  {0.25, PercentileKind::kDisc, Order::kDescending}};
  return spec;
}

std::map<Group, Row> ByGroup(const std::vector<Row>& rows) {
  std::map<Group, Row> out;
  for (const Row& r : rows) out.emplace(r.group, r);
  return out;
}

// Steps `batch` and checks every delta against Answers before / after: for each group touched,
// -1 of its old row (if any) and +1 of its new row (if any), only if they differ.
void StepAndCheck(Store* store, PercentileOperator<int64_t>* op,
                  const std::vector<InputDelta<int64_t>>& batch) {
  const std::map<Group, Row> before = ByGroup(op->Answers(store->GetSnapshot()).value());
  auto deltas = op->Step(batch);
  ASSERT_TRUE(deltas.ok()) << deltas.status().ToString();
  const std::map<Group, Row> after = ByGroup(op->Answers(store->GetSnapshot()).value());
  std::map<Group, bool> touched;
  for (const auto& in : batch) touched[in.group] = true;
  std::vector<OutputDelta<int64_t>> expected;
  std::vector<Group> order;  // output order: by name, the NULL group last
  for (const auto& [g, unused] : touched) {
    if (g.has_value()) order.push_back(g);
  }
  if (touched.count(std::nullopt) != 0) order.push_back(std::nullopt);
  for (const Group& g : order) {
    const auto b = before.find(g);
    const auto a = after.find(g);
    const bool same = b != before.end() && a != after.end() && b->second == a->second;
    if (same) continue;
    if (b != before.end()) expected.push_back({b->second, -1});
    if (a != after.end()) expected.push_back({a->second, +1});
  }
  ASSERT_EQ(deltas->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*deltas)[i].weight, expected[i].weight) << i;
    EXPECT_EQ((*deltas)[i].row, expected[i].row) << i;
  }
}

TEST(PercentileOperatorRows, AnotherWriterBetweenStepsIsSeen) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
  // Names of several lengths and shared prefixes (the Step's group index hashes 8-byte words).
  const std::vector<std::string> names = {"a", "ab", "abcdefgh", "abcdefghi", "abcdefgh2", "z"};
  std::vector<InputDelta<int64_t>> batch;
  for (size_t i = 0; i < names.size(); ++i) {
    for (int64_t v = 0; v < 5; ++v) batch.push_back({names[i], v * static_cast<int64_t>(i), 1});
  }
  batch.push_back({std::nullopt, 3, 1});
  StepAndCheck(store.get(), op.get(), batch);
  // Another writer adds to "ab" and to a tree of no group; the next Step must retract the row
  // "ab" has now, not the one the operator computed last.
  {
    WriteBatch w = store->NewBatch();
    w.Add(store->Tree<int64_t>("ab").value(), 100, 3);
    w.Add(w.CreateTree<int64_t>("__cowtree_other"), 1, 1);
    ASSERT_TRUE(store->Commit(w).ok());
  }
  StepAndCheck(store.get(), op.get(), {{"ab", 1, 1}, {"a", 2, 1}, {std::nullopt, 4, 1}});
  // A failed Step (bad group) changes nothing; the next one is still exact.
  EXPECT_TRUE(op->Step({{"a", 9, 1}, {"__cowtree_x", 1, 1}}).status().IsInvalidArgument());
  StepAndCheck(store.get(), op.get(), {{"a", 9, 1}, {"ab", 100, -3}, {"z", 0, -1}});
  // Emptying a group, NULL values, a group coming back.
  std::vector<InputDelta<int64_t>> empty_z;
  for (int64_t v = 1; v < 5; ++v) empty_z.push_back({"z", v * 5, -1});
  StepAndCheck(store.get(), op.get(), empty_z);
  StepAndCheck(store.get(), op.get(), {{"z", std::nullopt, 1}, {"abcdefgh", std::nullopt, 2}});
  StepAndCheck(store.get(), op.get(), {{"z", 7, 1}, {"abcdefgh", 1, 0}});
  ASSERT_TRUE(store->Close().ok());
}

TEST(PercentileOperatorRows, ColdGroupsAfterReopen) {
  testutil::TempDir dir;
  const int kGroups = 3000;
  std::mt19937_64 rng(7);
  {
    auto store = Store::Open(dir.path(), Options()).value();
    auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
    std::vector<InputDelta<int64_t>> batch;
    for (int g = 0; g < kGroups; ++g) {
      batch.push_back({"group-" + std::to_string(g), static_cast<int64_t>(rng() % 100), 1});
      if (g % 10 == 0) batch.push_back({"group-" + std::to_string(g), std::nullopt, 1});
    }
    ASSERT_TRUE(op->Step(batch).ok());
    ASSERT_TRUE(store->Close().ok());  // checkpoint on close: every tree cold at reopen
  }
  auto store = Store::Open(dir.path(), Options()).value();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
  for (int step = 0; step < 4; ++step) {
    std::vector<InputDelta<int64_t>> batch;
    for (int i = 0; i < 400; ++i) {
      const std::string g = "group-" + std::to_string(rng() % (kGroups + 50));  // a few new
      std::optional<int64_t> v;
      if (rng() % 9 != 0) v = static_cast<int64_t>(rng() % 100);
      batch.push_back({g, v, rng() % 4 == 0 ? -1 : 1});
    }
    SCOPED_TRACE(step);
    StepAndCheck(store.get(), op.get(), batch);
  }
  ASSERT_TRUE(store->Close().ok());
}

// Answers on a reopened store reads every group once: the groups it read leave memory again
// (demotion passes between its slices, Options::demotion_pass_promotions; here without a
// background thread, so that only Answers' own passes run), and the answers equal those of a
// store that keeps every group in memory.
TEST(PercentileOperatorRows, AnswersOverManyColdGroupsLeaveMemory) {
  testutil::TempDir dir;
  const int kGroups = 3000;
  constexpr uint64_t kPass = 200;
  std::mt19937_64 rng(11);
  {
    auto store = Store::Open(dir.path(), Options()).value();
    auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
    std::vector<InputDelta<int64_t>> batch;
    for (int g = 0; g < kGroups; ++g) {
      for (uint64_t v = 0; v < 1 + rng() % 4; ++v) {
        batch.push_back({"group-" + std::to_string(g), static_cast<int64_t>(rng() % 100), 1});
      }
      if (g % 10 == 0) batch.push_back({"group-" + std::to_string(g), std::nullopt, 1});
    }
    batch.push_back({std::nullopt, 5, 1});
    ASSERT_TRUE(op->Step(batch).ok());
    ASSERT_TRUE(store->Close().ok());  // checkpoint on close: every tree cold at reopen
  }
  Options keep_all;
  keep_all.demotion_pass_promotions = 0;
  keep_all.background_thread = false;
  std::map<Group, Row> expected;
  {
    auto store = Store::Open(dir.path(), keep_all).value();
    auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
    expected = ByGroup(op->Answers(store->GetSnapshot()).value());
    const RuntimeStats s = api_internal::Access::Of(*store).runtime->GetStats();
    EXPECT_GE(s.hot_tree_count, static_cast<uint64_t>(kGroups));  // nothing left
    EXPECT_EQ(s.trees_demoted, 0u);
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_EQ(expected.size(), static_cast<size_t>(kGroups + 1));
  Options passes = keep_all;
  passes.demotion_pass_promotions = kPass;
  passes.hot_trees_min = 0;
  auto store = Store::Open(dir.path(), passes).value();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
  for (int round = 0; round < 2; ++round) {  // the second read promotes the groups again
    SCOPED_TRACE(round);
    Result<std::vector<Row>> rows = op->Answers(store->GetSnapshot());
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_EQ(ByGroup(*rows), expected);
    const RuntimeStats s = api_internal::Access::Of(*store).runtime->GetStats();
    // At most the trees promoted since the pass before the last one, plus a slice, plus the
    // operator's two count trees.
    EXPECT_LE(s.hot_tree_count, 3 * kPass);
    EXPECT_GE(s.trees_demoted, (round + 1) * kGroups - 3 * kPass);
  }
  ASSERT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace cowtree
