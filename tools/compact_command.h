// `cowtree compact --db DIR [--dead-ratio R]`: offline compaction (docs/compaction.md). Opens the
// store for writing (exclusive lock), runs Runtime::Compact rounds with no rate limit until a
// round changes nothing (at most 8), closes the store, and prints the bytes of the data files
// and of the whole store directory before and after, the objects and bytes relocated and the
// relocation throughput:
//   store:              DIR
//   data files:         BEFORE -> AFTER bytes
//   store directory:    BEFORE -> AFTER bytes
//   relocated:          N objects, B bytes in S s (X MB/s)
//   truncated:          T bytes in R rounds; holes punched over P bytes of free slots
// Exit codes: 0 done (also when nothing was worth moving), 1 error (no such store, lock busy,
// I/O error: the store is left as the failing step's crash-safety argument says, i.e. with the
// old or the new layout), 2 usage.
#pragma once

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

// Registers the subcommand on app; *args receives the parsed options.
CLI::App* AddCompactCommand(CLI::App* app, CompactCommandArgs* args);
// Runs it; returns the exit code.
int RunCompactCommand(const CompactCommandArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cowtree::tools
