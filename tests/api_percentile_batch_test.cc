// GroupBatch (api/percentile_batch.h): the groups in output order (by name, NULL last), each
// named once whatever its fingerprint neighbours, and every value row of weight != 0 as one op
// of its group's run, sorted by (group, key code) — on the std::sort path (< 256 ops) and on the
// radix path, for key codes that vary in every digit and for the flights' kind (small integers
// of both signs, whose low code bits the radix sort skips); NULL and -0 values as count rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "api/internal.h"
#include "api/percentile_batch.h"
#include "api/percentile_rows.h"

namespace cowtree::percentile_internal {
namespace {

using Group = std::optional<std::string>;

// Names that share sizes and first / last bytes (fingerprints of long names are not exact).
Group RandomGroup(std::mt19937_64& rng) {
  static const std::vector<Group> kNames = {"a",
                                            "b",
                                            "ab",
                                            "ba",
                                            "abc",
                                            "acc",
                                            "abcd",
                                            "abce",
                                            "xbcd",
                                            "abcdefgh",
                                            "abcdefgi",
                                            "0123456789abcdef",
                                            "0123456789abcdeg",
                                            "0123456789abcdef-long-name-x",
                                            "0123456789abcdef-long-name-y",
                                            "0123456789abcdeX-long-name-x",
                                            std::nullopt};
  return kNames[rng() % kNames.size()];
}

template <TreeKey K>
K RandomValue(std::mt19937_64& rng, bool plain) {
  if constexpr (std::same_as<K, double>) {
    if (plain) return static_cast<double>(rng() % 600) - 50;
    switch (rng() % 3) {
      case 0:
        return std::bit_cast<double>(rng());  // any bits (NaN payloads, subnormals, ...)
      case 1:
        return rng() % 2 ? -0.0 : std::numeric_limits<double>::infinity();
      default:
        return static_cast<double>(rng() % 600) - 50;
    }
  } else {
    return plain ? static_cast<int64_t>(rng() % 600) - 50 : static_cast<int64_t>(rng());
  }
}

template <TreeKey K>
void Check(size_t rows, bool plain, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<InputDelta<K>> batch;
  for (size_t i = 0; i < rows; ++i) {
    InputDelta<K> in;
    in.group = RandomGroup(rng);
    if (rng() % 20 != 0) in.value = RandomValue<K>(rng, plain);
    in.weight = static_cast<int64_t>(rng() % 5) - 2;
    batch.push_back(in);
  }
  OperatorSpec spec;
  spec.tree_prefix = "p/";
  GroupedBatch out;
  ASSERT_TRUE(GroupBatch(batch, spec, &out).ok());
  // Groups: distinct, in output order, named after the batch's names.
  std::map<Group, uint32_t, GroupLess> rank_of;
  for (uint32_t r = 0; r < out.groups.size(); ++r) {
    const Group& g = *out.groups[r].group;
    EXPECT_TRUE(rank_of.emplace(g, r).second) << "a group twice";
    EXPECT_EQ(out.groups[r].tree_name, TreeName(spec, g));
    if (r > 0) {
      EXPECT_TRUE(GroupLess()(*out.groups[r - 1].group, g));
    }
  }
  // Ops: sorted by (rank, code), each group's run where its range says, the batch's multiset.
  std::vector<std::tuple<uint32_t, uint64_t, int64_t>> want, got;
  std::vector<std::tuple<uint32_t, bool, int64_t>> want_counts, got_counts;
  for (const InputDelta<K>& in : batch) {
    ASSERT_EQ(rank_of.count(in.group), 1u);
    const uint32_t r = rank_of[in.group];
    if (!in.value.has_value()) {
      want_counts.emplace_back(r, true, in.weight);
      continue;
    }
    if (in.weight != 0) want.emplace_back(r, api_internal::EncodeKey<K>(*in.value), in.weight);
    if (IsNegativeZero(*in.value)) want_counts.emplace_back(r, false, in.weight);
  }
  for (size_t i = 0; i < out.ops.size(); ++i) {
    const GroupOp& op = out.ops[i];
    if (i > 0) {
      const GroupOp& prev = out.ops[i - 1];
      ASSERT_TRUE(std::tie(prev.rank, prev.code) <= std::tie(op.rank, op.code))
          << "ops " << i - 1 << ", " << i << " out of order (rows " << rows << ", plain " << plain
          << ")";
    }
    ASSERT_LT(op.rank, out.groups.size());
    EXPECT_GE(i, out.groups[op.rank].ops_begin);
    EXPECT_LT(i, out.groups[op.rank].ops_end);
    got.emplace_back(op.rank, op.code, op.weight);
  }
  for (const CountRow& c : out.count_rows) got_counts.emplace_back(c.rank, c.null_value, c.weight);
  EXPECT_EQ(got_counts, want_counts);  // batch order
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

TEST(PercentileBatch, OpsSortedByGroupAndKeyOnBothPaths) {
  for (size_t rows : {0u, 1u, 50u, 300u, 5000u}) {
    for (bool plain : {false, true}) {
      Check<double>(rows, plain, rows * 2 + plain);
      Check<int64_t>(rows, plain, rows * 2 + plain + 1);
    }
  }
}

TEST(PercentileBatch, BadGroupNamesAreInvalidArgument) {
  OperatorSpec spec;
  GroupedBatch out;
  const std::vector<InputDelta<int64_t>> reserved = {{"ok", 1, 1}, {"__cowtree_x", 1, 1}};
  EXPECT_TRUE(GroupBatch(reserved, spec, &out).IsInvalidArgument());
  // The empty string is a group (not NULL), whose tree name is reserved + prefix: a prefix
  // that leaves no room for it is refused.
  const std::vector<InputDelta<int64_t>> empty = {{"", 1, 1}};
  EXPECT_TRUE(GroupBatch(empty, spec, &out).ok());
  OperatorSpec long_prefix;
  long_prefix.tree_prefix = std::string(1020, 'p');
  EXPECT_TRUE(GroupBatch(empty, long_prefix, &out).IsInvalidArgument());
  const std::vector<InputDelta<int64_t>> too_long = {{std::string(2000, 'g'), 1, 1}};
  EXPECT_TRUE(GroupBatch(too_long, spec, &out).IsInvalidArgument());
}

}  // namespace
}  // namespace cowtree::percentile_internal
