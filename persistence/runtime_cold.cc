// Runtime, the cold trees (persistence/runtime.h "Lazy trees"): the trees of the opened
// checkpoint that nothing has accessed yet live only in cold_ (tree id + name hash); their
// catalog entries are read back from the published catalog chunks on first access, which
// promotes them to a hot TreeSlot. Chunk reads run outside catalog_mu_ under a ColdReadHold.
#include <algorithm>
#include <map>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {
namespace {

// Catalog chunk `chunk` read into this thread's buffer, reused by every first access the thread
// makes (ObjectStore::ReadObjectOnceInto): no 64 KiB allocation, zero fill and copy per read.
// The view is valid until this thread's next call: callers parse it and copy what they keep
// before anything else can read a chunk. Memory: the largest chunk read, per thread.
Result<std::string_view> ReadChunkReused(const ObjectStore& store, NodeID chunk) {
  thread_local std::string buffer;
  return store.ReadObjectOnceInto(chunk, ObjectKind::kCatalogChunk, &buffer);
}

}  // namespace

const CatalogChunkRef* Runtime::ChunkOf(TreeId id) const {
  // The last chunk whose first id is <= id: chunk i covers [first_i, first_{i+1}).
  auto it =
      std::upper_bound(published_chunks_.begin(), published_chunks_.end(), id,
                       [](TreeId v, const CatalogChunkRef& c) { return v < c.first_tree_id; });
  if (it == published_chunks_.begin()) return nullptr;
  return &*std::prev(it);
}

Result<std::optional<CatalogEntry>> Runtime::ReadPublishedEntry(TreeId id,
                                                                uint64_t* generation) const {
  ColdReadHold hold(pins_.get());  // before the lookup: the chunk found stays readable
  NodeID chunk;
  {
    ReaderLock g(&catalog_mu_);
    if (generation != nullptr) *generation = catalog_generation_;
    if (cold_.size() == 0) return std::optional<CatalogEntry>();  // every tree is hot
    const CatalogChunkRef* ref = ChunkOf(id);
    if (ref == nullptr) return std::optional<CatalogEntry>();
    chunk = ref->chunk_id;
  }
  Result<std::string_view> body = ReadChunkReused(*store_, chunk);
  if (!body.ok()) {
    return body.status().WithContext("reading the catalog entry of tree id " + std::to_string(id));
  }
  std::vector<CatalogEntryView> views;
  if (Status st = ParseCatalogChunk(*body, &views); !st.ok()) {
    return Status::Corruption("catalog chunk " + std::to_string(chunk.raw()) +
                              " does not decode: " + st.message());
  }
  const CatalogEntryView* e = FindCatalogEntry(views, id);
  if (e == nullptr) return std::optional<CatalogEntry>();
  return std::optional<CatalogEntry>(e->ToEntry());
}

Result<std::shared_ptr<Runtime::TreeSlot>> Runtime::PromoteCold(
    TreeId id, std::optional<std::string_view> name) const {
  const auto matches = [&](const TreeSlot& s) { return !name.has_value() || s.name == *name; };
  {
    ReaderLock g(&catalog_mu_);
    if (auto it = trees_.find(id); it != trees_.end()) {
      return matches(*it->second) ? it->second : nullptr;
    }
  }
  while (true) {  // again if a checkpoint or a demotion moved the catalog meanwhile
    uint64_t generation = 0;
    COWTREE_ASSIGN_OR_RETURN(std::optional<CatalogEntry> entry,
                             ReadPublishedEntry(id, &generation));
    if (!entry.has_value()) return std::shared_ptr<TreeSlot>();
    if (name.has_value() && entry->name != *name) return std::shared_ptr<TreeSlot>();
    bool stale = false;
    COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<TreeSlot> slot,
                             PromoteEntry(std::move(*entry), generation, &stale));
    if (stale) continue;
    if (slot != nullptr && !matches(*slot)) return std::shared_ptr<TreeSlot>();
    return slot;
  }
}

