// Seed inputs of the fuzz targets: small valid encodings (plus a few interesting invalid ones)
// built with the library's own encoders, so they always follow the current formats.
//
// Used by make_seeds.cc (writes them to tests/fuzz/corpus/<target>/seed-*, committed) and by
// tools_fuzz_corpus_test (runs them, and mutations of them, even if the committed files are
// stale after a format change). Each seed is a complete fuzz input: flags byte first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cowtree::fuzz {

struct FuzzSeed {
  std::string name;   // file name inside corpus/<target>/, "seed-<what>"
  std::string bytes;  // the whole input (flags byte included)
};

// Seeds of target `target` (a kFuzzTargets name); empty for an unknown name.
std::vector<FuzzSeed> MakeFuzzSeeds(std::string_view target);

}  // namespace cowtree::fuzz
