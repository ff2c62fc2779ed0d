// A test's size knob from the environment (the long label sets them: tests/long.cmake).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace cowtree::testutil {

// The environment variable `name` as an unsigned decimal number, or `fallback` when it is
// unset, empty or does not start with a digit.
inline uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v < '0' || *v > '9') return fallback;
  return std::strtoull(v, nullptr, 10);
}

}  // namespace cowtree::testutil
