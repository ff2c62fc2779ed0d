// multi_tree_store [STORE_DIR]: one writer thread and two snapshot reader threads on a store
// with several named trees, using only the public API (<cowtree/cowtree.h>).
//
// The writer commits rounds; round i adds, in ONE batch:
//   "arrivals" (int64):  key i,        weight 1
//   "costs"    (double): key i * 0.25, weight 2
//   "refunds"  (int64):  key -i,       weight 1
// and every 25 rounds atomically replaces "window" (drop + create in the same batch) by a tree
// holding the last 10 round numbers. Readers take snapshots and check what atomic multi-tree
// commits guarantee: costs.count == 2 * arrivals.count == 2 * refunds.count, the median of
// arrivals is (1 + n) / 2, "window" always exists with exactly 10 items, and a backward cursor
// over "refunds" sees -1, -2, ... in order. After the writer is done the store is closed,
// reopened and checked again. Exit status 0 only if every check held.
//
// STORE_DIR defaults to a fresh directory under the system temp dir, removed at the end.
#include <cowtree/cowtree.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kRounds = 2000;

std::atomic<int> g_failures{0};

void Fail(const std::string& what) {
  if (g_failures.fetch_add(1) < 10) std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
}

#define CHECK(cond, what)      \
  do {                         \
    if (!(cond)) Fail((what)); \
  } while (0)

// Checks one snapshot; returns the number of rounds it sees.
int64_t CheckSnapshot(const cowtree::Snapshot& snap) {
  auto arrivals = snap.Tree<int64_t>("arrivals");
  auto costs = snap.Tree<double>("costs");
  auto refunds = snap.Tree<int64_t>("refunds");
  auto window = snap.Tree<int64_t>("window");
  if (!arrivals.ok() || !costs.ok() || !refunds.ok() || !window.ok()) {
    Fail("a tree is missing in snapshot " + std::to_string(snap.sequence()));
    return 0;
  }
  const uint64_t n = arrivals->count();
  CHECK(costs->count() == 2 * n, "costs.count != 2 * arrivals.count");
  CHECK(refunds->count() == n, "refunds.count != arrivals.count");
  CHECK(window->count() == 10, "window does not hold 10 items");
  if (n > 0) {
    auto median = arrivals->median();
    CHECK(median.ok() && median->has_value() && **median == (1.0 + static_cast<double>(n)) / 2,
          "median of arrivals");
    auto p90 = costs->percentile_disc(0.9, cowtree::Order::kDescending);
    CHECK(p90.ok() && p90->has_value(), "percentile_disc of costs");
    // Backward from 0: -1, -2, ..., -n, each of weight 1.
    int64_t expect = -1;
    for (auto c = refunds->Seek(0, cowtree::Direction::kBackward); c.valid(); c.Next()) {
      CHECK(c.key() == expect && c.weight() == 1, "refunds cursor");
      --expect;
    }
    CHECK(expect == -static_cast<int64_t>(n) - 1, "refunds cursor length");
  }
  return static_cast<int64_t>(n);
}

cowtree::Status Run(const std::string& dir) {
  cowtree::Options options;
  options.durability = cowtree::Durability::kBalanced;
  auto opened = cowtree::Store::Open(dir, options);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();

  // Create every tree in one commit (window starts as rounds -9..0).
  cowtree::WriteBatch batch = store->NewBatch();
  auto arrivals = batch.CreateTree<int64_t>("arrivals");
  auto costs = batch.CreateTree<double>("costs");
  auto refunds = batch.CreateTree<int64_t>("refunds");
  auto window = batch.CreateTree<int64_t>("window");
  for (int64_t k = -9; k <= 0; ++k) batch.Add(window, k, 1);
  if (auto s = store->Commit(batch, cowtree::WriteOptions{.sync = true}); !s.ok()) return s;

  std::atomic<bool> done{false};
  std::atomic<int64_t> snapshots{0};
  cowtree::Status writer_status;
  std::thread writer([&] {
    while (snapshots.load() < 2) std::this_thread::yield();  // the readers are running
    for (int64_t i = 1; i <= kRounds; ++i) {
      cowtree::WriteBatch b = store->NewBatch();
      b.Add(arrivals, i, 1);
      b.Add(costs, static_cast<double>(i) * 0.25, 2);
      b.Add(refunds, -i, 1);
      if (i % 25 == 0) {  // atomic replace: readers never see "window" missing or partial
        b.DropTree(window);
        window = b.CreateTree<int64_t>("window");
        for (int64_t k = i - 9; k <= i; ++k) b.Add(window, k, 1);
      }
      if (auto s = store->Commit(b); !s.ok()) {
        writer_status = s;
        break;
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done.load()) {
        const int64_t seen = CheckSnapshot(store->GetSnapshot());
        CHECK(seen >= last, "a later snapshot saw fewer rounds");
        last = seen;
        snapshots.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  if (!writer_status.ok()) return writer_status;
  CHECK(CheckSnapshot(store->GetSnapshot()) == kRounds, "final snapshot");
  if (auto s = store->Close(); !s.ok()) return s;
  store.reset();

  // Reopen (read-only): everything persisted; writes are refused.
  options.read_only = true;
  auto reopened = cowtree::Store::Open(dir, options);
  if (!reopened.ok()) return reopened.status();
  CHECK(CheckSnapshot((*reopened)->GetSnapshot()) == kRounds, "after reopen");
  cowtree::WriteBatch refused = (*reopened)->NewBatch();
  auto h = (*reopened)->Tree<int64_t>("arrivals");
  CHECK(h.ok(), "handle after reopen");
  if (h.ok()) refused.Add(*h, 1, 1);
  CHECK((*reopened)->Commit(refused).IsInvalidArgument(), "read-only store accepted a write");
  std::printf("multi_tree_store: %" PRId64 " rounds, %" PRId64 " snapshots checked, %d failures\n",
              kRounds, snapshots.load(), g_failures.load());
  return (*reopened)->Close();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool temporary = false;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::random_device rd;
    dir = (std::filesystem::temp_directory_path() /
           ("cowtree_multi_tree_store_" + std::to_string(rd()) + std::to_string(rd())))
              .string();
    temporary = true;
  }
  const cowtree::Status st = Run(dir);
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "multi_tree_store: %s\n", st.ToString().c_str());
    return 1;
  }
  return g_failures.load() == 0 ? 0 : 1;
}
