// Weight and N limits through the Runtime: a commit whose ops would overflow an entry's int64
// weight or a tree's uint64 N is refused with InvalidArgument naming the tree, the key or the
// limit, before anything changes — trees of the same commit applied before the failing one are
// undone, the log does not get the record, and the store keeps working, replays and restores
// the accepted state (percentiles at N = 2^64 - 1 included).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "recovery/open.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::TempDir;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

RuntimeOptions SmallShape() {
  RuntimeOptions o;
  o.leaf_capacity_entries = 4;
  o.fanout = 4;
  o.background_thread = false;
  o.checkpoint_on_close = false;  // reopen replays the log
  return o;
}

void AddOp(RuntimeWriteBatch* b, TreeId id, int64_t key, int64_t weight) {
  tree::AppendOrderStatOp(b->MutableOps(id), tree::EncodeInt64Key(key), weight);
}

std::shared_ptr<const tree::TreeVersion> Version(Runtime* rt, const std::string& name) {
  RuntimeSnapshot snap = rt->GetSnapshot();
  auto info = rt->FindTree(name, snap);
  EXPECT_TRUE(info.ok()) << name;
  if (!info.ok()) return nullptr;
  return tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch());
}

std::vector<std::pair<uint64_t, int64_t>> Entries(const tree::TreeVersion& v) {
  std::vector<std::pair<uint64_t, int64_t>> out;
  EXPECT_TRUE(tree::ForEachAll(v, [&](uint64_t k, int64_t w) {
                out.emplace_back(k, w);
                return true;
              }).ok());
  return out;
}

// The accepted final state: a = {1: MAX, 2: MAX, 3: 1}, b = {1: MAX, 2: MAX, 3: 1}; both
// N = 2^64 - 1. Percentiles at the ends, both orders.
void ExpectFinalState(Runtime* rt) {
  for (const char* name : {"a", "b"}) {
    SCOPED_TRACE(name);
    auto v = Version(rt, name);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(tree::PositiveCount(*v), UINT64_MAX);
    EXPECT_TRUE(tree::CheckInvariants(*v, true).ok());
    auto last = tree::PercentileDisc(*v, 1.0, false);
    ASSERT_TRUE(last.ok());
    ASSERT_TRUE(last->has_value()) << "N > 0 but no value";
    EXPECT_EQ(tree::DecodeInt64Key(**last), 3);
    auto first_desc = tree::PercentileDisc(*v, 1.0, true);
    ASSERT_TRUE(first_desc.ok() && first_desc->has_value());
    EXPECT_EQ(tree::DecodeInt64Key(**first_desc), 1);
    EXPECT_EQ(*tree::PercentileCont(*v, 1.0, false).value(), 3.0);
    EXPECT_EQ(*tree::PercentileCont(*v, 1.0, true).value(), 1.0);
    EXPECT_EQ(*tree::PercentileCont(*v, 0.5, false).value(), 2.0);
    EXPECT_EQ(tree::DecodeInt64Key(*tree::Select(*v, UINT64_MAX - 1, false).value()), 3);
  }
}

