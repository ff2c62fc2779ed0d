// Name hashes that collide, for tests of the cold tree index (persistence/cold_tree_index.h):
// a gtest fixture parameterized by 0 (the real hash), 1 (sixteen values only: many trees per
// hash) or 2 (one value: every name collides), installed with the index's test hook for the
// test's duration. Header-only; use it only while no Runtime of another test is open.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/cold_tree_index.h"

namespace cowtree::testutil {

// Sixteen hash values only.
inline uint32_t SixteenNameHashes(std::string_view name) {
  uint32_t h = 0;
  for (char c : name) h = h * 31 + static_cast<uint8_t>(c);
  return h % 16;
}
// Every name collides.
inline uint32_t ConstantNameHash(std::string_view) { return 1; }

class ColdTreeHashTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (GetParam() == 1) ColdTreeIndex::SetNameHashForTesting(&SixteenNameHashes);
    if (GetParam() == 2) ColdTreeIndex::SetNameHashForTesting(&ConstantNameHash);
  }
  void TearDown() override { ColdTreeIndex::SetNameHashForTesting(nullptr); }
};

// The parameter's name for INSTANTIATE_TEST_SUITE_P.
inline std::string ColdTreeHashName(const ::testing::TestParamInfo<int>& info) {
  return info.param == 0 ? "Default" : info.param == 1 ? "SixteenHashes" : "AllCollide";
}

}  // namespace cowtree::testutil
