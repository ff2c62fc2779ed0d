// PercentileOperator (cowtree/percentile_operator.h) against a model: after every Step, the
// sum of all output deltas equals Answers() equals PostgreSQL's formulas on the model's
// multisets; unchanged groups emit nothing; and after a crash at any I/O of a run (fault-
// injecting Env, strict durability) the reopened operator's Answers equal the model of the
// acknowledged steps (plus the one in doubt, if its commit reached the disk).
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
#include "persistence/commit_record.h"  // kTreeNameBytesMax
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

using Group = std::optional<std::string>;

OperatorSpec Spec() {
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending},
                  {0.9, PercentileKind::kDisc, Order::kDescending},
                  {0.0, PercentileKind::kCont, Order::kAscending},
                  {1.0, PercentileKind::kDisc, Order::kAscending}};
  return spec;
}

// The input as multisets: per group, value -> count, and the count of NULL values.
struct Model {
  std::map<Group, std::map<int64_t, int64_t>> values;
  std::map<Group, int64_t> nulls;

  void Apply(const std::vector<InputDelta<int64_t>>& batch) {
    for (const auto& in : batch) {
      if (in.value.has_value()) {
        if ((values[in.group][*in.value] += in.weight) == 0) values[in.group].erase(*in.value);
      } else {
        nulls[in.group] += in.weight;
      }
    }
  }

  // PostgreSQL's percentile_cont / percentile_disc on the sorted items.
  std::vector<OutputRow<int64_t>> Answers(const OperatorSpec& spec) const {
    std::map<Group, bool> groups;
    for (const auto& [g, vs] : values) groups[g] = true;
    for (const auto& [g, n] : nulls) groups[g] = true;
    std::vector<OutputRow<int64_t>> rows;
    for (const auto& [g, unused] : groups) {
      std::vector<int64_t> items;
      if (auto it = values.find(g); it != values.end()) {
        for (const auto& [v, c] : it->second) items.insert(items.end(), std::max<int64_t>(c, 0), v);
      }
      const auto nit = nulls.find(g);
      if (items.empty() && (nit == nulls.end() || nit->second <= 0)) continue;
      OutputRow<int64_t> row;
      row.group = g;
      row.n = items.size();
      row.values.resize(spec.outputs.size());
      for (size_t i = 0; i < spec.outputs.size() && !items.empty(); ++i) {
        const PercentileOutput& o = spec.outputs[i];
        std::vector<int64_t> sorted = items;
        if (o.order == Order::kDescending) std::reverse(sorted.begin(), sorted.end());
        const double n = static_cast<double>(sorted.size());
        PercentileValue<int64_t>& v = row.values[i];
        v.is_null = false;
        if (o.kind == PercentileKind::kDisc) {
          const double pos = std::ceil(o.fraction * n) - 1;
          v.disc = sorted[pos < 0 ? 0 : static_cast<size_t>(pos)];
        } else {
          const double pos = o.fraction * (n - 1);
          const auto lo = static_cast<size_t>(std::floor(pos));
          const auto hi = static_cast<size_t>(std::ceil(pos));
          const double first = static_cast<double>(sorted[lo]);
          v.cont = lo == hi ? first
                            : first + (pos - static_cast<double>(lo)) *
                                          (static_cast<double>(sorted[hi]) - first);
        }
      }
      rows.push_back(std::move(row));
    }
    // Output order: the NULL group last.
    std::stable_partition(rows.begin(), rows.end(),
                          [](const OutputRow<int64_t>& r) { return r.group.has_value(); });
    return rows;
  }
};

std::string Key(const OutputRow<int64_t>& r) {
  std::string k = (r.group.has_value() ? "g:" + *r.group : "NULL") + "|" + std::to_string(r.n);
  for (const auto& v : r.values) {
    k += v.is_null
             ? "|null"
             : "|" + std::to_string(std::bit_cast<uint64_t>(v.cont)) + "," + std::to_string(v.disc);
  }
  return k;
}

