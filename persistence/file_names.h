// Names of the files a cowtree store directory owns, and the parser that recognizes them.
//
// Contract
// - Every function returns a plain file name (no directory part); join it with the store
//   directory via JoinPath (persistence/env.h).
// - Numbers (log file number, manifest generation, OT checkpoint id) are printed in decimal,
//   zero-padded to at least 6 digits ("log-000001.log"); wider numbers use more digits.
//   Numbers are >= 1: 0 is never a file's number (it means "none" in the superblock).
// - Data files are named by size class in KiB: "data-4k.dat" ... "data-256k.dat".
// - ParseFileName accepts only the canonical spelling (the exact string the *FileName function
//   produces), so that one file can never be known under two names.
// - Thread-safety: pure functions.
// Formats of the files themselves: docs/log_format.md, docs/superblock.md, docs/manifest.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/size_class.h"  // the size classes: one data file each

namespace cowtree {

enum class FileKind : uint8_t {
  kLog = 1,           // log-NNNNNN.log            number = log file number
  kManifest = 2,      // MANIFEST-NNNNNN.json      number = manifest generation
  kOtCheckpoint = 3,  // ot-NNNNNN.otc             number = OT checkpoint id
  kSuperblock = 4,    // SUPERBLOCK                number = 0
  kLock = 5,          // LOCK                      number = 0
  kData = 6,          // data-<K>k.dat             number = size class in bytes (1024 ... 262144)
  kTemp = 7,          // <any of the above>.tmp    number = the base name's number (0 if none)
};

inline constexpr char kSuperblockFileName[] = "SUPERBLOCK";
inline constexpr char kLockFileName[] = "LOCK";
inline constexpr char kTempFileSuffix[] = ".tmp";

// "log-000001.log". Asserts number >= 1.
std::string LogFileName(uint64_t number);
// "MANIFEST-000001.json". Asserts generation >= 1.
std::string ManifestFileName(uint64_t generation);
// "ot-000001.otc". Asserts id >= 1.
std::string OtCheckpointFileName(uint64_t id);
// "data-1k.dat" for 1024 ... "data-256k.dat" for 262144. Asserts IsValidSizeClass.
std::string DataFileName(uint32_t size_class_bytes);
// name + ".tmp".
std::string TempFileName(std::string_view name);

// Recognizes a name of one of the kinds above. On success sets *kind and *number (see FileKind)
// and returns true; returns false (leaving the outputs unspecified) for anything else, including
// names with a directory part, non-canonical numbers ("log-1.log", "log-0000001.log" for 1) and
// number 0. A "*.tmp" name is kTemp whatever precedes the suffix; *number is the base name's
// number if the base parses, else 0.
bool ParseFileName(std::string_view name, FileKind* kind, uint64_t* number);

// "log", "manifest", ... for messages.
const char* FileKindName(FileKind kind);

}  // namespace cowtree
