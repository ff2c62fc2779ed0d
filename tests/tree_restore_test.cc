// Checkpoint/restore: summaries in key order, rebuild from summaries with another shape
// without loading leaves, lazy loading, eviction, loader failures.
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

using testing::ExpectMatchesModel;
using testing::FakeLeafLoader;
using testing::Model;

// Random inserts and deletes until the tree is >= 5 levels deep.
void Grow(OrderStatTree* tree, Model* model, std::mt19937_64& rng, uint64_t* epoch, int batches) {
  for (int b = 0; b < batches; ++b) {
    std::map<uint64_t, int64_t> batch;
    for (int i = 0; i < 60; ++i) {
      if (rng() % 4 == 0 && !model->entries().empty()) {
        auto it = model->entries().begin();
        std::advance(it, rng() % model->entries().size());
        batch[it->first] = -it->second;
      } else {
        batch[EncodeInt64Key(static_cast<int64_t>(rng() % 100000) - 50000)] +=
            static_cast<int64_t>(rng() % 7) - 2;
      }
    }
    std::vector<KeyWeight> ops;
    for (auto [k, w] : batch) {
      if (w != 0) ops.push_back({k, w});
    }
    ASSERT_TRUE(model->Apply(ops));
    ASSERT_TRUE(tree->Apply(ops, ++*epoch).ok());
  }
}

class TreeRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = std::make_unique<OrderStatTree>(KeyType::kInt64, TreeShape{4, 4}, &loader_);
    Grow(tree_.get(), &model_, rng_, &epoch_, 80);
    ASSERT_GE(tree_->current()->height, 5u);
  }
  std::mt19937_64 rng_{2024};
  FakeLeafLoader loader_{KeyType::kInt64};
  std::unique_ptr<OrderStatTree> tree_;
  Model model_;
  uint64_t epoch_ = 0;
};

TEST_F(TreeRestoreTest, SummariesAreInKeyOrder) {
  auto v = tree_->current();
  std::vector<LeafSummary> s = Summaries(*v);
  ASSERT_EQ(s.size(), v->leaf_count);
  uint64_t pos = 0, entries = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) {
      ASSERT_LT(s[i - 1].first_key, s[i].first_key);
    }
    auto data = s[i].box->data();
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(data->keys.front(), s[i].first_key);
    EXPECT_EQ(data->entry_count(), s[i].entry_count);
    if (i + 1 < s.size()) {
      EXPECT_LT(data->keys.back(), s[i + 1].first_key);
    }
    EXPECT_FALSE(s[i].box->persisted());
    pos += s[i].pos_sum;
    entries += s[i].entry_count;
  }
  EXPECT_EQ(pos, v->positive_count);
  EXPECT_EQ(entries, v->entry_count);
}

TEST_F(TreeRestoreTest, BuildWithOtherShapeLoadsNothingThenLoadsLazily) {
  auto v = tree_->current();
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*v);
  ASSERT_EQ(loader_.loads(), 0u);
  for (const TreeShape shape : {TreeShape{16, 7}, TreeShape{4, 5}, TreeShape{1024, 64}}) {
    SCOPED_TRACE(std::to_string(shape.leaf_capacity_entries) + "/" + std::to_string(shape.fanout));
    const uint64_t loads_before = loader_.loads();
    auto built = BuildFromSummaries(KeyType::kInt64, shape, persisted, epoch_, &loader_);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    auto r = built.value();
    EXPECT_EQ(loader_.loads(), loads_before);  // zero loads during the build
    ASSERT_TRUE(CheckInvariants(*r, /*load_leaves=*/false).ok());
    EXPECT_EQ(loader_.loads(), loads_before);
    EXPECT_EQ(r->positive_count, v->positive_count);
    EXPECT_EQ(r->entry_count, v->entry_count);
    EXPECT_EQ(r->leaf_count, v->leaf_count);
    // One select loads exactly one leaf; asking again loads nothing.
    auto first = Select(*r, PositiveCount(*r) / 2, false);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first.value(), Select(*v, PositiveCount(*v) / 2, false).value());
    EXPECT_EQ(loader_.loads(), loads_before + 1);
    EXPECT_EQ(Select(*r, PositiveCount(*r) / 2, true).value(),
              Select(*v, PositiveCount(*v) / 2, true).value());
    EXPECT_LE(loader_.loads(), loads_before + 2);
    // Everything answers exactly as the original (loads every leaf on the way).
    ExpectMatchesModel(*r, model_, rng_, 30);
    if (HasFatalFailure()) return;
    EXPECT_GT(loader_.loads(), loads_before + 1);
    EXPECT_LE(loader_.loads(), loads_before + r->leaf_count);  // each leaf at most once
  }
}

