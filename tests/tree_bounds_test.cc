// Arithmetic boundaries of the order-statistics tree: N (total positive weight, uint64) near
// 2^53, 2^63 and 2^64 - 1, single weights of INT64_MAX / INT64_MIN, sums that reach or pass
// the limits, for rank, select and PostgreSQL percentile_cont / percentile_disc in both
// orders (DESIGN.md "Pitfalls": a double equal to 2^64 converted to uint64).
//
// The expected answers come from an independent oracle: exact integer (__int128) arithmetic on
// the expanded item list, with the rule documented in tree/query.h — PostgreSQL's float8
// formula while N <= 2^53, exact rational p * N (resp. p * (N - 1)) above — and, for the
// cases a reader can check by hand, literal values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/tree_test_util.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::tree {
namespace {

using testing::Entries;
using u128 = unsigned __int128;
constexpr uint64_t kTwo53 = uint64_t{1} << 53;
constexpr uint64_t kTwo63 = uint64_t{1} << 63;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

KeyWeight KW(int64_t key, int64_t weight) { return {EncodeInt64Key(key), weight}; }

// ---- The oracle -------------------------------------------------------------------------------

// The multiset spelled out naively with exact (128-bit) counts.
struct Items {
  std::vector<std::pair<int64_t, int64_t>> entries;  // ascending keys, weights != 0