// Sums deltas into a table (row key -> weight).
void Accumulate(const std::vector<OutputDelta<int64_t>>& deltas,
                std::map<std::string, int64_t>* t) {
  for (const auto& d : deltas) {
    if (((*t)[Key(d.row)] += d.weight) == 0) t->erase(Key(d.row));
  }
}

std::map<std::string, int64_t> AsTable(const std::vector<OutputRow<int64_t>>& rows) {
  std::map<std::string, int64_t> t;
  for (const auto& r : rows) t[Key(r)] += 1;
  return t;
}

std::vector<InputDelta<int64_t>> RandomBatch(std::mt19937_64& rng, const Model& model) {
  // "": the empty string is a group of its own, not NULL (SQL).
  static const std::vector<Group> kGroups = {"a", "b", "", "c", "d,e", std::nullopt};
  std::vector<InputDelta<int64_t>> batch;
  Model m = model;
  const int size = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < size; ++i) {
    InputDelta<int64_t> in;
    in.group = kGroups[rng() % kGroups.size()];
    if (rng() % 8 != 0) in.value = static_cast<int64_t>(rng() % 20) - 5;
    in.weight = 1 + static_cast<int64_t>(rng() % 3);
    // Retract (never below zero) about a third of the time.
    if (rng() % 3 == 0) {
      const int64_t have =
          in.value.has_value()
              ? (m.values[in.group].count(*in.value) ? m.values[in.group][*in.value] : 0)
              : m.nulls[in.group];
      if (have > 0) in.weight = -std::min<int64_t>(have, in.weight);
    }
    m.Apply({in});
    batch.push_back(in);
  }
  return batch;
}

TEST(PercentileOperator, DeltasSumToAnswersThatEqualTheModel) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
  Model model;
  std::map<std::string, int64_t> table;
  std::mt19937_64 rng(42);
  for (int step = 0; step < 300; ++step) {
    const auto batch = RandomBatch(rng, model);
    model.Apply(batch);
    auto deltas = op->Step(batch);
    ASSERT_TRUE(deltas.ok()) << deltas.status().ToString();
    for (size_t i = 0; i < deltas->size(); ++i) {
      const auto& d = (*deltas)[i];
      ASSERT_TRUE(d.weight == 1 || d.weight == -1);
      // A retraction is of a row the table holds; -1 comes before +1 of its group.
      if (d.weight == -1) ASSERT_EQ(table.count(Key(d.row)), 1u) << "step " << step;
      if (i > 0 && (*deltas)[i - 1].row.group == d.row.group) {
        EXPECT_EQ((*deltas)[i - 1].weight, -1);
        EXPECT_EQ(d.weight, 1);
        EXPECT_NE(Key((*deltas)[i - 1].row), Key(d.row));  // unchanged rows emit nothing
      }
    }
    Accumulate(*deltas, &table);
    auto answers = op->Answers(store->GetSnapshot());
    ASSERT_TRUE(answers.ok());
    ASSERT_EQ(AsTable(*answers), table) << "step " << step;
    ASSERT_EQ(*answers, model.Answers(Spec())) << "step " << step;
  }
  ASSERT_TRUE(store->Close().ok());
  // Restore = reopen the store: the operator answers where it stopped.
  auto reopened = Store::Open(dir.path(), Options()).value();
  auto again = PercentileOperator<int64_t>::Create(reopened.get(), Spec()).value();
  EXPECT_EQ(AsTable(again->Answers(reopened->GetSnapshot()).value()), table);
}

TEST(PercentileOperator, NewGroupInsertsOnlyEmptiedGroupRetractsOnlyUnchangedEmitsNothing) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kDisc, Order::kAscending}};
  auto op = PercentileOperator<int64_t>::Create(store.get(), spec).value();
  auto d = op->Step({{"x", 5, 1}, {"y", 1, 1}}).value();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].weight, 1);
  EXPECT_EQ(d[0].row.group, Group("x"));
  // x: adding then removing 7 leaves its row; y: its only item removed.
  d = op->Step({{"x", 7, 1}, {"x", 7, -1}, {"y", 1, -1}}).value();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].weight, -1);
  EXPECT_EQ(d[0].row.group, Group("y"));
  // A NULL value keeps a group alive with NULL percentiles (SQL).
  d = op->Step({{"z", std::nullopt, 1}}).value();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].row.n, 0u);
  EXPECT_TRUE(d[0].row.values[0].is_null);
}

