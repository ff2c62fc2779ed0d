// DeterministicRng: a tiny seeded generator (SplitMix64) whose output is the same on every
// platform and standard library, so that a crash or corruption printed as "seed=S" replays
// bit for bit. Not for cryptography; not thread-safe (one per simulated crash).
#pragma once

#include <cstdint>

namespace cowtree::testutil {

class DeterministicRng {
 public:
  explicit DeterministicRng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0. (Multiply-high: no modulo bias worth caring about in tests.)
  uint64_t Uniform(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }
  bool Bool() { return (Next() >> 63) != 0; }

 private:
  uint64_t state_;
};

}  // namespace cowtree::testutil
