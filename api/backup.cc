// Store::Backup (include/cowtree/store.h, docs/retained_checkpoints.md "Backup and restore"): a
// logical copy of one snapshot into a new store, built in "<to_dir>.partial" and renamed into
// place once complete and durable (rename of a directory is atomic; the parent directory is
// fsynced after it), so `to_dir` holds either the whole backup or nothing. A "<to_dir>.partial"
// left by a backup that failed or was killed is emptied by the next backup to `to_dir` (not
// while another backup holds it, and not if it holds files that are not a store's).
//
// Each tree is streamed in key order with a cursor and written in commits of kEntriesPerCommit
// entries (memory stays bounded by one commit whatever the store size); the copy checkpoints
// and closes before the rename, so its data is durable and reopens without replay.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "api/internal.h"
#include "api/path_inside.h"
#include "cowtree/store.h"
#include "persistence/env.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "recovery/store_dir.h"

namespace cowtree {
namespace {

constexpr size_t kEntriesPerCommit = 1 << 16;

std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

template <TreeKey K>
Status CopyTree(const Snapshot& from, const std::string& name, Store* to) {
  COWTREE_ASSIGN_OR_RETURN(TreeReader<K> reader, from.Tree<K>(name));
  WriteBatch batch = to->NewBatch();
  TreeHandle<K> tree = batch.CreateTree<K>(name);
  size_t pending = 0;
  Cursor<K> c = reader.SeekToFirst();
  for (; c.valid(); c.Next()) {
    batch.Add(tree, c.key(), c.weight());
    if (++pending == kEntriesPerCommit) {
      COWTREE_RETURN_IF_ERROR(to->Commit(batch));
      pending = 0;
    }
  }
  COWTREE_RETURN_IF_ERROR(c.status());
  return to->Commit(batch);  // the creation commits even for an empty tree
}

// A file Backup writes into "<to_dir>.partial" as soon as the copy store exists there, and
// deletes just before the rename: a partial directory holding it was made by a backup that did
// not finish, and only such a directory is ever emptied (found by an adversarial run: any closed
// store named "<to_dir>.partial", or a link of that name to one, was emptied and overwritten).
constexpr char kPartialMarkerName[] = "BACKUP-PARTIAL";

// What `partial` (a "<to_dir>.partial" that exists) is, without following a link:
// InvalidArgument unless it is a directory.
Status CheckPartialIsADirectory(const std::string& partial) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::symlink_status(partial, ec);
  if (ec) return Status::IOError("backup: " + partial + ": " + ec.message());
  if (std::filesystem::is_symlink(st)) {
    return Status::InvalidArgument("backup: " + partial +
                                   " is a symbolic link (a backup builds only in a directory it "
                                   "made; remove it yourself)");
  }
  if (!std::filesystem::is_directory(st)) {
    return Status::InvalidArgument("backup: " + partial +
                                   " exists and is not a directory (remove it yourself)");
  }
  return Status::OK();
}

// Whether `names` (the files of `partial`) are those of a store just created and never written:
// what Store::Open's creation leaves (recovery/store_dir.h CreationFileNames, SUPERBLOCK) with
// no record in its log. A backup killed after it created its copy and before it wrote the
// marker leaves that; it holds no data, so emptying it loses nothing. (That window was not an
// instant: the copy's creation fsyncs four times; killed in its first ~40 ms, about half of 30
// backups left such a copy, and every later backup to that target was refused; adversarial
// round 17.)
bool HoldsOnlyAnEmptyStore(Env* env, const std::string& partial,
                           const std::vector<std::string>& names) {
  const std::vector<std::string>& creation = recovery::CreationFileNames();
  for (const std::string& name : names) {
    if (name != kSuperblockFileName &&
        std::find(creation.begin(), creation.end(), name) == creation.end()) {
      return false;
    }
  }
  const std::string log = JoinPath(partial, LogFileName(1));
  if (!env->FileExists(log)) return true;
  Result<uint64_t> size = env->FileSize(log);
  return size.ok() && *size <= kLogFileHeaderSize;
}

// `partial` (a "<to_dir>.partial" directory) left by a backup that failed or was killed:
// empties it so that this backup can build there. Refused while another backup (or store) holds
// its directory lock (Busy), and unless it holds the marker of a backup and nothing but store
// files beside it, or only a store created and never written (HoldsOnlyAnEmptyStore)
// (InvalidArgument: nothing of someone else's is deleted).
Status RemoveStalePartial(Env* env, const std::string& partial) {
  COWTREE_RETURN_IF_ERROR(CheckPartialIsADirectory(partial));
  Result<std::unique_ptr<FileLock>> lock = env->LockDir(partial, LockMode::kExclusive);
  if (!lock.ok()) {
    if (lock.status().IsBusy()) {
      return Status::Busy("backup: " + partial + " is being written by another backup");
    }
    return lock.status().WithContext("backup: " + partial);
  }
  std::vector<std::string> names;
  COWTREE_RETURN_IF_ERROR(env->ListDir(partial, &names));
  bool marked = false;
  for (const std::string& name : names) {
    FileKind kind;
    uint64_t number = 0;
    if (name == kPartialMarkerName) {
      marked = true;
    } else if (!ParseFileName(name, &kind, &number)) {
      return Status::InvalidArgument("backup: " + partial + " holds '" + name +
                                     "', which is not a store file: an earlier backup did not "
                                     "finish there, but remove it yourself");
    }
  }
  if (!marked && !names.empty() && !HoldsOnlyAnEmptyStore(env, partial, names)) {
    return Status::InvalidArgument("backup: " + partial + " holds files but no " +
                                   kPartialMarkerName +
                                   ": not a backup's unfinished copy (or one killed before it "
                                   "wrote the marker); remove it yourself");
  }
  // The marker first (and durably): from then on the directory is no backup's finished copy.
  // The backup that made it checks the marker under the lock before its rename, so a cleanup
  // killed half way can never be renamed into place as a backup (found by an adversarial run:
  // with the marker deleted last, it was, and the backup returned OK). A cleanup killed after
  // the marker leaves an unmarked directory that the next backup refuses: remove it by hand.
  if (marked) {
    COWTREE_RETURN_IF_ERROR(env->DeleteFile(JoinPath(partial, kPartialMarkerName)));
    COWTREE_RETURN_IF_ERROR(env->SyncDir(partial));
  }
  for (const std::string& name : names) {
    if (name == kPartialMarkerName) continue;
    COWTREE_RETURN_IF_ERROR(env->DeleteFile(JoinPath(partial, name)));
  }
  return env->SyncDir(partial);
}

// Writes the marker into the partial copy (a store now) and makes it durable.
Status MarkPartial(Env* env, const std::string& partial) {
  COWTREE_ASSIGN_OR_RETURN(
      std::unique_ptr<File> marker,
      env->OpenFile(JoinPath(partial, kPartialMarkerName), OpenMode::kCreateExclusive));
  COWTREE_RETURN_IF_ERROR(marker->Sync());
  return env->SyncDir(partial);
}

}  // namespace

