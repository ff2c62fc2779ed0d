// bulk_load [STORE_DIR]: loads 1 M int64 keys, in a scrambled order, into one tree through a
// BulkLoader (cowtree/bulk_loader.h) under a 16 MiB memory budget, then checks count, median,
// p99 and a rank against the closed form (the keys are 0 .. N-1, each once). The loader sorts
// its buffer (a quarter of the budget, charged to it) and commits it in key order, 10 000 ops
// per commit, so each leaf is written about once per buffer instead of once per key. Then it
// loads the same keys again into a second tree with a spill directory (STORE_DIR.spill): full
// buffers become sorted runs on disk, merged once by Flush, which writes the tree once, in key
// order — what a load much larger than the buffer needs (docs/api.md "Bulk loading").
// Exit status 0 only if the checks hold. STORE_DIR defaults to a temp dir removed at the end.
#include <cowtree/cowtree.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace {

constexpr uint64_t kKeys = 1000000;
constexpr uint64_t kStride = 2654435761ull;  // prime, > kKeys: i -> i * kStride mod N permutes

int g_failures = 0;
void Expect(bool ok, const std::string& what) {
  if (!ok) {
    ++g_failures;
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
  }
}

// Count, median, p99 and a rank of tree `name` against the closed form.
cowtree::Status Check(cowtree::Store& store, const std::string& name) {
  auto reader = store.GetSnapshot().Tree<int64_t>(name);
  if (!reader.ok()) return reader.status();
  Expect(reader->count() == kKeys, "count");
  auto median = reader->median();
  if (!median.ok()) return median.status();
  Expect(median->has_value() && **median == (kKeys - 1) / 2.0, "median = (N - 1) / 2");
  auto p99 = reader->percentile_disc(0.99);
  if (!p99.ok()) return p99.status();
  // percentile_disc(0.99): the first key whose cumulative fraction reaches 0.99.
  Expect(p99->has_value() && **p99 == static_cast<int64_t>(kKeys * 99 / 100 - 1), "p99");
  auto rank = reader->rank(12345);
  if (!rank.ok()) return rank.status();
  Expect(*rank == 12345, "rank(12345) = 12345 keys below it");
  if (median->has_value() && p99->has_value()) {
    std::printf("%s: median %.1f, p99 %lld\n", name.c_str(), **median,
                static_cast<long long>(**p99));
  }
  return cowtree::Status::OK();
}

cowtree::Status Run(const std::string& dir, const std::string& spill_dir) {
  cowtree::Options options;
  options.cache_bytes = 16 << 20;
  auto opened = cowtree::Store::Open(dir, options);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<cowtree::Store> store = std::move(opened).value();

  // The tree must exist before the loader's commits reach it.
  cowtree::WriteBatch create = store->NewBatch();
  const cowtree::TreeHandle<int64_t> tree = create.CreateTree<int64_t>("latency_us");
  if (cowtree::Status s = store->Commit(create); !s.ok()) return s;

  auto loader = cowtree::BulkLoader::Create(*store);
  if (!loader.ok()) return loader.status();
  for (uint64_t i = 0; i < kKeys; ++i) {
    const auto key = static_cast<int64_t>((i * kStride) % kKeys);
    if (cowtree::Status s = (*loader)->Add(tree, key, 1); !s.ok()) return s;  // may flush
  }
  if (cowtree::Status s = (*loader)->Flush(); !s.ok()) return s;  // commits what is left
  std::printf("loaded %llu keys in %llu commits (buffer %llu bytes)\n",
              static_cast<unsigned long long>((*loader)->committed_ops()),
              static_cast<unsigned long long>((*loader)->commits()),
              static_cast<unsigned long long>((*loader)->buffer_bytes()));
  loader->reset();  // its buffer's charge leaves the budget
  if (cowtree::Status s = Check(*store, "latency_us"); !s.ok()) return s;

  // The same keys through a loader that spills: nothing is committed until Flush.
  cowtree::WriteBatch create_spilled = store->NewBatch();
  const cowtree::TreeHandle<int64_t> spilled =
      create_spilled.CreateTree<int64_t>("latency_us_spilled");
  if (cowtree::Status s = store->Commit(create_spilled); !s.ok()) return s;
  cowtree::BulkLoader::Options spill;
  spill.spill_dir = spill_dir;
  auto spilling = cowtree::BulkLoader::Create(*store, spill);
  if (!spilling.ok()) return spilling.status();
  for (uint64_t i = 0; i < kKeys; ++i) {
    const auto key = static_cast<int64_t>((i * kStride) % kKeys);
    if (cowtree::Status s = (*spilling)->Add(spilled, key, 1); !s.ok()) return s;  // may spill
  }
  std::printf("spilled %llu ops in %llu runs before the flush\n",
              static_cast<unsigned long long>((*spilling)->spilled_ops()),
              static_cast<unsigned long long>((*spilling)->spilled_runs()));
  Expect((*spilling)->commits() == 0, "nothing committed before Flush");
  if (cowtree::Status s = (*spilling)->Flush(); !s.ok()) return s;  // merges, commits
  spilling->reset();
  if (cowtree::Status s = Check(*store, "latency_us_spilled"); !s.ok()) return s;
  return store->Close();
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
           ("cowtree_bulk_load_" + std::to_string(rd()) + std::to_string(rd())))
              .string();
    temporary = true;
  }
  const std::string spill_dir = dir + ".spill";
  const cowtree::Status st = Run(dir, spill_dir);
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::remove_all(spill_dir, ec);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "bulk_load: %s\n", st.ToString().c_str());
    return 1;
  }
  return g_failures == 0 ? 0 : 1;
}
