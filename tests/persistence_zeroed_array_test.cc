// ZeroedArray (persistence/zeroed_array.h): zero-filled on creation below and above the
// huge-page threshold, writable throughout, moves transfer ownership.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "persistence/zeroed_array.h"

namespace cowtree {
namespace {

struct Pair {
  uint64_t a;
  uint32_t b;
};

void ExpectZeroThenWritable(size_t n) {
  ZeroedArray<Pair> array(n);
  ASSERT_EQ(array.size(), n);
  for (size_t i = 0; i < n; i += 97) {
    EXPECT_EQ(array[i].a, 0u) << i;
    EXPECT_EQ(array[i].b, 0u) << i;
  }
  EXPECT_EQ(array[n - 1].a, 0u);
  for (size_t i = 0; i < n; ++i) array[i] = Pair{i, static_cast<uint32_t>(i * 3)};
  uint64_t sum = 0;
  for (const Pair& p : array) sum += p.a;
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

TEST(ZeroedArray, SmallAndHugePageSizesStartZeroed) {
  ExpectZeroThenWritable(1);
  ExpectZeroThenWritable(1000);                         // calloc
  ExpectZeroThenWritable((size_t{2} << 20) / 16);       // exactly 2 MiB: a mapping
  ExpectZeroThenWritable((size_t{5} << 20) / 16 + 13);  // not a multiple of 2 MiB
}

TEST(ZeroedArray, MoveTransfersOwnership) {
  ZeroedArray<Pair> a(300000);
  a[299999].a = 7;
  ZeroedArray<Pair> b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented moved-from state
  EXPECT_EQ(b[299999].a, 7u);
  ZeroedArray<Pair> c(10);
  c = std::move(b);
  EXPECT_EQ(c.size(), 300000u);
  EXPECT_EQ(c[299999].a, 7u);
  ZeroedArray<Pair> empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.begin(), empty.end());
}

}  // namespace
}  // namespace cowtree
