// The `cowtree` command's reliability contract (the CLI items of the reliability issue):
// valid JSON for every input, CSV line-ending and integer-range errors, commits by time from a
// slow pipe, SIGPIPE / stdout write failures, temporary stores removed on every exit path,
// honest --help about durability, and exact reporting + `ingest --resume` after failures.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "testutil/test_files.h"

namespace {

using cowtree::testutil::TempDir;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) { return cowtree::testutil::ReadFileOrEmpty(path); }

// Runs `cowtree ARGS` through the shell (so ARGS may hold redirections and environment).
RunResult RunCowtree(const std::string& args, const TempDir& tmp, const std::string& env = "") {
  const std::string out = tmp.path() + "/stdout", err = tmp.path() + "/stderr";
  const std::string cmd =
      env + " " + std::string(COWTREE_BINARY) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// ---- (16f) --help is honest about what "acknowledged" means per durability mode ----

TEST(CliHelp, DurabilityHelpSaysAcknowledgedRowsMayBeLost) {
  TempDir tmp;
  RunResult r = RunCowtree("ingest --help", tmp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // CLI11 wraps long descriptions; compare without line breaks and indentation.
  std::string help;
  bool space = false;
  for (char c : r.out) {
    if (c == '\n' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !help.empty()) help += ' ';
    space = false;
    help += c;
  }
  EXPECT_NE(help.find("eventual: acknowledged while still in the process's buffer; acknowledged "
                      "rows may be lost on a process crash or power loss within "
                      "flush_interval_ms"),
            std::string::npos)
      << r.out;
  EXPECT_NE(help.find("may be lost on a power loss within sync_interval_ms"), std::string::npos)
      << r.out;
}

}  // namespace