Status Store::Backup(const Snapshot& snapshot, const std::string& to_dir_arg) {
  // "DIR/" names DIR: the partial directory is "DIR.partial", not "DIR/.partial".
  COWTREE_RETURN_IF_ERROR(CheckPathHasNoNul(to_dir_arg, "backup: the directory path"));
  std::string to_dir = to_dir_arg;
  while (to_dir.size() > 1 && to_dir.back() == '/') to_dir.pop_back();
  if (snapshot.state_ == nullptr) return Status::InvalidArgument("backup of an empty snapshot");
  if (snapshot.state_->runtime != state_->runtime) {
    return Status::InvalidArgument("backup: the snapshot belongs to another store");
  }
  if (to_dir.empty()) return Status::InvalidArgument("backup: empty target directory");
  if (api_internal::PathIsInside(to_dir, state_->runtime->dir())) {
    // A copy inside the live store would be an unknown file to fsck, and go with the store.
    return Status::InvalidArgument("backup: " + to_dir + " is inside the store's directory " +
                                   state_->runtime->dir());
  }
  Env* env = state_->options.env != nullptr ? state_->options.env : Env::Default();
  const std::string partial = to_dir + ".partial";
  if (env->FileExists(to_dir)) {
    return Status::InvalidArgument("backup: " + to_dir +
                                   " already exists (a backup never "
                                   "overwrites anything)");
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(partial, ec))) {
    // (A link counts, dangling or not: it is refused, never followed.)
    COWTREE_RETURN_IF_ERROR(RemoveStalePartial(env, partial));
  }
  Options o;
  o.create_if_missing = true;
  o.error_if_exists = true;
  o.durability = Durability::kEventual;  // the closing checkpoint makes everything durable
  o.background_thread = false;
  o.checkpoint_on_close = true;
  o.env = state_->options.env;
  o.cache_bytes = state_->options.cache_bytes;
  o.leaf_capacity_entries = state_->options.leaf_capacity_entries;
  o.leaf_capacity_bytes = state_->options.leaf_capacity_bytes;
  o.fanout = state_->options.fanout;
  COWTREE_ASSIGN_OR_RETURN(const std::vector<TreeDescription> trees, snapshot.ListTrees());
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Store> copy, Store::Open(partial, o));
  COWTREE_RETURN_IF_ERROR(MarkPartial(env, partial).WithContext("backup"));
  for (const TreeDescription& t : trees) {
    Status st = t.key_type == KeyType::kInt64 ? CopyTree<int64_t>(snapshot, t.name, copy.get())
                                              : CopyTree<double>(snapshot, t.name, copy.get());
    if (!st.ok()) return st.WithContext("backup: copying tree '" + t.name + "'");
  }
  COWTREE_RETURN_IF_ERROR(copy->Checkpoint());
  COWTREE_RETURN_IF_ERROR(copy->Close());
  copy.reset();
  // Close released the copy's directory lock: take it again and hold it through the rename, so
  // that no other backup to `to_dir` can take this finished copy for a stale one and empty it
  // (found by an adversarial run: the other backup emptied it between the close and the
  // rename, and this one renamed an empty directory into place and returned OK). Busy if it
  // did take it meanwhile: then the marker is its business.
  Result<std::unique_ptr<FileLock>> held = env->LockDir(partial, LockMode::kExclusive);
  if (!held.ok()) {
    return held.status().WithContext("backup: " + partial +
                                     " was taken by another backup to the same target");
  }
  // Missing if another backup began emptying it in the instant before the lock (it deletes the
  // marker first): not this copy any more, whatever is left of it.
  const Status unmarked = env->DeleteFile(JoinPath(partial, kPartialMarkerName));
  if (unmarked.IsNotFound()) {
    return Status::Busy("backup: another backup to the same target began emptying " + partial +
                        " before this one renamed it; nothing was renamed");
  }
  COWTREE_RETURN_IF_ERROR(unmarked.WithContext("backup: the copy's marker"));
  COWTREE_RETURN_IF_ERROR(env->SyncDir(partial));
  if (env->FileExists(to_dir)) {
    // Made while the copy was built: rename(2) would replace an empty directory. (A directory
    // made between this check and the rename is still replaced if empty: the Env's rename
    // is rename(2), not renameat2's RENAME_NOREPLACE.)
    return Status::InvalidArgument("backup: " + to_dir +
                                   " appeared while the backup was written (a backup never "
                                   "overwrites anything); the copy is complete in " +
                                   partial);
  }
  COWTREE_RETURN_IF_ERROR(env->RenameFile(partial, to_dir));
  return env->SyncDir(ParentDir(to_dir));
}

}  // namespace cowtree
