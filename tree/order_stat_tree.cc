#include "tree/order_stat_tree.h"

#include <utility>

#include "persistence/assert.h"
#include "tree/apply.h"

namespace cowtree::tree {
namespace {

// Asserts that only one writer runs at a time (a cheap guard for the external contract).
class WriterGuard {
 public:
  explicit WriterGuard(std::atomic<bool>* flag) : flag_(flag) {
    COWTREE_ASSERT(!flag_->exchange(true, std::memory_order_acquire));
  }
  ~WriterGuard() { flag_->store(false, std::memory_order_release); }
  WriterGuard(const WriterGuard&) = delete;
  WriterGuard& operator=(const WriterGuard&) = delete;

 private:
  std::atomic<bool>* flag_;
};

}  // namespace

OrderStatTree::OrderStatTree(KeyType key_type, TreeShape shape, LeafLoader* loader)
    : key_type_(key_type), shape_(shape), loader_(loader) {
  COWTREE_ASSERT(key_type == KeyType::kInt64 || key_type == KeyType::kDouble);
  COWTREE_ASSERT(ValidateTreeShape(shape).ok());
  auto empty = std::make_shared<TreeVersion>();
  empty->key_type = key_type;
  empty->shape = shape;
  empty->loader = loader;
  current_.Store(std::move(empty));
}

Result<std::unique_ptr<OrderStatTree>> OrderStatTree::Create(KeyType key_type, TreeShape shape,
                                               LeafLoader* loader) {
  if (!IsValidKeyType(static_cast<uint8_t>(key_type))) {
    return Status::InvalidArgument("unknown key type " +
                                   std::to_string(static_cast<int>(key_type)));
  }
  COWTREE_RETURN_IF_ERROR(ValidateTreeShape(shape));
  return std::make_unique<OrderStatTree>(key_type, shape, loader);
}

Status OrderStatTree::Apply(std::span<const KeyWeight> ops, uint64_t epoch) {
  WriterGuard guard(&writer_active_);
  std::shared_ptr<const TreeVersion> base = current();
  COWTREE_ASSERT(epoch > base->epoch);
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const TreeVersion> next, ApplyBatch(*base, ops, epoch));
  COWTREE_ASSERT(next->epoch == epoch && next->key_type == key_type_);
  current_.Store(std::move(next));
  return Status::OK();
}

Status OrderStatTree::Install(std::shared_ptr<const TreeVersion> version) {
  WriterGuard guard(&writer_active_);
  if (version == nullptr) return Status::InvalidArgument("Install: null version");
  if (version->key_type != key_type_ || version->shape != shape_ || version->loader != loader_) {
    return Status::InvalidArgument(
        "Install: version's key type, shape or loader differ from the tree's");
  }
  current_.Store(std::move(version));
  return Status::OK();
}

}  // namespace cowtree::tree
