// RuntimeWriteBatch (persistence/write_batch.h): collecting one commit's creates, drops and ops.
#include "persistence/write_batch.h"

#include "persistence/runtime.h"

namespace cowtree {
namespace {

// A new op section's first allocation: 8 ops of the order-statistics type (16 bytes each).
constexpr size_t kOpsReserveBytes = 128;

}  // namespace

TreeId RuntimeWriteBatch::CreateTree(std::string name, uint8_t type_id, std::string params) {
  CommitCreate c;
  c.tree_id = runtime_->ReserveTreeId();
  c.type_id = type_id;
  c.name = std::move(name);
  c.params = std::move(params);
  creates_.push_back(std::move(c));
  return creates_.back().tree_id;
}

std::string* RuntimeWriteBatch::MutableOps(TreeId id) {
  auto [it, inserted] = section_index_.try_emplace(id, sections_.size());
  if (inserted) {
    std::string ops;
    if (!spare_ops_.empty()) {
      ops = std::move(spare_ops_.back());
      spare_ops_.pop_back();
      ops.clear();
    } else {
      // Room for a few ops at once: appending them one by one would otherwise reallocate at
      // 16, 30, 60 and 120 bytes (small trees are created by the million).
      ops.reserve(kOpsReserveBytes);
    }
    sections_.emplace_back(id, std::move(ops));
  }
  return &sections_[it->second].second;
}

void RuntimeWriteBatch::Clear() {
  creates_.clear();
  drops_.clear();
  // Keep a few op buffers (with their capacity) for the next batch: a batch of 10 000 ops per
  // commit otherwise regrows a 160 KB string from empty every commit (~15 reallocations, and
  // glibc consolidates its free lists on each free of a chunk >= 64 KiB).
  for (auto& [id, ops] : sections_) {
    if (spare_ops_.size() >= kSpareOpBuffersMax) break;
    if (ops.capacity() > kSpareOpBufferBytesMax) continue;
    spare_ops_.push_back(std::move(ops));
  }
  sections_.clear();
  section_index_.clear();
}

}  // namespace cowtree
