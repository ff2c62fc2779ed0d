// RuntimeWriteBatch: the contents of one commit — tree creations, drops and per-tree ops — applied
// atomically by Runtime::Commit (one redo record).
//
// Ops are tree-type-defined bytes (e.g. tree::AppendOrderStatOp in tree/order_stat_tree_type.h
// encodes (key, weight) pairs); a batch collects them per tree in insertion order. Tree ids for
// CreateTree are reserved from the Runtime immediately (never reused; a batch that is never
// committed leaves a harmless gap). Thread-safety: a batch is used by one thread; the Runtime it
// came from must outlive it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/commit_record.h"
#include "persistence/hosted_tree.h"

namespace cowtree {

class Runtime;

class RuntimeWriteBatch {
 public:
  explicit RuntimeWriteBatch(Runtime* runtime) : runtime_(runtime) {}

  // Creates tree `name` of `type_id` with type-specific `params` in this commit. Returns the
  // tree's id, usable for ops in this same batch. The name must not name a live tree when the
  // batch commits (else Commit returns InvalidArgument).
  TreeId CreateTree(std::string name, uint8_t type_id, std::string params);
  // Drops tree `id` in this commit (its state stays visible to older snapshots).
  void DropTree(TreeId id) { drops_.push_back(id); }
  // The op bytes of tree `id` in this batch; append to it (tree-type encoding). The pointer
  // stays valid until Clear() or the batch's destruction (sections live in a deque).
  std::string* MutableOps(TreeId id);

  bool empty() const { return creates_.empty() && drops_.empty() && sections_.empty(); }
  // Empties the batch. Up to kSpareOpBuffersMax op buffers of at most kSpareOpBufferBytesMax
  // capacity each are kept (empty) and reused by the next batch's MutableOps.
  void Clear();

  static constexpr size_t kSpareOpBuffersMax = 16;
  static constexpr size_t kSpareOpBufferBytesMax = size_t{16} << 20;

  const std::vector<CommitCreate>& creates() const { return creates_; }
  const std::vector<TreeId>& drops() const { return drops_; }
  const std::deque<std::pair<TreeId, std::string>>& sections() const { return sections_; }

 private:
  Runtime* runtime_;
  std::vector<CommitCreate> creates_;
  std::vector<TreeId> drops_;
  std::deque<std::pair<TreeId, std::string>> sections_;
  std::unordered_map<TreeId, size_t> section_index_;
  std::vector<std::string> spare_ops_;  // emptied op buffers kept by Clear() for reuse
};

}  // namespace cowtree
