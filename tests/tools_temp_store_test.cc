// tools/temp_store.h: the temporary store of `cowtree demo` / `bench` is removed on every exit,
// a terminating signal included (it was left behind: found by an adversarial run).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "testutil/command.h"
#include "testutil/test_files.h"
#include "tools/temp_store.h"

namespace {

using cowtree::testutil::TempDir;

size_t Entries(const std::string& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

TEST(TempStoreDir, RemovedWhenDestroyedKeptWhenAsked) {
  TempDir tmp;
  ASSERT_EQ(setenv("TMPDIR", tmp.path().c_str(), 1), 0);
  std::string removed, kept;
  {
    auto a = cowtree::tools::TempStoreDir::Create("cowtree-test");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    removed = a->path();
    cowtree::testutil::WriteTextFile(removed + "/f", "x");
    auto b = cowtree::tools::TempStoreDir::Create("cowtree-test");
    ASSERT_TRUE(b.ok());
    kept = b->path();
    b->Keep();
    EXPECT_EQ(Entries(tmp.path()), 2u);
  }
  unsetenv("TMPDIR");
  EXPECT_FALSE(std::filesystem::exists(removed));
  EXPECT_TRUE(std::filesystem::exists(kept));
}

// SIGINT, SIGTERM and SIGHUP in the middle of `cowtree bench`: the process dies of the signal
// (exit status 128 + signal for a shell) and its temporary store is gone.
TEST(TempStoreDir, ATerminatingSignalRemovesTheStoreOfBench) {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    TempDir tmp;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setenv("TMPDIR", tmp.path().c_str(), 1);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(COWTREE_BINARY, COWTREE_BINARY, "bench", "--queries", "1000000000", nullptr);
      _exit(127);
    }
    // The store exists once bench has started; give it a moment to write into it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Entries(tmp.path()) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(Entries(tmp.path()), 1u) << "bench did not create its store";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(kill(pid, sig), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "signal " << sig << ": status " << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_EQ(Entries(tmp.path()), 0u) << "signal " << sig << " left the store behind";
  }
}

}  // namespace
