// The state shared by fsck's passes and by `cowtree dump` (recovery/dump.h), and the passes
// themselves. Internal to recovery/: the public API is recovery/fsck.h and recovery/dump.h.
//
// A Context is filled pass by pass, in the order below; each pass reads what the earlier ones
// left and adds findings (Context::Add). Every pass is read-only except Repair. The passes are
// also the store readers of `dump` (which runs the ones it needs and prints the context), so
// the two tools can never disagree on how a structure is read.
//
//   ListFiles            directory listing, data file sizes (operational error if unreadable)
//   CheckSuperblock      both copies, the newest that verifies (fsck_superblock.cc)
//   CheckManifest        the manifest the superblock names, the files it lists (fsck_files.cc)
//   CheckFiles           files in the directory the manifest does not explain (fsck_files.cc)
//   LoadOtCheckpoint     the OT checkpoint the superblock names (fsck_ot.cc)
//   CheckLog             every frame; OT deltas applied exactly as recovery (fsck_log.cc)
//   CheckAllocator       live slots inside their files, no overlap (fsck_allocator.cc)
//   CheckCatalogAndTrees catalog -> descriptors -> summary chunks -> leaves (fsck_trees.cc)
//   CheckObjects         envelopes of every other live object, leaks (fsck_objects.cc)
//   CheckRedo            redo records past the checkpoint against the catalog (fsck_redo.cc)
//   Repair               only with FsckOptions::repair (fsck_repair.cc)
//
// Thread-safety: a Context is used by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/commit_record.h"
#include "persistence/env.h"
#include "persistence/log_reader.h"
#include "persistence/manifest.h"
#include "persistence/node_id.h"
#include "persistence/object_table.h"
#include "persistence/ot_entry.h"
#include "persistence/superblock.h"
#include "recovery/fsck.h"
#include "recovery/fsck_node_set.h"
#include "tree/leaf.h"
#include "tree/summary_format.h"

namespace cowtree::recovery::fsck {

// ---- Superblock ----
struct SuperblockCopyView {
  size_t index = 0;
  uint64_t offset_bytes = 0;
  bool never_written = false;  // absent or all zero (a store before its first checkpoint)
  Status status;               // OK iff data is set
  std::optional<SuperblockData> data;
  uint64_t raw_generation = 0;  // the stored generation field, unverified (for messages)
};

// ---- Log ----
// How a frame relates to recovery.
enum class FrameRole : uint8_t {
  kHistory = 0,    // before the replay position: recovery does not read it
  kReplayed = 1,   // recovery reads it (OT deltas and redo are applied by epoch)
  kUntrusted = 2,  // after a bad region: recovery stops (or fails) before it
};
const char* FrameRoleName(FrameRole role);

struct LogProblem {
  enum class Kind : uint8_t {
    kTail = 0,           // torn or zero tail of the last file: recovery drops it
    kCorruptRegion = 1,  // bad bytes followed by a valid frame, or not at the log's end
    kError = 2,          // a file header, a frame written wrong, a missing file, ...
  };
  Kind kind = Kind::kError;
  FrameRole role = FrameRole::kReplayed;
  LogPosition at;      // where the bad region / the problem starts
  uint64_t bytes = 0;  // bytes skipped (0 if unknown)
  std::string message;
  bool zero_tail = false;  // kTail whose bytes are all zero (ReplayStopReason::kZeroTail)
};

// A redo record recovery would replay (epoch > checkpoint epoch), decoded.
struct CommitInfo {
  uint64_t epoch = 0;
  LogPosition start;
  std::vector<CommitCreate> creates;
  std::vector<TreeId> drops;
  std::vector<std::pair<TreeId, uint64_t>> ops;  // tree id, op bytes
};

// ---- Objects ----
// Reads objects straight from the data files (read-only handles, File::ReadAt) and verifies
// them like ObjectStore::ReadObject: slot inside its file, envelope magic/version/kind/NodeID/
// birth epoch/length/CRC, CRC equal to the OT's. Never returns unverified bytes.
class ObjectReader {
 public:
  ObjectReader(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  // NotFound if the data file is missing; Corruption naming file, offset and NodeID; IOError.
  Result<std::string> Read(NodeID id, const OtEntry& entry);

 private:
  Env* env_;
  std::string dir_;
  std::map<uint32_t, std::unique_ptr<File>> files_;  // by size class
  std::map<uint32_t, uint64_t> sizes_;
};

// One tree as the checkpoint stores it (dump tree; fsck's tree pass).
struct TreeImage {
  CatalogEntry entry;
  tree::KeyType key_type = tree::KeyType::kInt64;
  NodeID descriptor_id;
  std::optional<tree::TreeDescriptor> descriptor;
  // Index chunks (levels >= 1), parents before children; summary chunks in key order.
  std::vector<std::pair<NodeID, tree::IndexChunk>> index_chunks;
  std::vector<std::pair<NodeID, std::vector<tree::PersistedSummary>>> chunks;
  bool complete = false;  // every chunk was read and verified against its parent
};

struct Context {
  Context(Env* env_in, std::string dir_in, FsckOptions options_in);

