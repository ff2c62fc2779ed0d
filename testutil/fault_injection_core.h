// FaultInjectionEnv::Core: the state behind a FaultInjectionEnv, shared (by shared_ptr) with the
// Files, MappedRegions and FileLocks it hands out so that they may outlive the Env. Internal to
// fault_injection_env.cc / fault_injection_file.cc.
//
// Contract: every member is guarded by mu except the clock atomics. Admit() is the single gate
// every operation passes: it counts the operation and returns the Status to fail it with, or OK.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "persistence/env.h"
#include "persistence/status.h"
#include "testutil/fault_injection_env.h"
#include "testutil/fault_plan.h"
#include "testutil/mem_file_system.h"

namespace cowtree::testutil {

struct FaultInjectionEnv::Core {
  std::mutex mu;
  MemFileSystem fs;
  FaultPlan plan;
  uint64_t crash_epoch = 0;               // SimulateCrash calls so far
  // canonical directory -> (token -> mode) of its holders: one exclusive or any shared.
  std::map<std::string, std::map<uint64_t, LockMode>> locks;
  uint64_t next_lock_token = 1;
  std::atomic<bool> fake_clock{false};
  std::atomic<uint64_t> fake_now_micros{0};

  // Counts op and applies the plan. handle_epoch: the crash epoch the calling File was opened
  // in (null for Env calls). *drop_unsynced (if given) is set when a failed Sync must drop its
  // file's unsynced data. Requires mu.
  Status Admit(const OpInfo& op, const uint64_t* handle_epoch, bool* drop_unsynced = nullptr);
  // ENOSPC if the plan's space rules refuse growth_bytes more stored bytes. Requires mu.
  Status CheckSpace(const OpInfo& op, uint64_t growth_bytes);
};

// A File of the FaultInjectionEnv (fault_injection_file.cc).
std::unique_ptr<File> NewFaultInjectionFile(std::shared_ptr<FaultInjectionEnv::Core> core,
                                            std::shared_ptr<MemInode> inode, std::string path,
                                            bool writable, uint64_t crash_epoch);

}  // namespace cowtree::testutil