TEST_F(TreeRestoreTest, RestoredTreeAcceptsWritesAndSplitsOversizedLeaves) {
  // Written with big leaves, restored with capacity 4: leaves exceed the new capacity.
  OrderStatTree big(KeyType::kInt64, {64, 8}, &loader_);
  uint64_t e = 0;
  std::vector<KeyWeight> ops;
  for (const auto& [k, w] : model_.entries()) ops.push_back({k, w});
  ASSERT_TRUE(big.Apply(ops, ++e).ok());
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*big.current());
  auto restored = BuildFromSummaries(KeyType::kInt64, {4, 4}, persisted, e, &loader_);
  ASSERT_TRUE(restored.ok());
  ASSERT_TRUE(CheckInvariants(*restored.value(), true).ok());
  OrderStatTree small(KeyType::kInt64, {4, 4}, &loader_);
  ASSERT_TRUE(small.Install(restored.value()).ok());
  Model model = model_;
  uint64_t epoch = e;
  Grow(&small, &model, rng_, &epoch, 30);
  ExpectMatchesModel(*small.current(), model, rng_);
  // Touched leaves obey the new capacity.
  for (const LeafSummary& s : Summaries(*small.current())) {
    if (s.box->epoch() > e) {
      EXPECT_LE(s.entry_count, 4u);
    }
  }
}

// An underflowing leaf merges with a restored sibling that exceeds the current capacity.
TEST(TreeRestoreOversizeTest, UnderflowNextToOversizedSibling) {
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree big(KeyType::kInt64, {64, 8}, &loader);
  Model model;
  std::vector<KeyWeight> ops;
  for (int i = 0; i < 128; ++i) ops.push_back({EncodeInt64Key(i), 1});
  ASSERT_TRUE(big.Apply(ops, 1).ok());
  ASSERT_TRUE(model.Apply(ops));
  ASSERT_EQ(big.current()->leaf_count, 2u);
  std::vector<PersistedSummary> persisted = loader.Checkpoint(*big.current());
  OrderStatTree t(KeyType::kInt64, {16, 4}, &loader);  // LeafMinEntries() == 4
  ASSERT_TRUE(
      t.Install(BuildFromSummaries(KeyType::kInt64, {16, 4}, persisted, 1, &loader).value()).ok());
  // Leave 2 entries in the second leaf: it underflows and merges with the 64-entry first leaf.
  std::vector<KeyWeight> del;
  for (int i = 64; i < 126; ++i) del.push_back({EncodeInt64Key(i), -1});
  ASSERT_TRUE(t.Apply(del, 2).ok());
  ASSERT_TRUE(model.Apply(del));
  std::mt19937_64 rng(1);
  ExpectMatchesModel(*t.current(), model, rng);
  for (const LeafSummary& s : Summaries(*t.current())) EXPECT_LE(s.entry_count, 16u);
}

TEST_F(TreeRestoreTest, EvictCleanKeepsDirtyLeavesAndReloads) {
  auto v = tree_->current();
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*v);
  // Dirty a few leaves.
  ASSERT_TRUE(tree_->Apply(std::vector<KeyWeight>{{EncodeInt64Key(123456789), 5}}, ++epoch_).ok());
  ASSERT_TRUE(model_.Apply({{EncodeInt64Key(123456789), 5}}));
  auto v2 = tree_->current();
  uint64_t released = 0, dirty = 0;
  for (const LeafSummary& s : Summaries(*v2)) {
    const uint64_t r = s.box->EvictClean();
    if (!s.box->persisted()) {
      ++dirty;
      EXPECT_EQ(r, 0u);
      EXPECT_NE(s.box->data(), nullptr);
    } else {
      EXPECT_EQ(s.box->data(), nullptr);
    }
    released += r;
  }
  EXPECT_GE(dirty, 1u);
  EXPECT_GT(released, 0u);
  const uint64_t before = loader_.loads();
  ExpectMatchesModel(*v2, model_, rng_, 10);
  EXPECT_GT(loader_.loads(), before);
}