  u128 N() const {
    u128 n = 0;
    for (const auto& [k, w] : entries) n += w > 0 ? static_cast<u128>(w) : 0;
    return n;
  }
  int64_t SelectAsc(u128 k) const {
    for (const auto& [key, w] : entries) {
      if (w <= 0) continue;
      if (k < static_cast<u128>(w)) return key;
      k -= static_cast<u128>(w);
    }
    ADD_FAILURE() << "oracle: select past N";
    return 0;
  }
  int64_t Select(u128 k, bool desc) const { return SelectAsc(desc ? N() - 1 - k : k); }
  u128 RankOf(int64_t key) const {
    u128 r = 0;
    for (const auto& [k, w] : entries) {
      if (k >= key) break;
      r += w > 0 ? static_cast<u128>(w) : 0;
    }
    return r;
  }
};

// p * x for a double p in [0, 1] and an integer x, exactly: floor, whether it is an integer, and
// the fractional part rounded to double. p = m * 2^-s with m < 2^53, so m * x < 2^117.
struct Scaled {
  u128 floor = 0;
  bool integral = true;
  double frac = 0;
};
Scaled ScaleExact(double p, uint64_t x) {
  Scaled out;
  if (p == 0 || x == 0) return out;
  int e = 0;
  const double f = std::frexp(p, &e);  // p = f * 2^e, f in [0.5, 1)
  const auto m = static_cast<uint64_t>(std::ldexp(f, 53));
  const int s = 53 - e;  // p = m * 2^-s, s >= 52
  const u128 prod = static_cast<u128>(m) * x;
  if (s >= 128) {
    out.floor = 0;
    out.integral = prod == 0;
    out.frac = std::ldexp(static_cast<double>(prod), -s);
    return out;
  }
  out.floor = prod >> s;
  const u128 rem = prod - (out.floor << s);
  out.integral = rem == 0;
  out.frac = std::ldexp(static_cast<double>(rem), -s);
  return out;
}

// 0-based row of percentile_disc(p) among n rows.
u128 ExpectedDiscRow(double p, u128 n) {
  if (n <= kTwo53) {  // PostgreSQL: rownum = (int64) ceil(percentile * rowcount), in float8
    const double k = std::ceil(p * static_cast<double>(static_cast<uint64_t>(n)));
    return k < 1 ? 0 : static_cast<u128>(k) - 1;
  }
  const Scaled s = ScaleExact(p, static_cast<uint64_t>(n));
  const u128 k = s.floor + (s.integral ? 0 : 1);
  return k == 0 ? 0 : k - 1;
}

struct ContRows {
  u128 lo = 0, hi = 0;
  double frac = 0;
};
ContRows ExpectedContRows(double p, u128 n) {
  ContRows r;
  if (n <= kTwo53) {  // PostgreSQL: first_row = floor(percentile * (rowcount - 1)), in float8
    const double pos = p * static_cast<double>(static_cast<uint64_t>(n - 1));
    r.lo = static_cast<u128>(std::floor(pos));
    r.hi = static_cast<u128>(std::ceil(pos));
    r.frac = pos - std::floor(pos);
    return r;
  }
  const Scaled s = ScaleExact(p, static_cast<uint64_t>(n - 1));
  r.lo = s.floor;
  r.hi = s.floor + (s.integral ? 0 : 1);
  r.frac = s.frac;
  return r;
}

double ExpectedCont(const Items& items, double p, bool desc) {
  const ContRows r = ExpectedContRows(p, items.N());
  const auto lo_val = static_cast<double>(items.Select(r.lo, desc));
  if (r.lo == r.hi) return lo_val;
  const auto hi_val = static_cast<double>(items.Select(r.hi, desc));
  return lo_val + (r.frac * (hi_val - lo_val));  // PostgreSQL float8_lerp
}

std::string U128ToString(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v != 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

// The fractions every tree is probed with: both ends, the smallest positive doubles, tiny
// fractions whose p * N straddles 1, the middle, and the largest double below 1.
std::vector<double> ProbeFractions() {
  return {0.0,
          std::numeric_limits<double>::denorm_min(),
          std::numeric_limits<double>::min(),
          1e-300,
          std::ldexp(1.0, -64),
          std::ldexp(1.0, -63),
          std::ldexp(1.0, -54),
          1e-10,
          0.1,
          0.25,
          1.0 / 3,
          0.5,
          std::nextafter(0.5, 1.0),
          0.75,
          0.9,
          1.0 - std::ldexp(1.0, -52),
          std::nextafter(1.0, 0.0),
          1.0};
}

class TreeBoundsTest : public ::testing::Test {
 protected:
  // Builds a tree holding `items` (one batch) and checks it accepted them.
  std::shared_ptr<const TreeVersion> Build(const Items& items, TreeShape shape = {4, 4}) {
    tree_ = std::make_unique<OrderStatTree>(KeyType::kInt64, shape, nullptr);
    std::vector<KeyWeight> ops;
    for (const auto& [k, w] : items.entries) ops.push_back(KW(k, w));
    const Status st = tree_->Apply(ops, 1);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto v = tree_->current();
    const Status inv = CheckInvariants(*v, true);
    EXPECT_TRUE(inv.ok()) << inv.ToString();
    return v;
  }

  // Every reader against the oracle, at every probe fraction, both orders.
  static void ExpectAllReaders(const TreeVersion& v, const Items& items) {
    const u128 n = items.N();
    ASSERT_LE(n, u128{UINT64_MAX});
    ASSERT_EQ(PositiveCount(v), static_cast<uint64_t>(n));
    for (const auto& [k, w] : items.entries) {
      EXPECT_EQ(Rank(v, EncodeInt64Key(k)).value(), static_cast<uint64_t>(items.RankOf(k)))
          << "rank of " << k;
      EXPECT_EQ(WeightOf(v, EncodeInt64Key(k)).value(), w);
    }
    EXPECT_EQ(Rank(v, 0).value(), 0u);
    if (n == 0) return;
    const int64_t first = items.SelectAsc(0), last = items.SelectAsc(n - 1);
    // The rank of the largest code counts everything below it.
    EXPECT_EQ(RangePositiveSum(v, 0, UINT64_MAX).value(),
              static_cast<uint64_t>(items.RankOf(kMax)));
    // select at both ends and just past the end, both orders.
    const uint64_t last_row = static_cast<uint64_t>(n - 1);
    EXPECT_EQ(DecodeInt64Key(*Select(v, 0, false).value()), first);
    EXPECT_EQ(DecodeInt64Key(*Select(v, last_row, false).value()), last);
    EXPECT_EQ(DecodeInt64Key(*Select(v, 0, true).value()), last);
    EXPECT_EQ(DecodeInt64Key(*Select(v, last_row, true).value()), first);
    if (last_row != UINT64_MAX) {
      EXPECT_FALSE(Select(v, last_row + 1, false).value().has_value());
      EXPECT_FALSE(Select(v, last_row + 1, true).value().has_value());
    }
    EXPECT_FALSE(Select(v, UINT64_MAX, false).value().has_value());
    EXPECT_FALSE(Select(v, UINT64_MAX, true).value().has_value());
    // Rows at each entry boundary.
    u128 seen = 0;
    for (const auto& [k, w] : items.entries) {
      if (w <= 0) continue;
      EXPECT_EQ(DecodeInt64Key(*Select(v, static_cast<uint64_t>(seen), false).value()), k);
      seen += static_cast<u128>(w);
      EXPECT_EQ(DecodeInt64Key(*Select(v, static_cast<uint64_t>(seen - 1), false).value()), k);
    }
    for (double p : ProbeFractions()) {
      for (bool desc : {false, true}) {
        SCOPED_TRACE("N " + U128ToString(n) + " p " + std::to_string(p) + " (" +
                     std::to_string(std::bit_cast<uint64_t>(p)) + ") desc " + std::to_string(desc));
        Result<std::optional<uint64_t>> disc = PercentileDisc(v, p, desc);
        ASSERT_TRUE(disc.ok()) << disc.status().ToString();
        ASSERT_TRUE(disc->has_value()) << "N > 0 but percentile_disc has no value";
        EXPECT_EQ(DecodeInt64Key(**disc), items.Select(ExpectedDiscRow(p, n), desc))
            << "disc row " << U128ToString(ExpectedDiscRow(p, n));
        Result<std::optional<double>> cont = PercentileCont(v, p, desc);
        ASSERT_TRUE(cont.ok()) << cont.status().ToString();
        ASSERT_TRUE(cont->has_value()) << "N > 0 but percentile_cont has no value";
        EXPECT_EQ(**cont, ExpectedCont(items, p, desc))
            << "cont rows " << U128ToString(ExpectedContRows(p, n).lo) << ".."
            << U128ToString(ExpectedContRows(p, n).hi);
      }
    }
  }

  static int64_t Disc(const TreeVersion& v, double p, bool desc) {
    auto r = PercentileDisc(v, p, desc);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r->has_value()) {
      ADD_FAILURE() << "no value for p " << p << " desc " << desc;
      return kMin;
    }
    return DecodeInt64Key(**r);
  }
  static double Cont(const TreeVersion& v, double p, bool desc) {
    auto r = PercentileCont(v, p, desc);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r->has_value()) {
      ADD_FAILURE() << "no value for p " << p << " desc " << desc;
      return std::nan("");
    }
    return **r;
  }

