// Public API reads: cursors forward/backward from random seek keys against a std::map model
// (int64 and double keys, negative weights, -0.0 / NaN / infinities), and rank, select,
// percentiles and range sums through the API equal tree/query.h on the same entries.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "cowtree/cowtree.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"

namespace cowtree {
namespace {

using testutil::TempDir;

template <TreeKey K>
uint64_t Code(K k) {
  if constexpr (std::same_as<K, int64_t>) {
    return tree::EncodeInt64Key(k);
  } else {
    return tree::EncodeDoubleKey(k);
  }
}

// Keys drawn from a small domain so that seeks hit, miss and fall off both ends.
int64_t RandomKey(std::mt19937_64& rng, int64_t*) {
  return static_cast<int64_t>(rng() % 2001) - 1000;
}
double RandomKey(std::mt19937_64& rng, double*) {
  switch (rng() % 40) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return -std::numeric_limits<double>::quiet_NaN();
    case 2:
      return -0.0;
    case 3:
      return 0.0;
    case 4:
      return std::numeric_limits<double>::infinity();
    case 5:
      return -std::numeric_limits<double>::infinity();
    default:
      return static_cast<double>(static_cast<int64_t>(rng() % 4001) - 2000) / 4.0;
  }
}

template <TreeKey K>
bool SameKey(K a, K b) {
  if constexpr (std::same_as<K, double>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  }
  return a == b;
}

template <TreeKey K>
void RunModelCheck(uint64_t seed) {
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  auto opened = Store::Open(dir.path(), o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto store = std::move(opened).value();
  std::map<uint64_t, int64_t> model;  // key code -> weight (codes order like the tree)
  WriteBatch create = store->NewBatch();
  TreeHandle<K> h = create.CreateTree<K>("t");
  ASSERT_TRUE(store->Commit(create).ok());
  for (int commit = 0; commit < 20; ++commit) {
    WriteBatch b = store->NewBatch();
    for (int i = 0; i < 60; ++i) {
      const K k = RandomKey(rng, static_cast<K*>(nullptr));
      int64_t w = static_cast<int64_t>(rng() % 9) - 3;  // negative weights included
      const uint64_t c = Code(k);
      if (rng() % 6 == 0 && model.count(c) != 0) w = -model[c];  // delete
      b.Add(h, k, w);
      if (w != 0 && (model[c] += w) == 0) model.erase(c);
    }
    ASSERT_TRUE(store->Commit(b).ok());
  }
  // The same entries in an in-memory tree, for the internal query functions.
  tree::OrderStatTree reference(
      std::same_as<K, int64_t> ? tree::KeyType::kInt64 : tree::KeyType::kDouble,
      tree::TreeShape{8, 4}, nullptr);
  std::vector<tree::KeyWeight> ops;
  for (const auto& [c, w] : model) ops.push_back({c, w});
  ASSERT_TRUE(reference.Apply(ops, 1).ok());
  auto v = reference.current();

  for (int round = 0; round < 2; ++round) {  // in memory, then after a reopen (lazy leaves)
    Snapshot snap = store->GetSnapshot();
    auto r = snap.Tree<K>("t");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->entry_count(), model.size());
    ASSERT_EQ(r->count(), tree::PositiveCount(*v));
    for (int s = 0; s < 300; ++s) {
      const K seek = RandomKey(rng, static_cast<K*>(nullptr));
      const uint64_t sc = Code(seek);
      // Forward: every entry >= seek, ascending.
      auto it = model.lower_bound(sc);
      auto c = r->Seek(seek, Direction::kForward);
      for (; c.valid(); c.Next(), ++it) {
        ASSERT_NE(it, model.end());
        ASSERT_EQ(Code(c.key()), it->first);
        ASSERT_EQ(c.weight(), it->second);
      }
      ASSERT_TRUE(c.status().ok());
      ASSERT_EQ(it, model.end()) << "forward cursor stopped early";
      // Backward: every entry <= seek, descending.
      auto rit = std::make_reverse_iterator(model.upper_bound(sc));
      auto bc = r->Seek(seek, Direction::kBackward);
      for (; bc.valid(); bc.Next(), ++rit) {
        ASSERT_NE(rit, model.rend());
        ASSERT_EQ(Code(bc.key()), rit->first);
        ASSERT_EQ(bc.weight(), rit->second);
      }
      ASSERT_EQ(rit, model.rend()) << "backward cursor stopped early";
      // Point and order statistics against tree/query.h.
      ASSERT_EQ(*r->rank(seek), *tree::Rank(*v, sc));
      ASSERT_EQ(*r->weight(seek), *tree::WeightOf(*v, sc));
      const K hi = RandomKey(rng, static_cast<K*>(nullptr));
      ASSERT_EQ(*r->sum_weights(seek, hi), *tree::RangePositiveSum(*v, sc, Code(hi)));
      ASSERT_EQ(*r->sum_weights_from(seek), tree::PositiveCount(*v) - *tree::Rank(*v, sc));
      const double p = (rng() % 1001) / 1000.0;
      for (Order order : {Order::kAscending, Order::kDescending}) {
        const bool desc = order == Order::kDescending;
        auto cont = r->percentile_cont(p, order);
        auto ref_cont = tree::PercentileCont(*v, p, desc);
        ASSERT_TRUE(cont.ok() && ref_cont.ok());
        ASSERT_EQ(cont->has_value(), ref_cont->has_value());
        if (cont->has_value()) {
          ASSERT_TRUE(SameKey(**cont, **ref_cont) ||
                      (std::isnan(**cont) && std::isnan(**ref_cont)));
        }
        auto disc = r->percentile_disc(p, order);
        auto ref_disc = tree::PercentileDisc(*v, p, desc);
        ASSERT_TRUE(disc.ok() && ref_disc.ok());
        ASSERT_EQ(disc->has_value(), ref_disc->has_value());
        if (disc->has_value()) ASSERT_EQ(Code(**disc), **ref_disc);
        const uint64_t k = tree::PositiveCount(*v) == 0 ? 0 : rng() % tree::PositiveCount(*v);
        auto sel = r->select(k, order);
        auto ref_sel = tree::Select(*v, k, desc);
        ASSERT_EQ(sel->has_value(), ref_sel->has_value());
        if (sel->has_value()) ASSERT_EQ(Code(**sel), **ref_sel);
      }
      auto med = r->median();
      auto ref_med = tree::Median(*v);
      ASSERT_EQ(med->has_value(), ref_med->has_value());
      if (med->has_value()) ASSERT_TRUE(SameKey(**med, **ref_med));
    }
    // Whole-tree passes both ways.
    size_t n = 0;
    for (auto c = r->SeekToFirst(); c.valid(); c.Next()) ++n;
    ASSERT_EQ(n, model.size());
    n = 0;
    for (auto c = r->SeekToLast(); c.valid(); c.Next()) ++n;
    ASSERT_EQ(n, model.size());
    EXPECT_TRUE(r->percentile_cont(1.5).status().IsInvalidArgument());
    EXPECT_TRUE(r->percentile_disc(std::nan("")).status().IsInvalidArgument());
    if (round == 0) {
      ASSERT_TRUE(store->Close().ok());
      store.reset();
      auto re = Store::Open(dir.path(), o);
      ASSERT_TRUE(re.ok()) << re.status().ToString();
      store = std::move(re).value();
    }
  }
}

TEST(ApiQuery, Int64CursorAndPercentilesMatchModel) {
  for (uint64_t seed : {1, 2, 3}) RunModelCheck<int64_t>(seed);
}

TEST(ApiQuery, DoubleCursorAndPercentilesMatchModel) {
  for (uint64_t seed : {4, 5, 6}) RunModelCheck<double>(seed);
}

TEST(ApiQuery, EmptyTreeAndDoubleSpecialKeys) {
  TempDir dir;
  auto store = std::move(Store::Open(dir.path(), Options{})).value();
  WriteBatch b = store->NewBatch();
  auto e = b.CreateTree<double>("empty");
  auto d = b.CreateTree<double>("d");
  b.Add(d, -0.0, 1);
  b.Add(d, 0.0, 1);
  b.Add(d, std::nan(""), 1);
  b.Add(d, -std::nan(""), 1);
  ASSERT_TRUE(store->Commit(b).ok());
  (void)e;
  Snapshot s = store->GetSnapshot();
  auto empty = s.Tree<double>("empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->count(), 0u);
  EXPECT_FALSE(empty->median()->has_value());
  EXPECT_FALSE(empty->percentile_disc(0.5)->has_value());
  EXPECT_FALSE(empty->SeekToFirst().valid());
  EXPECT_FALSE(empty->Seek(1.0, Direction::kBackward).valid());
  auto r = s.Tree<double>("d");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entry_count(), 2u);  // one zero key, one NaN key
  auto c = r->Seek(-0.0, Direction::kForward);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.key(), 0.0);
  EXPECT_FALSE(std::signbit(c.key()));
  EXPECT_EQ(c.weight(), 2);
  c.Next();
  ASSERT_TRUE(c.valid());
  EXPECT_TRUE(std::isnan(c.key()));
  c.Next();
  EXPECT_FALSE(c.valid());
  c.Next();  // no-op past the end
  EXPECT_FALSE(c.valid());
  EXPECT_TRUE(std::isnan(**r->percentile_disc(1.0)));
  EXPECT_EQ(*r->rank(std::nan("")), 2u);
  Cursor<double> dflt;
  EXPECT_FALSE(dflt.valid());
  EXPECT_TRUE(dflt.status().ok());
  Snapshot none;
  EXPECT_TRUE(none.Tree<double>("d").status().IsInvalidArgument());
}