TEST_F(TreeRestoreTest, LoaderErrorsPropagateAndLeaveTreeUnchanged) {
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*tree_->current());
  auto r = BuildFromSummaries(KeyType::kInt64, {4, 4}, persisted, epoch_, &loader_).value();
  OrderStatTree t(KeyType::kInt64, {4, 4}, &loader_);
  ASSERT_TRUE(t.Install(r).ok());
  loader_.FailWith(Status::IOError("disk on fire"));
  EXPECT_TRUE(Select(*r, 0, false).status().IsIOError());
  EXPECT_TRUE(PercentileCont(*r, 0.5, false).status().IsIOError());
  EXPECT_TRUE(ForEachAll(*r, [](uint64_t, int64_t) { return true; }).IsIOError());
  EXPECT_TRUE(CheckInvariants(*r, true).IsIOError());
  EXPECT_TRUE(CheckInvariants(*r, false).ok());
  const Status s = t.Apply(std::vector<KeyWeight>{{EncodeInt64Key(1), 1}}, epoch_ + 1);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(t.current(), r);
  loader_.FailWith(Status::Corruption("bad crc"));
  EXPECT_TRUE(Rank(*r, UINT64_MAX).status().IsCorruption());
  loader_.FailWith(std::nullopt);
  ASSERT_TRUE(t.Apply(std::vector<KeyWeight>{{EncodeInt64Key(1), 1}}, epoch_ + 1).ok());
  ASSERT_TRUE(model_.Apply({{EncodeInt64Key(1), 1}}));
  ExpectMatchesModel(*t.current(), model_, rng_, 10);
}

TEST_F(TreeRestoreTest, LeafThatDoesNotMatchItsSummaryIsCorruption) {
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*tree_->current());
  // Point leaf 0's id at leaf 1's bytes (a misdirected read).
  LeafData other;
  other.keys = {persisted[1].first_key};
  other.weights = {1};
  loader_.Put(persisted[0].leaf_id, EncodeLeaf(KeyType::kInt64, other));
  auto r = BuildFromSummaries(KeyType::kInt64, {4, 4}, persisted, epoch_, &loader_).value();
  Status s = ForEachAll(*r, [](uint64_t, int64_t) { return true; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(persisted[0].leaf_id.raw())), std::string::npos);
}

// Stores written before leaf format 3 hold version 2 leaves (the weights run always written):
// they restore and answer like the model, a leaf a later write changes is written as version
// 3 (without a weights run when every weight is 1), and a store holding both versions
// restores again.
TEST(TreeRestoreLeafV2Test, VersionTwoLeavesRestoreAndChangedLeavesAreWrittenAsVersionThree) {
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, {8, 4}, &loader);
  Model model;
  uint64_t epoch = 0;
  std::vector<KeyWeight> ops;  // weight 2 in every third run of 8 keys, else 1
  for (int64_t k = 0; k < 1000; ++k) ops.push_back({EncodeInt64Key(k), (k / 8) % 3 == 0 ? 2 : 1});
  ASSERT_TRUE(model.Apply(ops));
  ASSERT_TRUE(tree.Apply(ops, ++epoch).ok());
  std::vector<PersistedSummary> persisted = loader.Checkpoint(*tree.current());
  size_t unit_leaves = 0;
  for (const PersistedSummary& s : persisted) {  // rewrite every leaf as the older build did
    auto data = loader.LoadLeaf(s.leaf_id);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    unit_leaves += (*data)->implicit_unit_weights() ? 1 : 0;
    loader.Put(s.leaf_id, EncodeLeafV2(KeyType::kInt64, **data));
    ASSERT_EQ(DecodeFixed16(loader.Body(s.leaf_id).data() + kLeafVersionOffset),
              kLeafFormatVersionV2);
  }
  ASSERT_GT(unit_leaves, 0u);
  ASSERT_LT(unit_leaves, persisted.size());
  std::mt19937_64 rng(3);
  auto restored = BuildFromSummaries(KeyType::kInt64, {8, 4}, persisted, epoch, &loader);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  OrderStatTree again(KeyType::kInt64, {8, 4}, &loader);
  ASSERT_TRUE(again.Install(restored.value()).ok());
  ExpectMatchesModel(*again.current(), model, rng);
  // Keys 992..999 have weight 1, so the leaf that takes 1000 and 1001 stays all-unit; key 3
  // (weight 2) becomes 7.
  const std::vector<KeyWeight> more = {
      {EncodeInt64Key(3), 5}, {EncodeInt64Key(1000), 1}, {EncodeInt64Key(1001), 1}};
  ASSERT_TRUE(model.Apply(more));
  ASSERT_TRUE(again.Apply(more, ++epoch).ok());
  std::vector<PersistedSummary> mixed = loader.Checkpoint(*again.current());
  size_t v2 = 0, v3_unit = 0, v3_weights = 0;
  for (const PersistedSummary& s : mixed) {
    const std::string body = loader.Body(s.leaf_id);
    ASSERT_GE(body.size(), kLeafHeaderBytes);
    const uint16_t version = DecodeFixed16(body.data() + kLeafVersionOffset);
    if (version == kLeafFormatVersionV2) {
      ++v2;
      continue;
    }
    ASSERT_EQ(version, kLeafFormatVersion);
    const bool flag = (body[kLeafFlagsOffset] & kLeafFlagUnitWeights) != 0;
    (flag ? v3_unit : v3_weights) += 1;
    auto data = DecodeLeaf(body, KeyType::kInt64);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    EXPECT_EQ(flag, (*data)->implicit_unit_weights());
  }
  EXPECT_GE(v3_unit, 1u);           // the leaf with 1000 and 1001
  EXPECT_GE(v3_weights, 1u);        // the leaf with key 3
  EXPECT_GT(v2, mixed.size() / 2);  // untouched leaves keep their version 2 bodies
  auto both = BuildFromSummaries(KeyType::kInt64, {8, 4}, mixed, epoch, &loader);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ExpectMatchesModel(*both.value(), model, rng);
}

