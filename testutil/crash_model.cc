#include "testutil/crash_model.h"

namespace cowtree::testutil {

const char* CrashModelName(CrashModel model) {
  switch (model) {
    case CrashModel::kKeepAll:
      return "kKeepAll";
    case CrashModel::kDropUnsynced:
      return "kDropUnsynced";
    case CrashModel::kKeepRandomSubset:
      return "kKeepRandomSubset";
    case CrashModel::kTornLastWriteGarbage:
      return "kTornLastWriteGarbage";
    case CrashModel::kTornLastWriteZeros:
      return "kTornLastWriteZeros";
    case CrashModel::kTornLastWrite:
      return "kTornLastWrite";
  }
  return "unknown CrashModel";
}

std::string CrashReport::ToString() const {
  std::string s = "SimulateCrash(CrashModel::" + std::string(CrashModelName(model)) +
                  ", seed=" + std::to_string(seed) + "): file ops kept " +
                  std::to_string(file_ops_kept) + " dropped " + std::to_string(file_ops_dropped) +
                  "; dir ops kept " + std::to_string(dir_ops_kept) + " dropped " +
                  std::to_string(dir_ops_dropped);
  if (!torn_path.empty()) {
    s += "; tore the write of " + std::to_string(torn_length_bytes) + " bytes at offset " +
         std::to_string(torn_offset_bytes) + " of " + torn_path + " after " +
         std::to_string(torn_kept_bytes) + " bytes, tail " +
         (torn_tail_is_garbage ? "garbage" : "zeros");
  }
  return s;
}

}  // namespace cowtree::testutil
