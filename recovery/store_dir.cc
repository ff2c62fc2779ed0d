#include "recovery/store_dir.h"

#include <algorithm>

#include "persistence/file_names.h"
#include "persistence/log_format.h"

namespace cowtree::recovery {

const char* StoreDirStateName(StoreDirState state) {
  switch (state) {
    case StoreDirState::kEmpty:
      return "empty";
    case StoreDirState::kInterruptedCreation:
      return "interrupted creation";
    case StoreDirState::kStore:
      return "store";
    case StoreDirState::kLostSuperblock:
      return "store without SUPERBLOCK";
    case StoreDirState::kForeign:
      return "not a cowtree store";
  }
  return "?";
}

const std::vector<std::string>& CreationFileNames() {
  static const std::vector<std::string> names = {
      kLockFileName,  // written by versions before the directory lock; harmless
      LogFileName(1),
      TempFileName(LogFileName(1)),
      ManifestFileName(1),
      TempFileName(ManifestFileName(1)),
      TempFileName(kSuperblockFileName),
  };
  return names;
}

Result<StoreDirInfo> ClassifyStoreDir(Env* env, const std::string& dir) {
  StoreDirInfo info;
  COWTREE_RETURN_IF_ERROR(env->ListDir(dir, &info.names));
  std::sort(info.names.begin(), info.names.end());
  const auto has = [&](const std::string& name) {
    return std::binary_search(info.names.begin(), info.names.end(), name);
  };
  if (has(kSuperblockFileName)) {
    info.state = StoreDirState::kStore;
    return info;
  }
  const auto& creation = CreationFileNames();
  std::string other_store_file;
  std::string foreign_file;
  for (const std::string& n : info.names) {
    if (std::find(creation.begin(), creation.end(), n) != creation.end()) continue;
    FileKind kind;
    uint64_t number;
    if (ParseFileName(n, &kind, &number)) {
      if (other_store_file.empty()) other_store_file = n;
    } else if (foreign_file.empty()) {
      foreign_file = n;
    }
  }
  if (!other_store_file.empty()) {
    info.state = StoreDirState::kLostSuperblock;
    info.reason = std::string(kSuperblockFileName) + " is missing but the directory holds " +
                  other_store_file + ", which store creation never leaves behind";
    return info;
  }
  // A log holding anything past its header was written by an open store: commits in it may
  // have been acknowledged. Creation writes only the header.
  if (has(LogFileName(1))) {
    Result<uint64_t> size = env->FileSize(JoinPath(dir, LogFileName(1)));
    if (!size.ok()) return size.status();
    if (*size > kLogFileHeaderSize) {
      info.state = StoreDirState::kLostSuperblock;
      info.reason = std::string(kSuperblockFileName) + " is missing but " + LogFileName(1) +
                    " holds " + std::to_string(*size - kLogFileHeaderSize) +
                    " bytes of records after its header (commits may have been acknowledged)";
      return info;
    }
  }
  if (!foreign_file.empty()) {
    info.state = StoreDirState::kForeign;
    info.reason = "not a cowtree store: no " + std::string(kSuperblockFileName) + " file, and " +
                  foreign_file + " is not a store file";
    return info;
  }
  const bool only_lock = info.names.empty() || (info.names.size() == 1 && has(kLockFileName));
  info.state = only_lock ? StoreDirState::kEmpty : StoreDirState::kInterruptedCreation;
  return info;
}

}  // namespace cowtree::recovery
