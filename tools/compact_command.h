// `cowtree compact --db DIR [--dead-ratio R] [--cache-mib N]`: offline compaction
// (docs/compaction.md). Opens the store for writing (exclusive lock) under the memory budget
// --cache-mib (as every command that opens a store: the redo replayed at open and the leaves it
// writes stay within it; default 1024, 0 = unlimited), runs Runtime::Compact rounds with no rate
// limit until a round changes nothing (at most 8), closes the store, and prints the bytes of the
// data files and of the whole store directory before and after, the objects and bytes relocated and
// the relocation throughput:
//   store:              DIR
//   data files:         BEFORE -> AFTER bytes
//   store directory:    BEFORE -> AFTER bytes
//   relocated:          N objects, B bytes in S s (X MB/s)
//   truncated:          T bytes in R rounds; holes punched over P bytes of free slots
// Exit codes: 0 done (also when nothing was worth moving), 1 error (no such store, lock busy,
// I/O error: the store is left as the failing step's crash-safety argument says, i.e. with the
// old or the new layout), 2 usage.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace cowtree::tools {

struct CompactCommandArgs {
  std::string db;
  double dead_ratio = 0.0;  // compact a data file whose dead ratio is >= this (0: any)
};

// Registers the subcommand on app; *args and *cache_mib (--cache-mib, shared by the commands
// that open a store) receive the parsed options.
CLI::App* AddCompactCommand(CLI::App* app, CompactCommandArgs* args, uint64_t* cache_mib);
// Runs it under a budget of cache_mib MiB (0 = unlimited); returns the exit code.
int RunCompactCommand(const CompactCommandArgs& args, uint64_t cache_mib, std::ostream& out,
                      std::ostream& err);

}  // namespace cowtree::tools