  std::unique_ptr<OrderStatTree> tree_;
};

// ---- The oracle checks itself on hand-computed rows --------------------------------------------

TEST(TreeBoundsOracle, ExactRowsByHand) {
  const u128 n = UINT64_MAX;
  const double below1 = std::nextafter(1.0, 0.0);  // 1 - 2^-53
  // p * N = 2^64 - 1 - 2^11 + 2^-53: ceil is 2^64 - 2^11.
  EXPECT_EQ(ExpectedDiscRow(below1, n), (u128{1} << 64) - 2048 - 1);
  EXPECT_EQ(ExpectedDiscRow(1.0, n), n - 1);
  EXPECT_EQ(ExpectedDiscRow(0.0, n), 0u);
  EXPECT_EQ(ExpectedDiscRow(std::ldexp(1.0, -64), n), 0u);  // p * N = 1 - 2^-64
  EXPECT_EQ(ExpectedDiscRow(std::ldexp(1.0, -63), n), 1u);  // p * N = 2 - 2^-63
  EXPECT_EQ(ExpectedDiscRow(0.5, n), kTwo63 - 1);           // ceil(2^63 - 0.5) = 2^63
  // p * (N - 1) = 2^63 - 1 exactly.
  ContRows r = ExpectedContRows(0.5, n);
  EXPECT_EQ(r.lo, kTwo63 - 1);
  EXPECT_EQ(r.hi, kTwo63 - 1);
  // N - 1 = 2^64 - 3: 0.5 * (N - 1) = 2^63 - 1.5.
  r = ExpectedContRows(0.5, n - 1);
  EXPECT_EQ(r.lo, kTwo63 - 2);
  EXPECT_EQ(r.hi, kTwo63 - 1);
  EXPECT_EQ(r.frac, 0.5);
  // Within 2^53 the oracle is PostgreSQL's float8 formula: 0.1 * 10 rounds to 1.0 exactly, so
  // percentile_disc(0.1) over 10 rows is row 0 (the exact product 1.0000000000000000555 would
  // give row 1).
  EXPECT_EQ(ExpectedDiscRow(0.1, 10), 0u);
  EXPECT_EQ(ExpectedContRows(0.1, 11).hi, 1u);
}

