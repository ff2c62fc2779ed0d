// Running a command-line program from a test: the `cowtree` binary in the CLI suites.
// Thread-safety: none needed (one test thread); the scratch directory must be the test's own.
#pragma once

#include <string>

namespace cowtree::testutil {

struct CommandResult {
  int exit_code = -1;  // -1 if the program did not exit normally (killed by a signal)
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr
};

// Runs `env binary args` through the shell (so `args` may hold redirections and `env`
// variable assignments), capturing stdout and stderr in files under scratch_dir.
CommandResult RunCommand(const std::string& binary, const std::string& args,
                         const std::string& scratch_dir, const std::string& env = "");

// Writes `text` to `path` (binary, replacing it); the test fails if it cannot.
void WriteTextFile(const std::string& path, const std::string& text);

}  // namespace cowtree::testutil
