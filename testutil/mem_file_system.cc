#include "testutil/mem_file_system.h"

#include <cerrno>
#include <set>

#include "testutil/deterministic_rng.h"

namespace cowtree::testutil {

MemFileSystem::MemFileSystem() {
  for (const char* root : {"", "/"}) {
    current_[root];
    durable_[root];
  }
}

std::string MemFileSystem::Canonical(std::string_view path) {
  const bool absolute = !path.empty() && path.front() == '/';
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = slash + 1;
  }
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

void MemFileSystem::Split(const std::string& canonical, std::string* dir, std::string* name) {
  const size_t slash = canonical.rfind('/');
  if (slash == std::string::npos) {
    dir->clear();
    *name = canonical;
  } else {
    *dir = slash == 0 ? "/" : canonical.substr(0, slash);
    *name = canonical.substr(slash + 1);
  }
}

std::string MemFileSystem::Child(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir == "/") return "/" + name;
  return dir + "/" + name;
}

void MemFileSystem::ApplyDirOp(const DirOp& op, DirImage* image) {
  auto same = [&op](const Entry& e) { return e.file == op.entry.file; };
  switch (op.kind) {
    case DirOp::Kind::kLink:
      (*image)[op.name] = op.entry;
      break;
    case DirOp::Kind::kUnlink: {
      auto it = image->find(op.name);
      if (it != image->end() && same(it->second)) image->erase(it);
      break;
    }
    case DirOp::Kind::kRename: {
      auto it = image->find(op.name);
      if (it != image->end() && same(it->second)) image->erase(it);
      (*image)[op.to] = op.entry;
      break;
    }
  }
}

const MemFileSystem::Entry* MemFileSystem::FindCurrent(const std::string& canonical) const {
  std::string dir, name;
  Split(canonical, &dir, &name);
  auto d = current_.find(dir);
  if (d == current_.end()) return nullptr;
  auto e = d->second.find(name);
  return e == d->second.end() ? nullptr : &e->second;
}

Result<std::shared_ptr<MemInode>> MemFileSystem::Open(const std::string& path, OpenMode mode) {
  const std::string canonical = Canonical(path);
  if (IsRoot(canonical) || current_.count(canonical) > 0) {
    return Status::FromErrno("open " + path, EISDIR);
  }
  std::string dir, name;
  Split(canonical, &dir, &name);
  auto d = current_.find(dir);
  if (d == current_.end()) {
    if (FindCurrent(dir) != nullptr) return Status::FromErrno("open " + path, ENOTDIR);
    return Status::NotFound("open " + path + ": no such file");
  }
  auto e = d->second.find(name);
  if (e != d->second.end()) {
    if (mode == OpenMode::kCreateExclusive) return Status::FromErrno("open " + path, EEXIST);
    return e->second.file;
  }
  if (mode == OpenMode::kReadOnly || mode == OpenMode::kReadWrite) {
    return Status::NotFound("open " + path + ": no such file");
  }
  Entry entry{std::make_shared<MemInode>(next_inode_id_++)};
  d->second[name] = entry;
  pending_[dir].push_back(DirOp{DirOp::Kind::kLink, name, "", entry});
  return entry.file;
}

Result<std::shared_ptr<MemInode>> MemFileSystem::Lookup(const std::string& path) const {
  const std::string canonical = Canonical(path);
  if (IsRoot(canonical) || current_.count(canonical) > 0) {
    return Status::FromErrno("open " + path, EISDIR);
  }
  const Entry* e = FindCurrent(canonical);
  if (e == nullptr) return Status::NotFound(path + ": no such file");
  return e->file;
}

