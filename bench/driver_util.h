// Helpers shared by the plain benchmark drivers (cowtree_bulk_ingest, cowtree_scale): the key
// stream, the process's memory and CPU figures, and dying with a message on an error.
// Header-only; each driver is its own program. Thread-safety: none needed (one thread).
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "cowtree/cowtree.h"

namespace bench_driver {

// splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", 2014).
inline uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A field of /proc/self/status in KiB ("VmHWM:" = peak RSS, "VmRSS:" = RSS now); 0 if absent.
inline uint64_t ProcStatusKib(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t len = std::char_traits<char>::length(field);
  while (std::getline(f, line)) {
    if (line.compare(0, len, field) == 0) return std::strtoull(line.c_str() + len, nullptr, 10);
  }
  return 0;
}
inline double PeakRssMib() { return static_cast<double>(ProcStatusKib("VmHWM:")) / 1024.0; }
inline double RssMib() { return static_cast<double>(ProcStatusKib("VmRSS:")) / 1024.0; }

// User + system CPU seconds of this process so far.
inline double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// argv[i] as an unsigned decimal, or `fallback` when the argument is not given.
inline uint64_t ArgOr(int argc, char** argv, int i, uint64_t fallback) {
  return argc > i ? std::strtoull(argv[i], nullptr, 10) : fallback;
}

// Prints "<program>: <what>" to stderr and exits with status 1.
[[noreturn]] inline void Die(const char* program, const std::string& what) {
  std::cerr << program << ": " << what << "\n";
  std::exit(1);
}

}  // namespace bench_driver
