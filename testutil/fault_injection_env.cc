#include "testutil/fault_injection_env.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <utility>

#include "testutil/deterministic_rng.h"
#include "testutil/fault_injection_core.h"

namespace cowtree::testutil {
namespace {

// The error the POSIX Env would return for errno_value from this kind of operation.
Status InjectedError(OpKind kind, const std::string& description, int errno_value) {
  const bool reports_not_found = kind == OpKind::kOpen || kind == OpKind::kCreate ||
                                 kind == OpKind::kDelete || kind == OpKind::kFileSize ||
                                 kind == OpKind::kListDir;
  if (errno_value == ENOENT && reports_not_found) return Status::NotFound(description);
  return Status::FromErrno(description, errno_value);
}

class FaultInjectionFileLock final : public FileLock {
 public:
  FaultInjectionFileLock(std::shared_ptr<FaultInjectionEnv::Core> core, std::string canonical,
                         uint64_t token)
      : core_(std::move(core)), canonical_(std::move(canonical)), token_(token) {}
  ~FaultInjectionFileLock() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    auto it = core_->locks.find(canonical_);
    // A crash released every lock; a later holder has another token.
    if (it != core_->locks.end()) {
      it->second.erase(token_);
      if (it->second.empty()) core_->locks.erase(it);
    }
  }

 private:
  std::shared_ptr<FaultInjectionEnv::Core> core_;
  std::string canonical_;
  uint64_t token_;
};

}  // namespace

Status FaultInjectionEnv::Core::Admit(const OpInfo& op, const uint64_t* handle_epoch,
                                      bool* drop_unsynced) {
  OpVerdict v = plan.Admit(op);
  switch (v.action) {
    case OpVerdict::Action::kCrashed:
      return Status::IOError(v.description + "; refused op #" + std::to_string(v.op_number) + " " +
                                 OpKindName(op.kind) + " " + op.path,
                             EIO);
    case OpVerdict::Action::kFail:
    case OpVerdict::Action::kRun:
      break;
  }
  if (handle_epoch != nullptr && *handle_epoch != crash_epoch) {
    return Status::IOError(
        "file handle from before the crash: " + std::string(OpKindName(op.kind)) + " " + op.path +
            " (opened before SimulateCrash #" + std::to_string(crash_epoch) + ")",
        EBADF);
  }
  if (v.action == OpVerdict::Action::kFail) {
    if (drop_unsynced != nullptr) *drop_unsynced = v.drop_unsynced;
    return InjectedError(op.kind, "injected fault: " + v.description, v.errno_value);
  }
  return Status::OK();
}

Status FaultInjectionEnv::Core::CheckSpace(const OpInfo& op, uint64_t growth_bytes) {
  if (growth_bytes == 0 || !plan.space_rules_active()) return Status::OK();
  std::optional<std::string> fault = plan.SpaceFault(op, fs.StoredBytes(), growth_bytes);
  if (!fault.has_value()) return Status::OK();
  return Status::FromErrno("injected fault: " + *fault, ENOSPC);
}

FaultInjectionEnv::FaultInjectionEnv() : core_(std::make_shared<Core>()) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

Result<std::unique_ptr<File>> FaultInjectionEnv::OpenFile(const std::string& path, OpenMode mode) {
  std::lock_guard<std::mutex> lock(core_->mu);
  const bool create = mode == OpenMode::kCreate || mode == OpenMode::kCreateExclusive;
  COWTREE_RETURN_IF_ERROR(
      core_->Admit(OpInfo{create ? OpKind::kCreate : OpKind::kOpen, path, 0, 0}, nullptr));
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<MemInode> inode, core_->fs.Open(path, mode));
  return NewFaultInjectionFile(core_, std::move(inode), path, mode != OpenMode::kReadOnly,
                               core_->crash_epoch);
}

Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kDelete, path, 0, 0}, nullptr));
  return core_->fs.Delete(path);
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kRename, from + " -> " + to, 0, 0}, nullptr));
  return core_->fs.Rename(from, to);
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kSyncDir, dir, 0, 0}, nullptr));
  return core_->fs.SyncDir(dir);
}

