// fsck: reading objects (ObjectReader, ReadBody) and the object pass — the envelope of every
// live OT entry the tree pass did not already read, the body of every unreferenced object
// decoded by its kind, and leaks (live, not retired, not reachable from the catalog).
#include <algorithm>

#include "persistence/file_names.h"
#include "persistence/object_format.h"
#include "recovery/fsck_context.h"
#include "tree/node_format.h"

namespace cowtree::recovery::fsck {

Result<std::string> ObjectReader::Read(NodeID id, const OtEntry& e) {
  const ObjectAddress& a = e.address;
  COWTREE_RETURN_IF_ERROR(ValidateObjectAddress(a).WithContext(DescribeNodeId(id)));
  auto it = files_.find(a.size_class_bytes);
  if (it == files_.end()) {
    const std::string name = DataFileName(a.size_class_bytes);
    Result<std::unique_ptr<File>> f = env_->OpenFile(JoinPath(dir_, name), OpenMode::kReadOnly);
    if (!f.ok()) {
      if (f.status().IsNotFound()) {
        return Status::NotFound(DescribeNodeId(id) + " at " + DescribeAddress(a) + ": data file " +
                                name + " does not exist");
      }
      return f.status();
    }
    COWTREE_ASSIGN_OR_RETURN(uint64_t size, (*f)->Size());
    sizes_[a.size_class_bytes] = size;
    it = files_.emplace(a.size_class_bytes, std::move(f).value()).first;
  }
  const uint64_t size = sizes_[a.size_class_bytes];
  if (a.size_class_bytes > size || a.offset_bytes > size - a.size_class_bytes) {  // no wrap
    return Status::Corruption(DescribeNodeId(id) + " at " + DescribeAddress(a) +
                              ": slot is past the end of the file (" + std::to_string(size) +
                              " bytes)");
  }
  std::string stored(a.length_bytes, '\0');
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(it->second->ReadAt(a.offset_bytes, stored.size(), stored.data(), &got));
  if (got != stored.size()) {
    return Status::Corruption("short read of " + DescribeAddress(a) + ": got " +
                              std::to_string(got) + " bytes");
  }
  const ObjectExpectation expect{id, e.kind, e.birth_epoch, a.length_bytes, e.payload_crc32c};
  COWTREE_ASSIGN_OR_RETURN(std::string_view body, DecodeObject(stored, expect, DescribeAddress(a)));
  return std::string(body);
}

Result<std::string> ReadBody(Context& ctx, NodeID id, ObjectKind expected) {
  Result<OtEntry> e = ctx.table->Get(id);
  if (!e.ok()) {
    return Status::NotFound(DescribeNodeId(id) +
                            " is not a live object in the object table (dangling reference)");
  }
  if (e->kind != expected) {
    return Status::Corruption(DescribeNodeId(id) + " at " + DescribeAddress(e->address) +
                              ": the object table says kind " +
                              std::to_string(static_cast<int>(e->kind)) + ", expected kind " +
                              std::to_string(static_cast<int>(expected)));
  }
  const bool first = ctx.checked.Insert(id);
  Result<std::string> body = ctx.reader->Read(id, *e);
  if (body.ok() && first) ++ctx.report.objects_checked;
  return body;
}

void ReportReadFailure(Context& ctx, NodeID id, ObjectKind expected, const Status& status,
                       const std::string& structure, const std::string& what) {
  Result<OtEntry> e = ctx.table->Get(id);
  if (!e.ok()) {
    ctx.Add(FsckSeverity::kError, structure, "", 0, id.raw(), what + ": " + status.message());
    return;
  }
  if (e->kind != expected) {
    ctx.Add(FsckSeverity::kError, structure, DataFileOf(*e), e->address.offset_bytes, id.raw(),
            what + ": " + status.message());
    return;
  }
  if (ctx.bad_address.count(id.raw()) != 0) return;  // CheckAllocator named it already
  ctx.Add(FsckSeverity::kError, "object", DataFileOf(*e), e->address.offset_bytes, id.raw(),
          what + ": " + status.message());
}

namespace {

// The body of an object nothing references, decoded by its kind (its CRC verified, so a body
// that does not decode was written that way).
Status DecodeByKind(ObjectKind kind, std::string_view body) {
  switch (kind) {
    case ObjectKind::kLeaf: {
      const uint8_t kt = body.size() > tree::kLeafKeyTypeOffset
                             ? static_cast<uint8_t>(body[tree::kLeafKeyTypeOffset])
                             : 0;
      if (!tree::IsValidKeyType(kt)) {
        return Status::Corruption("leaf key_type " + std::to_string(kt) + " is not 1 or 2");
      }
      return tree::DecodeLeaf(body, static_cast<tree::KeyType>(kt)).status();
    }
    case ObjectKind::kSummaryChunk:
      return tree::DecodeSummaryChunk(body).status();
    case ObjectKind::kTreeDescriptor:
      return tree::DecodeTreeDescriptor(body).status();
    case ObjectKind::kSummaryIndexChunk:
      return tree::DecodeIndexChunk(body).status();
    case ObjectKind::kCatalogChunk:
      return DecodeCatalogChunk(body).status();
    case ObjectKind::kCatalogRoot:
      return DecodeCatalogRoot(body).status();
    case ObjectKind::kCatalogRootPage:
      return DecodeCatalogRootPage(body).status();
  }
  return Status::NotSupported("kind " + std::to_string(static_cast<int>(kind)) +
                              " is not a kind this store writes");
}

const char* KindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kLeaf:
      return "leaf";
    case ObjectKind::kSummaryChunk:
      return "summary chunk";
    case ObjectKind::kTreeDescriptor:
      return "tree descriptor";
    case ObjectKind::kSummaryIndexChunk:
      return "summary index chunk";
    case ObjectKind::kCatalogChunk:
      return "catalog chunk";
    case ObjectKind::kCatalogRoot:
      return "catalog root";
    case ObjectKind::kCatalogRootPage:
      return "catalog root page";
  }
  return "unknown kind";
}

}  // namespace

