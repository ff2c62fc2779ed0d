// The reading rules recovery::Open and fsck (and dump, through fsck's passes) share, so that a
// store is read by one implementation: Open stops at the first problem, fsck collects them all.
//
// - ClassifyOtDelta: which OT-delta records recovery applies (DESIGN.md "open after crash"):
//   a record's OWN epoch decides (never an object's birth epoch): epoch <= the OT checkpoint's
//   epoch → already in the OT checkpoint; epoch > the superblock's checkpoint epoch → a
//   checkpoint whose superblock never landed (ignored, and the next checkpoint must write a
//   full OT checkpoint); otherwise → applied.
// - ReadCatalogObjects: the catalog the superblock names (docs/catalog.md): the root, its pages
//   if it has two levels (each against its reference in the root), then every chunk in order, each
//   against its reference in the root; tree ids strictly increasing across chunks; the root's
//   tree_count and next_tree_id consistent with the entries; tree names unique. Objects are read
//   through `hooks.read`; every problem goes to `hooks.report`, which says whether to go on (fsck)
//   or stop (Open: the problem is returned as Corruption).
//
// Errors: ReadCatalogObjects returns OK when every problem was reported and the reporter chose
// to go on (then `out->complete` says whether every chunk could be read); else the Corruption /
// IOError the reporter stopped at. Thread-safety: reentrant; the hooks run on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/node_id.h"
#include "persistence/object_format.h"
#include "persistence/status.h"

namespace cowtree::recovery {

enum class OtDeltaDisposition : uint8_t {
  kInOtCheckpoint,  // record epoch <= OT checkpoint epoch: already applied
  kUnpublished,     // record epoch > checkpoint epoch: its superblock never landed; ignore
  kApply,
};

OtDeltaDisposition ClassifyOtDelta(uint64_t record_epoch, uint64_t ot_checkpoint_epoch,
                                   uint64_t checkpoint_epoch);

struct CatalogProblem {
  NodeID at;                 // the object concerned (the root for whole-catalog problems)
  ObjectKind kind;           // its expected kind
  std::string what;          // "catalog root", "catalog chunk 3", ...
  Status status;             // what is wrong (for a read failure: the read's own error)
  bool read_failed = false;  // the object could not be read at all (vs. read but invalid)
};

struct CatalogReadHooks {
  // Reads the body of object `id`, which must be of `kind`.
  std::function<Result<std::string>(NodeID id, ObjectKind kind)> read;
  // Optional: reads catalog chunks instead of `read`, into a buffer the reader reuses from one
  // chunk to the next (ObjectStore::ReadObjectOnceInto); returns a view into *buffer.
  std::function<Result<std::string_view>(NodeID id, ObjectKind kind, std::string* buffer)>
      read_into;
  // Called once per object before it is read (fsck: reachability); false = skip it (it was
  // already reported). May be empty.
  std::function<bool(NodeID id, const std::string& what)> reference;
  // A problem. Return true to go on (fsck collects), false to stop (Open).
  std::function<bool(const CatalogProblem& problem)> report;
  // Check that names are unique (O(trees log trees)). Open turns it off: the Runtime refuses a
  // duplicate name while it indexes the trees (Corruption "catalog: tree name ... twice").
  bool check_names = true;
  // Optional: receives the root once it decoded, before any chunk is read.
  std::function<void(const CatalogRoot& root)> root;
  // Optional: receives each chunk's entries (views into its body, valid during the call) in
  // order, instead of CatalogContents::entries (which then stays empty: no per-entry copy);
  // names are not checked then (the receiver does). An error stops the read and is returned.
  std::function<Status(NodeID chunk, const std::vector<CatalogEntryView>& entries)> entries;
};

struct CatalogContents {
  CatalogRoot root;
  std::vector<CatalogEntry> entries;  // all chunks, in order (unless hooks.entries is set)
  bool complete = false;              // every chunk was read and decoded
};

Status ReadCatalogObjects(uint64_t catalog_root_raw, const CatalogReadHooks& hooks,
                          CatalogContents* out);

}  // namespace cowtree::recovery
