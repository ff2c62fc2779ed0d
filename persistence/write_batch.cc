// RuntimeWriteBatch (persistence/write_batch.h): collecting one commit's creates, drops and ops.
#include "persistence/write_batch.h"

#include "persistence/runtime.h"

namespace cowtree {

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
  if (inserted) sections_.emplace_back(id, std::string());
  return &sections_[it->second].second;
}

void RuntimeWriteBatch::Clear() {
  creates_.clear();
  drops_.clear();
  sections_.clear();
  section_index_.clear();
}

}  // namespace cowtree
