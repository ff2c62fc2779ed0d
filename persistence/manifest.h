// The manifest: JSON inventory of every file a store owns (data files per size class, OT
// checkpoints, log files with their epoch ranges), replaced atomically. Field by field,
// CRC rule and a worked example: docs/manifest.md.
//
//   {"magic":"cowtree-manifest","format_version":1,"generation":N,
//    "data_files":[{"name":"data-4k.dat","size_class_bytes":4096,"size_bytes":S}],
//    "ot_checkpoints":[{"name":"ot-000003.otc","id":3,"epoch":E}],
//    "log_files":[{"name":"log-000002.log","number":2,"first_epoch":A,"last_epoch":B}],
//    "retained_checkpoints":[{"name":"before-march","epoch":E,"catalog_root":R,
//      "superblock_generation":G,"created_unix_ms":T,"tree_count":N,"live_bytes":B}],
//    "crc32c":"xxxxxxxx"}
//
// CRC rule: crc32c is CRC32C (8 lowercase hex digits) of the exact file bytes in which those
// 8 digits are replaced by "00000000". The writer emits compact JSON, members in the order
// above, crc32c last, then one '\n'.
//
// Contract
// - EncodeManifest asserts that the manifest is valid (the same checks as DecodeManifest) and
//   returns the file bytes.
// - Format version 3 added "retained_checkpoints" (docs/retained_checkpoints.md); version 2
//   (no such member) is still read, as a manifest without retained checkpoints.
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
#include "persistence/retained_epochs.h"
#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

inline constexpr char kManifestMagic[] = "cowtree-manifest";
// 2: "store_id" (version 1 is refused); 3: "retained_checkpoints" (version 2 is still read).
inline constexpr uint64_t kManifestFormatVersion = 3;
inline constexpr uint64_t kManifestOldestReadableVersion = 2;
// Retained checkpoint names: 1..64 bytes of [A-Za-z0-9._-], not starting with '.' or '-'.
inline constexpr size_t kCheckpointNameBytesMax = 64;

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

// A retained (named) checkpoint (docs/retained_checkpoints.md): the store state as of a published
// checkpoint epoch, kept readable until deleted. Every object its catalog reaches stays in the
// object table (retired entries included) and its slot is never reused while it is listed.
struct ManifestRetainedCheckpoint {
  std::string name;                    // CheckCheckpointName() == ""
  uint64_t epoch = 0;                  // the checkpoint epoch C it keeps (0: empty store)
  uint64_t catalog_root = 0;           // raw NodeID of the catalog root at C (0: no tree ever)
  uint64_t superblock_generation = 0;  // the superblock that published C (>= 1)
  uint64_t created_unix_ms = 0;        // wall clock when it was retained (informational)
  uint64_t tree_count = 0;             // trees in its catalog
  uint64_t live_bytes = 0;             // bytes of live objects in the store when retained
  friend bool operator==(const ManifestRetainedCheckpoint&,
                         const ManifestRetainedCheckpoint&) = default;
};

struct Manifest {
  uint64_t generation = 0;  // >= 1; equals the number in the file name
  StoreId store_id;         // the store's identity: "store_id", 32 hex digits, never zero
  std::vector<ManifestDataFile> data_files;
  std::vector<ManifestOtCheckpoint> ot_checkpoints;
  std::vector<ManifestLogFile> log_files;
  // In the order they were retained: epochs non-decreasing, names unique.
  std::vector<ManifestRetainedCheckpoint> retained_checkpoints;
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
// The epochs of m's retained checkpoints (what recovery keeps retired objects for).
RetainedEpochs RetainedEpochsOf(const Manifest& m);
// "" if `name` is a valid retained checkpoint name, else what is wrong with it.
std::string CheckCheckpointName(std::string_view name);

}  // namespace cowtree
