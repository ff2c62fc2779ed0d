// `cowtree ingest` of an input with many new groups (tools/ingest.h "Batches and commits"):
// every tree a batch creates goes in the batch's first commit, so a batch also ends once its
// creations take kBatchCreateBytesMax. Before, 70 000 groups with 1 000-byte names (or ~2 M
// short ones) made a first commit past the log's 64 MiB record limit and nothing was
// committed (adversarial round 17), in memory and with --spill-dir alike. Checked in process
// through the fault-injecting Env (a RAM disk here).
#include <gtest/gtest.h>

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
  // ~16 MiB of creations per batch: 5 batches, each one commit (fewer ops than commit_ops).
  const uint64_t batches = uint64_t{kGroups} * (kNameBytes + kCreateRecordBytes) /
                               kBatchCreateBytesMax + 1;
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
  EXPECT_GE(done.stats.commits, 5u);
  ExpectEveryGroup(&env);
}

}  // namespace
}  // namespace cowtree::tools