// ---- Readers at the boundaries of N
// --------------------------------------------------------------

TEST_F(TreeBoundsTest, SingleEntryOfInt64Max) {
  const Items items{{{10, kMax}}};
  auto v = Build(items);
  ExpectAllReaders(*v, items);
  for (double p : {0.0, 0.5, std::nextafter(1.0, 0.0), 1.0}) {
    for (bool desc : {false, true}) {
      EXPECT_EQ(Disc(*v, p, desc), 10);
      EXPECT_EQ(Cont(*v, p, desc), 10.0);
    }
  }
}

// N = 2^64 - 2: two halves of 2^63 - 1 items. The median lies between the two halves (15), as
// symmetry demands; float8 arithmetic (N - 1 rounded to 2^64) put it on 20.
TEST_F(TreeBoundsTest, TwoEntriesOfInt64Max) {
  const Items items{{{10, kMax}, {20, kMax}}};
  auto v = Build(items);
  EXPECT_EQ(PositiveCount(*v), UINT64_MAX - 1);
  ExpectAllReaders(*v, items);
  EXPECT_EQ(Cont(*v, 0.5, false), 15.0);
  EXPECT_EQ(Cont(*v, 0.5, true), 15.0);
  EXPECT_EQ(Disc(*v, 0.5, false), 10);
  EXPECT_EQ(Disc(*v, 0.5, true), 20);
  EXPECT_EQ(Disc(*v, 1.0, false), 20);
  EXPECT_EQ(Disc(*v, 1.0, true), 10);
  EXPECT_EQ(Cont(*v, 1.0, false), 20.0);
  EXPECT_EQ(Cont(*v, 1.0, true), 10.0);
  EXPECT_EQ(Disc(*v, std::nextafter(1.0, 0.0), false), 20);
  EXPECT_EQ(Disc(*v, std::nextafter(1.0, 0.0), true), 10);
}

// N = 2^64 - 1 exactly: p = 1 computes ceil(1.0 * (double)N) = 2^64; converting that to uint64
// is undefined (x86-64 gives 0, so row 0 - 1 = 2^64 - 1: "N > 0 but no value").
TEST_F(TreeBoundsTest, TotalExactlyUint64Max) {
  const Items items{{{10, kMax}, {20, kMax}, {30, 1}}};
  auto v = Build(items);
  EXPECT_EQ(PositiveCount(*v), UINT64_MAX);
  ExpectAllReaders(*v, items);
  EXPECT_EQ(Disc(*v, 1.0, false), 30);
  EXPECT_EQ(Disc(*v, 1.0, true), 10);
  EXPECT_EQ(Cont(*v, 1.0, false), 30.0);
  EXPECT_EQ(Cont(*v, 1.0, true), 10.0);
  EXPECT_EQ(Disc(*v, 0.0, false), 10);
  EXPECT_EQ(Disc(*v, 0.0, true), 30);
  EXPECT_EQ(Cont(*v, 0.0, false), 10.0);
  EXPECT_EQ(Cont(*v, 0.0, true), 30.0);
  EXPECT_EQ(Cont(*v, 0.5, false), 20.0);  // row 2^63 - 1: the first 20
  EXPECT_EQ(Cont(*v, 0.5, true), 20.0);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, UINT64_MAX - 1, false).value()), 30);
  EXPECT_EQ(DecodeInt64Key(*Select(*v, UINT64_MAX - 1, true).value()), 10);
  EXPECT_FALSE(Select(*v, UINT64_MAX, false).value().has_value());
  EXPECT_EQ(Rank(*v, EncodeInt64Key(30)).value(), UINT64_MAX - 1);
  EXPECT_EQ(Rank(*v, EncodeInt64Key(31)).value(), UINT64_MAX);
  EXPECT_EQ(Median(*v).value(), 20.0);
}

// Several entries summing to just below UINT64_MAX, with negative weights that must not count.
TEST_F(TreeBoundsTest, SumJustBelowUint64MaxWithNegativeWeights) {
  const Items items{{{-5, kMin}, {10, kMax}, {20, kMax - 5}, {25, -1}, {30, 3}, {40, kMin + 1}}};
  auto v = Build(items);
  EXPECT_EQ(PositiveCount(*v), UINT64_MAX - 3);
  ExpectAllReaders(*v, items);
  EXPECT_EQ(Disc(*v, 1.0, false), 30);
  EXPECT_EQ(Disc(*v, 1.0, true), 10);
}

