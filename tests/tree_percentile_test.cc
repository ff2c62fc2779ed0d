// PostgreSQL ordered-set aggregate semantics, hand-made cases from the documented definitions
// (https://www.postgresql.org/docs/current/functions-aggregate.html; orderedsetaggs.c), and
// random multisets against their items listed out.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "tests/tree_test_util.h"

namespace cowtree::tree {
namespace {

class TreePercentileTest : public ::testing::Test {
 protected:
  // Builds a tree of (value, weight) pairs at epoch 1.
  std::shared_ptr<const TreeVersion> Make(std::vector<std::pair<int64_t, int64_t>> items,
                                          TreeShape shape = {4, 4}) {
    tree_ = std::make_unique<OrderStatTree>(KeyType::kInt64, shape, nullptr);
    std::vector<KeyWeight> ops;
    std::sort(items.begin(), items.end());
    for (auto [value, weight] : items) ops.push_back({EncodeInt64Key(value), weight});
    EXPECT_TRUE(tree_->Apply(ops, 1).ok());
    auto v = tree_->current();
    EXPECT_TRUE(CheckInvariants(*v, true).ok());
    return v;
  }
  static int64_t Disc(const TreeVersion& v, double p, bool desc) {
    auto r = PercentileDisc(v, p, desc);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.value().has_value());
    return DecodeInt64Key(*r.value());
  }
  static double Cont(const TreeVersion& v, double p, bool desc) {
    auto r = PercentileCont(v, p, desc);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.value().has_value());
    return *r.value();
  }
  std::unique_ptr<OrderStatTree> tree_;
};

TEST_F(TreePercentileTest, FourValues) {
  auto v = Make({{10, 1}, {20, 1}, {30, 1}, {40, 1}});
  // The pitfall case: DESC is not ASC 1 - p.
  EXPECT_EQ(Disc(*v, 0.75, true), 20);
  EXPECT_EQ(Disc(*v, 0.75, false), 30);
  EXPECT_EQ(Disc(*v, 0.25, false), 10);
  EXPECT_EQ(Disc(*v, 0.25, true), 40);
  EXPECT_EQ(Disc(*v, 0.5, false), 20);
  EXPECT_EQ(Disc(*v, 0.5, true), 30);
  EXPECT_EQ(Disc(*v, 0.51, false), 30);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.5, false), 25.0);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.5, true), 25.0);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.25, false), 17.5);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.25, true), 32.5);
  EXPECT_DOUBLE_EQ(Median(*v).value().value(), 25.0);
}

TEST_F(TreePercentileTest, EndpointsBothOrders) {
  auto v = Make({{10, 1}, {20, 1}, {30, 1}, {40, 1}});
  EXPECT_EQ(Disc(*v, 0.0, false), 10);
  EXPECT_EQ(Disc(*v, 1.0, false), 40);
  EXPECT_EQ(Disc(*v, 0.0, true), 40);
  EXPECT_EQ(Disc(*v, 1.0, true), 10);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.0, false), 10);
  EXPECT_DOUBLE_EQ(Cont(*v, 1.0, false), 40);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.0, true), 40);
  EXPECT_DOUBLE_EQ(Cont(*v, 1.0, true), 10);
}

TEST_F(TreePercentileTest, SingleItem) {
  auto v = Make({{7, 1}});
  for (double p : {0.0, 0.3, 0.5, 1.0}) {
    for (bool desc : {false, true}) {
      EXPECT_EQ(Disc(*v, p, desc), 7);
      EXPECT_DOUBLE_EQ(Cont(*v, p, desc), 7.0);
    }
  }
}

TEST_F(TreePercentileTest, EmptyIsNull) {
  auto v = Make({});
  EXPECT_EQ(PositiveCount(*v), 0u);
  EXPECT_FALSE(PercentileCont(*v, 0.5, false).value().has_value());
  EXPECT_FALSE(PercentileDisc(*v, 0.5, true).value().has_value());
  EXPECT_FALSE(Median(*v).value().has_value());
  EXPECT_FALSE(Select(*v, 0, false).value().has_value());
  EXPECT_EQ(Rank(*v, 5).value(), 0u);
}

TEST_F(TreePercentileTest, OnlyNegativeWeightsIsNull) {
  auto v = Make({{1, -3}, {2, -1}});
  EXPECT_EQ(v->entry_count, 2u);
  EXPECT_EQ(PositiveCount(*v), 0u);
  EXPECT_FALSE(PercentileCont(*v, 0.5, false).value().has_value());
}