Result<std::shared_ptr<Runtime::TreeSlot>> Runtime::PromoteEntry(CatalogEntry entry,
                                                                 uint64_t generation,
                                                                 bool* stale) const {
  *stale = false;
  if (types_.count(entry.type_id) == 0) {  // checked at open; the chunk may be newer
    return Status::Corruption("catalog: tree '" + entry.name + "' has unknown type " +
                              std::to_string(entry.type_id));
  }
  const TreeId id = entry.tree_id;
  auto slot = std::make_shared<TreeSlot>();
  slot->id = id;
  slot->type_id = entry.type_id;
  slot->params = std::move(entry.params);
  slot->create_epoch = entry.create_epoch;
  slot->persisted.descriptor = entry.descriptor;
  slot->persisted.inline_body = std::move(entry.inline_body);
  slot->published = true;
  slot->name = std::move(entry.name);
  const uint32_t hash = ColdTreeIndex::NameHash(slot->name);
  WriterLock g(&catalog_mu_);
  if (auto it = trees_.find(id); it != trees_.end()) return it->second;  // promoted meanwhile
  if (generation != catalog_generation_) {
    *stale = true;  // the entry may predate the tree's newest published state
    return std::shared_ptr<TreeSlot>();
  }
  // Promoted, dropped and forgotten meanwhile: the entry read was stale.
  if (!cold_.Remove(id, hash)) return std::shared_ptr<TreeSlot>();
  if (auto it = names_.find(slot->name); it != names_.end()) {
    slot->older_same_name = it->second;  // (a name is live in one tree: that one is dropped)
    names_.erase(it);
  }
  names_.emplace(std::string_view(slot->name), slot.get());
  trees_.emplace(id, slot);
  const uint64_t step = options_.demotion_pass_promotions;
  if (step != 0 && promotions_since_pass_.fetch_add(1, std::memory_order_relaxed) + 1 == step) {
    coordinator_cv_.Signal();  // (the coordinator also polls: a missed wake-up only delays it)
  }
  return slot;
}

Status Runtime::PromoteColdByName(std::string_view name) const {
  const uint32_t hash = ColdTreeIndex::NameHash(name);
  std::vector<TreeId> candidates;
  {
    ReaderLock g(&catalog_mu_);
    cold_.Candidates(hash, &candidates);
  }
  if (candidates.empty()) return Status::OK();  // the common case of a create: no read, no pin
  ColdReadHold hold(pins_.get());
  while (true) {  // again if a checkpoint or a demotion moved the catalog meanwhile
    bool stale = false;
    COWTREE_RETURN_IF_ERROR(PromoteColdByNameOnce(name, hash, &stale));
    if (!stale) return Status::OK();
  }
}

Status Runtime::PromoteColdByNameOnce(std::string_view name, uint32_t hash, bool* stale) const {
  // The candidates (same name hash) grouped by the chunk that holds them: one read per chunk.
  std::map<uint64_t, std::vector<TreeId>> by_chunk;
  uint64_t generation = 0;
  {
    std::vector<TreeId> candidates;
    ReaderLock g(&catalog_mu_);
    generation = catalog_generation_;
    cold_.Candidates(hash, &candidates);
    for (TreeId id : candidates) {
      const CatalogChunkRef* ref = ChunkOf(id);
      if (ref != nullptr) by_chunk[ref->chunk_id.raw()].push_back(id);
    }
  }
  std::vector<CatalogEntryView> views;
  for (const auto& [chunk_raw, ids] : by_chunk) {
    const NodeID chunk = NodeID::FromRaw(chunk_raw);
    Result<std::string_view> body = ReadChunkReused(*store_, chunk);
    if (!body.ok()) return body.status().WithContext("looking up tree '" + std::string(name) + "'");
    if (Status st = ParseCatalogChunk(*body, &views); !st.ok()) {
      return Status::Corruption("catalog chunk " + std::to_string(chunk_raw) +
                                " does not decode: " + st.message());
    }
    for (TreeId id : ids) {
      const CatalogEntryView* e = FindCatalogEntry(views, id);
      if (e == nullptr || e->name != name) continue;
      return PromoteEntry(e->ToEntry(), generation, stale).status();
    }
  }
  return Status::OK();
}

