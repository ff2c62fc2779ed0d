// tree/order_stat_ops.h: the canonical form of an order-statistics tree's op section (sorted,
// summed per key, zero sums dropped), taken without sorting when it is already canonical; the
// same result for any order of the same ops; a key's sum outside int64 is InvalidArgument.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tree/key_codec.h"
#include "tree/order_stat_ops.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::tree {
namespace {

std::vector<std::pair<uint64_t, int64_t>> Pairs(const std::vector<KeyWeight>& ops) {
  std::vector<std::pair<uint64_t, int64_t>> out;
  for (const KeyWeight& op : ops) out.emplace_back(op.key, op.weight);
  return out;
}

std::string Encode(const std::vector<KeyWeight>& ops) {
  std::string bytes;
  for (const KeyWeight& op : ops) AppendOrderStatOp(&bytes, op.key, op.weight);
  return bytes;
}

TEST(OrderStatOps, AnyOrderDecodesToTheSummedSortedOps) {
  std::mt19937_64 rng(3);
  for (size_t n : {0u, 1u, 5u, 255u, 256u, 3000u}) {
    std::vector<KeyWeight> ops;
    std::map<uint64_t, int64_t> model;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t key = rng() % 3 == 0 ? rng() : rng() % 64;    // every digit; duplicates
      const int64_t weight = static_cast<int64_t>(rng() % 5) - 2;  // zeros and cancelling sums
      ops.push_back({key, weight});
      model[key] += weight;
    }
    std::vector<std::pair<uint64_t, int64_t>> want;
    for (const auto& [k, w] : model) {
      if (w != 0) want.emplace_back(k, w);
    }
    std::vector<KeyWeight> decoded;
    ASSERT_TRUE(DecodeOrderStatOps(Encode(ops), KeyType::kInt64, &decoded).ok());
    EXPECT_EQ(Pairs(decoded), want) << n;
    // Canonical bytes (what PercentileOperator writes) decode to themselves.
    std::string canonical;
    AppendOrderStatOps(decoded, &canonical);
    EXPECT_EQ(canonical, Encode(decoded));
    std::vector<KeyWeight> again;
    ASSERT_TRUE(DecodeOrderStatOps(canonical, KeyType::kInt64, &again).ok());
    EXPECT_EQ(Pairs(again), want) << n;
    ASSERT_TRUE(SortAndSumOrderStatOps(&ops, KeyType::kInt64).ok());
    EXPECT_EQ(Pairs(ops), want) << n;
  }
}

TEST(OrderStatOps, SumOutsideInt64IsInvalidArgumentAndBadLengthToo) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  std::vector<KeyWeight> out;
  auto st = DecodeOrderStatOps(Encode({{9, kMax}, {9, 1}}), KeyType::kInt64, &out);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("outside int64"), std::string::npos);
  // The key is named as the user wrote it, not only by its internal code.
  EXPECT_EQ(st.message().rfind("ops of key " + std::to_string(DecodeInt64Key(9)) +
                                   " (code 9) in one batch add up to 9223372036854775808",
                               0),
            0u)
      << st.message();
  const uint64_t two_and_a_half = EncodeDoubleKey(2.5);
  st = DecodeOrderStatOps(Encode({{two_and_a_half, kMax}, {two_and_a_half, 1}}), KeyType::kDouble,
                          &out);
  EXPECT_EQ(st.message().rfind("ops of key 2.5 (code " + std::to_string(two_and_a_half) + ")", 0),
            0u)
      << st.message();
  EXPECT_EQ(KeyText(KeyType::kDouble, kDoubleNanCode),
            "key NaN (code " + std::to_string(kDoubleNanCode) + ")");
  EXPECT_EQ(KeyText(KeyType::kDouble, kDoubleNegInfCode).substr(0, 14), "key -Infinity ");
  // Not canonical only because of a repeated key: still summed exactly (back inside int64).
  ASSERT_TRUE(DecodeOrderStatOps(Encode({{9, kMax}, {9, 1}, {9, -2}}), KeyType::kInt64, &out).ok());
  EXPECT_EQ(Pairs(out), (std::vector<std::pair<uint64_t, int64_t>>{{9, kMax - 1}}));
  // A zero weight in otherwise sorted ops is dropped.
  ASSERT_TRUE(DecodeOrderStatOps(Encode({{1, 2}, {4, 0}, {7, -1}}), KeyType::kInt64, &out).ok());
  EXPECT_EQ(Pairs(out), (std::vector<std::pair<uint64_t, int64_t>>{{1, 2}, {7, -1}}));
  EXPECT_TRUE(DecodeOrderStatOps(std::string(17, '\0'), KeyType::kInt64, &out).IsInvalidArgument());
}

}  // namespace
}  // namespace cowtree::tree
