// MemFileSystem: an in-memory directory tree whose names, like its files' bytes, have a current
// state and a durable state; the namespace half of the fault-injecting Env.
//
// Contract
// - Paths: "/a/b" (absolute) and "a/b" (relative) are separate trees rooted at "/" and "";
//   empty and "." components are ignored, ".." goes up lexically. Both roots always exist.
// - Current state: what the process sees (Open, ListDir, Exists, FileSize). Errors mirror the
//   POSIX Env: NotFound where it returns NotFound (open, unlink, stat, opendir of a missing
//   name), otherwise IOError built from the errno the kernel would give (ENOENT, EEXIST,
//   EISDIR, ENOTDIR). A directory is renamed only as Store::Backup does it (within its
//   parent, no unsynced operation of its own, no subdirectory; RenameDir); any other directory
//   rename is NotSupported.
// - Durable state: every create (Open with a create mode, CreateDir), rename and delete is
//   recorded as an operation of its parent directory(ies); SyncDir(dir) makes that directory's
//   operations durable, in order. A directory's own entry is durable only after SyncDir of its
//   parent: a directory whose entry never became durable vanishes at a crash with everything in
//   it. File contents are tracked by MemInode (Sync is per file, not here).
// - Crash(model, seed) replaces the current state with what the model leaves on disk (see
//   crash_model.h) and returns what it did. Deterministic: same history + model + seed, same
//   result (directories and inodes are visited in path and inode-number order).
// - Thread-safety: none; FaultInjectionEnv serialises every call with its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/env.h"
#include "persistence/status.h"
#include "testutil/crash_model.h"
#include "testutil/mem_inode.h"

namespace cowtree::testutil {

class MemFileSystem {
 public:
  MemFileSystem();
  MemFileSystem(const MemFileSystem&) = delete;
  MemFileSystem& operator=(const MemFileSystem&) = delete;

  // "/a/b", "a/b", "/" or "".
  static std::string Canonical(std::string_view path);

  // ---- Current state.
  // Opens (or, for kCreate/kCreateExclusive, creates) a regular file. Never truncates.
  Result<std::shared_ptr<MemInode>> Open(const std::string& path, OpenMode mode);
  // The file now named path (NotFound if none, IOError EISDIR for a directory).
  Result<std::shared_ptr<MemInode>> Lookup(const std::string& path) const;
  Status Delete(const std::string& path);
  Status Rename(const std::string& from, const std::string& to);
  Status SyncDir(const std::string& dir);
  Status CreateDir(const std::string& dir);  // OK if it exists
  // Sorted names (files and directories) of dir.
  Status ListDir(const std::string& dir, std::vector<std::string>* names) const;
  bool Exists(const std::string& path) const;
  Result<uint64_t> FileSize(const std::string& path) const;  // 0 for a directory
  // Sum of MemInode::stored_bytes() over the files the current namespace names.
  uint64_t StoredBytes() const;
  // Directory operations not yet made durable by SyncDir.
  size_t unsynced_dir_op_count() const;
  // Unsynced file operations of the files the current namespace names.
  size_t unsynced_file_op_count() const;

  // ---- Durable state (what a crash with kDropUnsynced would leave).
  Result<std::shared_ptr<MemInode>> LookupDurable(const std::string& path) const;
  Status ReadDurable(const std::string& path, std::string* out) const;
  Status ListDurable(const std::string& dir, std::vector<std::string>* names) const;
  // Sum of the durable sizes of the files the durable namespace names.
  uint64_t DurableBytes() const;

  CrashReport Crash(CrashModel model, uint64_t seed);

 private:
  // A directory entry: a file (inode) or, if file is null, a subdirectory.
  struct Entry {
    std::shared_ptr<MemInode> file;
    bool is_dir() const { return file == nullptr; }
  };
  using DirImage = std::map<std::string, Entry>;
  struct DirOp {
    enum class Kind : uint8_t { kLink, kUnlink, kRename };
    Kind kind = Kind::kLink;
    std::string name;  // kRename: the old name
    std::string to;    // kRename: the new name
    Entry entry;       // what was linked/unlinked/renamed
  };

  static bool IsRoot(const std::string& canonical) { return canonical.empty() || canonical == "/"; }
  // Splits a non-root canonical path into its parent directory and its last name.
  static void Split(const std::string& canonical, std::string* dir, std::string* name);
  static std::string Child(const std::string& dir, const std::string& name);
  static void ApplyDirOp(const DirOp& op, DirImage* image);
  // ApplyDirOp to durable_[dir]; a directory's rename also moves its durable image.
  void ApplyDurableDirOp(const std::string& dir, const DirOp& op);
  Status RenameDir(const std::string& src, const std::string& dst, const std::string& what);

  // The current entry named by a non-root canonical path, or null.
  const Entry* FindCurrent(const std::string& canonical) const;
  bool DurableDirReachable(const std::string& canonical) const;
  void PruneUnreachableDurableDirs();
  // Files named by the durable namespace, by inode number, each with one of its durable paths.
  std::map<uint64_t, std::pair<MemInode*, std::string>> DurableFiles() const;

  uint64_t next_inode_id_ = 1;
  std::map<std::string, DirImage> current_;            // every existing directory
  std::map<std::string, DirImage> durable_;            // durable contents of every directory
  std::map<std::string, std::vector<DirOp>> pending_;  // per directory, in order
};

}  // namespace cowtree::testutil
