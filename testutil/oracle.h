// Oracle: the expected state of a store after every commit of a test workload, which commits
// are acknowledged as durable against which kind of crash, and the checks that compare a
// (recovered) Runtime with it.
//
// Contract
// - Epoch j is the j-th commit of the store's life (the runtime numbers commits 1, 2, ... and a
//   checkpoint does not consume an epoch), so state(j) is what a store that recovered to epoch
//   j must hold. state(0) is the empty store.
// - BeginCommit(next) records the state the next commit will produce BEFORE Commit is called:
//   a commit that returns an error may still have reached the log, so recovery may legally
//   land on it (attempted() is the upper bound). AckCommit(mode) after Commit returned OK;
//   AckSync() after SyncLog/Checkpoint/Close returned OK (every acknowledged commit is then
//   on disk, fdatasync'd).
// - Durable floors (DESIGN.md "Durability modes"): against power loss a commit is durable when
//   Commit returned OK in strict mode, otherwise once a later sync returned OK; against a
//   process crash (CrashModel::kKeepAll) a balanced commit is durable once acknowledged (its
//   record was handed to the OS), an eventual one only once synced.
// - TruncateTo(j) forgets the states after j (a recovery landed on j; the next commit is j+1).
// - Thread-safety: none (one per simulated history).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "persistence/runtime.h"
#include "persistence/status.h"
#include "testutil/crash_model.h"

namespace cowtree::testutil {

using TreeModel = std::map<int64_t, int64_t>;         // key -> weight (never 0)
using StoreModel = std::map<std::string, TreeModel>;  // live tree name -> entries

class Oracle {
 public:
  Oracle() : states_(1) {}

  const StoreModel& state(uint64_t epoch) const { return states_.at(epoch); }
  const StoreModel& latest() const { return states_.back(); }
  uint64_t attempted() const { return states_.size() - 1; }
  uint64_t acked() const { return acked_; }
  uint64_t durable_power() const { return durable_power_; }
  uint64_t durable_process() const { return durable_process_; }
  // The lowest epoch a recovery after a crash of this model may return.
  uint64_t DurableFloor(CrashModel model) const {
    return model == CrashModel::kKeepAll ? durable_process_ : durable_power_;
  }

  void BeginCommit(StoreModel next) { states_.push_back(std::move(next)); }
  void AckCommit(Durability mode);
  void AckSync() { durable_power_ = durable_process_ = acked_; }
  // A store (re)opened at epoch j after a crash or a clean close: j is on disk.
  void OpenedAt(uint64_t epoch);
  void TruncateTo(uint64_t epoch);

  // "attempted 12 acked 11 durable(power) 9 durable(process) 11".
  std::string Describe() const;

 private:
  std::vector<StoreModel> states_;
  uint64_t acked_ = 0;
  uint64_t durable_power_ = 0;
  uint64_t durable_process_ = 0;
};

// Reads every live tree of `rt` at a new snapshot (loading leaves from disk where they are not
// resident) into *out, and checks each tree's invariants with leaves loaded
// (tree::CheckInvariants(v, true)) and its order statistics (N, Select at sampled ranks, Rank,
// median) against the entries read. Any read error or violation is returned (IOError,
// Corruption naming the tree).
Status ReadStore(Runtime* rt, StoreModel* out);

// "" if equal, else the first difference ("tree 'b' key 17: want weight 3, got 2").
std::string DiffStores(const StoreModel& want, const StoreModel& got);

// Checks a runtime just opened after a crash: its visible epoch j satisfies
// floor <= j <= oracle.attempted(), and its contents equal oracle.state(j) exactly (a prefix of
// the history: no gap, no partial commit). On success *epoch_out = j and "" is returned;
// otherwise a description of the violation (which other state matches, if any).
std::string CheckRecovered(Runtime* rt, const Oracle& oracle, uint64_t floor, uint64_t* epoch_out);

// A stable 64-bit digest of every file (name and bytes) of `dir` as a kDropUnsynced crash would
// leave it now; used to count distinct post-crash disk images.
class FaultInjectionEnv;
uint64_t DurableImageDigest(FaultInjectionEnv* env, const std::string& dir);

}  // namespace cowtree::testutil
