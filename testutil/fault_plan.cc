#include "testutil/fault_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cowtree::testutil {
namespace {

std::string ErrnoText(int errno_value) {
  return "errno " + std::to_string(errno_value) + " (" + std::strerror(errno_value) + ")";
}

const char* ScopeName(OpScope scope) {
  return scope == OpScope::kAnyOp ? "OpScope::kAnyOp" : "OpScope::kMutatingOp";
}

}  // namespace

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kOpen:
      return "OpenFile";
    case OpKind::kCreate:
      return "OpenFile(create)";
    case OpKind::kRead:
      return "ReadAt";
    case OpKind::kSize:
      return "Size";
    case OpKind::kMap:
      return "Map";
    case OpKind::kWrite:
      return "WriteAt";
    case OpKind::kWriteZeros:
      return "WriteZeros";
    case OpKind::kSync:
      return "Sync";
    case OpKind::kTruncate:
      return "Truncate";
    case OpKind::kAllocate:
      return "Allocate";
    case OpKind::kPunchHole:
      return "PunchHole";
    case OpKind::kDelete:
      return "DeleteFile";
    case OpKind::kRename:
      return "RenameFile";
    case OpKind::kSyncDir:
      return "SyncDir";
    case OpKind::kCreateDir:
      return "CreateDir";
    case OpKind::kListDir:
      return "ListDir";
    case OpKind::kExists:
      return "FileExists";
    case OpKind::kFileSize:
      return "FileSize";
    case OpKind::kLock:
      return "LockDir";
  }
  return "unknown op";
}

bool IsMutating(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate:
    case OpKind::kWrite:
    case OpKind::kWriteZeros:
    case OpKind::kSync:
    case OpKind::kTruncate:
    case OpKind::kAllocate:
    case OpKind::kPunchHole:
    case OpKind::kDelete:
    case OpKind::kRename:
    case OpKind::kSyncDir:
    case OpKind::kCreateDir:
      return true;
    default:
      return false;
  }
}

std::string FaultPlan::Describe(const OpInfo& op) const {
  std::string s = "op #" + std::to_string(op_count_);
  if (IsMutating(op.kind)) s += " (mutating #" + std::to_string(mutating_op_count_) + ")";
  s += " " + std::string(OpKindName(op.kind)) + " " + op.path;
  switch (op.kind) {
    case OpKind::kRead:
    case OpKind::kWrite:
    case OpKind::kWriteZeros:
    case OpKind::kAllocate:
    case OpKind::kPunchHole:
    case OpKind::kMap:
      s += " offset " + std::to_string(op.offset_bytes) + " length " +
           std::to_string(op.length_bytes);
      break;
    case OpKind::kTruncate:
      s += " to " + std::to_string(op.offset_bytes);
      break;
    default:
      break;
  }
  return s;
}

void FaultPlan::RecordFault(std::string description) {
  ++fault_count_;
  last_fault_ = std::move(description);
}

