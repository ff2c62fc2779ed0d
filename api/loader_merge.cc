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

MergeStream::Head MergeStream::HeadOf(uint32_t source) const {
  const OpStream& x = *sources_[source];
  return Head{x.tree().tree_id, x.key_code(), source};
}

void MergeStream::SiftDown(size_t i) {
  const size_t n = heap_.size();
  const Head moving = heap_[i];
  while (true) {
    const size_t l = 2 * i + 1;
    if (l >= n) break;
    const size_t r = l + 1;
    const size_t child = r < n && heap_[r] < heap_[l] ? r : l;
    if (!(heap_[child] < moving)) break;
    heap_[i] = heap_[child];
    i = child;
  }
  heap_[i] = moving;
}

Status MergeStream::Next(bool* has) {
  if (!started_) {
    started_ = true;
    for (uint32_t i = 0; i < sources_.size(); ++i) {
      bool more = false;
      COWTREE_RETURN_IF_ERROR(sources_[i]->Next(&more));
      if (more) heap_.push_back(HeadOf(i));
    }
    for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  } else if (!heap_.empty()) {
    bool more = false;
    COWTREE_RETURN_IF_ERROR(sources_[heap_[0].source]->Next(&more));
    if (more) {
      heap_[0] = HeadOf(heap_[0].source);
    } else {
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
  const Head& top = heap_[0];
  COWTREE_ASSERT(last_tree_id_ < top.tree_id ||
                 (last_tree_id_ == top.tree_id && last_key_ <= top.key_code));
  last_tree_id_ = top.tree_id;
  last_key_ = top.key_code;
  *has = true;
  return Status::OK();
}

}  // namespace cowtree::api_internal