// Several checkpoint -> restore (with a different shape each time) -> write cycles.
TEST(TreeRestoreCyclesTest, RepeatedRestoresWithChangingShapes) {
  FakeLeafLoader loader(KeyType::kInt64);
  std::mt19937_64 rng(77);
  Model model;
  uint64_t epoch = 0;
  const TreeShape shapes[] = {{4, 4}, {9, 5}, {32, 4}, {5, 16}, {4, 6}, {64, 4}};
  auto tree = std::make_unique<OrderStatTree>(KeyType::kInt64, shapes[0], &loader);
  for (size_t cycle = 1; cycle < std::size(shapes); ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    Grow(tree.get(), &model, rng, &epoch, 25);
    if (HasFatalFailure()) return;
    auto v = tree->current();
    size_t dirty = 0;
    for (const LeafSummary& s : Summaries(*v)) dirty += s.box->persisted() ? 0 : 1;
    std::vector<PersistedSummary> persisted = loader.Checkpoint(*v);
    size_t still_dirty = 0;
    for (const LeafSummary& s : Summaries(*v)) still_dirty += s.box->persisted() ? 0 : 1;
    EXPECT_EQ(still_dirty, 0u);
    if (cycle > 1) {
      EXPECT_LT(dirty, v->leaf_count);  // unchanged leaves keep their persisted ids
    }
    const uint64_t loads = loader.loads();
    auto restored = BuildFromSummaries(KeyType::kInt64, shapes[cycle], persisted, epoch, &loader);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_EQ(loader.loads(), loads);
    tree = std::make_unique<OrderStatTree>(KeyType::kInt64, shapes[cycle], &loader);
    ASSERT_TRUE(tree->Install(restored.value()).ok());
    ExpectMatchesModel(*tree->current(), model, rng, 15);
    if (HasFatalFailure()) return;
  }
}

TEST_F(TreeRestoreTest, BuildFromRunsMatchesOneArray) {
  // The summaries cut into runs of uneven sizes (some empty), as the summary chunks come off
  // disk: the same tree as from one array, leaves in the same order with the same ids.
  auto v = tree_->current();
  std::vector<PersistedSummary> persisted = loader_.Checkpoint(*v);
  ASSERT_GE(persisted.size(), 20u);
  std::vector<SummaryRun> runs;
  runs.push_back({});
  for (size_t at = 0, len = 1; at < persisted.size(); at += len, len = len % 7 + 1) {
    runs.push_back(std::span(persisted).subspan(at, std::min(len, persisted.size() - at)));
    if (len == 3) runs.push_back({});
  }
  const TreeShape shape{16, 5};
  auto one = BuildFromSummaries(KeyType::kInt64, shape, persisted, epoch_, &loader_);
  auto cut = BuildFromSummaryRuns(KeyType::kInt64, shape, runs, epoch_, &loader_);
  ASSERT_TRUE(one.ok() && cut.ok()) << cut.status().ToString();
  const auto& r = cut.value();
  EXPECT_EQ(r->height, one.value()->height);
  EXPECT_EQ(r->leaf_count, persisted.size());
  std::vector<LeafSummary> got = Summaries(*r);
  ASSERT_EQ(got.size(), persisted.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].first_key, persisted[i].first_key);
    ASSERT_EQ(got[i].box->persisted_id(), persisted[i].leaf_id);
    ASSERT_EQ(got[i].box->data(), nullptr);  // nothing loaded
  }
  ExpectMatchesModel(*r, model_, rng_, 30);
}