OpVerdict FaultPlan::Admit(const OpInfo& op) {
  const bool mutating = IsMutating(op.kind);
  ++op_count_;
  if (mutating) ++mutating_op_count_;
  if (op.kind == OpKind::kSync) ++sync_count_;

  OpVerdict v;
  v.op_number = op_count_;
  if (crashed_) {
    v.action = OpVerdict::Action::kCrashed;
    v.description = crash_description_;
    return v;
  }
  if (mutating && crash_at_mutating_op_ != 0 && mutating_op_count_ == crash_at_mutating_op_) {
    CrashNow("CrashAtOp(k=" + std::to_string(crash_at_mutating_op_) + ") reached: " + Describe(op) +
             " was not performed");
    v.action = OpVerdict::Action::kCrashed;
    v.description = crash_description_;
    return v;
  }
  if (op.kind == OpKind::kExists) return v;  // cannot report an error

  auto fail = [&](int errno_value, std::string description) {
    v.action = OpVerdict::Action::kFail;
    v.errno_value = errno_value;
    v.description = std::move(description);
    RecordFault(v.description);
    return v;
  };
  for (const FailRule& rule : fail_rules_) {
    uint64_t index = rule.scope == OpScope::kAnyOp ? op_count_ : 0;
    if (rule.scope == OpScope::kMutatingOp && mutating) index = mutating_op_count_;
    if (index == 0) continue;
    const bool hit = rule.mode == FailMode::kOnce ? index == rule.k : index >= rule.k;
    if (!hit) continue;
    return fail(rule.errno_value,
                "FailOp(k=" + std::to_string(rule.k) + ", " +
                    (rule.mode == FailMode::kOnce ? "FailMode::kOnce" : "FailMode::kPersistent") +
                    ", " + ErrnoText(rule.errno_value) + ", " + ScopeName(rule.scope) +
                    ") failed " + Describe(op));
  }
  if (op.kind == OpKind::kSync &&
      std::find(eio_syncs_.begin(), eio_syncs_.end(), sync_count_) != eio_syncs_.end()) {
    v.drop_unsynced = true;
    return fail(EIO, "FailSyncWithEio(k=" + std::to_string(sync_count_) + ") failed " +
                         Describe(op) + " with EIO; its unsynced data was dropped");
  }
  if (random_one_in_ != 0 && (random_scope_ == OpScope::kAnyOp || mutating) &&
      random_rng_->OneIn(random_one_in_)) {
    return fail(random_errno_, "FailRandomOps(one_in=" + std::to_string(random_one_in_) +
                                   ", seed=" + std::to_string(random_seed_) + ", " +
                                   ErrnoText(random_errno_) + ", " + ScopeName(random_scope_) +
                                   ") failed " + Describe(op));
  }
  return v;
}

std::optional<std::string> FaultPlan::SpaceFault(const OpInfo& op, uint64_t stored_bytes,
                                                 uint64_t growth_bytes) {
  if (growth_bytes == 0) return std::nullopt;
  std::string description;
  if (no_space_) {
    description = "SetNoSpace(true): ENOSPC for " + Describe(op) + " (would add " +
                  std::to_string(growth_bytes) + " stored bytes)";
  } else if (space_limit_bytes_ != kUnlimited &&
             (stored_bytes > space_limit_bytes_ ||
              growth_bytes > space_limit_bytes_ - stored_bytes)) {
    description = "SetSpaceLimitBytes(" + std::to_string(space_limit_bytes_) + "): ENOSPC for " +
                  Describe(op) + " (stored " + std::to_string(stored_bytes) + " + " +
                  std::to_string(growth_bytes) + " bytes)";
  } else {
    return std::nullopt;
  }
  RecordFault(description);
  return description;
}

void FaultPlan::FailOp(uint64_t k, FailMode mode, int errno_value, OpScope scope) {
  fail_rules_.push_back(FailRule{k, mode, errno_value, scope});
}

void FaultPlan::FailSyncWithEio(uint64_t k) { eio_syncs_.push_back(k); }

void FaultPlan::FailRandomOps(uint64_t one_in, uint64_t seed, int errno_value, OpScope scope) {
  random_one_in_ = one_in;
  random_seed_ = seed;
  random_errno_ = errno_value;
  random_scope_ = scope;
  random_rng_.emplace(seed);
}

void FaultPlan::CrashNow(const std::string& why) {
  if (crashed_) return;
  crashed_ = true;
  crash_description_ = "simulated crash: " + why;
  RecordFault(crash_description_);
}

void FaultPlan::Resume() {
  crashed_ = false;
  crash_at_mutating_op_ = 0;
  crash_description_.clear();
}

void FaultPlan::Clear() {
  fail_rules_.clear();
  eio_syncs_.clear();
  random_one_in_ = 0;
  random_rng_.reset();
  no_space_ = false;
  space_limit_bytes_ = kUnlimited;
  Resume();
}

}  // namespace cowtree::testutil