// -0 (docs/sql_semantics.md): answers that land on a -0 row are -0, as PostgreSQL prints them
// (its answers for {-0, -0, -0}: cont 0.5 = -0, cont 0.25 = 0, disc 0.5 desc = -0); the
// deltas and Answers() agree bit for bit, across a retraction, and with what `cowtree query`
// would read (the same count tree with tree_prefix "").
TEST(PercentileOperator, NegativeZeroAnswersKeepTheirSign) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending},
                  {0.25, PercentileKind::kCont, Order::kAscending},
                  {0.5, PercentileKind::kDisc, Order::kDescending}};
  auto op = PercentileOperator<double>::Create(store.get(), spec).value();
  const auto sign = [](const PercentileValue<double>& v, bool disc) {
    return std::signbit(disc ? v.disc : v.cont);
  };
  auto d = op->Step({{"z", -0.0, 3}, {"k", -1.0, 1}, {"k", -0.0, 1}, {"k", 1.0, 1}}).value();
  ASSERT_EQ(d.size(), 2u);
  const OutputRow<double>& k = d[0].row;  // k: -1, -0, 1
  const OutputRow<double>& z = d[1].row;  // z: -0 x 3
  ASSERT_EQ(z.group, Group("z"));
  EXPECT_EQ(z.values[0].cont, 0.0);
  EXPECT_TRUE(sign(z.values[0], false));   // -0
  EXPECT_FALSE(sign(z.values[1], false));  // -0 + 0.5 * (-0 - -0) = +0
  EXPECT_TRUE(sign(z.values[2], true));
  EXPECT_TRUE(sign(k.values[0], false));  // the middle row, -0
  EXPECT_EQ(k.values[1].cont, -0.5);
  EXPECT_TRUE(sign(k.values[2], true));
  // One +0 joins z, one -0 leaves k: z's disc answer is still a -0 row (the -0 rows come
  // first among the zeros ascending, last descending); the medians are interpolated: +0.
  d = op->Step({{"z", 0.0, 1}, {"k", -0.0, -1}}).value();
  const auto answers = op->Answers(store->GetSnapshot()).value();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].values[0].cont, 0.0);  // k: -1, 1
  EXPECT_FALSE(sign(answers[0].values[0], false));
  EXPECT_EQ(answers[1].n, 4u);  // z: -0, -0, -0, +0
  EXPECT_FALSE(sign(answers[1].values[0], false)) << "rows 1 and 2: -0 + 0.5 * 0 = +0";
  EXPECT_TRUE(sign(answers[1].values[2], true)) << "disc 0.5 desc: row 2 of +0, -0, -0, -0";
  for (const OutputDelta<double>& delta : d) {
    if (delta.weight != 1) continue;
    const OutputRow<double>& want = delta.row.group == Group("k") ? answers[0] : answers[1];
    for (size_t i = 0; i < want.values.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint64_t>(delta.row.values[i].cont),
                std::bit_cast<uint64_t>(want.values[i].cont));
      EXPECT_EQ(std::bit_cast<uint64_t>(delta.row.values[i].disc),
                std::bit_cast<uint64_t>(want.values[i].disc));
    }
  }
  // The CLI's reader sees the same count: the -0 answer through TreeReader.
  auto counts = store->GetSnapshot().Tree<int64_t>("__cowtree_negative_zeros__");
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->count(), 3u);  // z's three -0 rows; k's one came and went
}

