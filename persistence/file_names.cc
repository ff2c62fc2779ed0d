#include "persistence/file_names.h"

#include <cinttypes>
#include <cstdio>

#include "persistence/assert.h"

namespace cowtree {
namespace {

std::string NumberedName(std::string_view prefix, uint64_t number, std::string_view suffix) {
  COWTREE_ASSERT(number >= 1);
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%06" PRIu64, number);
  std::string name(prefix);
  name += digits;
  name += suffix;
  return name;
}

// Parses "<prefix><digits><suffix>" and accepts it only if it is the canonical spelling.
bool ParseNumbered(std::string_view name, std::string_view prefix, std::string_view suffix,
                   uint64_t* number) {
  if (name.size() <= prefix.size() + suffix.size()) return false;
  if (name.substr(0, prefix.size()) != prefix) return false;
  if (name.substr(name.size() - suffix.size()) != suffix) return false;
  std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 20) return false;
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - d) / 10) return false;  // overflow
    value = value * 10 + d;
  }
  if (value == 0) return false;
  if (NumberedName(prefix, value, suffix) != name) return false;  // canonical spelling only
  *number = value;
  return true;
}

}  // namespace

std::string LogFileName(uint64_t number) { return NumberedName("log-", number, ".log"); }

std::string ManifestFileName(uint64_t generation) {
  return NumberedName("MANIFEST-", generation, ".json");
}

std::string OtCheckpointFileName(uint64_t id) { return NumberedName("ot-", id, ".otc"); }

std::string DataFileName(uint32_t size_class_bytes) {
  COWTREE_ASSERT(IsValidSizeClass(size_class_bytes));
  return "data-" + std::to_string(size_class_bytes / 1024) + "k.dat";
}

std::string TempFileName(std::string_view name) {
  std::string tmp(name);
  tmp += kTempFileSuffix;
  return tmp;
}

bool ParseFileName(std::string_view name, FileKind* kind, uint64_t* number) {
  if (name.empty() || name.find('/') != std::string_view::npos) return false;
  const std::string_view tmp_suffix = kTempFileSuffix;
  if (name.size() > tmp_suffix.size() &&
      name.substr(name.size() - tmp_suffix.size()) == tmp_suffix) {
    FileKind base_kind;
    uint64_t base_number = 0;
    if (!ParseFileName(name.substr(0, name.size() - tmp_suffix.size()), &base_kind, &base_number)) {
      base_number = 0;
    }
    *kind = FileKind::kTemp;
    *number = base_number;
    return true;
  }
  if (name == kSuperblockFileName) {
    *kind = FileKind::kSuperblock;
    *number = 0;
    return true;
  }
  if (name == kLockFileName) {
    *kind = FileKind::kLock;
    *number = 0;
    return true;
  }
  if (ParseNumbered(name, "log-", ".log", number)) {
    *kind = FileKind::kLog;
    return true;
  }
  if (ParseNumbered(name, "MANIFEST-", ".json", number)) {
    *kind = FileKind::kManifest;
    return true;
  }
  if (ParseNumbered(name, "ot-", ".otc", number)) {
    *kind = FileKind::kOtCheckpoint;
    return true;
  }
  for (uint32_t size_class = kMinSizeClassBytes; size_class <= kMaxSizeClassBytes;
       size_class *= 2) {
    if (name == DataFileName(size_class)) {
      *kind = FileKind::kData;
      *number = size_class;
      return true;
    }
  }
  return false;
}

const char* FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kLog:
      return "log";
    case FileKind::kManifest:
      return "manifest";
    case FileKind::kOtCheckpoint:
      return "ot-checkpoint";
    case FileKind::kSuperblock:
      return "superblock";
    case FileKind::kLock:
      return "lock";
    case FileKind::kData:
      return "data";
    case FileKind::kTemp:
      return "temp";
  }
  return "unknown";
}

}  // namespace cowtree