Status MemFileSystem::Delete(const std::string& path) {
  const std::string canonical = Canonical(path);
  if (IsRoot(canonical) || current_.count(canonical) > 0) {
    return Status::FromErrno("unlink " + path, EISDIR);
  }
  std::string dir, name;
  Split(canonical, &dir, &name);
  const Entry* entry = FindCurrent(canonical);
  if (entry == nullptr) return Status::NotFound("unlink " + path + ": no such file");
  pending_[dir].push_back(DirOp{DirOp::Kind::kUnlink, name, "", *entry});
  current_[dir].erase(name);
  return Status::OK();
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string what = "rename " + from + " -> " + to;
  const std::string src = Canonical(from);
  const std::string dst = Canonical(to);
  if (IsRoot(src)) return Status::NotSupported(what + ": renaming a root");
  if (current_.count(src) > 0) return RenameDir(src, dst, what);
  const Entry* source = FindCurrent(src);
  if (source == nullptr) return Status::FromErrno(what, ENOENT);
  if (IsRoot(dst) || current_.count(dst) > 0) return Status::FromErrno(what, EISDIR);
  std::string src_dir, src_name, dst_dir, dst_name;
  Split(src, &src_dir, &src_name);
  Split(dst, &dst_dir, &dst_name);
  if (current_.count(dst_dir) == 0) {
    return Status::FromErrno(what, FindCurrent(dst_dir) != nullptr ? ENOTDIR : ENOENT);
  }
  if (src == dst) return Status::OK();
  const Entry entry = *source;
  current_[src_dir].erase(src_name);
  current_[dst_dir][dst_name] = entry;
  if (src_dir == dst_dir) {
    pending_[src_dir].push_back(DirOp{DirOp::Kind::kRename, src_name, dst_name, entry});
  } else {
    // Two directories, two independent journal entries: each needs its own SyncDir.
    pending_[dst_dir].push_back(DirOp{DirOp::Kind::kLink, dst_name, "", entry});
    pending_[src_dir].push_back(DirOp{DirOp::Kind::kUnlink, src_name, "", entry});
  }
  return Status::OK();
}

// The one directory rename cowtree does (Store::Backup: "<dir>.partial" -> "<dir>"): a
// directory whose own operations are all durable and which holds no subdirectory, renamed
// within its parent to a name that does not exist. It is one operation of the parent: durable
// after SyncDir(parent), when the directory's durable image moves to the new name.
Status MemFileSystem::RenameDir(const std::string& src, const std::string& dst,
                                const std::string& what) {
  std::string src_dir, src_name, dst_dir, dst_name;
  Split(src, &src_dir, &src_name);
  if (IsRoot(dst)) return Status::FromErrno(what, EEXIST);
  Split(dst, &dst_dir, &dst_name);
  if (src_dir != dst_dir) {
    return Status::NotSupported(what + ": a directory is only renamed within its parent");
  }
  if (current_.count(dst) > 0 || FindCurrent(dst) != nullptr) {
    return Status::FromErrno(what, EEXIST);
  }
  auto pending = pending_.find(src);
  if (pending != pending_.end() && !pending->second.empty()) {
    return Status::NotSupported(what + ": the directory has unsynced operations (SyncDir first)");
  }
  for (const auto& [name, entry] : current_.at(src)) {
    if (entry.is_dir()) return Status::NotSupported(what + ": the directory has a subdirectory");
  }
  auto node = current_.extract(src);
  node.key() = dst;
  current_.insert(std::move(node));
  current_[src_dir].erase(src_name);
  current_[src_dir][dst_name] = Entry{};
  pending_[src_dir].push_back(DirOp{DirOp::Kind::kRename, src_name, dst_name, Entry{}});
  return Status::OK();
}

void MemFileSystem::ApplyDurableDirOp(const std::string& dir, const DirOp& op) {
  ApplyDirOp(op, &durable_[dir]);
  if (op.kind != DirOp::Kind::kRename || !op.entry.is_dir()) return;
  auto node = durable_.extract(Child(dir, op.name));
  if (node.empty()) return;
  durable_.erase(Child(dir, op.to));
  node.key() = Child(dir, op.to);
  durable_.insert(std::move(node));
}

Status MemFileSystem::SyncDir(const std::string& dir) {
  const std::string canonical = Canonical(dir);
  if (current_.count(canonical) == 0) {
    const bool is_file = !IsRoot(canonical) && FindCurrent(canonical) != nullptr;
    return Status::FromErrno("open directory " + dir, is_file ? ENOTDIR : ENOENT);
  }
  auto p = pending_.find(canonical);
  if (p == pending_.end()) return Status::OK();
  for (const DirOp& op : p->second) ApplyDurableDirOp(canonical, op);
  pending_.erase(p);
  return Status::OK();
}

