// `cowtree ingest` of an input with many new groups (tools/ingest.h "Batches and commits"):
// every tree a batch creates goes in the batch's first commit, so a batch also ends once its
// creations take kBatchCreateBytesMax. Before, 70 000 groups with 1 000-byte names (or ~2 M
// short ones) made a first commit past the log's 64 MiB record limit and nothing was
// committed (adversarial round 17), in memory and with --spill-dir alike. Checked in process
// through the fault-injecting Env (a RAM disk here).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "persistence/log_format.h"
#include "tests/ingest_batches_fixture.h"
#include "tools/ingest.h"

namespace cowtree::tools {
namespace {

using namespace ingest_test;  // NOLINT(build/namespaces): the fixture and its helpers

constexpr int kGroups = 70000;
constexpr size_t kNameBytes = 1000;

// Group i of kGroups: a name of kNameBytes bytes, one row holding value i.
std::string GroupName(int i) {
  std::string name = std::to_string(i);
  name.resize(kNameBytes, 'x');
  return name;
}

class IngestManyGroupsTest : public IngestBatchesTest {
 protected:
  void SetUp() override {
    IngestBatchesTest::SetUp();
    std::ostringstream csv;
    csv << "grp,val,w\n";
    for (int i = 0; i < kGroups; ++i) csv << GroupName(i) << ',' << i << ",1\n";
    Write(csv.str());
  }
  // Every group holds its one value.
  void ExpectEveryGroup(FaultInjectionEnv* env) {
    auto store = OpenExisting(env, "/c/db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const Snapshot snap = (*store)->GetSnapshot();
    auto trees = snap.ListTrees();
    ASSERT_TRUE(trees.ok()) << trees.status().ToString();
    EXPECT_EQ(trees->size(), static_cast<size_t>(kGroups) + 1);  // and the resume marker
    for (int i = 0; i < kGroups; i += 997) {
      auto reader = snap.Tree<int64_t>(GroupName(i));
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      EXPECT_EQ(reader->entry_count(), 1u);
      EXPECT_EQ(reader->select(0).value(), std::optional<int64_t>(i));
    }
    EXPECT_TRUE((*store)->Close().ok());
  }
};

TEST_F(IngestManyGroupsTest, CreationsPastTheLogRecordLimitEndBatchesInMemory) {
  static_assert(uint64_t{kGroups} * kNameBytes > kLogRecordPayloadMax);
  FaultInjectionEnv env;
  IngestOptions o = Batched(&env, 0, 100000);
  o.durability = Durability::kBalanced;
  o.store.checkpoint_log_bytes = 0;
  o.store.cache_bytes = 8 << 20;  // a batch sized by memory: ~4 MiB of ops, 70 000 rows fit
  const IngestOutcome done = RunIngestReport(o, out_);
  ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  EXPECT_EQ(done.stats.trees_created, static_cast<uint64_t>(kGroups));
  EXPECT_EQ(done.stats.rows, static_cast<uint64_t>(kGroups));
  // A batch ends with the creation that reaches kBatchCreateBytesMax; each batch is one commit
  // (fewer ops than commit_ops).
  const uint64_t per_group = kNameBytes + kCreateRecordBytes;
  const uint64_t groups_per_batch = (kBatchCreateBytesMax + per_group - 1) / per_group;
  const uint64_t batches = (kGroups + groups_per_batch - 1) / groups_per_batch;
  EXPECT_EQ(done.stats.commits, batches);
  ExpectEveryGroup(&env);
}

TEST_F(IngestManyGroupsTest, CreationsPastTheLogRecordLimitEndSpilledBatches) {
  FaultInjectionEnv env;
  IngestOptions o = Batched(&env, 0, 10000);
  o.durability = Durability::kBalanced;
  o.store.checkpoint_log_bytes = 0;
  o.spill_dir = "/c/spill";  // the whole input would be one batch
  const IngestOutcome done = RunIngestReport(o, out_);
  ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
  EXPECT_EQ(done.stats.trees_created, static_cast<uint64_t>(kGroups));
  EXPECT_GE(done.stats.commits, 500u);
  ExpectEveryGroup(&env);
}

// Under a budget the table of groups seen (a handle each, ~280 B) is emptied at a batch's end
// once it passes one group per 4 KiB of the budget; a group seen again, or one a store had
// before this run, is looked up in the store by name (its key type included). Before, the
// table kept every group of the run (2 M groups: ~550 MB under a 16 MiB budget) and a list of
// every tree of the store from open.
TEST(IngestGroupTable, GroupsSeenAgainAfterTheTableIsEmptiedAreLookedUp) {
  testutil::TempDir tmp;
  const std::string csv_path = tmp.path() + "/in.csv";
  constexpr int kTableGroups = 5000;
  {
    std::ostringstream csv;
    csv << "grp,val\n";
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = 0; i < kTableGroups; ++i) {
        if (i % 10 == 0) {
          csv << "d" << i << ',' << (pass == 0 ? "0.5" : "7") << '\n';  // a double group
        } else {
          csv << "g" << i << ',' << i + pass << '\n';
        }
      }
    }
    std::ofstream(csv_path) << csv.str();
  }
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir("/c").ok());
  for (int run = 0; run < 2; ++run) {  // the second run finds every group in the store
    IngestOptions o;
    o.db = "/c/db";
    o.input = csv_path;
    o.group_column = "grp";
    o.value_column = "val";
    o.batch_ms = 0;
    o.batch_rows = 500;
    o.store.env = &env;
    o.store.background_thread = false;
    o.store.cache_bytes = 4 << 20;  // at most 1 024 groups kept between batches
    std::ostringstream out;
    const IngestOutcome done = RunIngestReport(o, out);
    ASSERT_EQ(done.end, IngestEnd::kOk) << done.status.ToString();
    EXPECT_EQ(done.stats.trees_created, run == 0 ? uint64_t{kTableGroups} : 0u);
    EXPECT_GE(done.stats.group_table_clears, 3u);
  }
  auto store = OpenExisting(&env, "/c/db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Snapshot snap = (*store)->GetSnapshot();
  for (int i = 0; i < kTableGroups; i += 7) {
    if (i % 10 == 0) {
      auto d = snap.Tree<double>("d" + std::to_string(i));
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      EXPECT_EQ(d->entry_count(), 2u);  // 0.5 and 7, twice each
      EXPECT_EQ(d->weight(7.0).value(), 2);
    } else {
      auto g = snap.Tree<int64_t>("g" + std::to_string(i));
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      EXPECT_EQ(g->weight(i).value(), 2);
      EXPECT_EQ(g->weight(i + 1).value(), 2);
    }
  }
  EXPECT_TRUE((*store)->Close().ok());
}

}  // namespace
}  // namespace cowtree::tools