void CheckObjects(Context& ctx) {
  // In address order: sequential reads of each data file.
  std::sort(ctx.live.begin(), ctx.live.end(),
            [](const Context::LiveObject& a, const Context::LiveObject& b) {
              return a.address_key < b.address_key;
            });
  if (!ctx.reachability_ok) {
    ctx.Add(FsckSeverity::kInfo, "allocator", "", 0, 0,
            "leak detection skipped: the catalog or a tree could not be read completely");
  }
  for (const Context::LiveObject& live : ctx.live) {
    const NodeID id = live.id;
    Result<OtEntry> entry = ctx.table->Get(id);
    COWTREE_ASSERT(entry.ok());  // listed by ForEachLive; the table does not change until Repair
    const OtEntry& e = *entry;
    const bool referenced = ctx.referenced.Contains(id) || ctx.retained_referenced.Contains(id);
    if (!ctx.checked.Contains(id)) {
      Result<std::string> body = ReadBody(ctx, id, e.kind);
      if (!body.ok()) {
        ReportReadFailure(ctx, id, e.kind, body.status(), "object",
                          std::string(KindName(e.kind)) + " does not verify");
      } else if (!referenced) {
        Status decoded = DecodeByKind(e.kind, *body);
        if (decoded.IsNotSupported()) {
          ctx.Add(FsckSeverity::kWarning, "object", DataFileOf(e), e.address.offset_bytes, id.raw(),
                  decoded.message());
        } else if (!decoded.ok()) {
          ctx.Add(FsckSeverity::kError, "object", DataFileOf(e), e.address.offset_bytes, id.raw(),
                  std::string(KindName(e.kind)) + " body does not decode: " + decoded.message());
        }
      }
    }
    if (referenced || !ctx.reachability_ok) continue;
    if (e.retired()) continue;  // superseded, waiting for reclamation: not a leak
    ctx.leaked.push_back(id);
    ctx.leak_findings.push_back(ctx.Add(
        FsckSeverity::kWarning, "allocator", DataFileOf(e), e.address.offset_bytes, id.raw(),
        "leaked object: live in the object table but not reachable from the catalog (" +
            std::string(KindName(e.kind)) + ", birth epoch " + std::to_string(e.birth_epoch) +
            ", " + std::to_string(e.address.length_bytes) + " bytes); its slot is never reused"));
  }
}

}  // namespace cowtree::recovery::fsck