TEST(TreeBuildFromSummariesTest, RunsAreCheckedAcrossTheirBoundaries) {
  auto id = [](uint64_t h) { return NodeID::Make(h, 1); };
  const std::vector<PersistedSummary> a = {{10, 1, 1, id(1)}, {20, 1, 1, id(2)}};
  const std::vector<PersistedSummary> b = {{20, 1, 1, id(3)}};  // not above a's last
  const std::vector<SummaryRun> runs = {a, {}, b};
  auto r = BuildFromSummaryRuns(KeyType::kInt64, {4, 4}, runs, 1, nullptr);
  ASSERT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  // Numbered across runs: the third summary.
  EXPECT_NE(r.status().message().find("leaf summary 2:"), std::string::npos)
      << r.status().ToString();
  const std::vector<SummaryRun> none = {{}, {}};
  auto empty = BuildFromSummaryRuns(KeyType::kInt64, {4, 4}, none, 3, nullptr);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value()->root, nullptr);
}

TEST(TreeBuildFromSummariesTest, RejectsBadSummaries) {
  auto id = [](uint64_t h) { return NodeID::Make(h, 1); };
  const std::vector<PersistedSummary> good = {{10, 3, 2, id(1)}, {20, 0, 1, id(2)}};
  ASSERT_TRUE(BuildFromSummaries(KeyType::kInt64, {4, 4}, good, 1, nullptr).ok());
  auto expect_corrupt = [&](std::vector<PersistedSummary> s, const char* what) {
    auto r = BuildFromSummaries(KeyType::kInt64, {4, 4}, s, 1, nullptr);
    EXPECT_TRUE(r.status().IsCorruption()) << what << ": " << r.status().ToString();
  };
  expect_corrupt({{20, 1, 1, id(1)}, {10, 1, 1, id(2)}}, "unsorted");
  expect_corrupt({{10, 1, 1, id(1)}, {10, 1, 1, id(2)}}, "duplicate");
  expect_corrupt({{10, 0, 0, id(1)}}, "zero entries");
  expect_corrupt({{10, 1, 4097, id(1)}}, "too many entries");
  expect_corrupt({{10, 1, 1, NodeID()}}, "invalid id");
  expect_corrupt({{10, uint64_t{1} << 63, 1, id(1)}}, "pos_sum too big for one entry");
  expect_corrupt({{10, UINT64_MAX, 3, id(1)}, {20, 2, 1, id(2)}}, "N overflow");
  auto r = BuildFromSummaries(KeyType::kDouble, {4, 4},
                              std::vector<PersistedSummary>{{kDoubleNanCode + 1, 1, 1, id(1)}}, 1,
                              nullptr);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_TRUE(
      BuildFromSummaries(KeyType::kInt64, {3, 4}, good, 1, nullptr).status().IsInvalidArgument());
  // Empty list: empty tree.
  auto empty = BuildFromSummaries(KeyType::kInt64, {4, 4}, {}, 7, nullptr);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value()->root, nullptr);
  EXPECT_EQ(empty.value()->epoch, 7u);
}

TEST(TreeBuildFromSummariesTest, InstallChecksCompatibility) {
  OrderStatTree t(KeyType::kInt64, {4, 4}, nullptr);
  auto other = BuildFromSummaries(KeyType::kInt64, {8, 4}, {}, 1, nullptr).value();
  EXPECT_TRUE(t.Install(other).IsInvalidArgument());
  auto dbl = BuildFromSummaries(KeyType::kDouble, {4, 4}, {}, 1, nullptr).value();
  EXPECT_TRUE(t.Install(dbl).IsInvalidArgument());
  EXPECT_TRUE(t.Install(nullptr).IsInvalidArgument());
  EXPECT_TRUE(
      OrderStatTree::Create(KeyType::kInt64, {4, 2000}, nullptr).status().IsInvalidArgument());
  EXPECT_TRUE(
      OrderStatTree::Create(KeyType::kInt64, {5000, 4}, nullptr).status().IsInvalidArgument());
  EXPECT_TRUE(
      OrderStatTree::Create(static_cast<KeyType>(9), {4, 4}, nullptr).status().IsInvalidArgument());
  EXPECT_TRUE(OrderStatTree::Create(KeyType::kDouble, kDefaultTreeShape, nullptr).ok());
}

}  // namespace
}  // namespace cowtree::tree