Status MemFileSystem::CreateDir(const std::string& dir) {
  const std::string canonical = Canonical(dir);
  if (current_.count(canonical) > 0) return Status::OK();
  if (FindCurrent(canonical) != nullptr) return Status::OK();  // EEXIST: the POSIX Env says OK
  std::string parent, name;
  Split(canonical, &parent, &name);
  auto d = current_.find(parent);
  if (d == current_.end()) {
    return Status::FromErrno("mkdir " + dir, FindCurrent(parent) != nullptr ? ENOTDIR : ENOENT);
  }
  d->second[name] = Entry{};
  current_[canonical];
  durable_[canonical].clear();
  pending_[parent].push_back(DirOp{DirOp::Kind::kLink, name, "", Entry{}});
  return Status::OK();
}

Status MemFileSystem::ListDir(const std::string& dir, std::vector<std::string>* names) const {
  names->clear();
  const std::string canonical = Canonical(dir);
  auto d = current_.find(canonical);
  if (d == current_.end()) {
    if (!IsRoot(canonical) && FindCurrent(canonical) != nullptr) {
      return Status::FromErrno("opendir " + dir, ENOTDIR);
    }
    return Status::NotFound("opendir " + dir + ": no such directory");
  }
  for (const auto& [name, entry] : d->second) names->push_back(name);
  return Status::OK();
}

bool MemFileSystem::Exists(const std::string& path) const {
  const std::string canonical = Canonical(path);
  return current_.count(canonical) > 0 || FindCurrent(canonical) != nullptr;
}

Result<uint64_t> MemFileSystem::FileSize(const std::string& path) const {
  const std::string canonical = Canonical(path);
  if (current_.count(canonical) > 0) return uint64_t{0};
  const Entry* e = FindCurrent(canonical);
  if (e == nullptr) return Status::NotFound("stat " + path + ": no such file");
  return e->file->size_bytes();
}

uint64_t MemFileSystem::StoredBytes() const {
  std::set<uint64_t> seen;
  uint64_t total = 0;
  for (const auto& [dir, image] : current_) {
    for (const auto& [name, entry] : image) {
      if (!entry.is_dir() && seen.insert(entry.file->id()).second) {
        total += entry.file->stored_bytes();
      }
    }
  }
  return total;
}

size_t MemFileSystem::unsynced_dir_op_count() const {
  size_t n = 0;
  for (const auto& [dir, ops] : pending_) n += ops.size();
  return n;
}

size_t MemFileSystem::unsynced_file_op_count() const {
  std::set<uint64_t> seen;
  size_t n = 0;
  for (const auto& [dir, image] : current_) {
    for (const auto& [name, entry] : image) {
      if (!entry.is_dir() && seen.insert(entry.file->id()).second) {
        n += entry.file->unsynced_op_count();
      }
    }
  }
  return n;
}

bool MemFileSystem::DurableDirReachable(const std::string& canonical) const {
  if (IsRoot(canonical)) return true;
  if (durable_.count(canonical) == 0) return false;
  std::string parent, name;
  Split(canonical, &parent, &name);
  auto d = durable_.find(parent);
  if (d == durable_.end()) return false;
  auto e = d->second.find(name);
  return e != d->second.end() && e->second.is_dir() && DurableDirReachable(parent);
}

Result<std::shared_ptr<MemInode>> MemFileSystem::LookupDurable(const std::string& path) const {
  const std::string canonical = Canonical(path);
  if (IsRoot(canonical)) return Status::FromErrno("open " + path, EISDIR);
  std::string dir, name;
  Split(canonical, &dir, &name);
  auto d = durable_.find(dir);
  if (d == durable_.end() || !DurableDirReachable(dir)) {
    return Status::NotFound(path + ": not in the durable namespace");
  }
  auto e = d->second.find(name);
  if (e == d->second.end()) return Status::NotFound(path + ": not in the durable namespace");
  if (e->second.is_dir()) return Status::FromErrno("open " + path, EISDIR);
  return e->second.file;
}

Status MemFileSystem::ReadDurable(const std::string& path, std::string* out) const {
  out->clear();
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<MemInode> inode, LookupDurable(path));
  *out = inode->durable();
  return Status::OK();
}

Status MemFileSystem::ListDurable(const std::string& dir, std::vector<std::string>* names) const {
  names->clear();
  const std::string canonical = Canonical(dir);
  if (!DurableDirReachable(canonical)) {
    return Status::NotFound(dir + ": not a directory in the durable namespace");
  }
  for (const auto& [name, entry] : durable_.at(canonical)) names->push_back(name);
  return Status::OK();
}

