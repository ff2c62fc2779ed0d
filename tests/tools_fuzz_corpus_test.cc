// Runs the fuzz targets of tests/fuzz/ (docs/fuzzing.md) as ordinary tests, in every build:
// - every committed corpus file (tests/fuzz/corpus/<target>/: seeds and regression inputs),
// - the seeds generated from the current encoders (tests/fuzz/seeds.cc), so a format change
//   is covered even before the committed seeds are regenerated,
// - a few thousand deterministic random mutations per target (seeded; the seed and the
//   iteration are printed on failure so that a failing input can be rebuilt).
// Each target returns 0; a violated property aborts the process with its message.
// COWTREE_FUZZ_MUTATIONS=N in the environment changes the number of mutations per target.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/seeds.h"
#include "testutil/deterministic_rng.h"

namespace cowtree::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path& FuzzDir() {
  static const fs::path dir = fs::path(COWTREE_SOURCE_DIR) / "tests" / "fuzz";
  return dir;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunTarget(const FuzzTarget& t, std::string_view bytes) {
  return t.fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::vector<std::pair<std::string, std::string>> CorpusFiles(const FuzzTarget& t) {
  std::vector<std::pair<std::string, std::string>> files;
  const fs::path dir = FuzzDir() / "corpus" / t.name;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.emplace_back(e.path().filename().string(), ReadFile(e.path()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

size_t MutationsPerTarget() {
  const char* env = std::getenv("COWTREE_FUZZ_MUTATIONS");
  return env != nullptr ? static_cast<size_t>(std::strtoull(env, nullptr, 10)) : 3000;
}

// A small structure-unaware mutator in the spirit of libFuzzer's: bit flips, byte sets,
// interesting integers, inserts, erases, copies, truncation, splices, flags changes.
std::string Mutate(std::string s, const std::vector<std::string>& pool,
                   testutil::DeterministicRng& rng, size_t max_len) {
  static constexpr uint64_t kInteresting[] = {
      0,      1,          0x7f,       0x80,           0xff,       0x100,          0x7fff,
      0xffff, 0x7fffffff, 0xffffffff, 0x100000000ull, UINT64_MAX, UINT64_MAX >> 1};
  const int steps = 1 + static_cast<int>(rng.Uniform(4));
  for (int step = 0; step < steps; ++step) {
    const size_t pos = s.empty() ? 0 : rng.Uniform(s.size());
    switch (rng.Uniform(10)) {
      case 0:
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1 << rng.Uniform(8)));
        break;
      case 1:
        if (!s.empty()) s[pos] = static_cast<char>(rng.Next());
        break;
      case 2: {  // an interesting little-endian integer of 1, 2, 4 or 8 bytes
        const size_t width = size_t{1} << rng.Uniform(4);
        uint64_t v = kInteresting[rng.Uniform(std::size(kInteresting))];
        if (rng.Bool()) v = s.size() + rng.Uniform(3) - 1;  // a length near the input's
        for (size_t i = 0; i < width && pos + i < s.size(); ++i) {
          s[pos + i] = static_cast<char>(v >> (8 * i));
        }
        break;
      }
      case 3: {
        std::string bytes(1 + rng.Uniform(16), '\0');
        for (char& c : bytes) c = static_cast<char>(rng.Next());
        s.insert(std::min(pos, s.size()), bytes);
        break;
      }
      case 4:
        if (!s.empty()) s.erase(pos, 1 + rng.Uniform(16));
        break;
      case 5:
        if (!s.empty()) {
          const size_t from = rng.Uniform(s.size());
          const std::string chunk = s.substr(from, 1 + rng.Uniform(64));
          s.insert(pos, chunk);
        }
        break;
      case 6:
        s.resize(pos);
        break;
      case 7: {  // splice with another input
        const std::string& other = pool[rng.Uniform(pool.size())];
        if (!other.empty()) s = s.substr(0, pos) + other.substr(rng.Uniform(other.size()));
        break;
      }
      case 8:
        if (!s.empty()) s[0] = static_cast<char>(rng.Next());  // the flags byte
        break;
      case 9:
        if (!s.empty()) s[pos] = "\"\n\r,\0\xff"[rng.Uniform(6)];  // CSV/JSON/frame delimiters
        break;
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

class FuzzCorpusTest : public ::testing::TestWithParam<FuzzTarget> {};

TEST_P(FuzzCorpusTest, CommittedCorpusFiles) {
  const FuzzTarget& t = GetParam();
  const auto files = CorpusFiles(t);
  ASSERT_FALSE(files.empty()) << "no corpus files in tests/fuzz/corpus/" << t.name
                              << " (run cowtree_fuzz_make_seeds tests/fuzz/corpus)";
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(std::string(t.name) + "/" + name);
    EXPECT_EQ(RunTarget(t, bytes), 0);
  }
}

TEST_P(FuzzCorpusTest, GeneratedSeeds) {
  const FuzzTarget& t = GetParam();
  const std::vector<FuzzSeed> seeds = MakeFuzzSeeds(t.name);
  ASSERT_FALSE(seeds.empty()) << t.name << " has no seeds in tests/fuzz/seeds.cc";
  for (const FuzzSeed& seed : seeds) {
    SCOPED_TRACE(seed.name);
    EXPECT_LE(seed.bytes.size(), t.max_len);
    EXPECT_EQ(RunTarget(t, seed.bytes), 0);
  }
}

TEST_P(FuzzCorpusTest, TinyInputs) {
  const FuzzTarget& t = GetParam();
  EXPECT_EQ(t.fn(nullptr, 0), 0);
  for (int flags = 0; flags < 256; ++flags) {
    const std::string one(1, static_cast<char>(flags));
    EXPECT_EQ(RunTarget(t, one), 0);
    EXPECT_EQ(RunTarget(t, one + std::string(7, '\0')), 0);
  }
}

TEST_P(FuzzCorpusTest, DeterministicMutations) {
  const FuzzTarget& t = GetParam();
  std::vector<std::string> pool;
  for (const auto& [name, bytes] : CorpusFiles(t)) pool.push_back(bytes);
  for (const FuzzSeed& seed : MakeFuzzSeeds(t.name)) pool.push_back(seed.bytes);
  ASSERT_FALSE(pool.empty());
  uint64_t seed = 0xC0117EEull;
  for (const char* p = t.name; *p != '\0'; ++p) seed = seed * 131 + static_cast<uint8_t>(*p);
  testutil::DeterministicRng rng(seed);
  const size_t n = MutationsPerTarget();
  for (size_t i = 0; i < n; ++i) {
    const std::string input = Mutate(pool[rng.Uniform(pool.size())], pool, rng, t.max_len);
    ASSERT_EQ(RunTarget(t, input), 0)
        << t.name << " mutation " << i << " (rng seed " << seed << ")";
    // Mutations of mutations reach further; keep the pool bounded.
    if (pool.size() < 256 && rng.OneIn(4)) pool.push_back(input);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpusTest, ::testing::ValuesIn(kFuzzTargets),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.name);
                         });

// Regression inputs too large for the committed corpus, built in memory.
TEST(FuzzRegressions, DeeplyNestedManifestJson) {
  // A corrupt manifest of ~200 KB of '[' overflowed the stack in DecodeManifest (RapidJSON's
  // recursive parser); 2 MB of nesting crashes any build if the recursion comes back.
  for (const std::string& open : {std::string("["), std::string("{\"a\":")}) {
    const std::string input = std::string(1, '\0') + [&] {
      std::string s;
      for (int i = 0; i < 400000; ++i) s += open;
      return s;
    }();
    EXPECT_EQ(FuzzManifest(reinterpret_cast<const uint8_t*>(input.data()), input.size()), 0);
  }
}

// Every tests/fuzz/<name>_fuzz.cc is registered in kFuzzTargets, and every target has its file.
TEST(FuzzTargets, EveryTargetFileIsRegistered) {
  std::set<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(FuzzDir())) {
    const std::string name = e.path().filename().string();
    const std::string suffix = "_fuzz.cc";
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      files.insert(name.substr(0, name.size() - suffix.size()));
    }
  }
  std::set<std::string> registered;
  for (const FuzzTarget& t : kFuzzTargets) registered.insert(t.name);
  EXPECT_EQ(files, registered);
}

// The committed corpus stays small (it is in the repository).
TEST(FuzzTargets, CorpusUnderTwoMiB) {
  uint64_t bytes = 0;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(FuzzDir() / "corpus")) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  EXPECT_LT(bytes, uint64_t{2} << 20);
}

}  // namespace
}  // namespace cowtree::fuzz