Status FaultInjectionEnv::CreateDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kCreateDir, dir, 0, 0}, nullptr));
  return core_->fs.CreateDir(dir);
}

Status FaultInjectionEnv::ListDir(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kListDir, dir, 0, 0}, nullptr));
  return core_->fs.ListDir(dir, names);
}

bool FaultInjectionEnv::FileExists(const std::string& path) {
  std::lock_guard<std::mutex> lock(core_->mu);
  (void)core_->plan.Admit(OpInfo{OpKind::kExists, path, 0, 0});  // counted, never failed
  return core_->fs.Exists(path);
}

Result<uint64_t> FaultInjectionEnv::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kFileSize, path, 0, 0}, nullptr));
  return core_->fs.FileSize(path);
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockDir(const std::string& dir,
                                                             LockMode mode) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_RETURN_IF_ERROR(core_->Admit(OpInfo{OpKind::kLock, dir, 0, 0}, nullptr));
  std::vector<std::string> names;
  Status listed = core_->fs.ListDir(dir, &names);
  if (!listed.ok()) {
    if (listed.IsNotFound())
      return Status::NotFound("open directory " + dir + ": no such directory");
    return listed;
  }
  std::string canonical = MemFileSystem::Canonical(dir);
  auto& holders = core_->locks[canonical];
  const bool conflict = mode == LockMode::kExclusive
                            ? !holders.empty()
                            : std::any_of(holders.begin(), holders.end(), [](const auto& h) {
                                return h.second == LockMode::kExclusive;
                              });
  if (conflict) {
    if (holders.empty()) core_->locks.erase(canonical);
    return Status::Busy(dir + " is locked by another process (store already open)");
  }
  const uint64_t token = core_->next_lock_token++;
  holders[token] = mode;
  return std::unique_ptr<FileLock>(new FaultInjectionFileLock(core_, std::move(canonical), token));
}

uint64_t FaultInjectionEnv::NowMicros() {
  if (core_->fake_clock.load(std::memory_order_acquire)) {
    return core_->fake_now_micros.load(std::memory_order_acquire);
  }
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

CrashReport FaultInjectionEnv::SimulateCrash(CrashModel model, uint64_t seed) {
  std::lock_guard<std::mutex> lock(core_->mu);
  CrashReport report = core_->fs.Crash(model, seed);
  ++core_->crash_epoch;
  core_->locks.clear();
  std::string description = report.ToString();
  if (core_->plan.crashed()) description = core_->plan.last_fault() + "; then " + description;
  core_->plan.Resume();
  core_->plan.RecordFault(std::move(description));
  return report;
}

void FaultInjectionEnv::CrashAtOp(uint64_t k) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.CrashAtOp(k);
}

void FaultInjectionEnv::CrashNow() {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.CrashNow("CrashNow() after op #" + std::to_string(core_->plan.op_count()) +
                       " (mutating #" + std::to_string(core_->plan.mutating_op_count()) + ")");
}

bool FaultInjectionEnv::crash_point_reached() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.crashed();
}

void FaultInjectionEnv::FailOp(uint64_t k, FailMode mode, int errno_value, OpScope scope) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.FailOp(k, mode, errno_value, scope);
}

void FaultInjectionEnv::FailSyncWithEio(uint64_t k) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.FailSyncWithEio(k);
}

void FaultInjectionEnv::FailRandomOps(uint64_t one_in, uint64_t seed, int errno_value,
                                      OpScope scope) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.FailRandomOps(one_in, seed, errno_value, scope);
}

void FaultInjectionEnv::SetNoSpace(bool no_space) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.SetNoSpace(no_space);
}

void FaultInjectionEnv::SetSpaceLimitBytes(uint64_t limit_bytes) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.SetSpaceLimitBytes(limit_bytes);
}

