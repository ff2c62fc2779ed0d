// ColdIndexBuilder: fills the cold tree index (persistence/cold_tree_index.h) from the catalog
// chunks recovery::Open reads, one chunk at a time in catalog order, and refuses a catalog that
// names a tree twice — without keeping any name: only trees whose 32-bit name hashes are equal
// can share a name, and the index reports those pairs as it inserts. The newer tree of a pair
// is in the chunk in hand; the older one is in it too, or in an earlier chunk, which is read
// again (rare with the real hash: ~n^2 / 2^33 pairs for n trees, 112 at a million).
//
// Contract:
// - AddChunk(chunk, views): `views` are the decoded entries of catalog chunk `chunk` (views into
//   its body, valid during the call), after every earlier chunk. Errors: Corruption if a tree id
//   is not above the previous one (within or across chunks) or is UINT64_MAX, or a name is
//   used twice (message
//   "catalog: tree name 'x' twice"); whatever `read_chunk` returns for an earlier chunk read
//   again (IOError, Corruption). After an error the builder must not be used again.
// - `read_chunk(id, buffer)` reads catalog chunk `id`'s verified body into *buffer, which the
//   builder reuses (ObjectStore::ReadObjectOnceInto), and returns a view into it.
//
// Thread-safety: none (Open's thread). Memory: the earlier chunks' ids (16 B per chunk) and up
// to 16 chunk bodies read again, in buffers kept for reuse (a fresh 64 KiB buffer per read is
// allocated, faulted in and trimmed again each time: ~0.3 ms per pair on the test host).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/cold_tree_index.h"
#include "persistence/node_id.h"
#include "persistence/status.h"

namespace cowtree::recovery {

class ColdIndexBuilder {
 public:
  using ChunkReader = std::function<Result<std::string_view>(NodeID chunk, std::string* buffer)>;

  // `index` (not owned) must outlive the builder.
  ColdIndexBuilder(ColdTreeIndex* index, ChunkReader read_chunk);

  Status AddChunk(NodeID chunk, const std::vector<CatalogEntryView>& views);
  uint64_t tree_count() const { return tree_count_; }
  // Chunks read again for name comparisons so far.
  uint64_t chunks_reread() const { return chunks_reread_; }

 private:
  // The name of tree `id` of an earlier chunk, valid until the next call.
  Result<std::string_view> EarlierName(TreeId id);

  struct Parsed {
    uint64_t chunk_raw = 0;  // 0: empty (no NodeID is 0)
    std::string body;        // read_chunk's buffer (grown, never shrunk)
    std::vector<CatalogEntryView> views;
  };
  ColdTreeIndex* index_;
  ChunkReader read_chunk_;
  std::vector<std::pair<TreeId, NodeID>> chunks_;  // added so far: first tree id, chunk
  std::array<Parsed, 16> cache_;
  size_t next_ = 0;                                   // cache_ slot of the next read
  std::vector<ColdTreeIndex::Tree> chunk_trees_;      // one chunk's (reused)
  std::vector<std::pair<TreeId, TreeId>> same_hash_;  // one chunk's pairs (reused)
  TreeId previous_ = 0;
  uint64_t tree_count_ = 0;
  uint64_t chunks_reread_ = 0;
};

}  // namespace cowtree::recovery