// N = 2^63 and 2^63 +- 1: one more than INT64_MAX.
TEST_F(TreeBoundsTest, TotalAroundTwoTo63) {
  for (int64_t extra : {0, 1, 2}) {
    const Items items{{{10, kMax}, {20, extra}}};
    Items kept;
    for (auto e : items.entries) {
      if (e.second != 0) kept.entries.push_back(e);
    }
    auto v = Build(kept);
    EXPECT_EQ(PositiveCount(*v), static_cast<uint64_t>(kMax) + static_cast<uint64_t>(extra));
    ExpectAllReaders(*v, kept);
    EXPECT_EQ(Cont(*v, 0.5, false), 10.0);
    EXPECT_EQ(Disc(*v, 1.0, false), extra == 0 ? 10 : 20);
  }
}

// The switch from PostgreSQL's float8 formula (N <= 2^53) to exact arithmetic (N > 2^53).
// At N = 2^53 + 1, (double)N rounds to 2^53, so float8 percentile_disc(1) picked row 2^53 - 1
// instead of the last row.
TEST_F(TreeBoundsTest, AroundTwoTo53) {
  for (uint64_t n : {kTwo53 - 1, kTwo53, kTwo53 + 1, kTwo53 + 2, kTwo53 + 3}) {
    SCOPED_TRACE(n);
    const Items items{{{10, static_cast<int64_t>(n - 1)}, {20, 1}}};
    auto v = Build(items);
    ExpectAllReaders(*v, items);
    EXPECT_EQ(Disc(*v, 1.0, false), 20);
    EXPECT_EQ(Disc(*v, 1.0, true), 10);
    EXPECT_EQ(Cont(*v, 1.0, false), 20.0);
    EXPECT_EQ(Cont(*v, 1.0, true), 10.0);
  }
}

// PostgreSQL's float8 results are kept for N <= 2^53 (bit-for-bit, e.g. p = 0.1 over 10 rows is
// row 0, where exact arithmetic would give row 1).
TEST_F(TreeBoundsTest, SmallNKeepsPostgresFloat8Rounding) {
  Items items;
  for (int64_t k = 1; k <= 10; ++k) items.entries.push_back({k * 10, 1});
  auto v = Build(items);
  EXPECT_EQ(Disc(*v, 0.1, false), 10);
  EXPECT_EQ(Disc(*v, 0.1, true), 100);
  EXPECT_EQ(Disc(*v, 0.2, false), 20);  // float8 0.2 * 10 = 2.0 (exact: 2.0000000000000001)
  EXPECT_EQ(Disc(*v, 0.9, false), 90);  // float8 0.9 * 10 = 9.0 (exact: 9.0000000000000002)
  items.entries.push_back({110, 1});
  v = Build(items);
  EXPECT_EQ(Cont(*v, 0.1, false), 20.0);  // 0.1 * 10 = 1.0 in float8: row 1 exactly
  ExpectAllReaders(*v, items);
}

// A tree of several levels whose per-child sums reach 2^64 - 1: 256 entries of 2^56 (the last
// one 2^56 - 1) under fan-out 4, leaves of 4.
TEST_F(TreeBoundsTest, ManyLevelsSummingToUint64Max) {
  Items items;
  for (int64_t k = 0; k < 256; ++k) {
    items.entries.push_back({k, k == 255 ? (int64_t{1} << 56) - 1 : int64_t{1} << 56});
  }
  auto v = Build(items);
  EXPECT_EQ(PositiveCount(*v), UINT64_MAX);
  EXPECT_GE(v->height, 4u);
  ExpectAllReaders(*v, items);
  EXPECT_EQ(Disc(*v, 1.0, false), 255);
  EXPECT_EQ(Disc(*v, 1.0, true), 0);
  EXPECT_EQ(Cont(*v, 1.0, false), 255.0);
  EXPECT_EQ(Cont(*v, 0.0, true), 255.0);
}

