#include "tools/temp_store.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cowtree::tools {
namespace {

// The directories to remove when a terminating signal arrives (guards alive, not kept).
struct Registry {
  std::mutex mu;
  std::set<std::string> paths;
};

Registry& TheRegistry() {
  static Registry* r = new Registry;  // never destroyed: the watcher may use it at exit
  return *r;
}

sigset_t TerminatingSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void RemoveTree(const std::string& path) {
  // A runtime thread may create a file while the tree is removed: try again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (!std::filesystem::exists(path, ec)) return;
  }
}

[[noreturn]] void WatchSignals(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    // The lock is held until the process dies: a guard destroyed meanwhile (the main thread
    // failing because its store is gone) or a new guard blocks instead of exiting with a false
    // error or leaving a directory created after the removal.
    Registry& r = TheRegistry();
    r.mu.lock();
    for (const std::string& path : r.paths) RemoveTree(path);
    r.paths.clear();
    // Die of the signal, as the process would have without the guard.
    ::signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    ::raise(sig);
    std::_Exit(128 + sig);  // not reached: the default action terminates
  }
}

void StartWatcherOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    const sigset_t set = TerminatingSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(WatchSignals, set).detach();
  });
}

}  // namespace

Result<TempStoreDir> TempStoreDir::Create(const std::string& prefix) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = (tmpdir != nullptr && tmpdir[0] != '\0') ? tmpdir : "/tmp";
  pattern += "/" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  StartWatcherOnce();
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);  // a signal now finds the directory registered
  if (mkdtemp(buf.data()) == nullptr) return Status::FromErrno("mkdtemp " + pattern, errno);
  r.paths.insert(buf.data());
  return TempStoreDir(std::string(buf.data()));
}

TempStoreDir::TempStoreDir(TempStoreDir&& other) noexcept
    : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

void TempStoreDir::Keep() {
  keep_ = true;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.paths.erase(path_);
}

TempStoreDir::~TempStoreDir() {
  if (path_.empty()) return;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.paths.erase(path_);
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace cowtree::tools
