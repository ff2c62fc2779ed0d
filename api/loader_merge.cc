// BufferStream and MergeStream (api/loader_merge.h).
#include "api/loader_merge.h"

#include "persistence/assert.h"

namespace cowtree::api_internal {

Status BufferStream::Next(bool* has) {
  if (next_ == ops_.size()) {
    *has = false;
    return Status::OK();
  }
  op_ = ops_.op(next_++);
  COWTREE_ASSERT(op_.group < tree_of_group_.size());
  tree_ = tree_of_group_[op_.group];
  *has = true;
  return Status::OK();
}

bool MergeStream::Less(uint32_t a, uint32_t b) const {
  const OpStream& x = *sources_[a];
  const OpStream& y = *sources_[b];
  if (x.tree().tree_id != y.tree().tree_id) return x.tree().tree_id < y.tree().tree_id;
  return x.key_code() < y.key_code();
}

void MergeStream::SiftDown(size_t i) {
  const size_t n = heap_.size();
  while (true) {
    size_t smallest = i;
    const size_t l = 2 * i + 1;
    const size_t r = l + 1;
    if (l < n && Less(heap_[l], heap_[smallest])) smallest = l;
    if (r < n && Less(heap_[r], heap_[smallest])) smallest = r;
    if (smallest == i) return;
    std::swap(heap_[i], heap_[smallest]);
    i = smallest;
  }
}

Status MergeStream::Next(bool* has) {
  if (!started_) {
    started_ = true;
    for (uint32_t i = 0; i < sources_.size(); ++i) {
      bool more = false;
      COWTREE_RETURN_IF_ERROR(sources_[i]->Next(&more));
      if (more) heap_.push_back(i);
    }
    for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  } else if (!heap_.empty()) {
    bool more = false;
    COWTREE_RETURN_IF_ERROR(sources_[heap_[0]]->Next(&more));
    if (!more) {
      heap_[0] = heap_.back();
      heap_.pop_back();
    }
    if (!heap_.empty()) SiftDown(0);
  }
  if (heap_.empty()) {
    *has = false;
    return Status::OK();
  }
  // Each source is ordered (the buffer by its sort, a run by its reader's checks), so the merge
  // is: asserted, as a check of the heap.
  const uint64_t tree_id = tree().tree_id;
  COWTREE_ASSERT(!started_ || last_tree_id_ < tree_id ||
                 (last_tree_id_ == tree_id && last_key_ <= key_code()));
  last_tree_id_ = tree_id;
  last_key_ = key_code();
  *has = true;
  return Status::OK();
}

}  // namespace cowtree::api_internal