// Random trees with huge weights (N spread over [2^53, 2^64)) against the oracle.
TEST_F(TreeBoundsTest, RandomHugeWeights) {
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 40; ++round) {
    Items items;
    u128 n = 0;
    const int entries = 1 + static_cast<int>(rng() % 40);
    const int shift = 53 + static_cast<int>(rng() % 11);  // weights up to 2^shift
    for (int i = 0; i < entries; ++i) {
      int64_t w = static_cast<int64_t>(rng() >> (64 - shift)) - (rng() % 4 == 0 ? kMax / 2 : 0);
      if (w == 0) w = 1;
      if (w > 0 && n + static_cast<u128>(w) > UINT64_MAX) break;
      if (w > 0) n += static_cast<u128>(w);
      items.entries.push_back({i * 3 - 50, w});
    }
    auto v = Build(items, {4 + static_cast<uint32_t>(rng() % 5), 4});
    ExpectAllReaders(*v, items);
    if (HasFatalFailure()) return;
  }
}

// ---- Updates at the boundaries: rejected before any state changes -------------------------------

// Adding to an entry's weight at the int64 limits, both directions.
TEST_F(TreeBoundsTest, EntryWeightReachesInt64LimitsExactly) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, kMax - 1), KW(2, kMin + 1)}, 1).ok());
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, 1), KW(2, -1)}, 2).ok());
  auto v2 = tree.current();
  EXPECT_EQ(WeightOf(*v2, EncodeInt64Key(1)).value(), kMax);
  EXPECT_EQ(WeightOf(*v2, EncodeInt64Key(2)).value(), kMin);
  for (const KeyWeight& bad : {KW(1, 1), KW(1, kMax), KW(2, -1), KW(2, kMin)}) {
    const Status st = tree.Apply(std::vector<KeyWeight>{bad}, 3);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_NE(st.message().find(std::to_string(bad.key)), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("int64"), std::string::npos) << st.ToString();
    EXPECT_EQ(tree.current(), v2);
  }
  // The extremes cancel: INT64_MIN + INT64_MAX = -1, and back.
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, kMin), KW(2, kMax)}, 3).ok());
  EXPECT_EQ(Entries(*tree.current()), (std::vector<std::pair<uint64_t, int64_t>>{
                                          {EncodeInt64Key(1), -1}, {EncodeInt64Key(2), -1}}));
  EXPECT_EQ(PositiveCount(*tree.current()), 0u);
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(1, 1), KW(2, 1)}, 4).ok());
  EXPECT_EQ(tree.current()->entry_count, 0u);
  EXPECT_EQ(tree.current()->root, nullptr);
}

// A batch that would take N past 2^64 - 1 fails with InvalidArgument naming the limit, leaves
// the tree exactly as it was (same version, same content), and a later valid batch works.
TEST_F(TreeBoundsTest, TotalPastUint64MaxIsRejectedAndChangesNothing) {
  OrderStatTree tree(KeyType::kInt64, {4, 4}, nullptr);
  std::vector<KeyWeight> setup;
  for (int k = 0; k < 20; ++k) setup.push_back(KW(k, -1));  // several leaves
  setup.push_back(KW(100, kMax));
  setup.push_back(KW(200, kMax));
  ASSERT_TRUE(tree.Apply(setup, 1).ok());
  auto v1 = tree.current();
  const auto before = Entries(*v1);
  ASSERT_EQ(PositiveCount(*v1), UINT64_MAX - 1);
  const std::vector<std::vector<KeyWeight>> bad_batches = {
      {KW(300, 2)},                                    // new entry: N = 2^64
      {KW(5, 3), KW(300, 1)},                          // an existing negative entry turns positive
      {KW(0, 1), KW(100, -1), KW(300, 3)},             // touches several leaves first
      {KW(150, kMax)},                                 // N = 3 * (2^63 - 1)
      {KW(-1, kMax), KW(100, -kMax), KW(300, kMax)}};  // N = 2^64 - 2 + 2^63 - 1
  for (const auto& bad : bad_batches) {
    const Status st = tree.Apply(bad, 2);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_NE(st.message().find("18446744073709551615"), std::string::npos) << st.ToString();
    EXPECT_EQ(tree.current(), v1);
    EXPECT_EQ(Entries(*tree.current()), before);
    EXPECT_EQ(PositiveCount(*tree.current()), UINT64_MAX - 1);
    EXPECT_TRUE(CheckInvariants(*v1, true).ok());
  }
  // Exactly 2^64 - 1 is accepted, and queried at its limits.
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(300, 1)}, 2).ok());
  auto v2 = tree.current();
  EXPECT_EQ(PositiveCount(*v2), UINT64_MAX);
  EXPECT_TRUE(CheckInvariants(*v2, true).ok());
  EXPECT_EQ(DecodeInt64Key(*PercentileDisc(*v2, 1.0, false).value()), 300);
  EXPECT_EQ(DecodeInt64Key(*PercentileDisc(*v2, 1.0, true).value()), 100);
  EXPECT_EQ(*PercentileCont(*v2, 1.0, false).value(), 300.0);
  EXPECT_EQ(DecodeInt64Key(*Select(*v2, UINT64_MAX - 1, false).value()), 300);
}