  Env* env;
  std::string dir;
  FsckOptions options;
  FsckReport report;
  // Called for every frame that verifies (dump log). Optional.
  std::function<void(const LogRecord&, FrameRole)> on_frame;

  // ListFiles
  std::vector<std::string> names;
  std::map<uint32_t, uint64_t> data_file_bytes;  // size class -> bytes on disk
  // CheckSuperblock
  std::array<SuperblockCopyView, kSuperblockCopies> copies;
  uint64_t superblock_file_bytes = 0;
  std::optional<SuperblockData> sb;  // the copy recovery would use
  int sb_copy = -1;
  // CheckManifest
  std::optional<Manifest> manifest;
  // LoadOtCheckpoint
  bool table_usable = false;  // false: the object table cannot be rebuilt (later passes skip)
  uint64_t ot_epoch = 0;
  uint64_t ot_checkpoint_entries = 0;
  std::unique_ptr<ObjectTable> table;
  // CheckLog
  Status replay_status;  // what recovery's ReplayLog returns
  ReplayStats replay;    // its stats (end, stop reason, dropped bytes)
  std::vector<LogProblem> log_problems;
  std::vector<CommitInfo> commits;  // epoch > C, replayed role, log order
  uint64_t ot_delta_records_applied = 0;
  uint64_t ot_delta_records_ignored = 0;  // epoch > C: checkpoint whose superblock never landed
  // CheckAllocator
  // Live OT entries (CheckAllocator, by handle; CheckObjects sorts them by address), 16 bytes
  // each (a copy of each entry took 64): the entry is read from `table` when needed.
  struct LiveObject {
    uint64_t address_key = 0;  // log2(size class) << 56 | slot: the data files' order
    NodeID id;
  };
  std::vector<LiveObject> live;
  std::unordered_set<uint64_t> bad_address;  // entries whose slot is not inside a data file
  // CheckCatalogAndTrees
  bool catalog_ok = false;       // the catalog (root + chunks) was read completely
  bool reachability_ok = false;  // ... and every tree's descriptor and chunks too
  std::vector<CatalogEntry> catalog;
  uint64_t catalog_tree_count = 0;          // the catalog root's tree_count
  NodeIdSet referenced;                     // NodeIDs reachable from the catalog root
  // CheckRetainedCheckpoints: the catalog being checked is the published one (scope_checkpoint
  // empty) or that of a retained checkpoint (docs/retained_checkpoints.md): its name, epoch and
  // own reference set (objects are shared between checkpoints; within one, each has one owner).
  std::string scope_checkpoint;
  uint64_t scope_epoch = 0;
  NodeIdSet* scope_referenced = nullptr;
  NodeIdSet retained_referenced;  // reachable from any retained checkpoint
  uint64_t ScopeEpoch() const {
    return scope_checkpoint.empty() ? sb->checkpoint_epoch : scope_epoch;
  }
  NodeIdSet& ScopeReferenced() {
    return scope_referenced != nullptr ? *scope_referenced : referenced;
  }
  // Objects whose envelope was checked (verified or reported), so that each is checked once.
  NodeIdSet checked;
  // The dense lanes of the sets above (CheckAllocator: from the live object table's handles);
  // all 0 when the handles are too sparse for them (NodeIdSet then hashes).
  HandleLanes handle_lanes{};
  std::vector<NodeID> leaked;
  std::unique_ptr<ObjectReader> reader;

