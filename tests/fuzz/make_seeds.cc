// cowtree_fuzz_make_seeds DIR: (re)writes the seed inputs of every fuzz target into
// DIR/<target>/seed-* (DIR is normally tests/fuzz/corpus). Other files in those directories
// (regression inputs "regress-*", inputs kept from fuzzing runs) are left alone; stale seed-*
// files are deleted. Run it after a format change and commit the result (docs/fuzzing.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/seeds.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  size_t total_files = 0, total_bytes = 0;
  for (const cowtree::fuzz::FuzzTarget& t : cowtree::fuzz::kFuzzTargets) {
    const fs::path dir = root / t.name;
    fs::create_directories(dir);
    std::set<std::string> written;
    for (const cowtree::fuzz::FuzzSeed& seed : cowtree::fuzz::MakeFuzzSeeds(t.name)) {
      if (seed.bytes.size() > t.max_len) {
        std::fprintf(stderr, "%s/%s: %zu bytes exceeds max_len %zu\n", t.name, seed.name.c_str(),
                     seed.bytes.size(), t.max_len);
        return 1;
      }
      std::ofstream out(dir / seed.name, std::ios::binary | std::ios::trunc);
      out.write(seed.bytes.data(), static_cast<std::streamsize>(seed.bytes.size()));
      if (!out) {
        std::fprintf(stderr, "cannot write %s\n", (dir / seed.name).c_str());
        return 1;
      }
      // Each seed must pass its target (a seed that trips a property is a bug to fix first).
      t.fn(reinterpret_cast<const uint8_t*>(seed.bytes.data()), seed.bytes.size());
      written.insert(seed.name);
      ++total_files;
      total_bytes += seed.bytes.size();
    }
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("seed-", 0) == 0 && written.count(name) == 0) fs::remove(e.path());
    }
  }
  std::printf("wrote %zu seed files (%zu bytes) under %s\n", total_files, total_bytes,
              root.c_str());
  return 0;
}
