// ../shared/checks/cli-contract.sh (the project's shared check of the `cowtree` command against
// PostgreSQL's definitions) run against this build. Needs ../shared beside the repository:
// registered under the ctest label "shared", which .ci/run includes when ../shared exists, so
// that a clone without it passes its own tests (label "unit").
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "testutil/test_files.h"

namespace {

TEST(SharedChecks, CliContractAgainstPostgresDefinitions) {
  const std::string script = std::string(COWTREE_SOURCE_DIR) + "/../shared/checks/cli-contract.sh";
  ASSERT_TRUE(std::filesystem::exists(script)) << script << " (../shared must sit beside the repo)";
  cowtree::testutil::TempDir tmp;
  const std::string cmd =
      "bash " + script + " " + COWTREE_BINARY + " 100000 >" + tmp.path() + "/out 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string out = cowtree::testutil::ReadFileOrEmpty(tmp.path() + "/out");
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("cli contract: all tables match"), std::string::npos) << out;
}

}  // namespace
