// An Env that forwards every call to another (by default Env::Default()), for tests that wrap a
// few calls of a real file system: override what the test watches or changes, and call the
// base class for the rest (as LevelDB's EnvWrapper). Thread-safety: as the target Env's.
// Lifetime: the target must outlive it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "persistence/env.h"

namespace cowtree::testutil {

class ForwardingEnv : public Env {
 public:
  explicit ForwardingEnv(Env* target = Env::Default()) : target_(target) {}
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    return target_->OpenFile(path, mode);
  }
  Status DeleteFile(const std::string& path) override { return target_->DeleteFile(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return target_->RenameFile(from, to);
  }
  Status SyncDir(const std::string& dir) override { return target_->SyncDir(dir); }
  Status CreateDir(const std::string& dir) override { return target_->CreateDir(dir); }
  Status ListDir(const std::string& dir, std::vector<std::string>* names) override {
    return target_->ListDir(dir, names);
  }
  bool FileExists(const std::string& path) override { return target_->FileExists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return target_->FileSize(path); }
  Result<std::unique_ptr<FileLock>> LockDir(const std::string& dir, LockMode mode) override {
    return target_->LockDir(dir, mode);
  }
  uint64_t NowMicros() override { return target_->NowMicros(); }

 protected:
  Env* target() const { return target_; }

 private:
  Env* const target_;
};

}  // namespace cowtree::testutil