TEST(RuntimeWeightBounds, OverflowingCommitChangesNothingAndIsNotLogged) {
  TempDir dir;
  TreeId a = 0, b = 0;
  {
    auto rt = recovery::Open(dir.path(), SmallShape());
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    RuntimeWriteBatch b1(rt->get());
    a = b1.CreateTree("a", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    b = b1.CreateTree("b", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    for (TreeId id : {a, b}) {
      AddOp(&b1, id, 1, kMax);
      AddOp(&b1, id, 2, kMax);
      for (int k = 10; k < 30; ++k) AddOp(&b1, id, k, -1);  // several leaves and levels
    }
    uint64_t e1 = 0;
    ASSERT_TRUE((*rt)->Commit(b1, &e1).ok());
    auto a1 = Version(rt->get(), "a");
    auto b1v = Version(rt->get(), "b");
    const auto a_entries = Entries(*a1);
    const auto b_entries = Entries(*b1v);

    auto expect_unchanged = [&]() {
      EXPECT_EQ((*rt)->visible_epoch(), e1);
      auto av = Version(rt->get(), "a");
      auto bv = Version(rt->get(), "b");
      EXPECT_EQ(av, a1);
      EXPECT_EQ(bv, b1v);
      EXPECT_EQ(
          tree::AsOrderStatTree((*rt)->FindTree("a", (*rt)->GetSnapshot())->tree.get())->tree().current(),
          a1);
      EXPECT_EQ(Entries(*av), a_entries);
      EXPECT_EQ(Entries(*bv), b_entries);
      EXPECT_EQ(tree::PositiveCount(*av), UINT64_MAX - 1);
      EXPECT_EQ(tree::PositiveCount(*bv), UINT64_MAX - 1);
    };

    // a's ops fit (N = 2^64 - 1); b's would make N = 2^64: a is applied, then undone.
    {
      RuntimeWriteBatch bad(rt->get());
      AddOp(&bad, a, 3, 1);
      AddOp(&bad, b, 3, 2);
      const Status st = (*rt)->Commit(bad);
      EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
      EXPECT_NE(st.message().find("tree 'b'"), std::string::npos) << st.ToString();
      EXPECT_NE(st.message().find("18446744073709551615"), std::string::npos) << st.ToString();
      expect_unchanged();
    }
    // An entry's weight past INT64_MAX (in the second tree of the commit).
    {
      RuntimeWriteBatch bad(rt->get());
      AddOp(&bad, a, 10, 1);  // fits: deletes a -1 entry
      AddOp(&bad, b, 1, 1);
      const Status st = (*rt)->Commit(bad);
      EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
      EXPECT_NE(st.message().find("tree 'b'"), std::string::npos) << st.ToString();
      EXPECT_NE(st.message().find(std::to_string(tree::EncodeInt64Key(1))), std::string::npos)
          << st.ToString();
      expect_unchanged();
    }
    // Two ops of one key in one commit whose sum overflows int64.
    {
      RuntimeWriteBatch bad(rt->get());
      AddOp(&bad, a, 7, 1);
      AddOp(&bad, b, 9, kMax);
      AddOp(&bad, b, 9, 1);
      const Status st = (*rt)->Commit(bad);
      EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
      EXPECT_NE(st.message().find(std::to_string(tree::EncodeInt64Key(9))), std::string::npos)
          << st.ToString();
      expect_unchanged();
    }
    // The store was not poisoned: a valid commit takes both trees to exactly 2^64 - 1.
    RuntimeWriteBatch good(rt->get());
    AddOp(&good, a, 3, 1);
    AddOp(&good, b, 3, 1);
    for (TreeId id : {a, b}) {
      for (int k = 10; k < 30; ++k) AddOp(&good, id, k, 1);  // deletes: leaves merge
    }
    uint64_t e2 = 0;
    ASSERT_TRUE((*rt)->Commit(good, &e2).ok());
    EXPECT_EQ(e2, e1 + 1);
    ExpectFinalState(rt->get());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  {
    // Redo replay: the refused commits were never logged; the accepted ones apply again.
    recovery::OpenReport report;
    auto rt = recovery::Open(dir.path(), SmallShape(), &report);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    EXPECT_EQ(report.commits_replayed, 2u);
    ExpectFinalState(rt->get());
    ASSERT_TRUE((*rt)->Checkpoint().ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  // Restore from the checkpoint's summaries (N = 2^64 - 1 summed from leaf summaries).
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  ExpectFinalState(rt->get());
  ASSERT_TRUE((*rt)->Close().ok());
}

// One key's ops in one commit are summed exactly, whatever their order: +MAX, +1, -1 is +MAX
// (a running int64 sum would have overflowed at the second op); the sum itself must fit.
TEST(RuntimeWeightBounds, DuplicateOpsOfOneKeySumExactly) {
  TempDir dir;
  auto rt = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  RuntimeWriteBatch b1(rt->get());
  const TreeId c =
      b1.CreateTree("c", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  AddOp(&b1, c, 1, kMax);
  AddOp(&b1, c, 1, 1);
  AddOp(&b1, c, 1, -1);
  AddOp(&b1, c, 2, std::numeric_limits<int64_t>::min());
  AddOp(&b1, c, 2, -1);
  AddOp(&b1, c, 2, 1);
  ASSERT_TRUE((*rt)->Commit(b1).ok());
  auto v = Version(rt->get(), "c");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(tree::WeightOf(*v, tree::EncodeInt64Key(1)).value(), kMax);
  EXPECT_EQ(tree::WeightOf(*v, tree::EncodeInt64Key(2)).value(),
            std::numeric_limits<int64_t>::min());
  RuntimeWriteBatch b2(rt->get());
  AddOp(&b2, c, 3, kMax);
  AddOp(&b2, c, 3, 1);
  const Status st = (*rt)->Commit(b2);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("9223372036854775808"), std::string::npos) << st.ToString();
  EXPECT_EQ(Version(rt->get(), "c"), v);
  ASSERT_TRUE((*rt)->Close().ok());
  auto again = recovery::Open(dir.path(), SmallShape());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(tree::WeightOf(*Version(again->get(), "c"), tree::EncodeInt64Key(1)).value(), kMax);
  ASSERT_TRUE((*again)->Close().ok());
}

}  // namespace
}  // namespace cowtree
