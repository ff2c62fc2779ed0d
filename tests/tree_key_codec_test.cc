// Key codec: unsigned order of codes == key order (PostgreSQL float8 order for doubles).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tree/key_codec.h"

namespace cowtree::tree {
namespace {

TEST(TreeKeyCodecTest, Int64OrderAndRoundTrip) {
  const std::vector<int64_t> values = {std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::min() + 1,
                                       -1000000,
                                       -1,
                                       0,
                                       1,
                                       1000000,
                                       std::numeric_limits<int64_t>::max() - 1,
                                       std::numeric_limits<int64_t>::max()};
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(DecodeInt64Key(EncodeInt64Key(values[i])), values[i]);
    EXPECT_TRUE(IsCanonicalKey(KeyType::kInt64, EncodeInt64Key(values[i])));
    if (i > 0) {
      EXPECT_LT(EncodeInt64Key(values[i - 1]), EncodeInt64Key(values[i]));
    }
  }
  EXPECT_EQ(EncodeInt64Key(std::numeric_limits<int64_t>::min()), 0u);
  EXPECT_EQ(EncodeInt64Key(std::numeric_limits<int64_t>::max()), UINT64_MAX);
  EXPECT_EQ(KeyToDouble(KeyType::kInt64, EncodeInt64Key(-42)), -42.0);
}

TEST(TreeKeyCodecTest, Int64RandomPairsKeepOrder) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const auto a = static_cast<int64_t>(rng()), b = static_cast<int64_t>(rng());
    EXPECT_EQ(a < b, EncodeInt64Key(a) < EncodeInt64Key(b));
  }
}

TEST(TreeKeyCodecTest, DoubleOrder) {
  const double inf = std::numeric_limits<double>::infinity();
  const double denorm = std::numeric_limits<double>::denorm_min();
  const std::vector<double> values = {-inf,
                                      -std::numeric_limits<double>::max(),
                                      -1.0,
                                      -std::numeric_limits<double>::min(),  // smallest normal
                                      -denorm * 3,
                                      -denorm,
                                      0.0,
                                      denorm,
                                      denorm * 3,
                                      std::numeric_limits<double>::min(),
                                      0.5,
                                      1.0,
                                      std::numeric_limits<double>::max(),
                                      inf};
  for (size_t i = 0; i < values.size(); ++i) {
    const uint64_t code = EncodeDoubleKey(values[i]);
    EXPECT_EQ(DecodeDoubleKey(code), values[i]);
    EXPECT_TRUE(IsCanonicalKey(KeyType::kDouble, code));
    EXPECT_EQ(KeyToDouble(KeyType::kDouble, code), values[i]);
    if (i > 0) {
      EXPECT_LT(EncodeDoubleKey(values[i - 1]), code) << values[i];
    }
  }
  EXPECT_EQ(EncodeDoubleKey(-inf), kDoubleNegInfCode);
  EXPECT_EQ(EncodeDoubleKey(inf), kDoublePosInfCode);
}

TEST(TreeKeyCodecTest, NegativeZeroIsZero) {
  EXPECT_EQ(EncodeDoubleKey(-0.0), EncodeDoubleKey(0.0));
  EXPECT_FALSE(std::signbit(DecodeDoubleKey(EncodeDoubleKey(-0.0))));
  // The raw transform of -0.0 is not canonical.
  EXPECT_FALSE(IsCanonicalKey(KeyType::kDouble, ~std::bit_cast<uint64_t>(-0.0)));
}

TEST(TreeKeyCodecTest, NanIsOneCodeAfterInfinity) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nans[] = {std::numeric_limits<double>::quiet_NaN(),
                         -std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::signaling_NaN(),
                         std::bit_cast<double>(uint64_t{0x7FF0000000000001}),
                         std::bit_cast<double>(uint64_t{0xFFFFFFFFFFFFFFFF})};
  for (double nan : nans) {
    ASSERT_TRUE(std::isnan(nan));
    EXPECT_EQ(EncodeDoubleKey(nan), kDoubleNanCode);
  }
  EXPECT_LT(EncodeDoubleKey(inf), kDoubleNanCode);
  EXPECT_TRUE(std::isnan(DecodeDoubleKey(kDoubleNanCode)));
  EXPECT_TRUE(IsCanonicalKey(KeyType::kDouble, kDoubleNanCode));
  EXPECT_FALSE(IsCanonicalKey(KeyType::kDouble, kDoubleNanCode + 1));
  EXPECT_FALSE(IsCanonicalKey(KeyType::kDouble, 0));  // transform of a negative NaN
}

TEST(TreeKeyCodecTest, DoubleRandomPairsKeepOrder) {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 100000; ++i) {
    double a = std::bit_cast<double>(rng()), b = std::bit_cast<double>(rng());
    if (std::isnan(a) || std::isnan(b)) continue;
    EXPECT_EQ(a < b, EncodeDoubleKey(a) < EncodeDoubleKey(b)) << a << " " << b;
    EXPECT_EQ(a == b, EncodeDoubleKey(a) == EncodeDoubleKey(b));
  }
}

}  // namespace
}  // namespace cowtree::tree
