// Restore time of one large tree (issue 8, "no size cap": the multi-level summary index must
// not slow restore down). Internal API (recovery::Open, Runtime::FindTree); builds against any
// cowtree revision since the lazy restore, so the same source measures before and after.
//
//   summary_index_restore DIR build N [S R] one tree "t" of N random int64 keys (weights 1..3),
//                                          commits of 100 000 keys, checkpoint, close; S and R
//                                          lower the summary index chunk limits
//                                          (RuntimeOptions::summary_chunk_entries_max /
//                                          summary_index_refs_max) to get several levels
//   summary_index_restore DIR restore R    R rounds of: open the store, first access of "t"
//                                          (restore: reads the descriptor and the summary
//                                          index, builds internal nodes, reads no leaf), close;
//                                          prints each round and the median
// Prints key: value lines. Not a test: no assertions beyond sanity (exit 1 on an error or if
// restore read a leaf).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "recovery/open.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"

namespace {

using Clock = std::chrono::steady_clock;
using cowtree::Status;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

cowtree::RuntimeOptions Options() {
  cowtree::RuntimeOptions o;
  o.background_thread = false;
  o.checkpoint_on_close = true;
  return o;
}

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

int Build(const std::string& dir, uint64_t n, uint32_t summaries_max, uint32_t refs_max) {
  cowtree::RuntimeOptions o = Options();
  o.summary_chunk_entries_max = summaries_max;
  o.summary_index_refs_max = refs_max;
  auto rt = cowtree::recovery::Open(dir, o);
  if (!rt.ok()) return Fail("open", rt.status());
  std::mt19937_64 rng(42);
  cowtree::TreeId id = 0;
  const auto t0 = Clock::now();
  for (uint64_t done = 0; done < n;) {
    cowtree::RuntimeWriteBatch b(rt->get());
    if (done == 0) {
      id = b.CreateTree("t", cowtree::tree::kOrderStatTreeTypeId,
                        cowtree::tree::OrderStatTreeParams(cowtree::tree::KeyType::kInt64));
    }
    for (uint64_t i = 0; i < 100000 && done < n; ++i, ++done) {
      cowtree::tree::AppendOrderStatOp(b.MutableOps(id),
                                       cowtree::tree::EncodeInt64Key(static_cast<int64_t>(rng())),
                                       1 + static_cast<int64_t>(rng() % 3));
    }
    if (Status st = (*rt)->Commit(b); !st.ok()) return Fail("commit", st);
  }
  if (Status st = (*rt)->Checkpoint(); !st.ok()) return Fail("checkpoint", st);
  if (Status st = (*rt)->Close(); !st.ok()) return Fail("close", st);
  std::printf("built: %llu entries in %.1f s\n", static_cast<unsigned long long>(n),
              Ms(Clock::now() - t0) / 1000);
  return 0;
}

int Restore(const std::string& dir, int rounds) {
  std::vector<double> open_ms, restore_ms;
  for (int r = 0; r < rounds; ++r) {
    cowtree::RuntimeOptions o = Options();
    o.checkpoint_on_close = false;
    const auto t0 = Clock::now();
    auto rt = cowtree::recovery::Open(dir, o);
    if (!rt.ok()) return Fail("open", rt.status());
    const auto t1 = Clock::now();
    auto info = (*rt)->FindTree("t", (*rt)->GetSnapshot());
    if (!info.ok()) return Fail("restore", info.status());
    const auto t2 = Clock::now();
    auto* host = cowtree::tree::AsOrderStatTree(info->tree.get());
    if (host->leaf_loads() != 0) {
      std::fprintf(stderr, "restore read %llu leaves\n",
                   static_cast<unsigned long long>(host->leaf_loads()));
      return 1;
    }
    open_ms.push_back(Ms(t1 - t0));
    restore_ms.push_back(Ms(t2 - t1));
    std::printf(
        "round %d: open %.1f ms, restore %.1f ms (%llu entries, %llu leaves, index "
        "height %zu)\n",
        r, open_ms.back(), restore_ms.back(), static_cast<unsigned long long>(host->entry_count()),
        static_cast<unsigned long long>(host->leaf_count()),
        host->published().index.levels.size() + 1);
    info->tree.reset();  // the runtime must hold the last reference at Close
    if (Status st = (*rt)->Close(); !st.ok()) return Fail("close", st);
  }
  std::sort(open_ms.begin(), open_ms.end());
  std::sort(restore_ms.begin(), restore_ms.end());
  std::printf("open_ms_median: %.1f\nrestore_ms_median: %.1f\n", open_ms[open_ms.size() / 2],
              restore_ms[restore_ms.size() / 2]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::fprintf(stderr, "usage: %s DIR build N [S R] | DIR restore ROUNDS\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1], mode = argv[2];
  if (mode == "build") {
    const auto s = static_cast<uint32_t>(argc == 6 ? std::atoi(argv[4]) : 0);
    const auto r = static_cast<uint32_t>(argc == 6 ? std::atoi(argv[5]) : 0);
    return Build(dir, std::strtoull(argv[3], nullptr, 10), s, r);
  }
  if (mode == "restore") return Restore(dir, std::atoi(argv[3]));
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
