#include "recovery/fsck_node_set.h"

#include "persistence/assert.h"

namespace cowtree::recovery::fsck {

void NodeIdSet::Reserve(uint64_t handle_limit) {
  if (handle_limit <= tags_.size()) return;
  std::vector<uint8_t> before = std::move(tags_);
  std::unordered_set<uint64_t> spilled = std::move(overflow_);
  tags_.assign(handle_limit, 0);
  overflow_.clear();
  size_ = 0;
  for (size_t h = 0; h < before.size(); ++h) {
    if (before[h] != 0) Insert(NodeID::Make(h, before[h]));
  }
  for (uint64_t raw : spilled) Insert(NodeID::FromRaw(raw));
}

bool NodeIdSet::Insert(NodeID id) {
  // An invalid id (tag 0, read from a damaged object) is a member of the hash set only.
  const uint64_t h = id.handle();
  if (id.valid() && h < tags_.size()) {
    if (tags_[h] == 0) {
      tags_[h] = id.tag();
      ++size_;
      return true;
    }
    if (tags_[h] == id.tag()) return false;
  }
  const bool inserted = overflow_.insert(id.raw()).second;
  if (inserted) ++size_;
  return inserted;
}

bool NodeIdSet::Contains(NodeID id) const {
  const uint64_t h = id.handle();
  if (id.valid() && h < tags_.size() && tags_[h] == id.tag()) return true;
  return !overflow_.empty() && overflow_.count(id.raw()) != 0;
}

void NodeIdSet::InsertAll(const NodeIdSet& other) {
  COWTREE_ASSERT(&other != this);
  Reserve(other.tags_.size());
  for (size_t h = 0; h < other.tags_.size(); ++h) {
    if (other.tags_[h] != 0) Insert(NodeID::Make(h, other.tags_[h]));
  }
  for (uint64_t raw : other.overflow_) Insert(NodeID::FromRaw(raw));
}

size_t NodeIdSet::memory_bytes() const {
  // A node (next pointer, value, cached hash) and a bucket pointer per member of the hash set.
  return tags_.capacity() + overflow_.size() * 32 + overflow_.bucket_count() * sizeof(void*);
}

}  // namespace cowtree::recovery::fsck
