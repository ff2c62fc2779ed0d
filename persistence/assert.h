// Invariant assertions that stay on in release builds (TigerBeetle style: an invariant that
// fails means the process state is already wrong; stopping is the only safe answer).
// Use COWTREE_ASSERT for invariants of our own code. Bad input from disk or users is never an
// assertion: it is a Status (Corruption / InvalidArgument).
#pragma once

#include <cstdio>
#include <cstdlib>

#define COWTREE_ASSERT(cond)                                                                       \
  do {                                                                                             \
    if (__builtin_expect(!(cond), 0)) {                                                            \
      std::fprintf(stderr, "cowtree: assertion failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

#ifdef NDEBUG
#define COWTREE_DASSERT(cond) \
  do {                        \
  } while (0)
#else
#define COWTREE_DASSERT(cond) COWTREE_ASSERT(cond)
#endif
