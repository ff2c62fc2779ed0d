// Helpers shared by the segment allocator suites (persistence_segment_*_test.cc): small
// segment/window options that force growth and window recycling, deterministic payloads, and
// an Open that fails the test on error.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "persistence/segment_allocator.h"

namespace cowtree::segment_test {

inline SegmentAllocatorOptions SmallOptions() {
  SegmentAllocatorOptions o;
  o.store_id = ExampleStoreId();
  o.segment_size_bytes = 64 * 1024;  // 16 slots of 4 KiB; clamped to 16 slots for big classes
  o.mmap_window_bytes = 64 * 1024;
  o.mmap_windows_max = 4;
  return o;
}

inline std::string Payload(uint64_t seed, uint32_t length) {
  std::string s(length, '\0');
  std::mt19937_64 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline std::unique_ptr<SegmentAllocator> OpenOrDie(Env* env, const std::string& dir,
                                                   const SegmentAllocatorOptions& o,
                                                   const std::vector<DataFileInfo>& files = {}) {
  auto r = SegmentAllocator::Open(env, dir, o, files);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

}  // namespace cowtree::segment_test
