// Catalog objects: the durable list of trees (name, type, creation parameters, descriptor).
// Format page: docs/catalog.md. All integers little-endian; reserved bytes are zero and checked.
//
// The catalog is stored as a root object (kind kCatalogRoot, named by the superblock's
// catalog_root) listing catalog chunks (kind kCatalogChunk) of at most kCatalogChunkEntriesMax
// entries each, in tree-id order. A checkpoint rewrites only the chunks whose entries changed,
// so a store with millions of trees pays for the trees that changed.
//
// Catalog chunk body:
//   magic u32 'CWCC' | format_version u16 = 1 | reserved u16 | entry_count u32 | reserved u32
//   entries: tree_id u64 | descriptor u64 (NodeID raw) | create_epoch u64 | type_id u8 |
//            reserved u8 | name_length u16 | params_length u32 | name | params
//   crc32c u32 over everything before it
// Catalog root body:
//   magic u32 'CWCT' | format_version u16 = 1 | reserved u16 | chunk_count u32 | reserved u32 |
//   next_tree_id u64 | tree_count u64
//   chunks: chunk_id u64 | entry_count u32 | reserved u32 | first_tree_id u64
//   crc32c u32 over everything before it
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/hosted_tree.h"
#include "persistence/node_id.h"
#include "persistence/status.h"

namespace cowtree {

inline constexpr uint32_t kCatalogChunkMagic = 0x43435743;  // "CWCC"
inline constexpr uint32_t kCatalogRootMagic = 0x54435743;   // "CWCT"
inline constexpr uint16_t kCatalogFormatVersion = 1;
inline constexpr size_t kCatalogChunkEntriesMax = 1024;
inline constexpr size_t kCatalogHeaderBytes = 16;
inline constexpr size_t kCatalogEntryFixedBytes = 32;
inline constexpr size_t kCatalogRootChunkBytes = 24;

struct CatalogEntry {
  TreeId tree_id = 0;
  NodeID descriptor;  // the tree's checkpoint descriptor object
  uint64_t create_epoch = 0;
  uint8_t type_id = 0;
  std::string name;
  std::string params;
  friend bool operator==(const CatalogEntry&, const CatalogEntry&) = default;
};

struct CatalogChunkRef {
  NodeID chunk_id;
  uint32_t entry_count = 0;
  TreeId first_tree_id = 0;
};

struct CatalogRoot {
  TreeId next_tree_id = 1;
  uint64_t tree_count = 0;
  std::vector<CatalogChunkRef> chunks;
};

std::string EncodeCatalogChunk(const std::vector<CatalogEntry>& entries);
// Entries must be in strictly increasing tree-id order with valid fields, else Corruption.
Result<std::vector<CatalogEntry>> DecodeCatalogChunk(std::string_view body);

std::string EncodeCatalogRoot(const CatalogRoot& root);
Result<CatalogRoot> DecodeCatalogRoot(std::string_view body);

}  // namespace cowtree