// The empty string is a group, not NULL (PostgreSQL: '' IS NOT NULL): its own row, sorted
// before every other name, with any tree_prefix — the prefix alone is not its tree, so two
// operators whose prefixes differ by a group name ("p" and "p" + "x"...) never share one.
TEST(PercentileOperator, TheEmptyStringIsAGroupNotNull) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  for (const std::string prefix : {"", "p"}) {
    OperatorSpec spec;
    spec.outputs = {{0.5, PercentileKind::kDisc, Order::kAscending}};
    spec.tree_prefix = prefix;
    auto op = PercentileOperator<int64_t>::Create(store.get(), spec).value();
    auto d = op->Step({{"", 5, 1}, {std::nullopt, 7, 1}, {"a", 1, 1}, {"", 6, 2}}).value();
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].row.group, Group(""));
    EXPECT_EQ(d[0].row.n, 3u);
    EXPECT_EQ(d[0].row.values[0].disc, 6);
    EXPECT_EQ(d[1].row.group, Group("a"));
    EXPECT_EQ(d[2].row.group, std::nullopt);
    EXPECT_EQ(d[2].row.values[0].disc, 7);
    const auto answers = op->Answers(store->GetSnapshot()).value();
    ASSERT_EQ(answers.size(), 3u);
    EXPECT_EQ(answers[0].group, Group(""));
    EXPECT_EQ(answers[2].group, std::nullopt);
  }
}

// SQL has one NaN: a NaN answer is the same value whether it came from NaN items or from
// -Infinity + Infinity (which x86 makes a negative NaN), so a row whose NaN answer did not
// change emits nothing, and rows compare equal to themselves; -0 and +0 answers differ (they
// print differently). Found by an adversarial run: Step emitted -1/+1 for an unchanged row.
TEST(PercentileOperator, ANanAnswerIsOneValueAndMinusZeroIsAChange) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending}};
  auto op = PercentileOperator<double>::Create(store.get(), spec).value();
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto d = op->Step({{"g", nan, 2}}).value();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(std::isnan(d[0].row.values[0].cont));
  EXPECT_EQ(d[0].row, d[0].row);
  // Two NaN items become -Infinity and Infinity: n = 2 and the median is NaN in both.
  d = op->Step({{"g", nan, -2}, {"g", -inf, 1}, {"g", inf, 1}}).value();
  EXPECT_TRUE(d.empty()) << d.size() << " deltas for an unchanged row";
  const auto answers = op->Answers(store->GetSnapshot()).value();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(std::bit_cast<uint64_t>(answers[0].values[0].cont),
            std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN()));
  // A median that goes from -0 to +0 is a change: PostgreSQL prints -0, then 0.
  d = op->Step({{"z", -0.0, 1}}).value();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(std::signbit(d[0].row.values[0].cont));
  d = op->Step({{"z", -0.0, -1}, {"z", 0.0, 1}}).value();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(std::signbit(d[0].row.values[0].cont));
  EXPECT_FALSE(std::signbit(d[1].row.values[0].cont));
}

