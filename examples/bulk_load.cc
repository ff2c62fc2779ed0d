// bulk_load [STORE_DIR]: loads 1 M int64 keys, in a scrambled order, into one tree through a
// BulkLoader (cowtree/bulk_loader.h) under a 16 MiB memory budget, then checks count, median,
// p99 and a rank against the closed form (the keys are 0 .. N-1, each once). The loader sorts
// its buffer (a quarter of the budget, charged to it) and commits it in key order, 10 000 ops
// per commit, so each leaf is written about once per buffer instead of once per key.
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

cowtree::Status Run(const std::string& dir) {
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

  auto reader = store->GetSnapshot().Tree<int64_t>("latency_us");
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
    std::printf("median %.1f, p99 %lld\n", **median, static_cast<long long>(**p99));
  }
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
  const cowtree::Status st = Run(dir);
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "bulk_load: %s\n", st.ToString().c_str());
    return 1;
  }
  return g_failures == 0 ? 0 : 1;
}
