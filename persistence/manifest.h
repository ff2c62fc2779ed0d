// The manifest: JSON inventory of every file a store owns (data files per size class, OT
// checkpoints, log files with their epoch ranges), replaced atomically. Field by field,
// CRC rule and a worked example: docs/manifest.md.
//
//   {"magic":"cowtree-manifest","format_version":1,"generation":N,
//    "data_files":[{"name":"data-4k.dat","size_class_bytes":4096,"size_bytes":S}],
//    "ot_checkpoints":[{"name":"ot-000003.otc","id":3,"epoch":E}],
//    "log_files":[{"name":"log-000002.log","number":2,"first_epoch":A,"last_epoch":B}],
//    "crc32c":"xxxxxxxx"}
//
// CRC rule: crc32c is CRC32C (8 lowercase hex digits) of the exact file bytes in which those
// 8 digits are replaced by "00000000". The writer emits compact JSON, members in the order
// above, crc32c last, then one '\n'.
//
// Contract
// - EncodeManifest asserts that the manifest is valid (the same checks as DecodeManifest) and
//   returns the file bytes.
// - DecodeManifest(json, file_name) checks, in order: JSON syntax (error names the byte
//   offset), magic, format_version, the CRC, then every field: type (unsigned 64-bit integers
//   must be JSON integers in range), no unknown or duplicate members, names are plain names
//   inside the store (not empty, no '/', not "." or "..") that ParseFileName recognizes as the
//   right kind and whose number matches the entry (size_class_bytes, id, number), no name
//   listed twice, first_epoch <= last_epoch. Corruption names the file and the JSON field
//   ("log_files[1].first_epoch").
// - WriteManifest(env, dir, m): writes MANIFEST-<gen>.json.tmp, fdatasync, renames it to
//   MANIFEST-<gen>.json, SyncDir(dir). A crash leaves either no new manifest or the complete
//   one (plus possibly a .tmp, which recovery reports and deletes). Callers write a new
//   generation each time and never rewrite one a published superblock names.
// - ReadManifest(env, dir, generation): NotFound if missing; Corruption if the content is bad
//   or its generation differs from the one in its name.
// - Thread-safety: functions are reentrant; callers serialize writers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/env.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

inline constexpr char kManifestMagic[] = "cowtree-manifest";
inline constexpr uint64_t kManifestFormatVersion = 2;  // 2: "store_id" (version 1 is refused)

struct ManifestDataFile {
  std::string name;               // DataFileName(size_class_bytes)
  uint32_t size_class_bytes = 0;  // 1024 ... 262144
  uint64_t size_bytes = 0;        // file size the store has grown it to
  friend bool operator==(const ManifestDataFile&, const ManifestDataFile&) = default;
};

struct ManifestOtCheckpoint {
  std::string name;    // OtCheckpointFileName(id)
  uint64_t id = 0;     // >= 1
  uint64_t epoch = 0;  // checkpoint epoch the OT snapshot reflects
  friend bool operator==(const ManifestOtCheckpoint&, const ManifestOtCheckpoint&) = default;
};

struct ManifestLogFile {
  std::string name;          // LogFileName(number)
  uint64_t number = 0;       // >= 1
  uint64_t first_epoch = 0;  // lowest epoch of a record in the file (0 if none yet)
  uint64_t last_epoch = 0;   // highest epoch (0 if none yet); first_epoch <= last_epoch
  friend bool operator==(const ManifestLogFile&, const ManifestLogFile&) = default;
};

struct Manifest {
  uint64_t generation = 0;  // >= 1; equals the number in the file name
  StoreId store_id;         // the store's identity: "store_id", 32 hex digits, never zero
  std::vector<ManifestDataFile> data_files;
  std::vector<ManifestOtCheckpoint> ot_checkpoints;
  std::vector<ManifestLogFile> log_files;
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

std::string EncodeManifest(const Manifest& manifest);
Result<Manifest> DecodeManifest(std::string_view json, const std::string& file_name_for_messages);
Status WriteManifest(Env* env, const std::string& dir, const Manifest& manifest);
// expected: the store id the superblock names (Corruption naming the file if the manifest's
// differs); zero accepts any store.
Result<Manifest> ReadManifest(Env* env, const std::string& dir, uint64_t generation,
                              const StoreId& expected = StoreId());

// Returns "" if m satisfies every rule DecodeManifest checks after parsing, else the problem
// ("log_files[1].name: ..."). Used by EncodeManifest's assertion; exposed for fsck.
std::string ValidateManifest(const Manifest& m);

}  // namespace cowtree
