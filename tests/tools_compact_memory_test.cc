// `cowtree compact --cache-mib N` through the real binary (COWTREE_BINARY): the memory of the
// open before the compaction. One test per binary: the peak is read with
// getrusage(RUSAGE_CHILDREN), which covers every child this process has waited for (and, for
// a child exec'd from it, this process's own RSS high-water mark: kept small here).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "recovery/open.h"
#include "testutil/command.h"
#include "testutil/forked_child.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree {
namespace {

using testutil::TempDir;

testutil::CommandResult RunCowtree(const std::string& args, const TempDir& tmp) {
  return testutil::RunCommand(COWTREE_BINARY, args, tmp.path());
}

// `compact --cache-mib N` opens the store under the budget, as every command that opens one:
// a store left by a writer killed under the same budget (here 8 MiB, 300 000 random keys in commits
// of 1000, then one of 500, no checkpoint at its close) is reopened, its redo replayed, compacted
// and closed within the budget plus the documented constant (docs/memory_budget.md "The constant":
// 24 MiB). The redo's leaves are dirty until the first checkpoint, so the budget of the writer
// bounds them (its commits stalled into checkpoints as the budget filled; its last commit is
// small enough to leave its redo): a store written
// without a budget replays as much as its log holds (docs/memory_budget.md "Reopen after a
// crash").
TEST(CompactMemory, TheReplayAtOpenStaysWithinCacheMib) {
  TempDir tmp;
  const std::string db = tmp.path() + "/db";
  constexpr int kKeys = 300'000;
  constexpr int kKeysPerCommit = 1000;
  constexpr int kLastCommitKeys = 500;
  const int64_t expected_sum = kKeys + kLastCommitKeys;
  // Written in a forked child, so that this process stays small: the command's peak is read
  // as this process's RUSAGE_CHILDREN, and a child exec'd from a process inherits that
  // process's RSS high-water mark (exec_mmap), so this process's own peak is part of it.
  struct WriteReport {
    bool ok;
  };
  WriteReport written{};
  ASSERT_TRUE(testutil::RunInForkedChild(
      [&](WriteReport* out) {
        RuntimeOptions o;
        o.cache_bytes = 8 << 20;
        o.checkpoint_on_close = false;
        auto rt = recovery::Open(db, o);
        if (!rt.ok()) return;
        std::mt19937_64 rng(17);
        TreeId id = 0;
        for (int done = 0; done < kKeys + kLastCommitKeys; done += kKeysPerCommit) {
          RuntimeWriteBatch batch(rt->get());
          if (id == 0) {
            id = batch.CreateTree("g", tree::kOrderStatTreeTypeId,
                                  tree::OrderStatTreeParams(tree::KeyType::kInt64));
          }
          for (int i = 0; i < (done < kKeys ? kKeysPerCommit : kLastCommitKeys); ++i) {
            tree::AppendOrderStatOp(batch.MutableOps(id), tree::EncodeInt64Key(int64_t(rng() >> 1)),
                                    1);
          }
          if (!(*rt)->Commit(batch).ok()) return;
        }
        out->ok = (*rt)->Close().ok();
      },
      &written));
  ASSERT_TRUE(written.ok);
  recovery::OpenReport report;
  {
    RuntimeOptions o;
    o.read_only = true;
    o.create_if_missing = false;
    ASSERT_TRUE(recovery::Open(db, o, &report).ok());
  }
  ASSERT_GT(report.commits_replayed, 0u) << "the store must hold redo to replay";
  const testutil::CommandResult r = RunCowtree("compact --cache-mib 8 --db " + db, tmp);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  std::printf("peak RSS of compact --cache-mib 8 replaying %llu commits: %.1f MiB\n",
              static_cast<unsigned long long>(report.commits_replayed), usage.ru_maxrss / 1024.0);
  EXPECT_LE(static_cast<uint64_t>(usage.ru_maxrss), (8u + 24u) * 1024u);
  RuntimeOptions ro;
  ro.read_only = true;
  ro.create_if_missing = false;
  auto rt = recovery::Open(db, ro);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  RuntimeSnapshot snap = (*rt)->GetSnapshot();
  auto info = (*rt)->FindTree("g", snap);
  ASSERT_TRUE(info.ok());
  int64_t sum = 0;
  ASSERT_TRUE(tree::ForEach(*tree::AsOrderStatTree(info->tree.get())->VersionAt(snap.epoch()), 0,
                            UINT64_MAX,
                            [&](uint64_t, int64_t w) {
                              sum += w;
                              return true;
                            })
                  .ok());
  EXPECT_EQ(sum, expected_sum);
}

}  // namespace
}  // namespace cowtree