// A zero retracted as +0 while only -0 rows are left deletes one of them (PostgreSQL deletes an
// equal row): the -0 count comes down with the zeros, so +0 rows added later answer +0 (they
// answered -0 forever: found by an adversarial run).
TEST(PercentileOperator, TheNegativeZeroCountFollowsTheZerosDown) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  OperatorSpec spec;
  spec.outputs = {{0.5, PercentileKind::kCont, Order::kAscending},
                  {0.5, PercentileKind::kDisc, Order::kAscending}};
  auto op = PercentileOperator<double>::Create(store.get(), spec).value();
  const auto last_row = [&](std::vector<InputDelta<double>> batch) {
    auto d = op->Step(batch).value();
    return d.empty() || d.back().weight != 1 ? std::optional<OutputRow<double>>()
                                             : std::optional<OutputRow<double>>(d.back().row);
  };
  ASSERT_TRUE(std::signbit(last_row({{"y", -0.0, 1}})->values[0].cont));
  EXPECT_FALSE(last_row({{"y", 0.0, -1}}).has_value());  // the group is gone
  auto row = last_row({{"y", 0.0, 1}});
  ASSERT_TRUE(row.has_value());
  EXPECT_FALSE(std::signbit(row->values[0].cont));
  EXPECT_FALSE(std::signbit(row->values[1].disc));
  // -0 twice and +0 once; two zeros retracted as +0: one -0 is left (the +0 goes first).
  row = last_row({{"z", -0.0, 2}, {"z", 0.0, 1}});
  ASSERT_TRUE(row.has_value() && std::signbit(row->values[0].cont));
  row = last_row({{"z", 0.0, -2}});
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->n, 1u);
  EXPECT_TRUE(std::signbit(row->values[1].disc));
  row = last_row({{"z", 0.0, 2}});  // +0 twice: the median is a +0 row (-0, +0, +0)
  ASSERT_TRUE(row.has_value());
  EXPECT_FALSE(std::signbit(row->values[1].disc));
  // The count tree says so: y's count went to 0, z's to 1.
  auto counts = store->GetSnapshot().Tree<int64_t>("__cowtree_negative_zeros__").value();
  EXPECT_EQ(counts.count(), 1u);
  // The reverse: a -0 retraction with only +0 rows left removes a +0 row; the count stays at
  // 0 and the next -0 row answers -0 (it went to -1 and hid that row). Also when the -0 out
  // and a +0 in cancel within one batch.
  ASSERT_TRUE(last_row({{"a", 0.0, 1}}).has_value());
  EXPECT_FALSE(last_row({{"a", -0.0, -1}}).has_value());
  row = last_row({{"a", -0.0, 1}});
  ASSERT_TRUE(row.has_value());
  EXPECT_TRUE(std::signbit(row->values[0].cont));
  EXPECT_TRUE(std::signbit(row->values[1].disc));
  ASSERT_TRUE(last_row({{"b", 0.0, 1}}).has_value());
  EXPECT_TRUE(op->Step({{"b", -0.0, -1}, {"b", 0.0, 1}}).value().empty());  // still {+0}
  row = last_row({{"b", 0.0, -1}, {"b", -0.0, 1}});
  ASSERT_TRUE(row.has_value());
  EXPECT_TRUE(std::signbit(row->values[1].disc));
}

TEST(PercentileOperator, BadSpecAndBadGroupsAreInvalidArgument) {
  testutil::TempDir dir;
  auto store = Store::Open(dir.path(), Options()).value();
  EXPECT_TRUE(PercentileOperator<int64_t>::Create(store.get(), OperatorSpec{})
                  .status()
                  .IsInvalidArgument());
  OperatorSpec bad;
  bad.outputs = {{1.5}};
  EXPECT_TRUE(PercentileOperator<int64_t>::Create(store.get(), bad).status().IsInvalidArgument());
  // Found by an adversarial run: a fraction just past 1 was printed as "1.000000"; enum values
  // outside the enums and a prefix too long for the operator's tree names were accepted (every
  // Step then failed, blaming a 1-byte group).
  bad.outputs = {{1.0000000001}};
  auto st = PercentileOperator<int64_t>::Create(store.get(), bad).status();
  EXPECT_NE(st.message().find("percentile value 1.0000000001 is not between 0 and 1"),
            std::string::npos)
      << st.message();
  bad.outputs = {{0.5, static_cast<PercentileKind>(9)}};
  EXPECT_TRUE(PercentileOperator<int64_t>::Create(store.get(), bad).status().IsInvalidArgument());
  bad.outputs = {{0.5, PercentileKind::kCont, static_cast<Order>(9)}};
  EXPECT_TRUE(PercentileOperator<int64_t>::Create(store.get(), bad).status().IsInvalidArgument());
  bad.outputs = {{0.5}};
  bad.tree_prefix = std::string(2000, 'p');
  st = PercentileOperator<int64_t>::Create(store.get(), bad).status();
  EXPECT_NE(st.message().find("tree_prefix of 2000 bytes is too long"), std::string::npos)
      << st.message();
  auto op = PercentileOperator<int64_t>::Create(store.get(), Spec()).value();
  EXPECT_TRUE(op->Step({{"__cowtree_x", 1, 1}}).status().IsInvalidArgument());
  // A group whose tree has the other key type.
  auto dop = PercentileOperator<double>::Create(store.get(), Spec()).value();
  ASSERT_TRUE(dop->Step({{"g", 1.5, 1}}).ok());
  EXPECT_TRUE(op->Step({{"g", 1, 1}}).status().IsInvalidArgument());
  EXPECT_EQ(dop->Answers(store->GetSnapshot())->size(), 1u);  // nothing changed
  // Answers of an operator of the other key type is refused too, as Step (it returned OK and
  // no rows, found by an adversarial run).
  const auto wrong_type = op->Answers(store->GetSnapshot());
  EXPECT_TRUE(wrong_type.status().IsInvalidArgument()) << wrong_type.status().ToString();
  // The longest prefix leaves room for every reserved tree name (the empty string's group's
  // included); a group name past the limit is refused by Step.
  OperatorSpec long_prefix = Spec();
  long_prefix.tree_prefix = std::string(kTreeNameBytesMax - 26, 'p');
  auto lop = PercentileOperator<int64_t>::Create(store.get(), long_prefix).value();
  EXPECT_TRUE(lop->Step({{"", 1, 1}}).ok());
  EXPECT_TRUE(lop->Step({{std::string(26, 'g'), 1, 1}}).ok());
  EXPECT_TRUE(lop->Step({{std::string(27, 'g'), 1, 1}}).status().IsInvalidArgument());
  long_prefix.tree_prefix.push_back('p');
  EXPECT_TRUE(
      PercentileOperator<int64_t>::Create(store.get(), long_prefix).status().IsInvalidArgument());
}

