// Runs a function in a forked child process and hands its result back to the parent: for tests
// that measure the child's own peak RSS (VmHWM), which nothing the parent did may inflate.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <type_traits>

namespace cowtree::testutil {

// Forks; the child calls fn(&report) on a value-initialized Report, writes it to a pipe and
// _exits. The parent reads it into *out and waits. Returns true if the child exited with
// status 0 after writing the whole report. Report must be trivially copyable (it crosses the
// pipe as bytes). Call from a single-threaded point of the test (fork copies one thread).
template <typename Report, typename Fn>
bool RunInForkedChild(Fn fn, Report* out) {
  static_assert(std::is_trivially_copyable_v<Report>);
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    Report r{};
    fn(&r);
    const ssize_t w = write(fds[1], &r, sizeof(r));
    _exit(w == static_cast<ssize_t>(sizeof(r)) ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof(Report)) {
    const ssize_t k = read(fds[0], reinterpret_cast<char*>(out) + got, sizeof(Report) - got);
    if (k <= 0) break;
    got += static_cast<size_t>(k);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == sizeof(Report) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace cowtree::testutil