Status Runtime::PromoteColdByNames(const std::vector<std::string_view>& names) const {
  std::vector<uint32_t> hashes(names.size());
  for (size_t i = 0; i < names.size(); ++i) hashes[i] = ColdTreeIndex::NameHash(names[i]);
  std::vector<TreeId> candidates;
  {
    // Most calls find no cold candidate at all (every group hot, or new): no pin, no read.
    ReaderLock g(&catalog_mu_);
    if (cold_.size() == 0) return Status::OK();
    for (size_t i = 0; i < names.size() && candidates.empty(); ++i) {
      cold_.Candidates(hashes[i], &candidates);
    }
  }
  if (candidates.empty()) return Status::OK();
  ColdReadHold hold(pins_.get());  // before the chunks are looked up: they stay readable
  struct Wanted {
    uint64_t chunk_raw;
    TreeId id;
    size_t name;  // index into names
  };
  std::vector<Wanted> wanted;
  std::vector<CatalogEntryView> views;
  for (bool stale = true; stale;) {  // again if a checkpoint or a demotion moved the catalog
    stale = false;
    uint64_t generation = 0;
    wanted.clear();
    {
      ReaderLock g(&catalog_mu_);
      generation = catalog_generation_;
      for (size_t i = 0; i < names.size(); ++i) {
        candidates.clear();
        cold_.Candidates(hashes[i], &candidates);
        for (TreeId id : candidates) {
          const CatalogChunkRef* ref = ChunkOf(id);
          if (ref != nullptr) wanted.push_back({ref->chunk_id.raw(), id, i});
        }
      }
    }
    std::sort(wanted.begin(), wanted.end(), [](const Wanted& a, const Wanted& b) {
      return a.chunk_raw != b.chunk_raw ? a.chunk_raw < b.chunk_raw : a.id < b.id;
    });
    for (size_t first = 0; first < wanted.size() && !stale;) {
      const uint64_t chunk_raw = wanted[first].chunk_raw;
      Result<std::string_view> body = ReadChunkReused(*store_, NodeID::FromRaw(chunk_raw));
      if (!body.ok()) {
        return body.status().WithContext("looking up " + std::to_string(names.size()) +
                                         " trees, among them '" +
                                         std::string(names[wanted[first].name]) + "'");
      }
      if (Status st = ParseCatalogChunk(*body, &views); !st.ok()) {
        return Status::Corruption("catalog chunk " + std::to_string(chunk_raw) +
                                  " does not decode: " + st.message());
      }
      size_t end = first;
      for (; end < wanted.size() && wanted[end].chunk_raw == chunk_raw && !stale; ++end) {
        const CatalogEntryView* e = FindCatalogEntry(views, wanted[end].id);
        if (e == nullptr || e->name != names[wanted[end].name]) continue;  // same hash only
        // (A name given twice promotes once: PromoteEntry returns the slot promoted already.)
        // Stale (the catalog moved since `generation`): start over; the trees promoted so far
        // are hot now, so they are no candidates the next time.
        COWTREE_RETURN_IF_ERROR(PromoteEntry(e->ToEntry(), generation, &stale).status());
      }
      first = end;
    }
  }
  return Status::OK();
}

Result<std::vector<TreeId>> Runtime::ForEachColdTree(
    const std::function<void(const CatalogEntryView&)>& f) const {
  ColdReadHold hold(pins_.get());
  std::vector<CatalogChunkRef> chunks;
  {
    ReaderLock g(&catalog_mu_);
    if (cold_.size() == 0) return std::vector<TreeId>();
    chunks = published_chunks_;
  }
  std::vector<TreeId> visited;
  std::vector<CatalogEntryView> views;
  std::string buffer;  // reused by every chunk (f may read chunks itself: not the thread's)
  for (const CatalogChunkRef& ref : chunks) {
    Result<std::string_view> body =
        store_->ReadObjectOnceInto(ref.chunk_id, ObjectKind::kCatalogChunk, &buffer);
    if (!body.ok()) return body.status().WithContext("reading the catalog");
    if (Status st = ParseCatalogChunk(*body, &views); !st.ok()) {
      return Status::Corruption("catalog chunk " + std::to_string(ref.chunk_id.raw()) +
                                " does not decode: " + st.message());
    }
    ReaderLock g(&catalog_mu_);
    for (const CatalogEntryView& e : views) {
      if (!cold_.Contains(e.tree_id, ColdTreeIndex::NameHash(e.name))) continue;
      visited.push_back(e.tree_id);
      f(e);
    }
  }
  return visited;
}

}  // namespace cowtree