// A crash at every k-th I/O of a run of strict Steps: after reopening, Answers equal the model
// of the acknowledged steps, or of those plus the failed step (its commit may have landed).
TEST(PercentileOperator, CrashAtAnyIoResumesAtTheLastAcknowledgedStep) {
  int crashed_in_a_step = 0;
  // (Stride 7: inline small trees make checkpoints write few objects, so a run has fewer I/Os.)
  for (uint64_t k = 5; k < 400; k += 7) {
    testutil::FaultInjectionEnv env;
    ASSERT_TRUE(env.CreateDir("/db").ok());
    ASSERT_TRUE(env.SyncDir("/").ok());
    Options o;
    o.env = &env;
    o.durability = Durability::kStrict;
    o.background_thread = false;
    o.checkpoint_log_bytes = 4096;  // checkpoints inside the run, on Close at the latest
    Model acked;
    std::optional<Model> in_doubt;
    {
      auto store = Store::Open("/db", o);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto op = PercentileOperator<int64_t>::Create(store->get(), Spec()).value();
      env.CrashAtOp(env.op_count() + k);
      std::mt19937_64 rng(k);
      for (int step = 0; step < 30; ++step) {
        const auto batch = RandomBatch(rng, acked);
        auto d = op->Step(batch);
        if (!d.ok()) {
          in_doubt = acked;
          in_doubt->Apply(batch);
          ++crashed_in_a_step;
          break;
        }
        acked.Apply(batch);
        if (step % 7 == 6) (void)(*store)->Checkpoint();
      }
      (void)(*store)->Close();
    }
    env.SimulateCrash(testutil::CrashModel::kDropUnsynced, k);
    auto store = Store::Open("/db", o);
    ASSERT_TRUE(store.ok()) << "k=" << k << ": " << store.status().ToString();
    auto op = PercentileOperator<int64_t>::Create(store->get(), Spec()).value();
    const auto answers = op->Answers((*store)->GetSnapshot()).value();
    const bool matches_acked = answers == acked.Answers(Spec());
    const bool matches_doubt = in_doubt.has_value() && answers == in_doubt->Answers(Spec());
    EXPECT_TRUE(matches_acked || matches_doubt) << "k=" << k;
  }
  EXPECT_GT(crashed_in_a_step, 5);  // the crash points fell inside the runs
}

}  // namespace
}  // namespace cowtree
