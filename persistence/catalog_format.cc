#include "persistence/catalog_format.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/commit_record.h"
#include "persistence/crc32c.h"

namespace cowtree {
namespace {

Status Bad(const char* structure, size_t offset, const std::string& what) {
  return Status::Corruption(std::string(structure) + " at body offset " + std::to_string(offset) +
                            ": " + what);
}

// Verifies the trailing CRC and returns the body without it.
Result<std::string_view> CheckCrc(const char* structure, std::string_view body) {
  if (body.size() < kCatalogHeaderBytes + 4) {
    return Bad(structure, 0, "short body (" + std::to_string(body.size()) + " bytes)");
  }
  const size_t n = body.size() - 4;
  const uint32_t stored = DecodeFixed32(body.data() + n);
  const uint32_t actual = Crc32c(body.data(), n);
  if (stored != actual) return Bad(structure, n, "CRC32C mismatch");
  return body.substr(0, n);
}

// Reads the 16-byte header; accepts the versions in [version_min, version_max] (*version).
Status CheckHeader(const char* structure, ByteReader* r, uint32_t magic_expected,
                   uint16_t version_min, uint16_t version_max, uint16_t* version_out,
                   uint32_t* count) {
  uint32_t magic = 0, reserved32 = 0;
  uint16_t version = 0, reserved16 = 0;
  if (!r->GetFixed32(&magic) || !r->GetFixed16(&version) || !r->GetFixed16(&reserved16) ||
      !r->GetFixed32(count) || !r->GetFixed32(&reserved32)) {
    return Bad(structure, r->offset(), "short header");
  }
  if (magic != magic_expected) return Bad(structure, 0, "bad magic");
  if (version < version_min || version > version_max) {
    return Bad(structure, 4, "unknown format version " + std::to_string(version));
  }
  if (reserved16 != 0 || reserved32 != 0) return Bad(structure, 6, "reserved bytes not zero");
  *version_out = version;
  return Status::OK();
}

}  // namespace

std::string EncodeCatalogChunk(const std::vector<CatalogEntry>& entries) {
  COWTREE_ASSERT(!entries.empty() && entries.size() <= kCatalogChunkEntriesMax);
  std::string out;
  size_t total = kCatalogChunkOverheadBytes;
  for (const CatalogEntry& e : entries) total += CatalogEntryBytes(e);
  out.reserve(total);
  PutFixed32(&out, kCatalogChunkMagic);
  PutFixed16(&out, kCatalogChunkFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(entries.size()));
  PutFixed32(&out, 0);
  TreeId previous = 0;
  for (const CatalogEntry& e : entries) {
    COWTREE_ASSERT(e.tree_id > previous);
    COWTREE_ASSERT(e.type_id != 0);
    COWTREE_ASSERT(!e.descriptor.valid() || e.inline_body.empty());
    COWTREE_ASSERT(e.inline_body.size() <= kCatalogInlineBytesMax);
    COWTREE_ASSERT(!e.name.empty() && e.name.size() <= kTreeNameBytesMax);
    COWTREE_ASSERT(e.params.size() <= kTreeParamsBytesMax);
    previous = e.tree_id;
    PutFixed64(&out, e.tree_id);
    PutFixed64(&out, e.descriptor.raw());
    PutFixed64(&out, e.create_epoch);
    PutFixed8(&out, e.type_id);
    PutFixed8(&out, 0);
    PutFixed16(&out, static_cast<uint16_t>(e.name.size()));
    PutFixed32(&out, static_cast<uint32_t>(e.params.size()));
    PutFixed32(&out, static_cast<uint32_t>(e.inline_body.size()));
    out.append(e.name);
    out.append(e.params);
    out.append(e.inline_body);
  }
  PutFixed32(&out, Crc32c(out));
  COWTREE_ASSERT(out.size() == total);
  return out;
}

Status ParseCatalogChunk(std::string_view body, std::vector<CatalogEntryView>* out) {
  static constexpr const char* kWhat = "catalog chunk";
  out->clear();
  COWTREE_ASSIGN_OR_RETURN(std::string_view content, CheckCrc(kWhat, body));
  ByteReader r(content);
  uint32_t count = 0;
  uint16_t version = 0;
  COWTREE_RETURN_IF_ERROR(CheckHeader(kWhat, &r, kCatalogChunkMagic, kCatalogChunkFormatVersionV1,
                                      kCatalogChunkFormatVersion, &version, &count));
  if (count == 0 || count > kCatalogChunkEntriesMax) {
    return Bad(kWhat, 8, "entry count " + std::to_string(count) + " outside [1, 1024]");
  }
  const size_t fixed_bytes =
      version == kCatalogChunkFormatVersionV1 ? kCatalogEntryFixedBytesV1 : kCatalogEntryFixedBytes;
  if (count > r.remaining() / fixed_bytes) {
    return Bad(kWhat, 8, "entry count " + std::to_string(count) + " larger than the body");
  }
  out->reserve(count);
  TreeId previous = 0;
  for (uint32_t i = 0; i < count; ++i) {
    CatalogEntryView e;
    uint64_t descriptor = 0;
    uint8_t reserved8 = 0;
    uint16_t name_length = 0;
    uint32_t params_length = 0, inline_length = 0;
    const size_t at = r.offset();
    if (!r.GetFixed64(&e.tree_id) || !r.GetFixed64(&descriptor) || !r.GetFixed64(&e.create_epoch) ||
        !r.GetFixed8(&e.type_id) || !r.GetFixed8(&reserved8) || !r.GetFixed16(&name_length) ||
        !r.GetFixed32(&params_length) ||
        (version != kCatalogChunkFormatVersionV1 && !r.GetFixed32(&inline_length))) {
      return Bad(kWhat, at, "short entry " + std::to_string(i));
    }
    e.descriptor = NodeID::FromRaw(descriptor);
    if (e.tree_id <= previous) return Bad(kWhat, at, "tree ids not strictly increasing");
    // Version 1 has no inline trees: every entry names a descriptor.
    const bool descriptor_ok = descriptor == 0 ? version != kCatalogChunkFormatVersionV1
                                               : e.descriptor.valid() && inline_length == 0;
    if (!descriptor_ok || e.type_id == 0 || reserved8 != 0 || name_length == 0 ||
        name_length > kTreeNameBytesMax || params_length > kTreeParamsBytesMax ||
        inline_length > kCatalogInlineBytesMax) {
      return Bad(kWhat, at,
                 "invalid entry fields (descriptor / inline length, type, reserved or lengths)");
    }
    if (!r.GetBytes(name_length, &e.name) || !r.GetBytes(params_length, &e.params) ||
        !r.GetBytes(inline_length, &e.inline_body)) {
      return Bad(kWhat, at, "entry name/params/inline bytes past the end");
    }
    previous = e.tree_id;
    out->push_back(e);
  }
  if (r.remaining() != 0) return Bad(kWhat, r.offset(), "trailing bytes");
  return Status::OK();
}

CatalogEntry CatalogEntryView::ToEntry() const {
  return CatalogEntry{tree_id,
                      descriptor,
                      create_epoch,
                      type_id,
                      std::string(name),
                      std::string(params),
                      std::string(inline_body)};
}

const CatalogEntryView* FindCatalogEntry(const std::vector<CatalogEntryView>& entries, TreeId id) {
  auto it = std::lower_bound(entries.begin(), entries.end(), id,
                             [](const CatalogEntryView& e, TreeId v) { return e.tree_id < v; });
  return it != entries.end() && it->tree_id == id ? &*it : nullptr;
}

Result<std::vector<CatalogEntry>> DecodeCatalogChunk(std::string_view body) {
  std::vector<CatalogEntryView> views;
  COWTREE_RETURN_IF_ERROR(ParseCatalogChunk(body, &views));
  std::vector<CatalogEntry> entries;
  entries.reserve(views.size());
  for (const CatalogEntryView& v : views) entries.push_back(v.ToEntry());
  return entries;
}

namespace {

void PutChunkRefs(std::string* out, std::span<const CatalogChunkRef> chunks, uint64_t* counted) {
  TreeId previous = 0;
  for (const CatalogChunkRef& c : chunks) {
    COWTREE_ASSERT(c.chunk_id.valid() && c.entry_count > 0 && c.first_tree_id > previous);
    COWTREE_ASSERT(c.entry_count <= kCatalogChunkEntriesMax);
    previous = c.first_tree_id;
    *counted += c.entry_count;
    PutFixed64(out, c.chunk_id.raw());
    PutFixed32(out, c.entry_count);
    PutFixed32(out, 0);
    PutFixed64(out, c.first_tree_id);
  }
}

// `count` chunk references from *r (a root or a root page), first_tree_id increasing from
// above `previous` and below `id_end`; appended to *out, their entry counts added to *counted.
Status GetChunkRefs(const char* what, ByteReader* r, uint32_t count, TreeId previous, TreeId id_end,
                    std::vector<CatalogChunkRef>* out, uint64_t* counted) {
  if (count > r->remaining() / kCatalogRootChunkBytes) {
    return Bad(what, 8, "chunk count larger than the body");
  }
  out->reserve(out->size() + count);
  for (uint32_t i = 0; i < count; ++i) {
    CatalogChunkRef c;
    uint64_t id = 0;
    uint32_t reserved32 = 0;
    const size_t at = r->offset();
    if (!r->GetFixed64(&id) || !r->GetFixed32(&c.entry_count) || !r->GetFixed32(&reserved32) ||
        !r->GetFixed64(&c.first_tree_id)) {
      return Bad(what, at, "short chunk reference");
    }
    c.chunk_id = NodeID::FromRaw(id);
    if (!c.chunk_id.valid() || c.entry_count == 0 || c.entry_count > kCatalogChunkEntriesMax ||
        reserved32 != 0 || c.first_tree_id <= previous || c.first_tree_id >= id_end) {
      return Bad(what, at, "invalid chunk reference " + std::to_string(i));
    }
    previous = c.first_tree_id;
    *counted += c.entry_count;
    out->push_back(c);
  }
  return Status::OK();
}

}  // namespace

std::string EncodeCatalogRoot(const CatalogRoot& root) {
  const bool paged = !root.pages.empty();
  // The writer puts at most kCatalogRootChunksMax references in a root; a one-level root read
  // from an older store may hold a few more (up to what one object holds).
  // A two-level root encodes its pages only (`chunks`, when set, is what they list).
  COWTREE_ASSERT(paged ? root.pages.size() <= kCatalogRootPagesMax
                       : root.chunks.size() * kCatalogRootChunkBytes + kCatalogRootHeaderBytes +
                                 kCatalogCrcBytes <=
                             kMaxObjectBodyBytes);
  std::string out;
  PutFixed32(&out, kCatalogRootMagic);
  PutFixed16(&out, paged ? kCatalogRootPagedFormatVersion : kCatalogRootFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(paged ? root.pages.size() : root.chunks.size()));
  PutFixed32(&out, 0);
  PutFixed64(&out, root.next_tree_id);
  PutFixed64(&out, root.tree_count);
  uint64_t counted = 0;
  if (!paged) {
    PutChunkRefs(&out, root.chunks, &counted);
    if (!root.chunks.empty()) COWTREE_ASSERT(root.chunks.back().first_tree_id < root.next_tree_id);
  }
  TreeId previous = 0;
  for (const CatalogRootPageRef& p : root.pages) {
    COWTREE_ASSERT(p.page_id.valid() && p.chunk_count > 0 && p.tree_count > 0);
    COWTREE_ASSERT(p.first_tree_id > previous && p.first_tree_id < root.next_tree_id);
    COWTREE_ASSERT(p.chunk_count <= kCatalogRootChunksMax);
    previous = p.first_tree_id;
    counted += p.tree_count;
    PutFixed64(&out, p.page_id.raw());
    PutFixed32(&out, p.chunk_count);
    PutFixed32(&out, 0);
    PutFixed64(&out, p.first_tree_id);
    PutFixed64(&out, p.tree_count);
  }
  COWTREE_ASSERT(counted == root.tree_count);
  PutFixed32(&out, Crc32c(out));
  return out;
}

Result<CatalogRoot> DecodeCatalogRoot(std::string_view body) {
  static constexpr const char* kWhat = "catalog root";
  COWTREE_ASSIGN_OR_RETURN(std::string_view content, CheckCrc(kWhat, body));
  ByteReader r(content);
  uint32_t count = 0;
  uint16_t version = 0;
  COWTREE_RETURN_IF_ERROR(CheckHeader(kWhat, &r, kCatalogRootMagic, kCatalogRootFormatVersion,
                                      kCatalogRootPagedFormatVersion, &version, &count));
  CatalogRoot root;
  if (!r.GetFixed64(&root.next_tree_id) || !r.GetFixed64(&root.tree_count)) {
    return Bad(kWhat, r.offset(), "short header");
  }
  if (root.next_tree_id == 0) return Bad(kWhat, 16, "next_tree_id is 0");
  uint64_t counted = 0;
  if (version == kCatalogRootFormatVersion) {
    COWTREE_RETURN_IF_ERROR(
        GetChunkRefs(kWhat, &r, count, 0, root.next_tree_id, &root.chunks, &counted));
  } else {
    if (count == 0 || count > kCatalogRootPagesMax ||
        count > r.remaining() / kCatalogRootPageRefBytes) {
      return Bad(kWhat, 8, "page count " + std::to_string(count) + " out of range");
    }
    TreeId previous = 0;
    for (uint32_t i = 0; i < count; ++i) {
      CatalogRootPageRef p;
      uint64_t id = 0;
      uint32_t reserved32 = 0;
      const size_t at = r.offset();
      if (!r.GetFixed64(&id) || !r.GetFixed32(&p.chunk_count) || !r.GetFixed32(&reserved32) ||
          !r.GetFixed64(&p.first_tree_id) || !r.GetFixed64(&p.tree_count)) {
        return Bad(kWhat, at, "short page reference");
      }
      p.page_id = NodeID::FromRaw(id);
      if (!p.page_id.valid() || p.chunk_count == 0 || p.chunk_count > kCatalogRootChunksMax ||
          reserved32 != 0 || p.tree_count == 0 ||
          p.tree_count > uint64_t{p.chunk_count} * kCatalogChunkEntriesMax ||
          p.first_tree_id <= previous || p.first_tree_id >= root.next_tree_id) {
        return Bad(kWhat, at, "invalid page reference " + std::to_string(i));
      }
      previous = p.first_tree_id;
      counted += p.tree_count;
      root.pages.push_back(p);
    }
  }
  if (r.remaining() != 0) return Bad(kWhat, r.offset(), "trailing bytes");
  if (counted != root.tree_count) {
    return Bad(kWhat, 16,
               "tree_count " + std::to_string(root.tree_count) + " differs from the " +
                   (root.pages.empty() ? "chunks'" : "pages'") + " sum " + std::to_string(counted));
  }
  return root;
}

std::string EncodeCatalogRootPage(std::span<const CatalogChunkRef> chunks) {
  COWTREE_ASSERT(!chunks.empty() && chunks.size() <= kCatalogRootChunksMax);
  std::string out;
  PutFixed32(&out, kCatalogRootPageMagic);
  PutFixed16(&out, kCatalogRootPageFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, static_cast<uint32_t>(chunks.size()));
  PutFixed32(&out, 0);
  uint64_t counted = 0;
  PutChunkRefs(&out, chunks, &counted);
  PutFixed32(&out, Crc32c(out));
  return out;
}

Result<std::vector<CatalogChunkRef>> DecodeCatalogRootPage(std::string_view body) {
  static constexpr const char* kWhat = "catalog root page";
  COWTREE_ASSIGN_OR_RETURN(std::string_view content, CheckCrc(kWhat, body));
  ByteReader r(content);
  uint32_t count = 0;
  uint16_t version = 0;
  COWTREE_RETURN_IF_ERROR(CheckHeader(kWhat, &r, kCatalogRootPageMagic,
                                      kCatalogRootPageFormatVersion, kCatalogRootPageFormatVersion,
                                      &version, &count));
  if (count == 0 || count > kCatalogRootChunksMax) {
    return Bad(kWhat, 8, "chunk count " + std::to_string(count) + " out of range");
  }
  std::vector<CatalogChunkRef> chunks;
  uint64_t counted = 0;
  COWTREE_RETURN_IF_ERROR(GetChunkRefs(kWhat, &r, count, 0, UINT64_MAX, &chunks, &counted));
  if (r.remaining() != 0) return Bad(kWhat, r.offset(), "trailing bytes");
  return chunks;
}

}  // namespace cowtree