std::map<uint64_t, std::pair<MemInode*, std::string>> MemFileSystem::DurableFiles() const {
  std::map<uint64_t, std::pair<MemInode*, std::string>> files;
  for (const auto& [dir, image] : durable_) {
    if (!DurableDirReachable(dir)) continue;
    for (const auto& [name, entry] : image) {
      if (!entry.is_dir())
        files.emplace(entry.file->id(), std::make_pair(entry.file.get(), Child(dir, name)));
    }
  }
  return files;
}

uint64_t MemFileSystem::DurableBytes() const {
  uint64_t total = 0;
  for (const auto& [id, file] : DurableFiles()) total += file.first->durable().size();
  return total;
}

void MemFileSystem::PruneUnreachableDurableDirs() {
  // Map order visits a parent before its children ("/a" < "/a/b"), so one pass suffices.
  std::set<std::string> reachable = {"", "/"};
  for (auto it = durable_.begin(); it != durable_.end();) {
    bool keep = IsRoot(it->first);
    if (!keep) {
      std::string parent, name;
      Split(it->first, &parent, &name);
      if (reachable.count(parent) > 0) {
        const DirImage& p = durable_.at(parent);
        auto e = p.find(name);
        keep = e != p.end() && e->second.is_dir();
      }
    }
    if (keep) {
      reachable.insert(it->first);
      ++it;
    } else {
      it = durable_.erase(it);
    }
  }
}

CrashReport MemFileSystem::Crash(CrashModel model, uint64_t seed) {
  CrashReport report;
  report.model = model;
  report.seed = seed;
  DeterministicRng rng(seed);
  const bool torn_model = model == CrashModel::kTornLastWrite ||
                          model == CrashModel::kTornLastWriteGarbage ||
                          model == CrashModel::kTornLastWriteZeros;
  const bool torn_garbage = model == CrashModel::kTornLastWriteGarbage ||
                            (model == CrashModel::kTornLastWrite && rng.Bool());

  // 1. Names: each directory's unsynced operations, in order.
  for (const auto& [dir, ops] : pending_) {
    for (const DirOp& op : ops) {
      const bool keep =
          model == CrashModel::kKeepAll || (model == CrashModel::kKeepRandomSubset && rng.Bool());
      if (keep && durable_.count(dir) > 0) {
        ApplyDurableDirOp(dir, op);
        ++report.dir_ops_kept;
      } else {
        ++report.dir_ops_dropped;
      }
    }
  }
  pending_.clear();
  PruneUnreachableDurableDirs();

  // 2. Contents of every file that still has a name.
  const auto files = DurableFiles();
  MemInode* torn = nullptr;
  if (torn_model) {
    std::vector<MemInode*> candidates;
    for (const auto& [id, file] : files) {
      if (file.first->has_unsynced_write()) candidates.push_back(file.first);
    }
    if (!candidates.empty()) torn = candidates[rng.Uniform(candidates.size())];
  }
  for (const auto& [id, file] : files) {
    MemInode* inode = file.first;
    InodeCrashResult r;
    switch (model) {
      case CrashModel::kKeepAll:
        r = inode->CrashKeepAll();
        break;
      case CrashModel::kDropUnsynced:
        r = inode->CrashDropUnsynced();
        break;
      case CrashModel::kKeepRandomSubset:
        r = inode->CrashKeepRandomSubset(&rng);
        break;
      case CrashModel::kTornLastWriteGarbage:
      case CrashModel::kTornLastWriteZeros:
      case CrashModel::kTornLastWrite:
        r = inode == torn ? inode->CrashTearLastWrite(&rng, torn_garbage)
                          : inode->CrashDropUnsynced();
        break;
    }
    report.file_ops_kept += r.ops_kept;
    report.file_ops_dropped += r.ops_dropped;
    if (r.torn) {
      report.torn_path = file.second;
      report.torn_offset_bytes = r.torn_offset_bytes;
      report.torn_length_bytes = r.torn_length_bytes;
      report.torn_kept_bytes = r.torn_kept_bytes;
      report.torn_tail_is_garbage = torn_garbage;
    }
  }

  // 3. The machine comes back up with exactly what is on disk.
  current_ = durable_;
  return report;
}

}  // namespace cowtree::testutil