// A valid batch whose intermediate state joins two leaves whose positive sums add past 2^64:
// the leftmost leaf underflows and is merged with its right sibling before that sibling's ops
// (which bring it down) are applied. The batch must succeed (the final N fits); the joined
// leaf's sum used to wrap modulo 2^64 and the later merge tripped an assertion.
TEST_F(TreeBoundsTest, TransientLeafMergePastUint64MaxIsNotAnError) {
  OrderStatTree tree(KeyType::kInt64, {8, 4}, nullptr);
  std::vector<KeyWeight> setup;
  for (int k = 1; k <= 16; ++k) setup.push_back(KW(k, 1));
  ASSERT_TRUE(tree.Apply(setup, 1).ok());
  ASSERT_EQ(tree.current()->leaf_count, 2u);  // [1..8] [9..16]
  // Right leaf: 2^64 - 16 in total; N = 2^64 - 8.
  ASSERT_TRUE(tree.Apply(std::vector<KeyWeight>{KW(9, kMax - 1), KW(10, kMax - 21)}, 2).ok());
  ASSERT_EQ(PositiveCount(*tree.current()), UINT64_MAX - 7);
  // Left leaf keeps one entry (underflow: joined with the right leaf, sum 100 + 2^64 - 16),
  // then key 9 loses INT64_MAX: final N = 100 + 2^63 - 16.
  std::vector<KeyWeight> batch;
  batch.push_back(KW(1, 99));
  for (int k = 2; k <= 8; ++k) batch.push_back(KW(k, -1));
  batch.push_back(KW(9, -kMax));
  const Status st = tree.Apply(batch, 3);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto v = tree.current();
  EXPECT_EQ(PositiveCount(*v), uint64_t{100} + (static_cast<uint64_t>(kMax) - 20) + 6);
  const Status inv = CheckInvariants(*v, true);
  EXPECT_TRUE(inv.ok()) << inv.ToString();
  Items items{{{1, 100}, {10, kMax - 20}, {11, 1}, {12, 1}, {13, 1}, {14, 1}, {15, 1}, {16, 1}}};
  ExpectAllReaders(*v, items);
}

// Random batches of huge weights against an exact model: a batch is accepted iff every entry's
// weight stays within int64 and the final N fits uint64; a rejected batch changes nothing.
TEST_F(TreeBoundsTest, RandomHugeBatchesAcceptedIffFinalStateFits) {
  std::mt19937_64 rng(77);
  const int64_t magnitudes[] = {1, 2, int64_t{1} << 61, int64_t{1} << 62, kMax / 2, kMax - 1, kMax};
  for (uint32_t leaf : {4u, 8u}) {
    OrderStatTree tree(KeyType::kInt64, {leaf, 4}, nullptr);
    std::map<int64_t, int64_t> model;
    uint64_t epoch = 1;
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 1500; ++round) {
      std::map<int64_t, int64_t> ops;
      const int count = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < count; ++i) {
        const int64_t key = static_cast<int64_t>(rng() % 60);
        int64_t w = magnitudes[rng() % std::size(magnitudes)];
        if (rng() % 2 == 0) w = -w;
        if (rng() % 3 == 0 && model.count(key) != 0 && model[key] != kMin) w = -model[key];
        if (rng() % 4 == 0) w = w == kMax ? kMin : w;
        ops[key] = w;
      }
      std::vector<KeyWeight> batch;
      std::map<int64_t, int64_t> next = model;
      bool fits = true;
      for (const auto& [k, w] : ops) {
        if (w == 0) continue;
        batch.push_back(KW(k, w));
        int64_t& cur = next[k];
        if (__builtin_add_overflow(cur, w, &cur)) fits = false;
        if (cur == 0) next.erase(k);
      }
      u128 n = 0;
      for (const auto& [k, w] : next) n += w > 0 ? static_cast<u128>(w) : 0;
      if (n > UINT64_MAX) fits = false;
      auto before = tree.current();
      const Status st = tree.Apply(batch, ++epoch);
      if (fits) {
        ASSERT_TRUE(st.ok()) << "round " << round << ": " << st.ToString();
        model = std::move(next);
        ++accepted;
      } else {
        ASSERT_TRUE(st.IsInvalidArgument()) << "round " << round << ": " << st.ToString();
        ASSERT_EQ(tree.current(), before);
        ++rejected;
      }
      auto v = tree.current();
      const Status inv = CheckInvariants(*v, true);
      ASSERT_TRUE(inv.ok()) << "round " << round << ": " << inv.ToString();
      Items items;
      for (const auto& e : model) items.entries.push_back(e);
      ASSERT_EQ(Entries(*v).size(), items.entries.size());
      ASSERT_EQ(PositiveCount(*v), static_cast<uint64_t>(items.N()));
      if (round % 50 == 0) {
        ExpectAllReaders(*v, items);
        if (HasFatalFailure()) return;
      }
    }
    EXPECT_GT(accepted, 100);
    EXPECT_GT(rejected, 100);
  }
}

