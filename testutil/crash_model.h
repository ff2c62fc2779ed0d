// CrashModel: what a simulated power loss (or process kill) leaves on the simulated disk, and
// CrashReport: what one simulated crash actually kept, dropped and tore.
//
// Contract
// - Every model starts from the same facts: file data is durable once File::Sync (fdatasync)
//   returned OK; a create, rename or delete is durable once Env::SyncDir of its parent returned
//   OK. The models differ only in what happens to the operations that were not yet durable.
// - Deterministic: the same model, seed and history of operations give the same disk image.
// - docs/fault_model.md says which real-world behaviour each model stands for.
// - Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cowtree::testutil {

// Sector size of the simulated device: the unit a torn write is cut at.
inline constexpr uint64_t kSectorBytes = 512;

enum class CrashModel : uint8_t {
  // Process crash (kill -9): the OS page cache survives, nothing is lost.
  kKeepAll,
  // Power loss with the most pessimistic ordering: every unsynced file write and every
  // directory operation not followed by SyncDir of its directory is lost.
  kDropUnsynced,
  // Power loss with reordering: each unsynced file operation and each unsynced directory
  // operation is independently kept or dropped (probability 1/2), and kept writes that were
  // issued back to back reach the disk in a random order.
  kKeepRandomSubset,
  // Power loss during a write: like kDropUnsynced, except that one randomly chosen file (among
  // those with an unsynced write) keeps its unsynced operations up to its last write, and that
  // last write is torn at a 512-byte sector boundary: a prefix of its sectors persists, the
  // rest of the written range holds random bytes. The file size still covers the whole write.
  kTornLastWriteGarbage,
  // As kTornLastWriteGarbage, but the lost tail reads as zeros (blocks allocated, data never
  // written: the ext4/XFS "zero tail" after a crash).
  kTornLastWriteZeros,
  // Either of the two above, chosen by the seed.
  kTornLastWrite,
};

inline constexpr std::array<CrashModel, 6> kAllCrashModels = {
    CrashModel::kKeepAll,
    CrashModel::kDropUnsynced,
    CrashModel::kKeepRandomSubset,
    CrashModel::kTornLastWriteGarbage,
    CrashModel::kTornLastWriteZeros,
    CrashModel::kTornLastWrite,
};

// "kDropUnsynced" etc.
const char* CrashModelName(CrashModel model);

// What one SimulateCrash did; ToString() is the one line to print so that a failure can be
// replayed (model and seed are enough, given the same workload and crash point).
struct CrashReport {
  CrashModel model = CrashModel::kDropUnsynced;
  uint64_t seed = 0;
  uint64_t file_ops_kept = 0;     // unsynced file operations that reached the disk
  uint64_t file_ops_dropped = 0;  // unsynced file operations that were lost
  uint64_t dir_ops_kept = 0;      // unsynced creates/renames/deletes that reached the disk
  uint64_t dir_ops_dropped = 0;   // unsynced creates/renames/deletes that were lost
  // Torn write (torn models only; torn_path is empty when no file had an unsynced write).
  std::string torn_path;              // a durable name of the torn file
  uint64_t torn_offset_bytes = 0;     // where the torn write started
  uint64_t torn_length_bytes = 0;     // how long it was
  uint64_t torn_kept_bytes = 0;       // bytes of it that persisted (ends on a sector boundary)
  bool torn_tail_is_garbage = false;  // false: the lost tail reads as zeros

  std::string ToString() const;
};

}  // namespace cowtree::testutil
