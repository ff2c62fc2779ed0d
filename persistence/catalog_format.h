// Catalog objects: the durable list of trees (name, type, creation parameters, and where the
// tree's state is: a descriptor object, or inline bytes). Format page: docs/catalog.md. All
// integers little-endian; reserved bytes are zero and checked.
//
// The catalog is stored as a root object (kind kCatalogRoot, named by the superblock's
// catalog_root) listing catalog chunks (kind kCatalogChunk) of at most kCatalogChunkEntriesMax
// entries each, in tree-id order. A checkpoint rewrites only the chunks whose entries changed,
// so a store with millions of trees pays for the trees that changed.
//
// Catalog chunk body (format_version 2; version 1, without inline_length, is still decoded):
//   magic u32 'CWCC' | format_version u16 = 2 | reserved u16 | entry_count u32 | reserved u32
//   entries: tree_id u64 | descriptor u64 (NodeID raw; 0 = inline) | create_epoch u64 |
//            type_id u8 | reserved u8 | name_length u16 | params_length u32 |
//            inline_length u32 | name | params | inline
//   crc32c u32 over everything before it
// A tree with descriptor 0 is stored INLINE: its whole persisted state is the inline bytes
// (type-specific, may be empty; at most kCatalogInlineBytesMax). A tree with a descriptor has
// inline_length 0.
// Catalog root body, one level (format_version 1: the root lists the chunks):
//   magic u32 'CWCT' | format_version u16 = 1 | reserved u16 | chunk_count u32 | reserved u32 |
//   next_tree_id u64 | tree_count u64
//   chunks: chunk_id u64 | entry_count u32 | reserved u32 | first_tree_id u64
//   crc32c u32 over everything before it
// Catalog root body, two levels (format_version 2: written when the chunk references do not fit
// one object, over kCatalogRootChunksMax of them; the root lists up to kCatalogRootPagesMax root
// pages, kind kCatalogRootPage, each listing up to kCatalogRootChunksMax chunks):
//   magic u32 'CWCT' | format_version u16 = 2 | reserved u16 | page_count u32 | reserved u32 |
//   next_tree_id u64 | tree_count u64
//   pages: page_id u64 | chunk_count u32 | reserved u32 | first_tree_id u64 | tree_count u64
//   crc32c u32
// Catalog root page body (format_version 1):
//   magic u32 'CWCP' | format_version u16 = 1 | reserved u16 | chunk_count u32 | reserved u32 |
//   chunks as in a one-level root | crc32c u32
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/hosted_tree.h"
#include "persistence/node_id.h"
#include "persistence/object_format.h"
#include "persistence/status.h"