TEST_F(TreePercentileTest, BadFractionIsInvalidArgument) {
  auto v = Make({{10, 1}, {20, 1}});
  for (double p : {-0.1, 1.1, std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::infinity(), -0.0 - 1e-300}) {
    for (bool desc : {false, true}) {
      EXPECT_TRUE(PercentileCont(*v, p, desc).status().IsInvalidArgument()) << p;
      EXPECT_TRUE(PercentileDisc(*v, p, desc).status().IsInvalidArgument()) << p;
    }
  }
  // Checked before N: an empty group still rejects a bad fraction (as PostgreSQL does).
  auto e = Make({});
  EXPECT_TRUE(PercentileCont(*e, 2.0, false).status().IsInvalidArgument());
  EXPECT_TRUE(PercentileCont(*v, -0.0, false).ok());  // -0.0 is within [0, 1]
}

TEST_F(TreePercentileTest, WeightsAreMultiplicities) {
  // {10 x3, 20 x1} == the multiset 10,10,10,20.
  auto v = Make({{10, 3}, {20, 1}});
  EXPECT_EQ(PositiveCount(*v), 4u);
  EXPECT_EQ(Disc(*v, 0.75, false), 10);
  EXPECT_EQ(Disc(*v, 0.76, false), 20);
  EXPECT_EQ(Disc(*v, 0.25, true), 20);
  EXPECT_EQ(Disc(*v, 0.26, true), 10);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.5, false), 10.0);
  EXPECT_DOUBLE_EQ(Cont(*v, 5.0 / 6, false), 15.0);  // pos 2.5 between 10 and 20
  EXPECT_EQ(Rank(*v, EncodeInt64Key(20)).value(), 3u);
  EXPECT_EQ(Rank(*v, EncodeInt64Key(11)).value(), 3u);
  EXPECT_EQ(Rank(*v, EncodeInt64Key(10)).value(), 0u);
}

TEST_F(TreePercentileTest, NegativeWeightsIgnoredButKept) {
  auto v = Make({{5, -2}, {10, 1}, {15, -7}, {20, 1}, {30, 2}, {35, -1}});
  EXPECT_EQ(PositiveCount(*v), 4u);  // 10, 20, 30, 30
  EXPECT_EQ(v->entry_count, 6u);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, 0, false).value()), 10);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, 1, false).value()), 20);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, 3, false).value()), 30);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, 0, true).value()), 30);
  EXPECT_FALSE(Select(*v, 4, false).value().has_value());
  EXPECT_DOUBLE_EQ(Cont(*v, 0.5, false), 25.0);
  EXPECT_EQ(WeightOf(*v, EncodeInt64Key(15)).value(), -7);
  EXPECT_EQ(WeightOf(*v, EncodeInt64Key(16)).value(), 0);
  EXPECT_EQ(RangePositiveSum(*v, EncodeInt64Key(5), EncodeInt64Key(30)).value(), 2u);
  std::vector<std::pair<uint64_t, int64_t>> all = testing::Entries(*v);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[2].second, -7);
}

TEST_F(TreePercentileTest, DescMatchesReversedOrderOnManyCases) {
  // Exhaustive over small multisets: DESC p equals evaluating on the reversed item list, and
  // disc(DESC p) differs from disc(ASC 1 - p) when p * N is an integer.
  auto v = Make({{1, 2}, {2, 1}, {3, 3}, {4, 1}, {5, 1}}, {4, 4});  // N = 8
  std::vector<int64_t> items = {1, 1, 2, 3, 3, 3, 4, 5};
  std::vector<int64_t> rev(items.rbegin(), items.rend());
  for (int i = 0; i <= 80; ++i) {
    const double p = i / 80.0;
    const double kd = std::ceil(p * 8);
    const size_t k = kd < 1 ? 0 : static_cast<size_t>(kd) - 1;
    EXPECT_EQ(Disc(*v, p, true), rev[k]) << p;
    EXPECT_EQ(Disc(*v, p, false), items[k]) << p;
    const double pos = p * 7;
    const auto lo = static_cast<size_t>(std::floor(pos));
    const auto hi = static_cast<size_t>(std::ceil(pos));
    const double want = lo == hi ? rev[lo] : rev[lo] + ((pos - lo) * (rev[hi] - rev[lo]));
    EXPECT_EQ(Cont(*v, p, true), want) << p;
  }
  EXPECT_EQ(Disc(*v, 0.25, true), 4);  // ceil(2) - 1 = 1 -> rev[1] = 4
  EXPECT_EQ(Disc(*v, 0.75, false), 3);
}