  // Findings Repair can act on (indices into report.findings).
  std::vector<size_t> superblock_copy_findings;  // a bad copy while the other one verifies
  std::optional<size_t> log_tail_finding;        // the torn/zero tail recovery drops
  std::vector<size_t> leak_findings;
  std::vector<std::pair<size_t, std::string>> leftover_findings;  // finding, file to delete

  // Appends a finding; returns its index in report.findings.
  size_t Add(FsckSeverity severity, std::string structure, std::string file, uint64_t offset_bytes,
             uint64_t node_id, std::string message);
  bool HasUnrepairedErrors() const { return report.errors() > 0; }
};

// ---- Passes (see the table above) ----
Status ListFiles(Context& ctx);
void CheckSuperblock(Context& ctx);
void CheckManifest(Context& ctx);
// A SUPERBLOCK whose store id differs from the one every other file that verifies carries (at
// least two): an error naming it as the file from another store (fsck_store_ids.cc).
void CheckStoreIds(Context& ctx);
void CheckFiles(Context& ctx);
void LoadOtCheckpoint(Context& ctx);
void CheckLog(Context& ctx);
void CheckAllocator(Context& ctx);
void CheckCatalogAndTrees(Context& ctx);
void CheckRetainedCheckpoints(Context& ctx);
void CheckObjects(Context& ctx);
void CheckRedo(Context& ctx);
void Repair(Context& ctx);
// --repair of a directory that lost its SUPERBLOCK (fsck_rebuild.cc): writes a new one where the
// remaining files determine it, else adds an error saying why not.
void RebuildLostSuperblock(Context& ctx);

// ---- Readers shared by the passes and dump ----
// The verified body of id (OT lookup, kind check, ObjectReader). The Status names the NodeID
// and address.
Result<std::string> ReadBody(Context& ctx, NodeID id, ObjectKind expected);
// Reports a failed ReadBody as a finding: structure "object" (envelope/file damage) or
// `structure` (dangling reference, wrong kind), with the object's file and offset when known.
void ReportReadFailure(Context& ctx, NodeID id, ObjectKind expected, const Status& status,
                       const std::string& structure, const std::string& what);
// Reads the catalog (root + chunks) into ctx.catalog, adding findings. Requires table_usable.
void ReadCatalog(Context& ctx);
// The same for the catalog whose root is catalog_root_raw (a retained checkpoint's).
void ReadCatalogAt(Context& ctx, uint64_t catalog_root_raw);
// Reads a tree's descriptor into *img (entry, key type, descriptor): false (with a finding) if
// it cannot be referenced, read, decoded, or its key type differs from the catalog's.
bool ReadDescriptor(Context& ctx, const CatalogEntry& entry, TreeImage* img);
// Streams the summary index below img.descriptor top-down (tree/summary_index.h): every chunk
// referenced once, read, verified against its parent; a bad chunk is a finding and its subtree
// is skipped. on_index (optional) gets each verified index chunk, on_summaries each verified
// summary chunk in key order. Memory: the index's height in chunks. True if nothing was skipped.
bool WalkIndex(
    Context& ctx, const TreeImage& img,
    const std::function<void(NodeID, const tree::IndexChunk&)>& on_index,
    const std::function<void(NodeID, std::vector<tree::PersistedSummary>)>& on_summaries);
// Reads a tree's descriptor and whole summary index into memory (dump), referencing the leaves.
TreeImage ReadTreeImage(Context& ctx, const CatalogEntry& entry);
// The verified, decoded leaf id of a tree with key_type.
Result<std::shared_ptr<const tree::LeafData>> ReadLeaf(Context& ctx, NodeID id,
                                                       tree::KeyType key_type);

// ---- Small helpers ----
// The first "offset <digits>" in a decoder's message (0 if none): decoders name offsets in
// their messages; findings carry them as numbers.
uint64_t OffsetInMessage(const std::string& message);
// "data-4k.dat" for an entry's address (or "" for an invalid size class).
std::string DataFileOf(const OtEntry& entry);

}  // namespace cowtree::recovery::fsck