namespace cowtree {

inline constexpr uint32_t kCatalogChunkMagic = 0x43435743;  // "CWCC"
inline constexpr uint32_t kCatalogRootMagic = 0x54435743;   // "CWCT"
inline constexpr uint16_t kCatalogChunkFormatVersion = 2;
inline constexpr uint16_t kCatalogChunkFormatVersionV1 = 1;  // decoded, never written
inline constexpr uint32_t kCatalogRootPageMagic = 0x50435743;  // "CWCP"
inline constexpr uint16_t kCatalogRootFormatVersion = 1;       // one level
inline constexpr uint16_t kCatalogRootPagedFormatVersion = 2;  // two levels
inline constexpr uint16_t kCatalogRootPageFormatVersion = 1;
inline constexpr size_t kCatalogChunkEntriesMax = 1024;
inline constexpr size_t kCatalogHeaderBytes = 16;
inline constexpr size_t kCatalogEntryFixedBytesV1 = 32;
inline constexpr size_t kCatalogEntryFixedBytes = 36;
inline constexpr size_t kCatalogRootChunkBytes = 24;
inline constexpr size_t kCatalogCrcBytes = 4;
inline constexpr size_t kCatalogRootHeaderBytes = 32;
inline constexpr size_t kCatalogRootPageRefBytes = 32;
// Chunk references per root object (one-level root or root page): the body must fit the largest
// object (256 KiB with its envelope). A root of more chunks is written as two levels.
inline constexpr size_t kCatalogRootChunksMax = 10000;
static_assert(kCatalogRootHeaderBytes + kCatalogRootChunksMax * kCatalogRootChunkBytes +
                  kCatalogCrcBytes <=
              kMaxObjectBodyBytes);
// Page references per two-level root (32 bytes each): so that the root fits one object too.
// Two levels hold up to kCatalogRootPagesMax * kCatalogRootChunksMax = 8 * 10^7 chunks.
inline constexpr size_t kCatalogRootPagesMax = 8000;
static_assert(kCatalogRootHeaderBytes + kCatalogRootPagesMax * kCatalogRootPageRefBytes +
                  kCatalogCrcBytes <=
              kMaxObjectBodyBytes);
// The largest inline tree state. A tree type stores a tree inline only below this (the order-
// statistics tree: a tree of at most one leaf whose body fits; the default 240-entry leaf does).
inline constexpr size_t kCatalogInlineBytesMax = 4096;
// A checkpoint closes a chunk before its body would pass this many bytes (or 1024 entries), so
// that a chunk fits a 64 KiB slot with its 32-byte envelope; one entry alone may be larger.
inline constexpr size_t kCatalogChunkBodyBytesTarget = 64 * 1024 - 32;
static_assert(kCatalogEntryFixedBytes == 8 + 8 + 8 + 1 + 1 + 2 + 4 + 4);

struct CatalogEntry {
  TreeId tree_id = 0;
  NodeID descriptor;  // the tree's checkpoint descriptor object; invalid = stored inline
  uint64_t create_epoch = 0;
  uint8_t type_id = 0;
  std::string name;
  std::string params;
  std::string inline_body;  // the inline state (descriptor invalid); empty otherwise
  friend bool operator==(const CatalogEntry&, const CatalogEntry&) = default;
};

struct CatalogChunkRef {
  NodeID chunk_id;
  uint32_t entry_count = 0;
  TreeId first_tree_id = 0;
};

// One root page of a two-level root: which chunks (a run of CatalogRoot::chunks) it lists.
struct CatalogRootPageRef {
  NodeID page_id;
  uint32_t chunk_count = 0;
  TreeId first_tree_id = 0;  // that of its first chunk
  uint64_t tree_count = 0;   // sum of its chunks' entry counts
};

struct CatalogRoot {
  TreeId next_tree_id = 1;
  uint64_t tree_count = 0;
  std::vector<CatalogChunkRef> chunks;  // every chunk, in tree-id order (both forms)
  // Two-level root: its pages, whose chunk runs concatenate to `chunks`. Empty: one level.
  std::vector<CatalogRootPageRef> pages;
};

// Bytes one entry takes in a version-2 chunk body.
inline size_t CatalogEntryBytes(const CatalogEntry& e) {
  return kCatalogEntryFixedBytes + e.name.size() + e.params.size() + e.inline_body.size();
}
// Bytes of a version-2 chunk body around its entries (header + CRC).
inline constexpr size_t kCatalogChunkOverheadBytes = kCatalogHeaderBytes + kCatalogCrcBytes;

// Asserts 1..kCatalogChunkEntriesMax entries in strictly increasing tree-id order with valid
// fields (exactly one of descriptor / inline; inline at most kCatalogInlineBytesMax).
std::string EncodeCatalogChunk(const std::vector<CatalogEntry>& entries);
// Version 2 or 1. Entries must be in strictly increasing tree-id order with valid fields, else
// Corruption naming the body offset.
Result<std::vector<CatalogEntry>> DecodeCatalogChunk(std::string_view body);

// One entry of a chunk body, without copies: the views point into the body passed to
// ParseCatalogChunk and are valid while it is.
struct CatalogEntryView {
  TreeId tree_id = 0;
  NodeID descriptor;
  uint64_t create_epoch = 0;
  uint8_t type_id = 0;
  std::string_view name;
  std::string_view params;
  std::string_view inline_body;
  CatalogEntry ToEntry() const;
};
// The same checks as DecodeCatalogChunk, into views (no per-entry allocation; *out is reused).
// On error *out is unspecified.
Status ParseCatalogChunk(std::string_view body, std::vector<CatalogEntryView>* out);
// The entry of `id` in parsed entries (sorted by id), or null. O(log entries).
const CatalogEntryView* FindCatalogEntry(const std::vector<CatalogEntryView>& entries, TreeId id);

// A one-level root (pages empty: its chunks, at most what one object holds; the writer puts at
// most kCatalogRootChunksMax) or a two-level root (pages set, at most kCatalogRootChunksMax:
// only the pages are encoded; `chunks` may hold what they list).
std::string EncodeCatalogRoot(const CatalogRoot& root);
// A one-level root has `chunks` set; a two-level root has `pages` set and `chunks` empty (the
// reader reads the pages: recovery/store_reader.cc). Corruption names the offset.
Result<CatalogRoot> DecodeCatalogRoot(std::string_view body);
// A root page listing `chunks` (1..kCatalogRootChunksMax, first_tree_id increasing).
std::string EncodeCatalogRootPage(std::span<const CatalogChunkRef> chunks);
Result<std::vector<CatalogChunkRef>> DecodeCatalogRootPage(std::string_view body);

}  // namespace cowtree
