#include "recovery/fsck_node_set.h"

#include "persistence/assert.h"

namespace cowtree::recovery::fsck {

uint8_t* NodeIdSet::Dense(NodeID id) {
  return const_cast<uint8_t*>(static_cast<const NodeIdSet*>(this)->Dense(id));
}

const uint8_t* NodeIdSet::Dense(NodeID id) const {
  if (!id.valid()) return nullptr;  // tag 0, read from a damaged object: the hash set only
  const std::vector<uint8_t>& lane = tags_[id.handle() % kNodeIdSetLanes];
  const uint64_t at = id.handle() / kNodeIdSetLanes;
  return at < lane.size() ? &lane[at] : nullptr;
}

void NodeIdSet::Reserve(const HandleLanes& lanes) {
  bool grows = false;
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) grows |= lanes[i] > tags_[i].size();
  if (!grows) return;
  std::array<std::vector<uint8_t>, kNodeIdSetLanes> before = std::move(tags_);
  std::unordered_set<uint64_t> spilled = std::move(overflow_);
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) {
    tags_[i].assign(std::max<uint64_t>(lanes[i], before[i].size()), 0);
  }
  overflow_.clear();
  size_ = 0;
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) {
    for (size_t at = 0; at < before[i].size(); ++at) {
      if (before[i][at] != 0) Insert(NodeID::Make(at * kNodeIdSetLanes + i, before[i][at]));
    }
  }
  for (uint64_t raw : spilled) Insert(NodeID::FromRaw(raw));
}

bool NodeIdSet::Insert(NodeID id) {
  if (uint8_t* tag = Dense(id); tag != nullptr) {
    if (*tag == 0) {
      *tag = id.tag();
      ++size_;
      return true;
    }
    if (*tag == id.tag()) return false;
  }
  const bool inserted = overflow_.insert(id.raw()).second;
  if (inserted) ++size_;
  return inserted;
}

bool NodeIdSet::Contains(NodeID id) const {
  if (const uint8_t* tag = Dense(id); tag != nullptr && *tag == id.tag()) return true;
  return !overflow_.empty() && overflow_.count(id.raw()) != 0;
}

void NodeIdSet::InsertAll(const NodeIdSet& other) {
  COWTREE_ASSERT(&other != this);
  Reserve(other.lanes());
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) {
    for (size_t at = 0; at < other.tags_[i].size(); ++at) {
      if (other.tags_[i][at] != 0)
        Insert(NodeID::Make(at * kNodeIdSetLanes + i, other.tags_[i][at]));
    }
  }
  for (uint64_t raw : other.overflow_) Insert(NodeID::FromRaw(raw));
}

HandleLanes NodeIdSet::lanes() const {
  HandleLanes out{};
  for (size_t i = 0; i < kNodeIdSetLanes; ++i) out[i] = tags_[i].size();
  return out;
}

size_t NodeIdSet::memory_bytes() const {
  size_t bytes = 0;
  for (const auto& lane : tags_) bytes += lane.capacity();
  // A node (next pointer, value, cached hash) and a bucket pointer per member of the hash set.
  return bytes + overflow_.size() * 32 + overflow_.bucket_count() * sizeof(void*);
}

}  // namespace cowtree::recovery::fsck
