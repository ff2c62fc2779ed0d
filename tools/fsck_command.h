// `cowtree fsck --db DIR [--json] [--repair]`: runs recovery::Fsck (recovery/fsck.h) and prints
// its findings; docs/fsck.md has the checks, the findings, the repairs and the JSON schema.
//
// Output: one line per finding, "[error|warning|info] structure file@offset node=...: message"
// (plus " (repaired)"), then one summary line. With --json: one JSON object
//   {"store", "findings": [{"severity", "structure", "file", "offset", "node_id", "node",
//    "message", "repaired"}], "counters": {...}, "errors", "warnings", "infos", "repaired",
//    "exit_code"}
// or, for an operational error, {"store", "error", "exit_code": 8}.
// Exit codes (e2fsck's): 0 no error left (warnings allowed) and nothing repaired, 1 every error
// repaired / something changed, 4 errors left, 8 operational error (missing directory, not a
// store, LOCK busy, I/O error).
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace cowtree::tools {

struct FsckCommandArgs {
  std::string db;
  bool json = false;
  bool repair = false;
};

inline constexpr int kFsckExitOperational = 8;

// Registers the subcommand on app; *args receives the parsed options.
CLI::App* AddFsckCommand(CLI::App* app, FsckCommandArgs* args);
// Runs it; returns the exit code.
int RunFsckCommand(const FsckCommandArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cowtree::tools
