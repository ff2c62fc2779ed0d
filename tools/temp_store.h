// TempStoreDir: the temporary store directory of `cowtree demo` and `cowtree bench`, removed
// with everything in it when the guard is destroyed — on every exit path, error returns
// included — unless Keep() was called (demo --keep).
//
// The directory is created by mkdtemp as $TMPDIR/<prefix>-XXXXXX ($TMPDIR unset or empty:
// /tmp). Declare the guard before any Runtime opened on the directory, so that the runtime is
// closed (destroyed) before the directory is removed. Removal errors are ignored (nothing
// useful can be done about them at that point). Not copyable; movable.
// Signals: the first Create blocks SIGINT, SIGTERM and SIGHUP in the calling thread (threads
// started later inherit the mask) and starts a thread that waits for them; on one it removes
// every directory whose guard is alive and not kept, then dies of the same signal (exit status
// 128 + signal, as without the guard). So Ctrl-C or `kill` during `cowtree demo` or `bench`
// leaves nothing behind. SIGKILL cannot be caught: it still leaves the directory.
// Thread-safety: guards may be created and destroyed from any thread.
#pragma once

#include <string>

#include "persistence/status.h"

namespace cowtree::tools {

class TempStoreDir {
 public:
  static Result<TempStoreDir> Create(const std::string& prefix);
  TempStoreDir(TempStoreDir&& other) noexcept;
  TempStoreDir& operator=(TempStoreDir&&) = delete;
  TempStoreDir(const TempStoreDir&) = delete;
  TempStoreDir& operator=(const TempStoreDir&) = delete;
  ~TempStoreDir();

  const std::string& path() const { return path_; }
  void Keep();

 private:
  explicit TempStoreDir(std::string path) : path_(std::move(path)) {}
  std::string path_;  // empty after a move
  bool keep_ = false;
};

}  // namespace cowtree::tools