// ---- The hosted tree: limits checked before any state changes ----------------------------------

class NoStoreEnvironment : public TreeEnvironment {
 public:
  ObjectStore* object_store() override { return nullptr; }
  uint64_t OldestReadableEpoch() const override { return 0; }
};

std::string Ops(std::initializer_list<std::pair<int64_t, int64_t>> ops) {
  std::string out;
  for (auto [k, w] : ops) AppendOrderStatOp(&out, EncodeInt64Key(k), w);
  return out;
}

// Over-limit ops are refused by the host with the tree unchanged; ops of one key are summed
// exactly (any order) and only the sum must fit int64.
TEST(TreeBoundsHostTest, OverLimitOpsChangeNothing) {
  NoStoreEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, {4, 4}, &env);
  ASSERT_TRUE(host.Apply(Ops({{1, kMax}, {1, 1}, {1, -1}, {2, kMax}}), 1).ok());
  auto v1 = host.tree().current();
  EXPECT_EQ(PositiveCount(*v1), UINT64_MAX - 1);
  for (const std::string& bad : {Ops({{3, 2}}), Ops({{1, 1}}), Ops({{3, kMax}, {3, 1}}),
                                 Ops({{3, kMin}, {3, -1}}), Ops({{4, 1}, {5, 1}})}) {
    const Status st = host.Apply(bad, 2);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_EQ(host.tree().current(), v1);
    EXPECT_EQ(host.VersionAt(UINT64_MAX), v1);
  }
  ASSERT_TRUE(host.Apply(Ops({{3, 1}}), 2).ok());
  EXPECT_EQ(PositiveCount(*host.tree().current()), UINT64_MAX);
}

// A crafted commit record with two op sections for one tree applies it twice at one epoch:
// refused with InvalidArgument (Corruption on replay), not an assertion; Undo restores the
// epoch bookkeeping so the runtime can reuse the epoch for the next commit.
TEST(TreeBoundsHostTest, SecondSectionAtOneEpochIsRefused) {
  NoStoreEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, {4, 4}, &env);
  ASSERT_TRUE(host.Apply(Ops({{1, 5}}), 1).ok());
  auto v1 = host.tree().current();
  EXPECT_TRUE(host.Apply(Ops({{2, 1}}), 1).IsInvalidArgument());
  EXPECT_EQ(host.tree().current(), v1);
  // Ops that cancel out publish nothing, but still claim the epoch.
  ASSERT_TRUE(host.Apply(Ops({{2, 1}, {2, -1}}), 2).ok());
  EXPECT_TRUE(host.Apply(Ops({{2, 1}}), 2).IsInvalidArgument());
  host.UndoLastApply();
  ASSERT_TRUE(host.Apply(Ops({{2, 1}}), 2).ok());
  EXPECT_EQ(PositiveCount(*host.tree().current()), 6u);
  host.UndoLastApply();
  EXPECT_EQ(host.tree().current(), v1);
  ASSERT_TRUE(host.Apply(Ops({{3, 1}}), 2).ok());
  EXPECT_EQ(PositiveCount(*host.tree().current()), 6u);
}

}  // namespace
}  // namespace cowtree::tree