void FaultInjectionEnv::ClearFaults() {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->plan.Clear();
}

uint64_t FaultInjectionEnv::op_count() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.op_count();
}

uint64_t FaultInjectionEnv::mutating_op_count() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.mutating_op_count();
}

uint64_t FaultInjectionEnv::sync_count() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.sync_count();
}

uint64_t FaultInjectionEnv::fault_count() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.fault_count();
}

std::string FaultInjectionEnv::LastFault() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->plan.last_fault();
}

namespace {

// The file named path now, else the one a crash would keep under that name.
Result<std::shared_ptr<MemInode>> FindForDamage(const MemFileSystem& fs, const std::string& path) {
  Result<std::shared_ptr<MemInode>> inode = fs.Lookup(path);
  if (inode.ok() || !inode.status().IsNotFound()) return inode;
  return fs.LookupDurable(path);
}

}  // namespace

Status FaultInjectionEnv::FlipBit(const std::string& path, uint64_t offset_bytes, int bit) {
  if (bit < 0 || bit > 7) return Status::InvalidArgument("FlipBit: bit must be in [0, 7]");
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<MemInode> inode, FindForDamage(core_->fs, path));
  const char mask = static_cast<char>(1u << bit);
  if (!inode->DamageByte(offset_bytes, [mask](char c) { return static_cast<char>(c ^ mask); })) {
    return Status::InvalidArgument("FlipBit: offset " + std::to_string(offset_bytes) +
                                   " is past the end of " + path);
  }
  core_->plan.RecordFault("FlipBit(" + path + ", offset " + std::to_string(offset_bytes) +
                          ", bit " + std::to_string(bit) + ")");
  return Status::OK();
}

Status FaultInjectionEnv::CorruptBytes(const std::string& path, uint64_t offset_bytes,
                                       uint64_t length_bytes, uint64_t seed) {
  std::lock_guard<std::mutex> lock(core_->mu);
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<MemInode> inode, FindForDamage(core_->fs, path));
  DeterministicRng rng(seed);
  uint64_t damaged = 0;
  for (uint64_t i = 0; i < length_bytes; ++i) {
    const char mask = static_cast<char>(1 + rng.Uniform(255));
    if (inode->DamageByte(offset_bytes + i,
                          [mask](char c) { return static_cast<char>(c ^ mask); })) {
      ++damaged;
    }
  }
  if (damaged == 0) {
    return Status::InvalidArgument("CorruptBytes: offset " + std::to_string(offset_bytes) +
                                   " is past the end of " + path);
  }
  core_->plan.RecordFault("CorruptBytes(" + path + ", offset " + std::to_string(offset_bytes) +
                          ", length " + std::to_string(length_bytes) +
                          ", seed=" + std::to_string(seed) + "): " + std::to_string(damaged) +
                          " bytes damaged");
  return Status::OK();
}

Status FaultInjectionEnv::ReadDurable(const std::string& path, std::string* out) const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->fs.ReadDurable(path, out);
}

Status FaultInjectionEnv::ListDurable(const std::string& dir,
                                      std::vector<std::string>* names) const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->fs.ListDurable(dir, names);
}

uint64_t FaultInjectionEnv::DurableBytes() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->fs.DurableBytes();
}

uint64_t FaultInjectionEnv::StoredBytes() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->fs.StoredBytes();
}

size_t FaultInjectionEnv::UnsyncedOpCount() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->fs.unsynced_file_op_count() + core_->fs.unsynced_dir_op_count();
}

void FaultInjectionEnv::UseFakeClock(uint64_t now_micros) {
  core_->fake_now_micros.store(now_micros, std::memory_order_release);
  core_->fake_clock.store(true, std::memory_order_release);
}

void FaultInjectionEnv::AdvanceFakeClockMicros(uint64_t delta_micros) {
  core_->fake_now_micros.fetch_add(delta_micros, std::memory_order_acq_rel);
}

}  // namespace cowtree::testutil
