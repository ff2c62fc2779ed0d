#include "testutil/command.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "testutil/test_files.h"

namespace cowtree::testutil {

CommandResult RunCommand(const std::string& binary, const std::string& args,
                         const std::string& scratch_dir, const std::string& env) {
  const std::string out = scratch_dir + "/stdout", err = scratch_dir + "/stderr";
  const std::string cmd = env + " " + binary + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFileOrEmpty(out);
  r.err = ReadFileOrEmpty(err);
  return r;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  EXPECT_TRUE(f.good()) << "cannot write " << path;
}

}  // namespace cowtree::testutil
