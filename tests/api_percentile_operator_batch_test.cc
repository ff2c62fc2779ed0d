// PercentileOperator::Step on large batches (api/percentile_batch.h: the value rows sorted by
// (group, key) with a radix sort from 256 rows on, each group's ops summed per key before the
// commit): the answers equal those of an operator fed the same rows in batches of fewer than
// 256 rows (std::sort path), over keys that vary in every digit (int64 extremes; doubles with
// -0, NaN, infinities) or only in a few (small integers of both signs), with NULL values, NULL
// groups, retractions and duplicate keys; and a key whose weights in one batch add up outside int64
// is InvalidArgument with nothing changed, whatever the order of its rows.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cowtree/cowtree.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

OperatorSpec Spec(std::string prefix) {
  OperatorSpec spec;
  spec.tree_prefix = std::move(prefix);
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending},
                  {0.9, PercentileKind::kDisc, Order::kDescending},
                  {0.0, PercentileKind::kCont, Order::kAscending}};
  return spec;
}

// A row as bytes (NaN == NaN, -0 != +0), for comparing tables.
template <TreeKey K>
std::string Key(const OutputRow<K>& r) {
  std::string k = (r.group.has_value() ? "g:" + *r.group : "NULL") + "|" + std::to_string(r.n);
  for (const auto& v : r.values) {
    k += v.is_null ? "|null"
                   : "|" + std::to_string(std::bit_cast<uint64_t>(v.cont)) + "," +
                         std::to_string(std::bit_cast<uint64_t>(v.disc));
  }
  return k;
}

template <TreeKey K>
std::map<std::string, int64_t> Table(const std::vector<OutputRow<K>>& rows) {
  std::map<std::string, int64_t> t;
  for (const auto& r : rows) t[Key(r)] += 1;
  return t;
}

template <TreeKey K>
void Accumulate(const std::vector<OutputDelta<K>>& deltas, std::map<std::string, int64_t>* t) {
  for (const auto& d : deltas) {
    if (((*t)[Key(d.row)] += d.weight) == 0) t->erase(Key(d.row));
  }
}

int64_t RandomInt(std::mt19937_64& rng, bool plain) {
  switch (plain ? 3 : rng() % 4) {
    case 0:
      return static_cast<int64_t>(rng());  // every digit varies
    case 1:
      return rng() % 2 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    default:
      return static_cast<int64_t>(rng() % 50) - 25;  // duplicates
  }
}

double RandomDouble(std::mt19937_64& rng, bool plain) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  static const double kSpecial[] = {-0.0, 0.0, std::nan(""), kInf, -kInf, 1e-300, -1e300};
  switch (plain ? 3 : rng() % 4) {
    case 0:
      return kSpecial[rng() % std::size(kSpecial)];
    case 1:
      return std::ldexp(static_cast<double>(rng() % 1000) - 500,
                        static_cast<int>(rng() % 200) - 100);
    default:
      return static_cast<double>(rng() % 60) - 20;  // duplicates
  }
}

template <TreeKey K>
bool IsSmallInteger(K v) {
  return std::isfinite(static_cast<double>(v)) && static_cast<double>(v) == std::floor(v) &&
         std::fabs(static_cast<double>(v)) < 100;
}

template <TreeKey K>
void CheckLargeBatchesMatchSmallOnes() {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  auto large = PercentileOperator<K>::Create(store.get(), Spec("large/")).value();
  auto small = PercentileOperator<K>::Create(store.get(), Spec("small/")).value();
  std::mt19937_64 rng(7);
  std::vector<InputDelta<K>> history;
  std::map<std::string, int64_t> table;
  for (int step = 0; step < 6; ++step) {
    std::vector<InputDelta<K>> batch;
    // Odd steps: only small integer values of both signs (the low bits of their key codes are
    // constant within each sign: the radix sort skips them, api/percentile_batch.cc SortOps).
    const bool plain = step % 2 == 1;
    const size_t rows = step == 0 ? 5000 : 300 + rng() % 3000;
    for (size_t i = 0; i < rows; ++i) {
      InputDelta<K> in;
      if (rng() % 40 != 0) in.group = "g" + std::to_string(rng() % (step == 2 ? 3 : 300));
      if (rng() % 25 != 0) {
        if constexpr (std::same_as<K, double>) {
          in.value = RandomDouble(rng, plain);
        } else {
          in.value = RandomInt(rng, plain);
        }
      }
      in.weight = 1 + static_cast<int64_t>(rng() % 3);
      // Retract a row of an earlier batch now and then (never below zero: it was added).
      // (On plain steps only rows with small integer values, so that the batch stays plain.)
      if (!history.empty() && rng() % 5 == 0) {
        const InputDelta<K>& old = history[rng() % history.size()];
        if (!plain || !old.value.has_value() || IsSmallInteger(*old.value)) {
          in = old;
          in.weight = -1;
        }
      }
      batch.push_back(in);
    }
    for (const auto& in : batch) {
      if (in.weight > 0) history.push_back({in.group, in.value, 1});
    }
    auto deltas = large->Step(batch);
    ASSERT_TRUE(deltas.ok()) << deltas.status().ToString();
    Accumulate(*deltas, &table);
    for (size_t from = 0; from < batch.size(); from += 200) {
      const size_t to = std::min(batch.size(), from + 200);
      ASSERT_TRUE(small->Step({batch.begin() + from, batch.begin() + to}).ok());
    }
    const auto answers = large->Answers(store->GetSnapshot()).value();
    EXPECT_EQ(Table(answers), table) << "step " << step;  // the deltas sum to the answers
    EXPECT_EQ(Table(answers), Table(small->Answers(store->GetSnapshot()).value()))
        << "step " << step;
    EXPECT_GT(answers.size(), 2u);
  }
}

TEST(PercentileOperatorBatch, LargeInt64BatchesEqualSmallOnes) {
  CheckLargeBatchesMatchSmallOnes<int64_t>();
}

TEST(PercentileOperatorBatch, LargeDoubleBatchesEqualSmallOnes) {
  CheckLargeBatchesMatchSmallOnes<double>();
}

TEST(PercentileOperatorBatch, WeightsOfOneKeyOutsideInt64AreInvalidArgument) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec("")).value();
  ASSERT_TRUE(op->Step({{"g", 1, 1}}).ok());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const std::vector<InputDelta<int64_t>> over = {{"h", 2, 1}, {"g", 5, kMax}, {"g", 5, 1}};
  for (size_t copies : {1u, 100u}) {  // the std::sort path and the radix path
    std::vector<InputDelta<int64_t>> batch;
    for (size_t i = 0; i < copies; ++i) batch.insert(batch.end(), over.begin(), over.end());
    auto st = op->Step(batch).status();
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_NE(st.message().find("outside int64"), std::string::npos) << st.message();
    const auto answers = op->Answers(store->GetSnapshot()).value();
    ASSERT_EQ(answers.size(), 1u);  // nothing changed: no group h
    EXPECT_EQ(answers[0].n, 1u);
  }
  // The same weights in another order with a -1 that brings the sum back: accepted (the sum is
  // exact, not step by step).
  auto d = op->Step({{"g", 5, kMax}, {"g", 5, 1}, {"g", 5, -1}, {"g", 5, -kMax}, {"g", 5, 1}});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(op->Answers(store->GetSnapshot()).value()[0].n, 2u);
}

}  // namespace
}  // namespace cowtree