TEST_F(TreePercentileTest, DoubleKeysNanAndInfinity) {
  OrderStatTree tree(KeyType::kDouble, {4, 4}, nullptr);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<KeyWeight> ops = {{EncodeDoubleKey(-inf), 1},
                                {EncodeDoubleKey(-1.5), 1},
                                {EncodeDoubleKey(0.0), 1},
                                {EncodeDoubleKey(inf), 1},
                                {EncodeDoubleKey(std::nan("")), 1}};
  std::sort(ops.begin(), ops.end(), [](auto a, auto b) { return a.key < b.key; });
  ASSERT_TRUE(tree.Apply(ops, 1).ok());
  auto v = tree.current();
  // NaN sorts last ascending, first descending (PostgreSQL: NaN > everything).
  EXPECT_TRUE(std::isnan(DecodeDoubleKey(*PercentileDisc(*v, 1.0, false).value())));
  EXPECT_TRUE(std::isnan(DecodeDoubleKey(*PercentileDisc(*v, 0.0, true).value())));
  EXPECT_EQ(DecodeDoubleKey(*PercentileDisc(*v, 0.0, false).value()), -inf);
  EXPECT_EQ(*PercentileCont(*v, 0.5, false).value(), 0.0);
  EXPECT_EQ(*PercentileCont(*v, 0.0, false).value(), -inf);  // no lerp when lo == hi
  EXPECT_EQ(*PercentileCont(*v, 0.75, false).value(), inf);
  EXPECT_TRUE(std::isnan(*PercentileCont(*v, 0.9, false).value()));  // inf + x*(NaN - inf)
  // -0.0 and +0.0 are one key.
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{{EncodeDoubleKey(-0.0), 2}}, 2).ok());
  EXPECT_EQ(WeightOf(*tree.current(), EncodeDoubleKey(0.0)).value(), 3);
}

TEST_F(TreePercentileTest, LargeMultiplicities) {
  auto v = Make({{1, int64_t{1} << 40}, {2, int64_t{1} << 40}, {3, 1}});
  const uint64_t n = (uint64_t{1} << 41) + 1;
  EXPECT_EQ(PositiveCount(*v), n);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, (uint64_t{1} << 40) - 1, false).value()), 1);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, uint64_t{1} << 40, false).value()), 2);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, n - 1, false).value()), 3);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, 0, true).value()), 3);
  EXPECT_DOUBLE_EQ(Cont(*v, 0.5, false), 2.0);
}

// PercentileCont reads its two neighbouring rows in one descent when they share a leaf, else
// in two: against the items listed out, over random multisets in trees of 4-entry leaves (so
// that the pair often straddles a leaf, and entries of weight <= 0 lie between), both orders,
// with some of the zeros counted as -0 (answers compared bit for bit).
TEST_F(TreePercentileTest, ContEqualsTheListedItemsAcrossLeavesAndSignedZeros) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    OrderStatTree tree(KeyType::kDouble, {4, 4}, nullptr);
    std::map<double, int64_t> weights;  // by value; -0 and +0 are one key (0.0)
    const int entries = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < entries; ++i) {
      const double value = static_cast<double>(static_cast<int>(rng() % 21) - 10) / 2;
      weights[value + 0.0] += static_cast<int64_t>(rng() % 4) - (rng() % 4 == 0 ? 3 : 0);
    }
    std::vector<KeyWeight> ops;
    for (const auto& [value, w] : weights) {
      if (w != 0) ops.push_back({EncodeDoubleKey(value), w});
    }
    ASSERT_TRUE(tree.Apply(ops, 1).ok());
    auto v = tree.current();
    std::vector<double> items;  // ascending
    for (const auto& [value, w] : weights)
      items.insert(items.end(), std::max<int64_t>(w, 0), value);
    if (items.empty()) continue;
    const auto zeros = static_cast<uint64_t>(std::count(items.begin(), items.end(), 0.0));
    const uint64_t negative_zeros = zeros == 0 ? 0 : rng() % (zeros + 2);
    // The first negative_zeros zeros (ascending) are -0.
    std::vector<double> signed_items = items;
    uint64_t seen = 0;
    for (double& x : signed_items) {
      if (x == 0.0 && seen++ < negative_zeros) x = -0.0;
    }
    for (bool desc : {false, true}) {
      std::vector<double> order = signed_items;
      if (desc) std::reverse(order.begin(), order.end());
      for (double p : {0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0, 0.37}) {
        const double pos = p * static_cast<double>(order.size() - 1);
        const double lo = std::floor(pos);
        const auto lo_row = static_cast<size_t>(lo);
        const double want =
            pos == lo ? order[lo_row]
                      : order[lo_row] + ((pos - lo) * (order[lo_row + 1] - order[lo_row]));
        auto got = PercentileCont(*v, p, desc, negative_zeros);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        ASSERT_TRUE(got->has_value());
        EXPECT_EQ(std::bit_cast<uint64_t>(**got), std::bit_cast<uint64_t>(want))
            << "round " << round << " p " << p << " desc " << desc << ": " << **got << " vs "
            << want;
      }
    }
  }
}

}  // namespace
}  // namespace cowtree::tree