// negative_zero_items (snapshot.h): the tree stores -0 as +0; the percentiles equal the
// PostgreSQL formulas over the same items sorted with the -0 items first among the zeros
// (ascending), compared bit for bit, for random mixes of -0, +0 and other values.
TEST(ApiQuery, NegativeZeroItemsComeFirstAmongTheZeros) {
  TempDir dir;
  auto store = std::move(Store::Open(dir.path(), Options{})).value();
  std::mt19937_64 rng(7);
  for (int round = 0; round < 60; ++round) {
    std::vector<double> items;  // in ascending order, -0 before +0
    const int below = static_cast<int>(rng() % 3), negatives = static_cast<int>(rng() % 4);
    const int positives = static_cast<int>(rng() % 3), above = static_cast<int>(rng() % 3);
    for (int i = 0; i < below; ++i) items.push_back(-1.5 * (below - i));
    for (int i = 0; i < negatives; ++i) items.push_back(-0.0);
    for (int i = 0; i < positives; ++i) items.push_back(0.0);
    for (int i = 0; i < above; ++i) items.push_back(2.0 + i);
    if (items.empty()) continue;
    WriteBatch b = store->NewBatch();
    auto t = b.CreateTree<double>("t" + std::to_string(round));
    for (const double v : items) b.Add(t, v, 1);
    ASSERT_TRUE(store->Commit(b).ok());
    auto r = store->GetSnapshot().Tree<double>("t" + std::to_string(round));
    ASSERT_TRUE(r.ok());
    const size_t n = items.size();
    for (const Order order : {Order::kAscending, Order::kDescending}) {
      std::vector<double> sorted = items;
      if (order == Order::kDescending) std::reverse(sorted.begin(), sorted.end());
      for (const double p : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0}) {
        const double pos = p * static_cast<double>(n - 1);
        const size_t lo = static_cast<size_t>(std::floor(pos));
        const size_t hi = static_cast<size_t>(std::ceil(pos));
        const double cont =
            lo == hi ? sorted[lo]
                     : sorted[lo] + ((pos - std::floor(pos)) * (sorted[hi] - sorted[lo]));
        const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
        const double disc = sorted[k == 0 ? 0 : k - 1];
        auto got_cont = r->percentile_cont(p, order, static_cast<uint64_t>(negatives));
        auto got_disc = r->percentile_disc(p, order, static_cast<uint64_t>(negatives));
        ASSERT_TRUE(got_cont.ok() && got_disc.ok());
        EXPECT_EQ(std::bit_cast<uint64_t>(**got_cont), std::bit_cast<uint64_t>(cont))
            << "round " << round << " p " << p << " cont " << **got_cont << " want " << cont;
        EXPECT_EQ(std::bit_cast<uint64_t>(**got_disc), std::bit_cast<uint64_t>(disc))
            << "round " << round << " p " << p << " disc " << **got_disc << " want " << disc;
      }
    }
    // A count above the tree's zeros is clamped: every zero is then -0.
    if (negatives + positives > 0) {
      auto all =
          r->percentile_disc(static_cast<double>(below + 1) / n, Order::kAscending, 1000);
      ASSERT_TRUE(all.ok());
      EXPECT_TRUE(std::signbit(**all)) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace cowtree
